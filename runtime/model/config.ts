// config.json → ModelConfig, through a registry keyed by `model_type` (as transformers.js does).
// Each architecture entry says how its config differs; everything else is the shared Llama shape.

import { modelFormatError, unsupportedError } from '../errors.ts';
import { isObject, jsonKind, show } from '../util/json.ts';

export interface RopeConfig {
  theta: number;
  type: 'default' | 'linear' | 'llama3';
  factor: number;
  lowFreqFactor: number;
  highFreqFactor: number;
  originalMaxPositions: number;
}

export interface ModelConfig {
  modelType: 'llama' | 'qwen2';
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
  /** q/k/v projections have biases (always in Qwen2; `attention_bias` in Llama). */
  qkvBias: boolean;
  /** o_proj has a bias (Llama's `attention_bias` covers it too; Qwen2 never). */
  oBias: boolean;
  mlpBias: boolean;
  rope: RopeConfig;
  bosTokenId: number | null;
  eosTokenIds: number[];
}

interface ArchitectureSpec {
  architectures: string[];
  qkvBias(c: Record<string, unknown>): boolean;
  oBias(c: Record<string, unknown>): boolean;
  check?(c: Record<string, unknown>, file: string): void;
}

const ARCHITECTURES: Readonly<Record<string, ArchitectureSpec>> = Object.freeze({
  llama: {
    architectures: ['LlamaForCausalLM'],
    qkvBias: (c) => c.attention_bias === true,
    oBias: (c) => c.attention_bias === true,
  },
  qwen2: {
    architectures: ['Qwen2ForCausalLM'],
    qkvBias: () => true,
    oBias: () => false,
    check(c, file) {
      if (c.use_sliding_window === true) throw unsupportedError(file, 'use_sliding_window: true is not supported (Qwen2.5 checkpoints ship it false)');
    },
  },
});

const ROPE_TYPES: readonly string[] = ['default', 'linear', 'llama3'];

// Absent and null both mean "use the default", as in transformers' config classes. `field` is the
// name the message shows (a dotted path for nested keys such as rope_parameters.factor).

function posInt(c: Record<string, unknown>, key: string, file: string, fallback?: number, field = key): number {
  const v = c[key] ?? fallback;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) throw modelFormatError(file, `${field} must be a positive integer, got ${show(c[key])}`);
  return v;
}

function posNum(c: Record<string, unknown>, key: string, file: string, fallback?: number, field = key): number {
  const v = c[key] ?? fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw modelFormatError(file, `${field} must be a finite positive number, got ${show(c[key])}`);
  return v;
}

// A string "true" would otherwise read as false and silently drop the biases or the tied head.
function checkBool(c: Record<string, unknown>, key: string, file: string): void {
  const v = c[key];
  if (v !== undefined && v !== null && typeof v !== 'boolean') throw modelFormatError(file, `${key} must be true or false, got ${show(v)}`);
}

/** Token ids: absent/null → none; an id or a list of ids, each a non-negative integer. */
function tokenIds(v: unknown, field: string, file: string): number[] {
  if (v === undefined || v === null) return [];
  const list = Array.isArray(v) ? v : [v];
  for (const id of list) {
    if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 0) throw modelFormatError(file, `${field} must be a token id (a non-negative integer) or a list of them, got ${show(v)}`);
  }
  return list as number[];
}

function parseRope(c: Record<string, unknown>, file: string): RopeConfig {
  // transformers ≥ 5 writes `rope_parameters` (theta inside); older checkpoints have `rope_theta`
  // and `rope_scaling` at the top level. Accept both — and when both are there, check both: reading
  // one would silently ignore, say, a "yarn" in the other (transformers 5 lets rope_scaling win).
  const present = (['rope_parameters', 'rope_scaling'] as const).filter((f) => c[f] != null);
  const ropes = present.map((field) => parseRopeField(c, field, file));
  if (ropes.length === 0) return parseRopeField(c, 'rope_scaling', file);
  if (ropes.length === 2) {
    const [a, b] = ropes;
    const shown = (r: RopeConfig) => `${r.type}${r.type === 'default' ? '' : `, factor ${r.factor}`}`;
    const same = a.type === b.type && a.factor === b.factor && a.lowFreqFactor === b.lowFreqFactor && a.highFreqFactor === b.highFreqFactor && a.originalMaxPositions === b.originalMaxPositions;
    if (!same) throw modelFormatError(file, `rope_parameters (${shown(a)}) and rope_scaling (${shown(b)}) disagree — keep the one the model was trained with and remove the other`);
  }
  return ropes[0];
}

