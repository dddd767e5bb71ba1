// LoRA as PEFT defines it: for a target Linear y = x·Wᵀ (+ b), the adapted layer is
//   y = x·Wᵀ (+ b) + scaling · (dropout(x) · Aᵀ) · Bᵀ,   scaling = alpha / r,
// A: [r, in] initialised Kaiming-uniform (a = √5) as nn.Linear does, B: [out, r] zeros.
// Base weights stay frozen in their file dtype; A and B are f32 tensors of the model's backend.

import type { Tensor } from '../backend/types.ts';

export const LORA_TARGETS = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] as const;
export type LoraTarget = (typeof LORA_TARGETS)[number];

export interface LoraConfig {
  r: number;
  alpha: number;
  dropout: number;
  targetModules: LoraTarget[];
}

export const DEFAULT_LORA: Readonly<LoraConfig> = Object.freeze({ r: 8, alpha: 16, dropout: 0.05, targetModules: ['q_proj', 'v_proj'] as LoraTarget[] });

export interface LoraPair {
  a: Tensor; // f32 [r, in]
  b: Tensor; // f32 [out, r]
}

export interface LoraAdapter {
  config: LoraConfig;
  /** alpha / r */
  scaling: number;
  /** layers[i][target] for every target module of every decoder layer. */
  layers: Partial<Record<LoraTarget, LoraPair>>[];
}

/** PEFT's tensor names for one LoRA pair of decoder layer `layer`. */
export function peftKeys(layer: number, target: LoraTarget): { a: string; b: string } {
  const mod = target.endsWith('_proj') && ['q_proj', 'k_proj', 'v_proj', 'o_proj'].includes(target) ? 'self_attn' : 'mlp';
  const base = `base_model.model.model.layers.${layer}.${mod}.${target}`;
  return { a: `${base}.lora_A.weight`, b: `${base}.lora_B.weight` };
}
