// Shared setup of the fine-tuning tests: the tiny expert models, their PyTorch+peft golden values
// (test/fixtures/finetune/<pair>/, made by scripts/make_finetune_fixtures.py) and our samples.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BackendChoice } from '../../runtime/backend/index.ts';
import { createBackend } from '../../runtime/backend/index.ts';
import type { Backend, QuantDType } from '../../runtime/backend/types.ts';
import { type CausalLM, loadModel } from '../../runtime/model/model.ts';
import { nodePlatform } from '../../runtime/platform/node.ts';
import { parseSamples, type TrainSample } from '../../runtime/train/data.ts';
import type { LoraAdapter, LoraTarget } from '../../runtime/train/lora.ts';
import { peftKeys } from '../../runtime/train/lora.ts';
import { loadAdapter } from '../../runtime/train/peft.ts';
import { FIXTURES } from './cli.ts';

export const PAIRS = ['llama-pair', 'qwen-pair'] as const;
export type Pair = (typeof PAIRS)[number];

export interface GradsFixture {
  system: string;
  loss: number;
  grad_norm: number;
  batch: { samples: number[] };
  samples: { index: number; input_ids: number[]; loss_position: number; loss: number }[];
  grads: Record<string, { shape: number[]; values: number[] }>;
}
export interface StepsFixture {
  system: string;
  train: { batch_size: number; grad_accum: number; max_steps: number; lr: number; max_grad_norm: number };
  steps: { step: number; samples: number[]; loss: number; grad_norm: number; lr: number; lora_after: Record<string, { shape: number[]; values: number[] }> }[];
}

export const expertDir = (pair: Pair) => join(FIXTURES, 'sampling/models', pair, 'expert');
export const samplesFile = (pair: Pair) => join(FIXTURES, 'sampling/expected', `${pair}.samples.jsonl`);
export const readJson = <T>(...p: string[]): T => JSON.parse(readFileSync(join(FIXTURES, ...p), 'utf8'));

export interface Setup {
  model: CausalLM;
  adapter: LoraAdapter;
  samples: TrainSample[];
}

/** The pair's expert on `backend`, the fixture's initial adapter, and the parsed samples. */
export async function setup(pair: Pair, backend: BackendChoice | Backend, system: string, withAdapter = true, quantize?: QuantDType): Promise<Setup> {
  const b = typeof backend === 'string' ? await createBackend(backend, nodePlatform) : backend;
  const model = await loadModel(expertDir(pair), { fs: nodePlatform.fs, backend: b, quantize });
  const adapter = withAdapter ? await loadAdapter(nodePlatform.fs, join(FIXTURES, 'finetune', pair, 'init-adapter'), model) : (null as unknown as LoraAdapter);
  const { samples } = parseSamples(readFileSync(samplesFile(pair), 'utf8'), model.tokenizer, { vocab: model.config.vocabSize, system });
  return { model, adapter, samples };
}

/** Every LoRA tensor of the adapter (or a same-shaped structure) keyed by PEFT name. */
export async function readLora(model: CausalLM, layers: LoraAdapter['layers']): Promise<Map<string, Float32Array>> {
  const out = new Map<string, Float32Array>();
  for (const [l, layer] of layers.entries()) {
    for (const [t, p] of Object.entries(layer) as [
      LoraTarget,
      { a: import('../../runtime/backend/types.ts').Tensor; b: import('../../runtime/backend/types.ts').Tensor },
    ][]) {
      const k = peftKeys(l, t);
      out.set(k.a, (await model.backend.read(p.a)) as Float32Array);
      out.set(k.b, (await model.backend.read(p.b)) as Float32Array);
    }
  }
  return out;
}

/** max |a − b| / (max |b| over the tensor): a relative error robust to tiny entries. */
export function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0,
    den = 0;
  for (let j = 0; j < b.length; j++) {
    num = Math.max(num, Math.abs(a[j] - b[j]));
    den = Math.max(den, Math.abs(b[j]));
  }
  return num / Math.max(den, 1e-30);
}

export function maxAbs(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let j = 0; j < b.length; j++) m = Math.max(m, Math.abs(a[j] - b[j]));
  return m;
}
