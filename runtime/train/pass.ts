// The training pass: the model's one forward (model/forward.ts) over packed rows with every layer's
// activations kept (pass-storage.ts), the soft-label loss at the selected rows, and the explicit
// backward (backward.ts) that accumulates the LoRA gradients. Base weights are frozen and used in
// their file dtype; only A and B get gradients — unless the engine is given full-parameter
// gradients (`FullGrads`, tooling/full-train.ts): then the same backward also accumulates dW of
// every linear layer, the LM head and the input embedding.
//
// Everything is enqueued on the backend (one submit per pass on WebGPU); nothing here loops over
// vocabulary- or weight-sized data in JS. The caller (finetune.ts) reads back one loss sum and one
// squared gradient norm per optimizer step.

import type { Backend, Tensor, TrainingOps } from '../backend/types.ts';
import { dropoutHash, requireTraining } from '../backend/training.ts';
import { unsupportedError } from '../errors.ts';
import { createInvFreqs, ForwardPass, type LinearFn } from '../model/forward.ts';
import type { CausalLM } from '../model/model.ts';
import { backward, type FullGrads } from './backward.ts';
import type { TrainSample, Trajectory } from './data.ts';
import { LORA_TARGETS, type LoraAdapter, type LoraPair, type LoraTarget } from './lora.ts';
import { allocateStorage, type LayerActs, loraDims, type Storage } from './pass-storage.ts';

export type { FullGrads } from './backward.ts';
export { loraDims } from './pass-storage.ts';

export interface PassInput {
  trajectories: Trajectory[];
  samples: readonly TrainSample[];
  /** Multiplies each sample's gradient: 1 / (samples in the optimizer step) gives batchmean. */
  lossScale: number;
  /** Dropout mask seed of this pass (a function of the run seed, step and pass). */
  dropoutSeed: number;
}

/** Host-side inputs of a pass: ids, (slot, position) rows, loss rows and padded labels. */
interface HostInputs {
  n: number;
  m: number;
  K: number;
  maxT: number;
  tokens: Int32Array;
  rows: Int32Array;
  pick: Int32Array;
  labelIds: Int32Array;
  labelWeights: Float32Array;
}

function hostInputs(trajs: Trajectory[], samples: readonly TrainSample[]): HostInputs {
  const n = TrainPass.rowsOf(trajs);
  const m = trajs.reduce((a, t) => a + t.members.length, 0);
  const K = Math.max(...trajs.flatMap((t) => t.members.map((mm) => samples[mm.sample].labelIds.length)));
  const maxT = Math.max(...trajs.map((t) => t.ids.length));
  const tokens = new Int32Array(n),
    rows = new Int32Array(2 * n),
    pick = new Int32Array(m);
  const labelIds = new Int32Array(m * K).fill(-1),
    labelWeights = new Float32Array(m * K);
  let row = 0,
    j = 0;
  trajs.forEach((t, slot) => {
    const base = row;
    for (let p = 0; p < t.ids.length; p++, row++) {
      tokens[row] = t.ids[p];
      rows[2 * row] = slot;
      rows[2 * row + 1] = p;
    }
    for (const mem of t.members) {
      const s = samples[mem.sample];
      pick[j] = base + mem.position;
      labelIds.set(s.labelIds, j * K);
      labelWeights.set(s.labelWeights, j * K);
      j++;
    }
  });
  return { n, m, K, maxT, tokens, rows, pick, labelIds, labelWeights };
}

export class TrainPass {
  readonly backend: Backend;
  /** The backend's training ops (a backend without them is refused here, by name). */
  readonly training: TrainingOps;
  /** Gradients, the same structure as the adapter: f32, accumulated until zeroGrad. */
  readonly grads: Partial<Record<LoraTarget, LoraPair>>[];
  /** Σ of the per-sample losses since zeroGrad: f32 [1, 1]. */
  readonly lossSum: Tensor;
  private st: Storage | null = null;
  /** One rope table per rope kind (config.arch.ropes). */
  private readonly invFreqs: Tensor[];

  constructor(
    readonly model: CausalLM,
    readonly adapter: LoraAdapter,
    /** Also accumulate every weight's gradient here (full-parameter training); null: LoRA only. */
    readonly full: FullGrads | null = null,
  ) {
    this.backend = model.backend;
    this.training = requireTraining(model.backend, 'training');
    // The embedding gradient (full training only) ignores an embedding scale and norm offsets.
    const arch = model.config.arch;
    if (full && (arch.embedScale !== 1 || arch.normOffset !== 0 || arch.norms.q !== null || arch.norms.attnOut !== null))
      throw unsupportedError('full training', `${model.config.modelType} layers are not supported by full-parameter training (plain Llama only)`);
    const b = this.backend;
    this.invFreqs = createInvFreqs(b, model.config);
    this.grads = adapter.layers.map((layer) => {
      const g: Partial<Record<LoraTarget, LoraPair>> = {};
      for (const [t, p] of Object.entries(layer) as [LoraTarget, LoraPair][])
        g[t] = { a: b.createTensor('f32', p.a.shape), b: b.createTensor('f32', p.b.shape) };
      return g;
    });
    this.lossSum = b.createTensor('f32', [1, 1]);
  }

