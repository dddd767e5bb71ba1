// LoRA initialisation and HF Trainer's default optimisation: AdamW (torch.optim.AdamW semantics),
// linear learning-rate decay to 0 without warm-up, global gradient-norm clipping. The update and
// the norm run as backend kernels; the host sees one number per step (the squared norm).

import { requireTraining } from '../backend/training.ts';
import type { Backend, Tensor, TrainingOps } from '../backend/types.ts';
import type { CausalLM } from '../model/model.ts';
import { splitmix32 } from './data.ts';
import { loraDims } from './pass.ts';
import { LORA_TARGETS, type LoraAdapter, type LoraConfig, type LoraPair, type LoraTarget } from './lora.ts';

/**
 * A fresh adapter as PEFT makes it: A ~ Kaiming-uniform(a = √5), i.e. U(−1/√in, 1/√in) as
 * nn.Linear's default init, B = 0 (so the adapted model starts equal to the base). Seeded with our
 * own PRNG: reproducible, but not torch's numbers.
 */
export function initLora(model: CausalLM, config: LoraConfig, seed: number): LoraAdapter {
  const b = model.backend;
  const rand = splitmix32((seed ^ 0x4c6f5241) >>> 0);
  const layers: Partial<Record<LoraTarget, LoraPair>>[] = [];
  for (let l = 0; l < model.config.layers; l++) {
    const layer: Partial<Record<LoraTarget, LoraPair>> = {};
    for (const t of LORA_TARGETS) {
      if (!config.targetModules.includes(t)) continue;
      const [inDim, outDim] = loraDims(model, t);
      const bound = 1 / Math.sqrt(inDim);
      const a = new Float32Array(config.r * inDim);
      for (let j = 0; j < a.length; j++) a[j] = (rand() * 2 - 1) * bound;
      layer[t] = { a: b.createTensor('f32', [config.r, inDim], a), b: b.createTensor('f32', [outDim, config.r]) };
    }
    layers.push(layer);
  }
  return { config: { ...config, targetModules: [...config.targetModules] }, scaling: config.alpha / config.r, layers };
}

export interface OptimizerSettings {
  lr: number;
  maxSteps: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  maxGradNorm: number;
}

export const HF_DEFAULTS = Object.freeze({ beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, maxGradNorm: 1.0 });

/** HF get_linear_schedule_with_warmup with 0 warm-up: the lr of optimizer step `step` (1-based). */
export function linearLr(lr: number, step: number, maxSteps: number): number {
  return lr * Math.max(0, (maxSteps - (step - 1)) / Math.max(1, maxSteps));
}

/** torch.nn.utils.clip_grad_norm_'s factor: grads are multiplied by min(1, max / (norm + 1e-6)). */
export function clipCoefficient(norm: number, maxNorm: number): number {
  return Math.min(1, maxNorm / (norm + 1e-6));
}

export interface ParamRef {
  name: string;
  param: Tensor;
  grad: Tensor;
}

/** AdamW moments for every parameter, in the engine's fixed parameter order. */
export class AdamW {
  readonly m: Tensor[];
  readonly v: Tensor[];
  private readonly normSq: Tensor;
  private readonly training: TrainingOps;

  constructor(
    private readonly backend: Backend,
    private readonly params: ParamRef[],
    readonly settings: OptimizerSettings,
  ) {
    this.training = requireTraining(backend, 'training');
    this.m = params.map((p) => backend.createTensor('f32', p.param.shape));
    this.v = params.map((p) => backend.createTensor('f32', p.param.shape));
    this.normSq = backend.createTensor('f32', [1]);
  }

  /** The global L2 norm of all gradients (one readback). */
  async gradNorm(): Promise<number> {
    const b = this.backend;
    b.fill(this.normSq, 0);
    for (const p of this.params) b.sumSquares(p.grad, this.normSq);
    return Math.sqrt((await b.read(this.normSq))[0]);
  }

  /** One optimizer step (1-based `step`) given the gradient norm: clip, then AdamW. */
  step(step: number, norm: number): { lr: number; clip: number } {
    const s = this.settings;
    const lr = linearLr(s.lr, step, s.maxSteps);
    const clip = clipCoefficient(norm, s.maxGradNorm);
    this.params.forEach((p, j) => {
      this.training.adamw(p.param, p.grad, this.m[j], this.v[j], {
        lr,
        beta1: s.beta1,
        beta2: s.beta2,
        eps: s.eps,
        weightDecay: s.weightDecay,
        step,
        gradScale: clip,
      });
    });
    return { lr, clip };
  }

  dispose(): void {
    for (const t of [...this.m, ...this.v, this.normSq]) this.backend.dispose(t);
  }
}
