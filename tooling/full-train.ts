// Full-parameter training with next-token cross-entropy, for building small models from scratch
// (the embedded default expert/amateur pair, scripts/build-default-pair.ts). It reuses the LoRA
// engine's packed forward and explicit backward (engine.ts, given `FullGrads`): every linear layer
// gets dW = dYᵀ·X (matmulTN, HF's [out, in] layout), the LM head dW = dLogitsᵀ·h, and the input
// embedding dE = onehot(ids)ᵀ·dX (race-free; see engine.ts). The loss rows are every answer token of
// each example (the prompt is masked): cross-entropy is the engine's soft-label loss with one label
// of weight 1. AdamW (the backend's kernel) with linear warm-up and cosine decay, global-norm clipping.
//
// Weights are f32 master copies on the backend (createTensor), so the model's forward reads exactly
// what the optimizer writes. These are tiny models; f32 is right here.
//
// RMSNorm gains stay frozen at 1 (the backend has no op for their gradient, and none is needed): in a
// Llama block every norm feeds a linear layer directly (input_layernorm → q/k/v,
// post_attention_layernorm → gate/up, the final norm → lm_head, untied here), so a gain g is the
// same function as W·diag(g) with g = 1: freezing it loses no expressiveness, only a reparametrisation.
// The checkpoint writes the gains (all ones) as any Llama checkpoint has them.
//
// Portable: no host imports (the caller passes a FileSystem to save).

import { requireTraining } from '../runtime/backend/training.ts';
import type { Backend, Tensor, TrainingOps } from '../runtime/backend/types.ts';
import { badInputError, unsupportedError } from '../runtime/errors.ts';
import { encodeSafetensors, readSafetensorsHeader, readTensorBytes, type TensorToWrite } from '../runtime/io/safetensors.ts';
import type { ModelConfig } from '../runtime/model/config.ts';
import { CausalLM } from '../runtime/model/model.ts';
import type { ModelTokenizer } from '../runtime/model/tokenizer.ts';
import type { LayerWeights, ModelWeights } from '../runtime/model/weights.ts';
import type { FileSystem } from '../runtime/platform/types.ts';
import { encodeFromF32 } from '../runtime/util/dtype.ts';
import { splitmix32, type TrainSample, type Trajectory } from '../runtime/train/data.ts';
import { type FullGrads, TrainPass } from '../runtime/train/pass.ts';
import { LORA_TARGETS, type LoraAdapter, type LoraTarget } from '../runtime/train/lora.ts';
import { clipCoefficient } from '../runtime/train/optimizer.ts';
import { plainArch } from '../runtime/model/architectures.ts';

/** The transformers version whose config.json format we write (the one the fixtures use). */
const TRANSFORMERS_VERSION = '5.18.0';

export interface LlamaShape {
  hiddenSize: number;
  layers: number;
  heads: number;
  kvHeads: number;
  intermediateSize: number;
  vocabSize: number;
  maxPositions: number;
  ropeTheta: number;
  rmsEps: number;
  bosTokenId: number;
  eosTokenId: number;
}

/** A Llama config (no biases, untied embeddings, default rope) of the given shape. */
export function llamaConfig(s: LlamaShape): ModelConfig {
  if (s.hiddenSize % s.heads !== 0 || s.heads % s.kvHeads !== 0)
    throw badInputError(`hidden ${s.hiddenSize} / heads ${s.heads} / kv heads ${s.kvHeads} do not divide`);
  return {
    modelType: 'llama',
    architecture: 'LlamaForCausalLM',
    hiddenSize: s.hiddenSize,
    layers: s.layers,
    heads: s.heads,
    kvHeads: s.kvHeads,
    headDim: s.hiddenSize / s.heads,
    intermediateSize: s.intermediateSize,
    vocabSize: s.vocabSize,
    rmsEps: s.rmsEps,
    maxPositions: s.maxPositions,
    tieEmbeddings: false,
    qkvBias: false,
    oBias: false,
    mlpBias: false,
    rope: { theta: s.ropeTheta, type: 'default', factor: 1, lowFreqFactor: 1, highFreqFactor: 1, originalMaxPositions: 0 },
    arch: plainArch(s.hiddenSize / s.heads, s.layers, {
      theta: s.ropeTheta,
      type: 'default',
      factor: 1,
      lowFreqFactor: 1,
      highFreqFactor: 1,
      originalMaxPositions: 0,
    }),
    bosTokenId: s.bosTokenId,
    eosTokenIds: [s.eosTokenId],
  };
}

