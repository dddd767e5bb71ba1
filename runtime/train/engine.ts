// The training pass: a forward over packed rows that saves every layer's activations (llm.c style,
// one struct with shape comments), the soft-label loss at the selected rows, and an explicit
// backward layer by layer that accumulates the LoRA gradients. Base weights are frozen and used in
// their file dtype (matmul for the forward, matmulNN for dX); only A and B get gradients — unless the
// engine is given full-parameter gradients (`FullGrads`, tooling/full-train.ts): then the same backward also
// accumulates dW = dYᵀ·X of every linear layer, the LM head and the input embedding.
//
// Everything is enqueued on the backend (one submit per pass on WebGPU); nothing here loops over
// vocabulary- or weight-sized data in JS. The caller (finetune.ts) reads back one loss sum and one
// squared gradient norm per optimizer step.

import type { Backend, Tensor, TrainingOps } from '../backend/types.ts';
import { dropoutHash, requireTraining } from '../backend/training.ts';
import { ropeInvFreq } from '../model/config.ts';
import type { CausalLM } from '../model/model.ts';
import type { TrainSample, Trajectory } from './data.ts';
import { LORA_TARGETS, type LoraAdapter, type LoraPair, type LoraTarget } from './lora.ts';

/** Per decoder layer, for n rows (views of `rows`-row storage). */
interface LayerActs {
  xIn: Tensor; // [n, H]        residual stream entering the layer
  h: Tensor; // [n, H]          rmsNorm(xIn)·inputNorm: the input of q/k/v
  q: Tensor; // [n, heads·D]    queries after rope
  kCache: Tensor; // [slots, kvHeads, maxT, D]  keys after rope, as attention read them
  vCache: Tensor; // [slots, kvHeads, maxT, D]
  att: Tensor; // [n, heads·D]  attention output: the input of o_proj
  xMid: Tensor; // [n, H]       xIn + o_proj(att)
  h2: Tensor; // [n, H]         rmsNorm(xMid)·postNorm: the input of gate/up
  gate: Tensor; // [n, I]
  up: Tensor; // [n, I]
  mlp: Tensor; // [n, I]        silu(gate)·up: the input of down_proj
  /** Per LoRA target: xd = dropout(input) [n, in] (the input itself when p = 0), u = xd·Aᵀ [n, r]. */
  lora: Partial<Record<LoraTarget, { xd: Tensor; u: Tensor }>>;
}

/** Storage of one pass (capacity `rows` rows, `picks` loss rows, `kv` cache elements per layer). */
interface Storage {
  rows: number;
  picks: number;
  labels: number;
  kv: number;
  all: Tensor[]; // every tensor below, for dispose
  ids: Tensor; // i32 [n]
  rowInfo: Tensor; // i32 [n, 2]  (slot, position)
  layers: LayerActs[];
  xOut: Tensor; // [n, H]  residual stream after the last layer
  hOut: Tensor; // [n, H]  final norm
  pick: Tensor; // i32 [m]  rows with a loss
  last: Tensor; // [m, H]
  logits: Tensor; // [m, V]
  labelIds: Tensor; // i32 [m, K]
  labelWeights: Tensor; // [m, K]
  loss: Tensor; // [m]  per-sample KL (unscaled)
  ones: Tensor; // [m]  for summing the loss with matmulTN
  // backward scratch
  dLogits: Tensor; // [m, V]
  dLast: Tensor; // [m, H]
  dX: Tensor; // [n, H]  gradient of the residual stream
  dH: Tensor; // [n, H]  gradient of a normed block input
  dTmp: Tensor; // [n, H]
  dAtt: Tensor; // [n, heads·D]
  dq: Tensor; // [n, heads·D]
  dk: Tensor; // [n, kvHeads·D]
  dv: Tensor; // [n, kvHeads·D]
  dMlp: Tensor; // [n, I]
  dGate: Tensor; // [n, I]
  dUp: Tensor; // [n, I]
  dU: Tensor; // [n, r]
  delta: Tensor; // [n, max(out)]  LoRA output before scaling / dU·A
  delta2: Tensor; // [n, max(in)]  dropout of delta in the backward
  onehot: Tensor | null; // [n, V]  one-hot rows of the input ids (full-parameter training only)
}

/**
 * Full-parameter gradients (tooling/full-train.ts): f32 tensors shaped as the weights (HF [out, in]),
 * accumulated by every pass until zeroGrad. The model's weights must then be f32 tensors too (the
 * master copy the optimizer updates). RMSNorm gains get no gradient (full.ts keeps them at 1).
 */
