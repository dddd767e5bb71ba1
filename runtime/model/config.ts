// config.json → ModelConfig. The family-specific part comes from the architecture registry
// (architectures.ts, keyed by model_type as in transformers.js); the shape and token ids are read here.

import { modelFormatError, unsupportedError } from '../errors.ts';
import { isObject, jsonKind, show } from '../util/json.ts';
import { ARCHITECTURES, type ArchitectureSpec, type ArchSettings, SUPPORTED_TEXT, UNSUPPORTED_HINTS } from './architectures.ts';
import { checkBool, posInt, posNum, tokenIds } from './config-fields.ts';
import type { RopeConfig } from './rope.ts';

export type { RopeConfig } from './rope.ts';
export { ropeInvFreq } from './rope.ts';

export type ModelType = 'llama' | 'qwen2' | 'qwen3' | 'gemma3_text';

export interface ModelConfig {
  modelType: ModelType;
  architecture: string;
  hiddenSize: number;
  layers: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  intermediateSize: number;
  vocabSize: number;
  rmsEps: number;
  maxPositions: number;
  tieEmbeddings: boolean;
  /** q/k/v projections have biases (always in Qwen2; `attention_bias` in Llama, Qwen3, Gemma 3). */
  qkvBias: boolean;
  /** o_proj has a bias (`attention_bias` covers it in Llama; Qwen2 never). */
  oBias: boolean;
  mlpBias: boolean;
  /** The rope of the full-attention layers (the only one, except in Gemma 3: see arch.ropes). */
  rope: RopeConfig;
  /** How this family's layers differ from Llama's (architectures.ts). */
  arch: ArchSettings;
  bosTokenId: number | null;
  eosTokenIds: number[];
}

/** The registry entry for config.json's model_type and the architecture name it confirms. */
function architectureOf(c: Record<string, unknown>, file: string): { spec: ArchitectureSpec; modelType: string; architecture: string } {
  const supported = SUPPORTED_TEXT;
  const modelType = c.model_type;
  if (typeof modelType !== 'string') throw modelFormatError(file, `model_type must be a string naming the architecture (${supported}), got ${show(modelType)}`);
  // hasOwn: a plain lookup would find Object.prototype's "constructor" or "__proto__".
  if (!Object.hasOwn(ARCHITECTURES, modelType)) {
    const hint = Object.hasOwn(UNSUPPORTED_HINTS, modelType) ? `: ${UNSUPPORTED_HINTS[modelType]}` : '';
    throw unsupportedError(file, `model_type "${modelType}" is not supported${hint} (${supported})`);
  }
  const spec = ARCHITECTURES[modelType];
  if (c.architectures != null && !Array.isArray(c.architectures))
    throw modelFormatError(file, `architectures must be a list of class names such as ["${spec.architectures[0]}"], got ${show(c.architectures)}`);
  const archs = (c.architectures as unknown[] | null | undefined) ?? spec.architectures;
  const architecture = archs.find((a): a is string => typeof a === 'string' && spec.architectures.includes(a));
  if (!architecture) throw unsupportedError(file, `architectures ${show(archs)} is not supported (expected ${spec.architectures.join(' or ')})`);
  return { spec, modelType, architecture };
}

/** Sizes and counts, each a positive integer, and the divisibility attention needs. */
function parseShape(c: Record<string, unknown>, file: string, spec: ArchitectureSpec) {
  const hiddenSize = posInt(c, 'hidden_size', file);
  const heads = posInt(c, 'num_attention_heads', file);
  const kvHeads = posInt(c, 'num_key_value_heads', file, heads);
  if (heads % kvHeads !== 0) throw modelFormatError(file, `num_attention_heads (${heads}) must be a multiple of num_key_value_heads (${kvHeads})`);
  // An explicit head_dim may differ from hidden_size / heads (transformers allows it); without one
  // the split has to be exact.
  if (c.head_dim == null && spec.defaults.headDim === undefined && hiddenSize % heads !== 0) {
    throw modelFormatError(file, `hidden_size (${hiddenSize}) must be a multiple of num_attention_heads (${heads}) when head_dim is not given`);
  }
  const headDim = posInt(c, 'head_dim', file, spec.defaults.headDim ?? hiddenSize / heads);
  if (headDim % 2 !== 0) throw modelFormatError(file, `head_dim must be even (rotary embeddings rotate pairs of channels), got ${headDim}`);
  return {
    hiddenSize,
    layers: posInt(c, 'num_hidden_layers', file),
    heads,
    kvHeads,
    headDim,
    intermediateSize: posInt(c, 'intermediate_size', file),
    vocabSize: posInt(c, 'vocab_size', file),
    rmsEps: posNum(c, 'rms_norm_eps', file, 1e-6),
    maxPositions: posInt(c, 'max_position_embeddings', file, 2048),
  };
}

/**
 * config.json (and generation_config.json, already parsed) → ModelConfig. `generationFile` only
 * names that file in messages; by default it sits next to `file`.
 */
export function parseConfig(
  raw: unknown,
  file: string,
  generation?: unknown,
  generationFile = file.replace(/config\.json$/, 'generation_config.json'),
): ModelConfig {
  if (!isObject(raw)) throw modelFormatError(file, `must hold a JSON object, got ${jsonKind(raw)}`);
  if (generation !== undefined && !isObject(generation)) throw modelFormatError(generationFile, `must hold a JSON object, got ${jsonKind(generation)}`);
  const c = raw;
  const gen = generation as Record<string, unknown> | undefined;
  const { spec, modelType, architecture } = architectureOf(c, file);
  for (const key of ['attention_bias', 'mlp_bias', 'tie_word_embeddings', 'use_sliding_window']) checkBool(c, key, file);
  const shape = parseShape(c, file, spec);
  const arch = spec.settings(c, file, shape);

  const bos = tokenIds(c.bos_token_id, 'bos_token_id', file);
  if (bos.length > 1) throw modelFormatError(file, `bos_token_id must be one token id, got ${show(c.bos_token_id)}`);
  const eos = tokenIds(gen?.eos_token_id, 'eos_token_id', generationFile);
  return {
    modelType: modelType as ModelConfig['modelType'],
    architecture,
    ...shape,
    tieEmbeddings: (c.tie_word_embeddings ?? spec.defaults.tieEmbeddings) === true,
    qkvBias: spec.qkvBias(c),
    oBias: spec.oBias(c),
    mlpBias: c.mlp_bias === true,
    rope: arch.ropes[arch.layerAttention.find((l) => l.window === 0)?.rope ?? 0],
    arch,
    bosTokenId: bos[0] ?? null,
    // generation_config.json wins (it is what HF generate uses); config.json is the fallback.
    eosTokenIds: eos.length ? eos : tokenIds(c.eos_token_id, 'eos_token_id', file),
  };
}
