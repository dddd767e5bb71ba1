// Rotary position embeddings: config.json's rope fields → RopeConfig, and the inverse frequencies
// (as transformers computes them in float32). Architectures with several rope kinds (Gemma 3's
// local and global layers) parse one RopeConfig per kind with parseRopeParams.

import { modelFormatError, unsupportedError } from '../errors.ts';
import { isObject, show } from '../util/json.ts';
import { posInt, posNum } from './config-fields.ts';

export interface RopeConfig {
  theta: number;
  type: 'default' | 'linear' | 'llama3';
  factor: number;
  lowFreqFactor: number;
  highFreqFactor: number;
  originalMaxPositions: number;
}

const ROPE_TYPES: readonly string[] = ['default', 'linear', 'llama3'];

/** The rope of a config with one rope kind (Llama, Qwen): rope_parameters or rope_theta + rope_scaling. */
export function parseRope(c: Record<string, unknown>, file: string, defaultTheta = 10000): RopeConfig {
  // transformers ≥ 5 writes `rope_parameters` (theta inside); older checkpoints have `rope_theta`
  // and `rope_scaling` at the top level. Accept both — and when both are there, check both: reading
  // one would silently ignore, say, a "yarn" in the other (transformers 5 lets rope_scaling win).
  const present = (['rope_parameters', 'rope_scaling'] as const).filter((f) => c[f] != null);
  const ropes = present.map((field) => parseRopeField(c, field, file, defaultTheta));
  if (ropes.length === 0) return parseRopeField(c, 'rope_scaling', file, defaultTheta);
  if (ropes.length === 2) {
    const [a, b] = ropes;
    const shown = (r: RopeConfig) => `${r.type}${r.type === 'default' ? '' : `, factor ${r.factor}`}`;
    const same =
      a.type === b.type &&
      a.factor === b.factor &&
      a.lowFreqFactor === b.lowFreqFactor &&
      a.highFreqFactor === b.highFreqFactor &&
      a.originalMaxPositions === b.originalMaxPositions;
    if (!same)
      throw modelFormatError(
        file,
        `rope_parameters (${shown(a)}) and rope_scaling (${shown(b)}) disagree — keep the one the model was trained with and remove the other`,
      );
  }
  return ropes[0];
}

const ROPE_ADVICE =
  "this runtime implements default, linear and llama3 rope; use a model without it (removing the field changes the model's outputs unless it is an optional long-context extension, such as Qwen2.5's YaRN for contexts past 32k)";

function parseRopeField(c: Record<string, unknown>, field: 'rope_parameters' | 'rope_scaling', file: string, defaultTheta: number): RopeConfig {
  const params = c[field] ?? null;
  if (params !== null && !isObject(params))
    throw modelFormatError(file, `${field} must be null or an object such as {"rope_type": "linear", "factor": 2}, got ${show(params)}`);
  const p = params ?? {};
  const theta = p.rope_theta != null ? posNum(p, 'rope_theta', file, undefined, `${field}.rope_theta`) : posNum(c, 'rope_theta', file, defaultTheta);
  return parseRopeParams(p, field, file, theta);
}

/**
 * One rope kind's type and scaling from its parameter object `p` (found at `field`, for messages);
 * the base `theta` is resolved by the caller (it may live outside `p` in older configs).
 */
export function parseRopeParams(p: Record<string, unknown>, field: string, file: string, theta: number): RopeConfig {
  // transformers reads rope_type first, then the older `type`.
  const typeKey = p.rope_type != null ? 'rope_type' : 'type';
  const type = p[typeKey] ?? 'default';
  if (typeof type !== 'string') throw modelFormatError(file, `${field}.${typeKey} must be a string (one of ${ROPE_TYPES.join(', ')}), got ${show(type)}`);
  if (!ROPE_TYPES.includes(type))
    throw unsupportedError(file, `${field}.${typeKey} "${type}" is not supported (supported rope types: ${ROPE_TYPES.join(', ')}) — ${ROPE_ADVICE}`);
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