/** Normal(0, std) values from our seeded PRNG (Box–Muller): reproducible in every runtime. */
export function normalValues(n: number, seed: number, std: number): Float32Array {
  const rand = splitmix32(seed >>> 0);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const u1 = Math.max(rand(), 1e-12),
      u2 = rand();
    const r = Math.sqrt(-2 * Math.log(u1)) * std;
    out[i] = r * Math.cos(2 * Math.PI * u2);
    if (i + 1 < n) out[i + 1] = r * Math.sin(2 * Math.PI * u2);
  }
  return out;
}

/** HF's parameter name → the model's tensor, in a fixed order (the checkpoint's names). */
export function namedWeights(model: CausalLM): { name: string; tensor: Tensor; target?: LoraTarget; layer?: number }[] {
  const w = model.weights;
  const out: { name: string; tensor: Tensor; target?: LoraTarget; layer?: number }[] = [{ name: 'model.embed_tokens.weight', tensor: w.embed }];
  const key: Record<LoraTarget, keyof LayerWeights> = {
    q_proj: 'q',
    k_proj: 'k',
    v_proj: 'v',
    o_proj: 'o',
    gate_proj: 'gate',
    up_proj: 'up',
    down_proj: 'down',
  };
  w.layers.forEach((L, l) => {
    const p = `model.layers.${l}.`;
    out.push({ name: `${p}input_layernorm.weight`, tensor: L.attnNorm });
    for (const t of LORA_TARGETS)
      out.push({
        name: `${p}${t.startsWith('gate') || t.startsWith('up') || t.startsWith('down') ? 'mlp' : 'self_attn'}.${t}.weight`,
        tensor: L[key[t]] as Tensor,
        target: t,
        layer: l,
      });
    out.push({ name: `${p}post_attention_layernorm.weight`, tensor: L.mlpNorm });
  });
  out.push({ name: 'model.norm.weight', tensor: w.norm });
  if (!model.config.tieEmbeddings) out.push({ name: 'lm_head.weight', tensor: w.lmHead });
  return out;
}

/**
 * A freshly initialised model with f32 weights on `backend` (HF Llama's init: every matrix
 * Normal(0, initStd), norm gains 1), seeded with our own PRNG (reproducible, not torch's numbers).
 */
export function initFullModel(config: ModelConfig, backend: Backend, seed: number, tokenizer: ModelTokenizer | null = null, initStd = 0.02): CausalLM {
  if (config.qkvBias || config.oBias || config.mlpBias)
    throw unsupportedError('full training', 'biases are not supported by full-parameter training (Llama without attention_bias/mlp_bias)');
  const { hiddenSize: H, heads, kvHeads, headDim: D, intermediateSize: I, vocabSize: V } = config;
  let k = 0;
  const mat = (rows: number, cols: number) =>
    backend.createTensor('f32', [rows, cols], normalValues(rows * cols, (seed * 0x9e3779b1 + ++k * 0x85ebca77) >>> 0, initStd));
  const ones = (n: number) => backend.createTensor('f32', [n], new Float32Array(n).fill(1));
  const embed = mat(V, H);
  const layers: LayerWeights[] = [];
  for (let l = 0; l < config.layers; l++) {
    layers.push({
      attnNorm: ones(H),
      mlpNorm: ones(H),
      attnOutNorm: null,
      mlpOutNorm: null,
      qNorm: null,
      kNorm: null,
      q: mat(heads * D, H),
      qBias: null,
      k: mat(kvHeads * D, H),
      kBias: null,
      v: mat(kvHeads * D, H),
      vBias: null,
      o: mat(H, heads * D),
      oBias: null,
      gate: mat(I, H),
      up: mat(I, H),
      down: mat(H, I),
      gateBias: null,
      upBias: null,
      downBias: null,
    });
  }
  const norm = ones(H);
  const lmHead = config.tieEmbeddings ? embed : mat(V, H);
  const weights: ModelWeights = { embed, layers, norm, lmHead, bytes: 0, dtype: 'f32' };
  weights.bytes = 4 * namedWeights({ weights, config } as CausalLM).reduce((a, x) => a + x.tensor.size, 0);
  return new CausalLM(config, backend, weights, `full-training init (seed ${seed})`, tokenizer);
}