export interface FullGrads {
  embed: Tensor; // [V, H]
  /** [V, H]; the same tensor as `embed` when the embeddings are tied. */
  lmHead: Tensor;
  layers: Record<LoraTarget, Tensor>[];
}

/** Which module each LoRA target is in, and its (in, out) sizes. */
function dims(m: CausalLM, t: LoraTarget): readonly [number, number] {
  const { hiddenSize: H, heads, kvHeads, headDim: D, intermediateSize: I } = m.config;
  return ({ q_proj: [H, heads * D], k_proj: [H, kvHeads * D], v_proj: [H, kvHeads * D], o_proj: [heads * D, H], gate_proj: [H, I], up_proj: [H, I], down_proj: [I, H] } as const)[t];
}
export { dims as loraDims };

export interface PassInput {
  trajectories: Trajectory[];
  samples: readonly TrainSample[];
  /** Multiplies each sample's gradient: 1 / (samples in the optimizer step) gives batchmean. */
  lossScale: number;
  /** Dropout mask seed of this pass (a function of the run seed, step and pass). */
  dropoutSeed: number;
}

export class TrainEngine {
  readonly backend: Backend;
  /** The backend's training ops (a backend without them is refused here, by name). */
  readonly training: TrainingOps;
  /** Gradients, the same structure as the adapter: f32, accumulated until zeroGrad. */
  readonly grads: Partial<Record<LoraTarget, LoraPair>>[];
  /** Σ of the per-sample losses since zeroGrad: f32 [1, 1]. */
  readonly lossSum: Tensor;
  private st: Storage | null = null;
  private readonly invFreq: Tensor;