const ROPE_ADVICE = 'this runtime implements default, linear and llama3 rope; use a model without it (removing the field changes the model\'s outputs unless it is an optional long-context extension, such as Qwen2.5\'s YaRN for contexts past 32k)';

function parseRopeField(c: Record<string, unknown>, field: 'rope_parameters' | 'rope_scaling', file: string): RopeConfig {
  const params = c[field] ?? null;
  if (params !== null && !isObject(params)) throw modelFormatError(file, `${field} must be null or an object such as {"rope_type": "linear", "factor": 2}, got ${show(params)}`);
  const p = params ?? {};
  const theta = p.rope_theta != null ? posNum(p, 'rope_theta', file, undefined, `${field}.rope_theta`) : posNum(c, 'rope_theta', file, 10000);
  // transformers reads rope_type first, then the older `type`.
  const typeKey = p.rope_type != null ? 'rope_type' : 'type';
  const type = p[typeKey] ?? 'default';
  if (typeof type !== 'string') throw modelFormatError(file, `${field}.${typeKey} must be a string (one of ${ROPE_TYPES.join(', ')}), got ${show(type)}`);
  if (!ROPE_TYPES.includes(type)) throw unsupportedError(file, `${field}.${typeKey} "${type}" is not supported (supported rope types: ${ROPE_TYPES.join(', ')}) — ${ROPE_ADVICE}`);
  const factor = (key: string) => posNum(p, key, file, undefined, `${field}.${key}`);
  const rope: RopeConfig = { theta, type: type as RopeConfig['type'], factor: 1, lowFreqFactor: 1, highFreqFactor: 1, originalMaxPositions: 0 };
  if (type !== 'default') rope.factor = factor('factor');
  if (type === 'llama3') {
    rope.lowFreqFactor = factor('low_freq_factor');
    rope.highFreqFactor = factor('high_freq_factor');
    // ropeInvFreq divides by their difference: equal factors would turn frequencies into NaN.
    if (rope.highFreqFactor <= rope.lowFreqFactor) {
      throw modelFormatError(file, `${field}.high_freq_factor (${rope.highFreqFactor}) must be greater than ${field}.low_freq_factor (${rope.lowFreqFactor})`);
    }
    rope.originalMaxPositions = posInt(p, 'original_max_position_embeddings', file, undefined, `${field}.original_max_position_embeddings`);
  }
  return rope;
}

/** The registry entry for config.json's model_type and the architecture name it confirms. */
function architectureOf(c: Record<string, unknown>, file: string): { spec: ArchitectureSpec; modelType: string; architecture: string } {
  const supported = `supported: ${Object.keys(ARCHITECTURES).join(', ')} — e.g. SmolLM2, Llama-3.2, Qwen2.5, DeepSeek-R1-Distill-Qwen`;
  const modelType = c.model_type;
  if (typeof modelType !== 'string') throw modelFormatError(file, `model_type must be a string naming the architecture (${supported}), got ${show(modelType)}`);
  // hasOwn: a plain lookup would find Object.prototype's "constructor" or "__proto__".
  if (!Object.hasOwn(ARCHITECTURES, modelType)) throw unsupportedError(file, `model_type "${modelType}" is not supported (${supported})`);
  const spec = ARCHITECTURES[modelType];
  if (c.architectures != null && !Array.isArray(c.architectures)) throw modelFormatError(file, `architectures must be a list of class names such as ["${spec.architectures[0]}"], got ${show(c.architectures)}`);
  const archs = (c.architectures as unknown[] | null | undefined) ?? spec.architectures;
  const architecture = archs.find((a): a is string => typeof a === 'string' && spec.architectures.includes(a));
  if (!architecture) throw unsupportedError(file, `architectures ${show(archs)} is not supported (expected ${spec.architectures.join(' or ')})`);
  return { spec, modelType, architecture };
}