/**
 * A saved F32 checkpoint (saveLlamaCheckpoint's) as f32 master weights, to continue full training:
 * the loader's weights are inference layouts (interleaved on Wasm), so the values are written into
 * initFullModel's plain tensors by name.
 */
export async function loadFullModel(fs: FileSystem, dir: string, base: CausalLM): Promise<CausalLM> {
  const header = await readSafetensorsHeader(fs, fs.join(dir, 'model.safetensors'));
  const model = initFullModel(base.config, base.backend, 0, base.tokenizer);
  for (const nw of namedWeights(model)) {
    const entry = header.tensors.get(nw.name);
    if (!entry) {
      if (nw.name.endsWith('norm.weight')) continue; // frozen gains stay 1 (see the header)
      throw badInputError(`${dir}: no tensor ${nw.name} in model.safetensors`);
    }
    if (entry.dtype !== 'F32') throw badInputError(`${dir}: ${nw.name} is ${entry.dtype}; continuing full training needs an F32 checkpoint`);
    const bytes = await readTensorBytes(fs, entry);
    model.backend.write(nw.tensor, new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)));
  }
  return model;
}

/** One training example: the loss is taken at every answer token (the prompt is masked). */
export interface CeExample {
  prompt: number[];
  /** The target tokens after the prompt (end with the EOS id to teach stopping). */
  answer: number[];
}

/**
 * The engine's input for a batch of examples: one trajectory per example (ids = prompt + answer
 * without its last token), one loss row per answer token with that token as the only label.
 */
function cePass(examples: readonly CeExample[]): { trajectories: Trajectory[]; samples: TrainSample[]; targets: number } {
  const trajectories: Trajectory[] = [];
  const samples: TrainSample[] = [];
  for (const [e, ex] of examples.entries()) {
    if (ex.prompt.length === 0 || ex.answer.length === 0) throw badInputError(`example ${e}: empty prompt or answer`);
    const ids = [...ex.prompt, ...ex.answer.slice(0, -1)];
    const members: Trajectory['members'] = [];
    ex.answer.forEach((tok, k) => {
      members.push({ sample: samples.length, position: ex.prompt.length - 1 + k });
      samples.push({ line: e + 1, key: `ce:${e}`, ids: [], labelIds: [tok], labelWeights: [1] });
    });
    trajectories.push({ ids, members });
  }
  return { trajectories, samples, targets: samples.length };
}

export interface FullTrainSettings {
  lr: number;
  /** The cosine decays to lr · minLrRatio at maxSteps. */
  minLrRatio: number;
  warmupSteps: number;
  maxSteps: number;
  beta1: number;
  beta2: number;
  eps: number;
  /** Decoupled weight decay of the matrices (the embedding and LM head included). */
  weightDecay: number;
  maxGradNorm: number;
  /** Rows of one forward/backward at most (memory); a step's examples are split into passes. */
  maxRowsPerPass: number;
}

export const DEFAULT_FULL_TRAIN: Readonly<FullTrainSettings> = Object.freeze({
  lr: 3e-3,
  minLrRatio: 0.1,
  warmupSteps: 50,
  maxSteps: 1000,
  beta1: 0.9,
  beta2: 0.95,
  eps: 1e-8,
  weightDecay: 0.1,
  maxGradNorm: 1.0,
  maxRowsPerPass: 4096,
});

/** Linear warm-up from 0, then cosine decay to lr·minLrRatio (step is 1-based). */
export function warmupCosineLr(s: Pick<FullTrainSettings, 'lr' | 'minLrRatio' | 'warmupSteps' | 'maxSteps'>, step: number): number {
  if (step <= s.warmupSteps) return (s.lr * step) / Math.max(1, s.warmupSteps);
  const t = Math.min(1, (step - s.warmupSteps) / Math.max(1, s.maxSteps - s.warmupSteps));
  return s.lr * (s.minLrRatio + (1 - s.minLrRatio) * 0.5 * (1 + Math.cos(Math.PI * t)));
}

export interface FullStepResult {
  step: number;
  /** Mean cross-entropy per answer token (before the update). */
  loss: number;
  lr: number;
  grad_norm: number;
  /** Answer tokens (loss rows) and rows run. */
  targets: number;
  rows: number;
}