  /** Every (parameter, gradient) pair in a fixed order (layer, then LORA_TARGETS, A before B). */
  params(): { name: string; param: Tensor; grad: Tensor }[] {
    const out: { name: string; param: Tensor; grad: Tensor }[] = [];
    this.adapter.layers.forEach((layer, l) => {
      for (const t of LORA_TARGETS) {
        const p = layer[t];
        if (!p) continue;
        out.push({ name: `${l}.${t}.A`, param: p.a, grad: this.grads[l][t]!.a });
        out.push({ name: `${l}.${t}.B`, param: p.b, grad: this.grads[l][t]!.b });
      }
    });
    return out;
  }

  zeroGrad(): void {
    for (const { grad } of this.params()) this.backend.fill(grad, 0);
    if (this.full) for (const g of new Set([this.full.embed, this.full.lmHead, ...this.full.layers.flatMap((l) => Object.values(l))])) this.backend.fill(g, 0);
    this.backend.fill(this.lossSum, 0);
  }

  private storage(n: number, m: number, labels: number, kv: number): Storage {
    const s = this.st;
    if (s && s.rows >= n && s.picks >= m && s.labels >= labels && s.kv >= kv) return s;
    const cap = { rows: Math.max(n, s?.rows ?? 0), picks: Math.max(m, s?.picks ?? 0), labels: Math.max(labels, s?.labels ?? 0), kv: Math.max(kv, s?.kv ?? 0) };
    if (s) for (const t of s.all) this.backend.dispose(t);
    this.st = allocateStorage(this.backend, this.model, this.adapter, cap, this.full !== null);
    return this.st;
  }

  /** Rows processed by a pass over these trajectories (for the packed/unpacked token counts). */
  static rowsOf(trajs: Trajectory[]): number {
    return trajs.reduce((a, t) => a + t.ids.length, 0);
  }

  /**
   * Enqueue one forward + backward over `trajectories` (one KV slot each): adds the LoRA gradients
   * of lossScale · Σ KL(v‖softmax(logits)) over their members to `grads`, and Σ KL to lossSum.
   */
  pass(input: PassInput): void {
    const b = this.backend,
      tr = this.training,
      c = this.model.config;
    const { hiddenSize: H, kvHeads, headDim: D, vocabSize: V } = c;
    const host = hostInputs(input.trajectories, input.samples);
    const { n, m, K, maxT } = host;
    if (maxT > c.maxPositions) throw new RangeError(`a training sequence has ${maxT} tokens, more than max_position_embeddings (${c.maxPositions})`);
    const slots = input.trajectories.length;
    const st = this.storage(n, m, m * K, slots * kvHeads * maxT * D);
    const v2 = (t: Tensor, rows: number, cols: number) => b.view(t, [rows, cols]);
    const ids = b.view(st.ids, [n]),
      rows = b.view(st.rowInfo, [n, 2]),
      pick = b.view(st.pick, [m]);
    const labelIds = v2(st.labelIds, m, K),
      labelWeights = v2(st.labelWeights, m, K);
    b.write(ids, host.tokens);
    b.write(rows, host.rows);
    b.write(pick, host.pick);
    b.write(labelIds, host.labelIds);
    b.write(labelWeights, host.labelWeights);

    const acts = st.layers.map((la) => this.views(la, n, slots, maxT));
    const dropout = {
      p: this.adapter.config.dropout,
      seed: input.dropoutSeed,
      stream: (l: number, t: LoraTarget) => (l * LORA_TARGETS.length + LORA_TARGETS.indexOf(t)) >>> 0,
    };
    const xOut = v2(st.xOut, n, H),
      last = v2(st.last, m, H),
      logits = v2(st.logits, m, V);
    this.forward(acts, st, { n, ids, rows, linear: this.linear(acts, st, n, dropout), fuse: false }, xOut, pick, last, logits);

    const loss = b.view(st.loss, [m]),
      dLogits = v2(st.dLogits, m, V);
    tr.softLabelLoss(logits, labelIds, labelWeights, input.lossScale, loss, dLogits);
    tr.matmulTN(b.view(st.loss, [m, 1]), b.view(st.ones, [m, 1]), this.lossSum, 1, true);

    backward({
      b,
      tr,
      config: c,
      weights: this.model.weights,
      adapter: this.adapter,
      grads: this.grads,
      full: this.full,
      st,
      acts,
      invFreqs: this.invFreqs,
      n,
      m,
      tokens: host.tokens,
      rows,
      pick,
      last,
      xOut,
      dLogits,
      dropout,
    });
  }

