// The architecture registry, keyed by config.json's `model_type` (as transformers.js does): what
// each family's decoder layer looks like, as data. The one forward (forward.ts), the loader
// (weights.ts) and training read only these settings, so a family that differs from Llama in norms,
// activation, attention scale, sliding windows or rope is an entry here, not a new forward.

import type { GluActivation } from '../backend/types.ts';
import { modelFormatError, unsupportedError } from '../errors.ts';
import { isObject, show } from '../util/json.ts';
import { posInt, posNum } from './config-fields.ts';
import { parseRope, parseRopeParams, type RopeConfig } from './rope.ts';

/** HF tensor names of a layer's RMSNorm gains, after `model.layers.N.` (null: the family has none). */
export interface NormNames {
  /** Before attention (every family: input_layernorm). */
  attn: string;
  /** Before the MLP (Llama's post_attention_layernorm; Gemma's pre_feedforward_layernorm). */
  mlp: string;
  /** On the attention output before the residual add (Gemma's sandwich norms). */
  attnOut: string | null;
  /** On the MLP output before the residual add (Gemma). */
  mlpOut: string | null;
  /** Per-head RMSNorm of the queries and keys before rope (Qwen3, Gemma 3), gains [head_dim]. */
  q: string | null;
  k: string | null;
}

/** One layer's attention: its sliding window (0 = full causal) and which of `ropes` it uses. */
export interface LayerAttention {
  window: number;
  rope: number;
}

/** What the forward needs to know about a family, resolved for one checkpoint (ModelConfig.arch). */
export interface ArchSettings {
  norms: NormNames;
  /** RMSNorm gains are (normOffset + w): 0, or 1 for Gemma's (1 + w) (folded into the gains at load). */
  normOffset: number;
  activation: GluActivation;
  /** Input embeddings are multiplied by this (Gemma: √hidden_size as float32; others 1). */
  embedScale: number;
  /** Attention scores are multiplied by this (1/√head_dim; Gemma: query_pre_attn_scalar^-½). */
  attentionScale: number;
  layerAttention: LayerAttention[];
  ropes: RopeConfig[];
}

type Config = Record<string, unknown>;
interface Shape {
  hiddenSize: number;
  headDim: number;
  layers: number;
}

export interface ArchitectureSpec {
  architectures: string[];
  /** transformers' config-class defaults where they differ between families. */
  defaults: { headDim?: number; tieEmbeddings: boolean };
  qkvBias(c: Config): boolean;
  oBias(c: Config): boolean;
  settings(c: Config, file: string, shape: Shape): ArchSettings;
}

const LLAMA_NORMS: NormNames = { attn: 'input_layernorm', mlp: 'post_attention_layernorm', attnOut: null, mlpOut: null, q: null, k: null };
const QK_NORMS = { q: 'self_attn.q_norm', k: 'self_attn.k_norm' };

const SLIDING = 'sliding_attention';
const FULL = 'full_attention';

/** config.json's layer_types, checked: one 'sliding_attention' or 'full_attention' per layer. */
function layerTypes(c: Config, file: string, layers: number): boolean[] | null {
  const types = c.layer_types;
  if (types == null) return null;
  if (!Array.isArray(types) || types.length !== layers || types.some((t) => t !== SLIDING && t !== FULL)) {
    throw modelFormatError(file, `layer_types must list "${SLIDING}" or "${FULL}" for each of the ${layers} layers, got ${show(types)}`);
  }
  return types.map((t) => t === SLIDING);
}

function activation(c: Config, file: string, key: string, expected: string): void {
  const act = c[key] ?? expected;
  if (act !== expected) throw unsupportedError(file, `${key} "${String(act)}" is not supported for this model_type (only ${expected})`);
}

/**
 * Llama-shaped families (Llama, Qwen2, Qwen3): one rope, silu, 1/√head_dim. Qwen's optional
 * sliding window (use_sliding_window) covers the layers from max_window_layers on, or those
 * layer_types marks, as transformers' Qwen2/Qwen3 configs decide.
 */
function llamaLike(c: Config, file: string, shape: Shape, opts: { qkNorm: boolean; qwenWindow: boolean }): ArchSettings {
  activation(c, file, 'hidden_act', 'silu');
  let window = 0;
  if (opts.qwenWindow && c.use_sliding_window === true) window = posInt(c, 'sliding_window', file, 4096);
  const maxWindowLayers = opts.qwenWindow ? posIntOrZero(c, 'max_window_layers', file, 28) : 0;
  const sliding = layerTypes(c, file, shape.layers) ?? Array.from({ length: shape.layers }, (_, i) => window > 0 && i >= maxWindowLayers);
  return {
    norms: { ...LLAMA_NORMS, ...(opts.qkNorm ? QK_NORMS : {}) },
    normOffset: 0,
    activation: 'silu',
    embedScale: 1,
    attentionScale: 1 / Math.sqrt(shape.headDim),
    layerAttention: sliding.map((s) => ({ window: s ? window : 0, rope: 0 })),
    ropes: [parseRope(c, file)],
  };
}

function posIntOrZero(c: Config, key: string, file: string, fallback: number): number {
  const v = c[key] ?? fallback;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw modelFormatError(file, `${key} must be a non-negative integer, got ${show(c[key])}`);
  return v;
}