/** The full-parameter training loop's state: gradients, AdamW moments, the step counter. */
export class FullTrainer {
  readonly engine: TrainPass;
  readonly grads: FullGrads;
  readonly params: { name: string; param: Tensor; grad: Tensor; decay: boolean }[];
  step = 0;
  private readonly m: Tensor[];
  private readonly v: Tensor[];
  private readonly normSq: Tensor;
  private readonly backend: Backend;
  private readonly training: TrainingOps;

  constructor(
    readonly model: CausalLM,
    readonly settings: FullTrainSettings,
  ) {
    const b = (this.backend = model.backend);
    this.training = requireTraining(b, 'full-parameter training');
    if (model.weights.dtype !== 'f32') throw badInputError('full-parameter training needs f32 master weights (initFullModel)');
    const c = model.config;
    const g = (t: Tensor) => b.createTensor('f32', t.shape);
    const embed = g(model.weights.embed);
    this.grads = {
      embed,
      lmHead: c.tieEmbeddings ? embed : g(model.weights.lmHead),
      layers: model.weights.layers.map((L) => ({
        q_proj: g(L.q),
        k_proj: g(L.k),
        v_proj: g(L.v),
        o_proj: g(L.o),
        gate_proj: g(L.gate),
        up_proj: g(L.up),
        down_proj: g(L.down),
      })),
    };
    // No LoRA pairs: the engine runs the base model and fills only the full gradients.
    const none: LoraAdapter = { config: { r: 1, alpha: 1, dropout: 0, targetModules: [] }, scaling: 1, layers: model.weights.layers.map(() => ({})) };
    this.engine = new TrainPass(model, none, this.grads);
    this.params = [];
    for (const nw of namedWeights(model)) {
      let grad: Tensor | null = null;
      if (nw.name === 'model.embed_tokens.weight') grad = this.grads.embed;
      else if (nw.name === 'lm_head.weight') grad = this.grads.lmHead;
      else if (nw.target !== undefined) grad = this.grads.layers[nw.layer!][nw.target];
      if (grad) this.params.push({ name: nw.name, param: nw.tensor, grad, decay: true });
      // RMSNorm gains: frozen at 1 (see the header).
    }
    this.m = this.params.map((p) => b.createTensor('f32', p.param.shape));
    this.v = this.params.map((p) => b.createTensor('f32', p.param.shape));
    this.normSq = b.createTensor('f32', [1]);
  }

  /** Gradients of the mean answer-token cross-entropy over `examples` (no update); returns the mean loss. */
  async gradients(examples: readonly CeExample[]): Promise<{ loss: number; targets: number; rows: number }> {
    const e = this.engine;
    e.zeroGrad();
    const { trajectories, samples, targets } = cePass(examples);
    let rows = 0,
      cur: Trajectory[] = [],
      curRows = 0;
    const run = () => {
      if (cur.length) e.pass({ trajectories: cur, samples, lossScale: 1 / targets, dropoutSeed: 0 });
      cur = [];
      curRows = 0;
    };
    for (const t of trajectories) {
      if (cur.length && curRows + t.ids.length > this.settings.maxRowsPerPass) run();
      cur.push(t);
      curRows += t.ids.length;
      rows += t.ids.length;
    }
    run();
    const lossSum = (await this.backend.read(e.lossSum))[0];
    return { loss: lossSum / targets, targets, rows };
  }

  /** One optimizer step on a batch: gradients, global-norm clipping, AdamW with the schedule's lr. */
  async trainStep(examples: readonly CeExample[]): Promise<FullStepResult> {
    const b = this.backend,
      s = this.settings;
    const { loss, targets, rows } = await this.gradients(examples);
    b.fill(this.normSq, 0);
    for (const p of this.params) b.sumSquares(p.grad, this.normSq);
    const norm = Math.sqrt((await b.read(this.normSq))[0]);
    const step = ++this.step;
    const lr = warmupCosineLr(s, step);
    const clip = clipCoefficient(norm, s.maxGradNorm);
    this.params.forEach((p, j) => {
      this.training.adamw(p.param, p.grad, this.m[j], this.v[j], {
        lr,
        beta1: s.beta1,
        beta2: s.beta2,
        eps: s.eps,
        weightDecay: p.decay ? s.weightDecay : 0,
        step,
        gradScale: clip,
      });
    });
    return { step, loss, lr, grad_norm: norm, targets, rows };
  }

