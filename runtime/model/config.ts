// config.json → ModelConfig, through a registry keyed by `model_type` (as transformers.js does).
// Each architecture entry says how its config differs; everything else is the shared Llama shape.

import { modelFormatError, unsupportedError } from '../errors.ts';

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

export const ARCHITECTURES: Readonly<Record<string, ArchitectureSpec>> = Object.freeze({
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

function num(c: Record<string, unknown>, key: string, file: string, fallback?: number): number {
  const v = c[key] ?? fallback;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw modelFormatError(file, `field "${key}" must be a number (got ${JSON.stringify(c[key])})`);
  return v;
}

function ids(v: unknown): number[] {
  if (typeof v === 'number') return [v];
  if (Array.isArray(v)) return v.filter((x): x is number => typeof x === 'number');
  return [];
}

function parseRope(c: Record<string, unknown>, file: string): RopeConfig {
  // transformers ≥ 5 writes `rope_parameters` (theta inside); older checkpoints have `rope_theta`
  // and `rope_scaling` at the top level. Accept both.
  const params = (c.rope_parameters ?? c.rope_scaling ?? null) as Record<string, unknown> | null;
  const theta = num(params && typeof params.rope_theta === 'number' ? params : c, 'rope_theta', file, 10000);
  const type = String(params?.rope_type ?? params?.type ?? 'default');
  if (type !== 'default' && type !== 'linear' && type !== 'llama3') {
    throw unsupportedError(file, `rope type "${type}" is not supported (supported: default, linear, llama3)`);
  }
  const p = params ?? {};
  return {
    theta,
    type,
    factor: type === 'default' ? 1 : num(p, 'factor', file),
    lowFreqFactor: type === 'llama3' ? num(p, 'low_freq_factor', file) : 1,
    highFreqFactor: type === 'llama3' ? num(p, 'high_freq_factor', file) : 1,
    originalMaxPositions: type === 'llama3' ? num(p, 'original_max_position_embeddings', file) : 0,
  };
}

export function parseConfig(raw: unknown, file: string, generation?: Record<string, unknown>): ModelConfig {
  if (typeof raw !== 'object' || raw === null) throw modelFormatError(file, 'not a JSON object');
  const c = raw as Record<string, unknown>;
  const modelType = String(c.model_type ?? '');
  const spec = ARCHITECTURES[modelType];
  if (!spec) {
    throw unsupportedError(file, `model_type "${modelType}" is not supported (supported: ${Object.keys(ARCHITECTURES).join(', ')} — e.g. SmolLM2, Llama-3.2, Qwen2.5, DeepSeek-R1-Distill-Qwen)`);
  }
  const archs = Array.isArray(c.architectures) ? (c.architectures as string[]) : spec.architectures;
  const architecture = archs.find((a) => spec.architectures.includes(a));
  if (!architecture) throw unsupportedError(file, `architectures ${JSON.stringify(archs)} is not supported (expected ${spec.architectures.join(' or ')})`);
  spec.check?.(c, file);
  const act = c.hidden_act ?? 'silu';
  if (act !== 'silu') throw unsupportedError(file, `hidden_act "${String(act)}" is not supported (only silu)`);

  const hiddenSize = num(c, 'hidden_size', file);
  const heads = num(c, 'num_attention_heads', file);
  const kvHeads = num(c, 'num_key_value_heads', file, heads);
  const headDim = num(c, 'head_dim', file, hiddenSize / heads);
  if (!Number.isInteger(headDim) || headDim % 2 !== 0) throw modelFormatError(file, `head_dim ${headDim} must be an even integer`);
  if (heads % kvHeads !== 0) throw modelFormatError(file, `num_attention_heads (${heads}) must be a multiple of num_key_value_heads (${kvHeads})`);

  const eos = ids(generation?.eos_token_id);
  return {
    modelType: modelType as ModelConfig['modelType'],
    architecture,
    hiddenSize,
    layers: num(c, 'num_hidden_layers', file),
    heads,
    kvHeads,
    headDim,
    intermediateSize: num(c, 'intermediate_size', file),
    vocabSize: num(c, 'vocab_size', file),
    rmsEps: num(c, 'rms_norm_eps', file, 1e-6),
    maxPositions: num(c, 'max_position_embeddings', file, 2048),
    tieEmbeddings: c.tie_word_embeddings === true,
    qkvBias: spec.qkvBias(c),
    oBias: spec.oBias(c),
    mlpBias: c.mlp_bias === true,
    rope: parseRope(c, file),
    bosTokenId: typeof c.bos_token_id === 'number' ? c.bos_token_id : null,
    // generation_config.json wins (it is what HF generate uses); config.json is the fallback.
    eosTokenIds: eos.length ? eos : ids(c.eos_token_id),
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