/**
 * Gemma 3's two rope kinds: [local (sliding layers), global (full layers)]. transformers ≥ 5 writes
 * rope_parameters: {sliding_attention: {...}, full_attention: {...}}; older configs (the Hub's) have
 * rope_local_base_freq for the local base and rope_theta + rope_scaling for the global one.
 */
function gemmaRopes(c: Config, file: string): RopeConfig[] {
  const params = c.rope_parameters;
  if (isObject(params) && (SLIDING in params || FULL in params)) {
    return (
      [
        [SLIDING, 10000],
        [FULL, 1e6],
      ] as const
    ).map(([kind, theta]) => {
      const p = params[kind] ?? {};
      const field = `rope_parameters.${kind}`;
      if (!isObject(p)) throw modelFormatError(file, `${field} must be an object such as {"rope_type": "default", "rope_theta": ${theta}}, got ${show(p)}`);
      return parseRopeParams(p, field, file, posNum(p, 'rope_theta', file, theta, `${field}.rope_theta`));
    });
  }
  const local = parseRopeParams({}, 'rope_local_base_freq', file, posNum(c, 'rope_local_base_freq', file, 10000));
  return [local, parseRope(c, file, 1e6)];
}

function gemma3(c: Config, file: string, shape: Shape): ArchSettings {
  activation(c, file, c.hidden_activation != null ? 'hidden_activation' : 'hidden_act', 'gelu_pytorch_tanh');
  for (const key of ['final_logit_softcapping', 'attn_logit_softcapping']) {
    if (c[key] != null) throw unsupportedError(file, `${key} ${show(c[key])} is not supported (Gemma 3 checkpoints ship it null)`);
  }
  if (c.use_bidirectional_attention === true)
    throw unsupportedError(file, 'use_bidirectional_attention: true is not supported (a causal language model is needed)');
  const window = posInt(c, 'sliding_window', file, 4096);
  const pattern = posInt(c, 'sliding_window_pattern', file, 6);
  const sliding = layerTypes(c, file, shape.layers) ?? Array.from({ length: shape.layers }, (_, i) => (i + 1) % pattern !== 0);
  return {
    norms: {
      attn: 'input_layernorm',
      mlp: 'pre_feedforward_layernorm',
      attnOut: 'post_attention_layernorm',
      mlpOut: 'post_feedforward_layernorm',
      ...QK_NORMS,
    },
    normOffset: 1,
    activation: 'gelu_tanh',
    // transformers keeps √hidden as a float32 buffer and multiplies in the weights' dtype.
    embedScale: Math.fround(Math.sqrt(shape.hiddenSize)),
    attentionScale: posNum(c, 'query_pre_attn_scalar', file, 256) ** -0.5,
    layerAttention: sliding.map((s) => (s ? { window, rope: 0 } : { window: 0, rope: 1 })),
    ropes: gemmaRopes(c, file),
  };
}

export const ARCHITECTURES: Readonly<Record<string, ArchitectureSpec>> = Object.freeze({
  llama: {
    architectures: ['LlamaForCausalLM'],
    defaults: { tieEmbeddings: false },
    qkvBias: (c) => c.attention_bias === true,
    oBias: (c) => c.attention_bias === true,
    settings: (c, file, shape) => llamaLike(c, file, shape, { qkNorm: false, qwenWindow: false }),
  },
  qwen2: {
    architectures: ['Qwen2ForCausalLM'],
    defaults: { tieEmbeddings: false },
    qkvBias: () => true,
    oBias: () => false,
    settings: (c, file, shape) => llamaLike(c, file, shape, { qkNorm: false, qwenWindow: true }),
  },
  qwen3: {
    architectures: ['Qwen3ForCausalLM'],
    defaults: { headDim: 128, tieEmbeddings: false },
    qkvBias: (c) => c.attention_bias === true,
    oBias: (c) => c.attention_bias === true,
    settings: (c, file, shape) => llamaLike(c, file, shape, { qkNorm: true, qwenWindow: true }),
  },
  gemma3_text: {
    architectures: ['Gemma3ForCausalLM'],
    defaults: { headDim: 256, tieEmbeddings: true },
    qkvBias: (c) => c.attention_bias === true,
    oBias: (c) => c.attention_bias === true,
    settings: gemma3,
  },
});

/**
 * The settings of a plain Llama/Qwen2 layer stack (no q/k norms, no windows, one rope), for configs
 * built in code rather than read from config.json (random models, benches, full training).
 */
export function plainArch(headDim: number, layers: number, rope: RopeConfig): ArchSettings {
  return {
    norms: LLAMA_NORMS,
    normOffset: 0,
    activation: 'silu',
    embedScale: 1,
    attentionScale: 1 / Math.sqrt(headDim),
    layerAttention: Array.from({ length: layers }, () => ({ window: 0, rope: 0 })),
    ropes: [rope],
  };
}

/** Said when a model_type is not in the registry. */
export const SUPPORTED_TEXT = `supported: ${Object.keys(ARCHITECTURES).join(', ')} — e.g. SmolLM2, Llama-3.2, Qwen2.5, Qwen2.5-Math, DeepSeek-R1-Distill-Qwen, Qwen3, Gemma 3 1B`;

/** Known model_types we refuse with a specific hint. */
export const UNSUPPORTED_HINTS: Readonly<Record<string, string>> = Object.freeze({
  gemma3: 'the multimodal Gemma 3 (Gemma3ForConditionalGeneration, 4B and up) is not supported; use a text-only gemma3_text checkpoint such as gemma-3-1b-it',
});