  dispose(): void {
    const b = this.backend;
    this.engine.dispose();
    for (const t of new Set([this.grads.embed, this.grads.lmHead, ...this.grads.layers.flatMap((l) => Object.values(l)), ...this.m, ...this.v, this.normSq]))
      b.dispose(t);
  }
}

// ---- Hugging Face checkpoint -------------------------------------------------------------------

/** config.json as transformers 5 writes it for LlamaForCausalLM (keys sorted, as save_pretrained). */
function llamaConfigJson(c: ModelConfig, dtype: 'float32' | 'bfloat16', padTokenId: number | null = null): string {
  if (c.modelType !== 'llama' || c.rope.type !== 'default') throw unsupportedError('config.json', 'only default-rope Llama configs are written');
  const o: Record<string, unknown> = {
    architectures: ['LlamaForCausalLM'],
    attention_bias: false,
    attention_dropout: 0.0,
    bos_token_id: c.bosTokenId,
    dtype,
    eos_token_id: c.eosTokenIds[0],
    head_dim: c.headDim,
    hidden_act: 'silu',
    hidden_size: c.hiddenSize,
    initializer_range: 0.02,
    intermediate_size: c.intermediateSize,
    max_position_embeddings: c.maxPositions,
    mlp_bias: false,
    model_type: 'llama',
    num_attention_heads: c.heads,
    num_hidden_layers: c.layers,
    num_key_value_heads: c.kvHeads,
    pad_token_id: padTokenId,
    pretraining_tp: 1,
    rms_norm_eps: c.rmsEps,
    rope_parameters: { rope_theta: c.rope.theta, rope_type: 'default' },
    tie_word_embeddings: c.tieEmbeddings,
    transformers_version: TRANSFORMERS_VERSION,
    use_cache: true,
    vocab_size: c.vocabSize,
  };
  if (padTokenId === null) delete o.pad_token_id;
  return JSON.stringify(o, null, 2) + '\n';
}

function generationConfigJson(c: ModelConfig, padTokenId: number | null = null): string {
  const o: Record<string, unknown> = { bos_token_id: c.bosTokenId, eos_token_id: c.eosTokenIds.length === 1 ? c.eosTokenIds[0] : c.eosTokenIds };
  if (padTokenId !== null) o.pad_token_id = padTokenId;
  o.transformers_version = TRANSFORMERS_VERSION;
  return JSON.stringify(o, null, 2) + '\n';
}

/** The model's weights as safetensors bytes (F32, or BF16 rounded to nearest even), HF names. */
async function modelSafetensors(model: CausalLM, dtype: 'F32' | 'BF16'): Promise<Uint8Array> {
  const tensors: TensorToWrite[] = [];
  for (const { name, tensor } of namedWeights(model)) {
    const data = (await model.backend.read(tensor)) as Float32Array;
    tensors.push({
      name,
      dtype,
      shape: [...tensor.shape],
      data: dtype === 'F32' ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) : encodeFromF32('bf16', data),
    });
  }
  return encodeSafetensors(tensors, { format: 'pt' });
}

/**
 * Write a Hugging Face Llama checkpoint directory: config.json, generation_config.json,
 * model.safetensors, and the given tokenizer files (name → contents) copied as they are.
 */
export async function saveLlamaCheckpoint(
  fs: FileSystem,
  dir: string,
  model: CausalLM,
  opts: { dtype: 'F32' | 'BF16'; tokenizerFiles: Record<string, string | Uint8Array>; padTokenId?: number | null },
): Promise<void> {
  if (!fs.writeFileAtomic || !fs.mkdir) throw unsupportedError(dir, 'saving a checkpoint needs a writable file system');
  await fs.mkdir(dir);
  const pad = opts.padTokenId ?? null;
  await fs.writeFileAtomic(fs.join(dir, 'model.safetensors'), await modelSafetensors(model, opts.dtype));
  for (const [name, data] of Object.entries(opts.tokenizerFiles)) await fs.writeFileAtomic(fs.join(dir, name), data);
  await fs.writeFileAtomic(fs.join(dir, 'generation_config.json'), generationConfigJson(model.config, pad));
  await fs.writeFileAtomic(fs.join(dir, 'config.json'), llamaConfigJson(model.config, opts.dtype === 'F32' ? 'float32' : 'bfloat16', pad));
}