  /** The shared forward with every layer's activations in its own tensors (xOut = the next layer's xIn). */
  private forward(
    acts: LayerActs[],
    st: Storage,
    inputs: ConstructorParameters<typeof ForwardPass>[4],
    xOut: Tensor,
    pick: Tensor,
    last: Tensor,
    logits: Tensor,
  ): void {
    const b = this.backend,
      c = this.model.config,
      n = inputs.n;
    const pass = new ForwardPass(b, c, this.model.weights, this.invFreqs, inputs);
    // The k/v rows before the cache are scratch (the dk/dv gradient buffers, free in the forward).
    const k = b.view(st.dk, [n, c.kvHeads * c.headDim]),
      v = b.view(st.dv, [n, c.kvHeads * c.headDim]);
    const unused = b.view(st.dTmp, [n, c.hiddenSize]); // o/down outputs go straight into the stream without output norms
    pass.embed(acts[0].xIn);
    acts.forEach((a, l) => {
      pass.layer(l, { ...a, xOut: l + 1 < acts.length ? acts[l + 1].xIn : xOut, k, v, attProj: a.attProj ?? unused, mlpProj: a.mlpProj ?? unused });
    });
    pass.head(xOut, b.view(st.hOut, [n, c.hiddenSize]), pick, last, logits);
  }

  /** Layer l's activations as views of this pass's n rows. */
  private views(la: LayerActs, n: number, slots: number, maxT: number): LayerActs {
    const b = this.backend,
      { hiddenSize: H, heads, kvHeads, headDim: D, intermediateSize: I } = this.model.config;
    const v2 = (t: Tensor, cols: number) => b.view(t, [n, cols]);
    const r = this.adapter.config.r,
      p = this.adapter.config.dropout;
    return {
      xIn: v2(la.xIn, H),
      h: v2(la.h, H),
      qRaw: la.qRaw && v2(la.qRaw, heads * D),
      kRaw: la.kRaw && v2(la.kRaw, kvHeads * D),
      q: v2(la.q, heads * D),
      kCache: b.view(la.kCache, [slots, kvHeads, maxT, D]),
      vCache: b.view(la.vCache, [slots, kvHeads, maxT, D]),
      att: v2(la.att, heads * D),
      attProj: la.attProj && v2(la.attProj, H),
      xMid: v2(la.xMid, H),
      h2: v2(la.h2, H),
      gate: v2(la.gate, I),
      up: v2(la.up, I),
      mlp: v2(la.mlp, I),
      mlpProj: la.mlpProj && v2(la.mlpProj, H),
      lora: Object.fromEntries(
        Object.entries(la.lora).map(([t, x]) => [t, { xd: p > 0 ? v2(x.xd, loraDims(this.model, t as LoraTarget)[0]) : x.xd, u: v2(x.u, r) }]),
      ),
    };
  }

  /** A linear layer plus the adapter's update, with dropout on its input; keeps xd and u for the backward. */
  private linear(acts: LayerActs[], st: Storage, n: number, dropout: { p: number; seed: number; stream(l: number, t: LoraTarget): number }): LinearFn {
    const b = this.backend,
      ad = this.adapter;
    return (l, t, x, w, bias, out) => {
      b.matmul(x, w, bias, out);
      const pair = ad.layers[l]?.[t];
      if (!pair) return;
      const la = acts[l].lora[t]!;
      if (dropout.p > 0) this.training.dropout(x, la.xd, dropout.p, dropout.seed, dropout.stream(l, t));
      else la.xd = x; // no dropout: the backward reads the input itself
      b.matmul(la.xd, pair.a, null, la.u);
      const delta = b.view(st.delta, [n, out.shape[1]]);
      b.matmul(la.u, pair.b, null, delta);
      b.axpy(out, delta, ad.scaling);
    };
  }

  dispose(): void {
    const b = this.backend;
    if (this.st) for (const t of this.st.all) b.dispose(t);
    this.st = null;
    for (const { grad } of this.params()) b.dispose(grad);
    b.dispose(this.lossSum);
    for (const t of this.invFreqs) b.dispose(t);
  }
}

/** Dropout seed of a pass: a hash of (run seed, optimizer step, pass), so a resume regenerates it. */
export function passSeed(seed: number, step: number, pass: number): number {
  return dropoutHash(seed >>> 0, step >>> 0, pass >>> 0);
}