  constructor(
    readonly model: CausalLM,
    readonly adapter: LoraAdapter,
    /** Also accumulate every weight's gradient here (full-parameter training); null: LoRA only. */
    readonly full: FullGrads | null = null,
  ) {
    this.backend = model.backend;
    this.training = requireTraining(model.backend, 'training');
    const b = this.backend;
    this.invFreq = b.createTensor('f32', [model.config.headDim / 2], ropeInvFreq(model.config.rope, model.config.headDim));
    this.grads = adapter.layers.map((layer) => {
      const g: Partial<Record<LoraTarget, LoraPair>> = {};
      for (const [t, p] of Object.entries(layer) as [LoraTarget, LoraPair][]) g[t] = { a: b.createTensor('f32', p.a.shape), b: b.createTensor('f32', p.b.shape) };
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

  private storage(n: number, m: number, K: number, kv: number): Storage {
    const s = this.st;
    if (s && s.rows >= n && s.picks >= m && s.labels >= m * K && s.kv >= kv) return s;
    const rows = Math.max(n, s?.rows ?? 0), picks = Math.max(m, s?.picks ?? 0), labels = Math.max(m * K, s?.labels ?? 0), kvn = Math.max(kv, s?.kv ?? 0);
    if (s) for (const t of s.all) this.backend.dispose(t);
    const b = this.backend;
    const { hiddenSize: H, heads, kvHeads, headDim: D, intermediateSize: I, vocabSize: V, layers } = this.model.config;
    const all: Tensor[] = [];
    const f = (n: number) => {
      const t = b.createTensor('f32', [n]);
      all.push(t);
      return t;
    };
    const p = this.adapter.config.dropout;
    let maxIn = 1, maxOut = 1;
    for (const t of this.adapter.config.targetModules) {
      const [i, o] = dims(this.model, t);
      maxIn = Math.max(maxIn, i);
      maxOut = Math.max(maxOut, o);
    }
    const r = this.adapter.config.r;
    const layerActs: LayerActs[] = [];
    for (let l = 0; l < layers; l++) {
      const la: LayerActs = {
        xIn: f(rows * H), h: f(rows * H), q: f(rows * heads * D), kCache: f(kvn), vCache: f(kvn), att: f(rows * heads * D),
        xMid: f(rows * H), h2: f(rows * H), gate: f(rows * I), up: f(rows * I), mlp: f(rows * I), lora: {},
      };
      for (const t of Object.keys(this.adapter.layers[l] ?? {}) as LoraTarget[]) {
        // With p = 0 the input itself is used (xd is set to it in the forward).
        la.lora[t] = { xd: p > 0 ? f(rows * dims(this.model, t)[0]) : la.h, u: f(rows * r) };
      }
      layerActs.push(la);
    }
    const ones = b.createTensor('f32', [picks], new Float32Array(picks).fill(1));
    const ids = b.createTensor('i32', [rows]), rowInfo = b.createTensor('i32', [rows, 2]), pick = b.createTensor('i32', [picks]), labelIds = b.createTensor('i32', [labels]);
    all.push(ones, ids, rowInfo, pick, labelIds);
    this.st = {
      rows, picks, labels, kv: kvn, all, ids, rowInfo, layers: layerActs,
      xOut: f(rows * H), hOut: f(rows * H), pick, last: f(picks * H), logits: f(picks * V), labelIds, labelWeights: f(labels), loss: f(picks), ones,
      dLogits: f(picks * V), dLast: f(picks * H), dX: f(rows * H), dH: f(rows * H), dTmp: f(rows * H), dAtt: f(rows * heads * D),
      dq: f(rows * heads * D), dk: f(rows * kvHeads * D), dv: f(rows * kvHeads * D), dMlp: f(rows * I), dGate: f(rows * I), dUp: f(rows * I),
      dU: f(rows * r), delta: f(rows * Math.max(maxIn, maxOut)), delta2: f(rows * maxIn),
      onehot: this.full ? f(rows * V) : null,
    };
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
    const { trajectories: trajs, samples } = input;
    const b = this.backend, tr = this.training, c = this.model.config, w = this.model.weights;
    const { hiddenSize: H, heads, kvHeads, headDim: D, intermediateSize: I, vocabSize: V } = c;
    const n = TrainEngine.rowsOf(trajs);
    const m = trajs.reduce((a, t) => a + t.members.length, 0);
    const K = Math.max(...trajs.flatMap((t) => t.members.map((mm) => samples[mm.sample].labelIds.length)));
    const maxT = Math.max(...trajs.map((t) => t.ids.length));
    if (maxT > c.maxPositions) throw new RangeError(`a training sequence has ${maxT} tokens, more than max_position_embeddings (${c.maxPositions})`);
    const slots = trajs.length;
    const st = this.storage(n, m, K, slots * kvHeads * maxT * D);

    // Host-side inputs: ids, (slot, position) rows, loss rows and padded labels.
    const tokens = new Int32Array(n), rowData = new Int32Array(2 * n), pickData = new Int32Array(m);
    const lid = new Int32Array(m * K).fill(-1), lw = new Float32Array(m * K);
    let row = 0, j = 0;
    trajs.forEach((t, slot) => {
      const base = row;
      for (let p = 0; p < t.ids.length; p++, row++) {
        tokens[row] = t.ids[p];
        rowData[2 * row] = slot;
        rowData[2 * row + 1] = p;
      }
      for (const mem of t.members) {
        const s = samples[mem.sample];
        pickData[j] = base + mem.position;
        for (let k = 0; k < s.labelIds.length; k++) {
          lid[j * K + k] = s.labelIds[k];
          lw[j * K + k] = s.labelWeights[k];
        }
        j++;
      }
    });

    const v2 = (t: Tensor, rows: number, cols: number) => b.view(t, [rows, cols]);
    const ids = b.view(st.ids, [n]), rows = b.view(st.rowInfo, [n, 2]), pick = b.view(st.pick, [m]);
    const labelIds = v2(st.labelIds, m, K), labelWeights = v2(st.labelWeights, m, K);
    b.write(ids, tokens);
    b.write(rows, rowData);
    b.write(pick, pickData);
    b.write(labelIds, lid);
    b.write(labelWeights, lw);

    const ad = this.adapter, s = ad.scaling, p = ad.config.dropout;
    const nT = LORA_TARGETS.length;
    const stream = (l: number, t: LoraTarget) => (l * nT + LORA_TARGETS.indexOf(t)) >>> 0;
    const seed = input.dropoutSeed;
    // Views of layer l's activations for this pass's n rows.
    const acts = st.layers.map((la) => ({
      xIn: v2(la.xIn, n, H), h: v2(la.h, n, H), q: v2(la.q, n, heads * D), att: v2(la.att, n, heads * D), xMid: v2(la.xMid, n, H), h2: v2(la.h2, n, H),
      gate: v2(la.gate, n, I), up: v2(la.up, n, I), mlp: v2(la.mlp, n, I),
      kCache: b.view(la.kCache, [slots, kvHeads, maxT, D]), vCache: b.view(la.vCache, [slots, kvHeads, maxT, D]),
      lora: Object.fromEntries(Object.entries(la.lora).map(([t, x]) => [t, { xd: p > 0 ? v2(x.xd, n, dims(this.model, t as LoraTarget)[0]) : x.xd, u: v2(x.u, n, ad.config.r) }])) as LayerActs['lora'],
    }));

    // ---- forward ------------------------------------------------------------------------------
    const linear = (l: number, t: LoraTarget, x: Tensor, wt: Tensor, bias: Tensor | null, out: Tensor) => {
      b.matmul(x, wt, bias, out);
      const pair = ad.layers[l]?.[t];
      if (!pair) return;
      const la = acts[l].lora[t]!;
      if (p > 0) tr.dropout(x, la.xd, p, seed, stream(l, t));
      else la.xd = x; // no dropout: the backward reads the input itself
      b.matmul(la.xd, pair.a, null, la.u);
      const delta = v2(st.delta, n, out.shape[1]);
      b.matmul(la.u, pair.b, null, delta);
      b.axpy(out, delta, s);
    };
    const scale = 1 / Math.sqrt(D);
    b.embedding(ids, w.embed, acts[0].xIn);
    for (let l = 0; l < c.layers; l++) {
      const L = w.layers[l], a = acts[l];
      const kRows = v2(st.dk, n, kvHeads * D), vRows = v2(st.dv, n, kvHeads * D); // scratch in the forward
      b.rmsNorm(a.xIn, L.inputNorm, c.rmsEps, a.h);
      linear(l, 'q_proj', a.h, L.q, L.qBias, a.q);
      linear(l, 'k_proj', a.h, L.k, L.kBias, kRows);
      linear(l, 'v_proj', a.h, L.v, L.vBias, vRows);
      b.rope(a.q, rows, this.invFreq, heads, D);
      b.rope(kRows, rows, this.invFreq, kvHeads, D);
      b.kvWrite(kRows, vRows, a.kCache, a.vCache, rows);
      b.attention(a.q, a.kCache, a.vCache, rows, a.att, heads, scale);
      linear(l, 'o_proj', a.att, L.o, L.oBias, a.xMid);
      b.addInPlace(a.xMid, a.xIn);
      b.rmsNorm(a.xMid, L.postNorm, c.rmsEps, a.h2);
      linear(l, 'gate_proj', a.h2, L.gate, L.gateBias, a.gate);
      linear(l, 'up_proj', a.h2, L.up, L.upBias, a.up);
      b.glu(a.gate, a.up, a.mlp, 'silu');
      const next = l + 1 < c.layers ? acts[l + 1].xIn : v2(st.xOut, n, H);
      linear(l, 'down_proj', a.mlp, L.down, L.downBias, next);
      b.addInPlace(next, a.xMid);
    }
    const xOut = v2(st.xOut, n, H), hOut = v2(st.hOut, n, H), last = v2(st.last, m, H), logits = v2(st.logits, m, V);
    b.rmsNorm(xOut, w.norm, c.rmsEps, hOut);
    b.gatherRows(hOut, pick, last);
    b.matmul(last, w.lmHead, null, logits);

    // ---- loss ---------------------------------------------------------------------------------
    const loss = b.view(st.loss, [m]), dLogits = v2(st.dLogits, m, V);
    tr.softLabelLoss(logits, labelIds, labelWeights, input.lossScale, loss, dLogits);
    tr.matmulTN(b.view(st.loss, [m, 1]), b.view(st.ones, [m, 1]), this.lossSum, 1, true);

    // ---- backward -----------------------------------------------------------------------------
    const dX = v2(st.dX, n, H), dH = v2(st.dH, n, H), dTmp = v2(st.dTmp, n, H), dLast = v2(st.dLast, m, H);
    const full = this.full;
    if (full) tr.matmulTN(dLogits, last, full.lmHead, 1, true); // dW_head += dLogitsᵀ · last
    tr.matmulNN(dLogits, w.lmHead, dLast, false);
    b.fill(dH, 0);
    tr.scatterAddRows(dLast, pick, dH);
    tr.rmsNormBackward(xOut, w.norm, dH, c.rmsEps, dX);

    // Backward of `linear`: dX (+)= dY·W (when wanted) plus the LoRA pair's gradients and its dX.
    // `x` is the layer's input in the forward (for the full-parameter gradient dW += dYᵀ·x).
    const linearBack = (l: number, t: LoraTarget, x: Tensor, dY: Tensor, wt: Tensor, dIn: Tensor | null, accumulate: boolean) => {
      if (full) tr.matmulTN(dY, x, full.layers[l][t], 1, true);
      if (dIn) tr.matmulNN(dY, wt, dIn, accumulate);
      const pair = ad.layers[l]?.[t];
      if (!pair) return;
      const la = acts[l].lora[t]!, g = this.grads[l][t]!;
      const inDim = pair.a.shape[1];
      const dU = v2(st.dU, n, ad.config.r);
      tr.matmulTN(dY, la.u, g.b, s, true); // dB += s · dYᵀ · U
      tr.matmulNN(dY, pair.b, dU, false); // dU = dY · B
      tr.matmulTN(dU, la.xd, g.a, s, true); // dA += s · dUᵀ · dropout(X)
      if (!dIn) return;
      const back = v2(st.delta, n, inDim);
      tr.matmulNN(dU, pair.a, back, false);
      if (p > 0) {
        const back2 = v2(st.delta2, n, inDim);
        tr.dropout(back, back2, p, seed, stream(l, t)); // the same mask: dropout is its own backward
        b.axpy(dIn, back2, s);
      } else b.axpy(dIn, back, s);
    };
    // Layers below the lowest adapted one need no gradient (with full grads every layer does, and
    // the embedding needs ∂/∂x_0).
    let lowest = 0;
    while (!full && lowest < c.layers && Object.keys(ad.layers[lowest] ?? {}).length === 0) lowest++;
    for (let l = c.layers - 1; l >= lowest; l--) {
      const L = w.layers[l], a = acts[l];
      const needInput = l > lowest || full !== null;
      // MLP: x_{l+1} = xMid + down(silu(gate)·up), gate/up = W·rmsNorm(xMid)
      const dMlp = v2(st.dMlp, n, I), dGate = v2(st.dGate, n, I), dUp = v2(st.dUp, n, I);
      linearBack(l, 'down_proj', a.mlp, dX, L.down, dMlp, false);
      tr.gluBackward(a.gate, a.up, dMlp, dGate, dUp, 'silu');
      linearBack(l, 'gate_proj', a.h2, dGate, L.gate, dH, false);
      linearBack(l, 'up_proj', a.h2, dUp, L.up, dH, true);
      tr.rmsNormBackward(a.xMid, L.postNorm, dH, c.rmsEps, dTmp);
      b.axpy(dX, dTmp, 1); // dX is now ∂/∂xMid
      // Attention: xMid = xIn + o(attention(rope(q), rope(k), v)), q/k/v = W·rmsNorm(xIn)
      const dAtt = v2(st.dAtt, n, heads * D), dq = v2(st.dq, n, heads * D), dk = v2(st.dk, n, kvHeads * D), dv = v2(st.dv, n, kvHeads * D);
      linearBack(l, 'o_proj', a.att, dX, L.o, dAtt, false);
      tr.attentionBackward(a.q, a.kCache, a.vCache, rows, a.att, dAtt, dq, dk, dv, heads, scale);
      tr.ropeBackward(dq, rows, this.invFreq, heads, D);
      tr.ropeBackward(dk, rows, this.invFreq, kvHeads, D);
      linearBack(l, 'q_proj', a.h, dq, L.q, needInput ? dH : null, false);
      linearBack(l, 'k_proj', a.h, dk, L.k, needInput ? dH : null, true);
      linearBack(l, 'v_proj', a.h, dv, L.v, needInput ? dH : null, true);
      if (!needInput) break;
      tr.rmsNormBackward(a.xIn, L.inputNorm, dH, c.rmsEps, dTmp);
      b.axpy(dX, dTmp, 1); // dX is now ∂/∂xIn = ∂/∂x_l
    }
    if (full) {
      // The input embedding's gradient: dE[id, :] += dX[r, :] for every row r with ids[r] = id. Ids
      // repeat within a pass, so scatterAddRows (distinct indices only) cannot do it without write
      // races; dE += onehot(ids)ᵀ · dX [V, n]·[n, H] is race-free on every backend at the cost of
      // n·V·H multiply-adds — about one LM-head matmul, fine for the few-hundred-token vocabularies
      // full training is meant for (tooling/full-train.ts).
      const onehot = v2(st.onehot!, n, V), hot = new Float32Array(n * V);
      for (let r = 0; r < n; r++) hot[r * V + tokens[r]] = 1;
      b.write(onehot, hot);
      tr.matmulTN(onehot, dX, full.embed, 1, true);
    }
  }

  dispose(): void {
    const b = this.backend;
    if (this.st) for (const t of this.st.all) b.dispose(t);
    this.st = null;
    for (const { grad } of this.params()) b.dispose(grad);
    b.dispose(this.lossSum);
    b.dispose(this.invFreq);
  }
}

/** Dropout seed of a pass: a hash of (run seed, optimizer step, pass), so a resume regenerates it. */
export function passSeed(seed: number, step: number, pass: number): number {
  return dropoutHash(seed >>> 0, step >>> 0, pass >>> 0);
}