/** Sizes and counts, each a positive integer, and the divisibility attention needs. */
function parseShape(c: Record<string, unknown>, file: string) {
  const hiddenSize = posInt(c, 'hidden_size', file);
  const heads = posInt(c, 'num_attention_heads', file);
  const kvHeads = posInt(c, 'num_key_value_heads', file, heads);
  if (heads % kvHeads !== 0) throw modelFormatError(file, `num_attention_heads (${heads}) must be a multiple of num_key_value_heads (${kvHeads})`);
  // An explicit head_dim may differ from hidden_size / heads (transformers allows it); without one
  // the split has to be exact.
  if (c.head_dim == null && hiddenSize % heads !== 0) {
    throw modelFormatError(file, `hidden_size (${hiddenSize}) must be a multiple of num_attention_heads (${heads}) when head_dim is not given`);
  }
  const headDim = posInt(c, 'head_dim', file, hiddenSize / heads);
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
export function parseConfig(raw: unknown, file: string, generation?: unknown, generationFile = file.replace(/config\.json$/, 'generation_config.json')): ModelConfig {
  if (!isObject(raw)) throw modelFormatError(file, `must hold a JSON object, got ${jsonKind(raw)}`);
  if (generation !== undefined && !isObject(generation)) throw modelFormatError(generationFile, `must hold a JSON object, got ${jsonKind(generation)}`);
  const c = raw;
  const gen = generation as Record<string, unknown> | undefined;
  const { spec, modelType, architecture } = architectureOf(c, file);
  for (const key of ['attention_bias', 'mlp_bias', 'tie_word_embeddings', 'use_sliding_window']) checkBool(c, key, file);
  spec.check?.(c, file);
  const act = c.hidden_act ?? 'silu';
  if (act !== 'silu') throw unsupportedError(file, `hidden_act "${String(act)}" is not supported (only silu)`);

  const bos = tokenIds(c.bos_token_id, 'bos_token_id', file);
  if (bos.length > 1) throw modelFormatError(file, `bos_token_id must be one token id, got ${show(c.bos_token_id)}`);
  const eos = tokenIds(gen?.eos_token_id, 'eos_token_id', generationFile);
  return {
    modelType: modelType as ModelConfig['modelType'],
    architecture,
    ...parseShape(c, file),
    tieEmbeddings: c.tie_word_embeddings === true,
    qkvBias: spec.qkvBias(c),
    oBias: spec.oBias(c),
    mlpBias: c.mlp_bias === true,
    rope: parseRope(c, file),
    bosTokenId: bos[0] ?? null,
    // generation_config.json wins (it is what HF generate uses); config.json is the fallback.
    eosTokenIds: eos.length ? eos : tokenIds(c.eos_token_id, 'eos_token_id', file),
  };
}

/**
 * Inverse rotary frequencies, computed as transformers does (float32), with llama3/linear scaling.
 */
export function ropeInvFreq(rope: RopeConfig, headDim: number): Float32Array {
  const half = headDim / 2;
  const inv = new Float32Array(half);
  for (let i = 0; i < half; i++) inv[i] = 1 / Math.fround(rope.theta ** Math.fround((2 * i) / headDim));
  if (rope.type === 'linear') for (let i = 0; i < half; i++) inv[i] = inv[i] / rope.factor;
  if (rope.type === 'llama3') {
    const { factor, lowFreqFactor, highFreqFactor, originalMaxPositions: old } = rope;
    const lowWavelen = old / lowFreqFactor;
    const highWavelen = old / highFreqFactor;
    for (let i = 0; i < half; i++) {
      const f = inv[i];
      const wavelen = (2 * Math.PI) / f;
      if (wavelen > lowWavelen) inv[i] = f / factor;
      else if (wavelen >= highWavelen) {
        const smooth = (old / wavelen - lowFreqFactor) / (highFreqFactor - lowFreqFactor);
        inv[i] = (1 - smooth) * (f / factor) + smooth * f;
      }
    }
  }
  return inv;
}
