// The tensors of one training pass (llm.c style: one struct with shape comments, allocated once and
// grown on demand; a pass over fewer rows uses views of the same storage). Each layer keeps what
// the backward reads; scratch is shared.

import type { Backend, Tensor } from '../backend/types.ts';
import type { CausalLM } from '../model/model.ts';
import type { LoraAdapter, LoraTarget } from './lora.ts';

/** Per decoder layer, for up to `rows` rows. */
export interface LayerActs {
  xIn: Tensor; // [n, H]        residual stream entering the layer
  h: Tensor; // [n, H]          attnNorm(xIn): the input of q/k/v
  qRaw: Tensor | null; // [n, heads·D]    q_proj output before q_norm (q/k-norm families)
  kRaw: Tensor | null; // [n, kvHeads·D]  k_proj output before k_norm
  q: Tensor; // [n, heads·D]    queries after q_norm and rope
  kCache: Tensor; // [slots, kvHeads, maxT, D]  keys after rope, as attention read them
  vCache: Tensor; // [slots, kvHeads, maxT, D]
  att: Tensor; // [n, heads·D]  attention output: the input of o_proj
  attProj: Tensor | null; // [n, H]  o_proj output before its output norm (sandwich-norm families)
  xMid: Tensor; // [n, H]       xIn + the attention branch
  h2: Tensor; // [n, H]         mlpNorm(xMid): the input of gate/up
  gate: Tensor; // [n, I]
  up: Tensor; // [n, I]
  mlp: Tensor; // [n, I]        act(gate)·up: the input of down_proj
  mlpProj: Tensor | null; // [n, H]  down_proj output before its output norm (sandwich norms)
  /** Per LoRA target: xd = dropout(input) [n, in] (the input itself when p = 0), u = xd·Aᵀ [n, r]. */
  lora: Partial<Record<LoraTarget, { xd: Tensor; u: Tensor }>>;
}

/** Storage of one pass (capacity `rows` rows, `picks` loss rows, `labels` label slots, `kv` cache elements per layer). */
export interface Storage {
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
  // backward scratch (dk, dv also hold the k/v rows in the forward)
  dLogits: Tensor; // [m, V]
  dLast: Tensor; // [m, H]
  dX: Tensor; // [n, H]  gradient of the residual stream
  dH: Tensor; // [n, H]  gradient of a normed block input
  dTmp: Tensor; // [n, H]
  dAtt: Tensor; // [n, heads·D]
  dq: Tensor; // [n, heads·D]
  dk: Tensor; // [n, kvHeads·D]
  dv: Tensor; // [n, kvHeads·D]
  dqRaw: Tensor | null; // [n, heads·D]    before q_norm (q/k-norm families)
  dkRaw: Tensor | null; // [n, kvHeads·D]
  dMlp: Tensor; // [n, I]
  dGate: Tensor; // [n, I]
  dUp: Tensor; // [n, I]
  dU: Tensor; // [n, r]
  delta: Tensor; // [n, max(out)]  LoRA output before scaling / dU·A
  delta2: Tensor; // [n, max(in)]  dropout of delta in the backward
  onehot: Tensor | null; // [n, V]  one-hot rows of the input ids (full-parameter training only)
}

/** A LoRA target's (in, out) sizes in this model. */
export function loraDims(m: CausalLM, t: LoraTarget): readonly [number, number] {
  const { hiddenSize: H, heads, kvHeads, headDim: D, intermediateSize: I } = m.config;
  return (
    {
      q_proj: [H, heads * D],
      k_proj: [H, kvHeads * D],
      v_proj: [H, kvHeads * D],
      o_proj: [heads * D, H],
      gate_proj: [H, I],
      up_proj: [H, I],
      down_proj: [I, H],
    } as const
  )[t];
}

export interface Capacity {
  rows: number;
  picks: number;
  labels: number;
  kv: number;
}

/** Allocate storage for `cap` (the caller takes the max with what it had). */
export function allocateStorage(b: Backend, model: CausalLM, adapter: LoraAdapter, cap: Capacity, full: boolean): Storage {
  const { rows, picks, labels, kv } = cap;
  const { hiddenSize: H, heads, kvHeads, headDim: D, vocabSize: V } = model.config;
  const all: Tensor[] = [];
  const f = (size: number) => {
    const t = b.createTensor('f32', [size]);
    all.push(t);
    return t;
  };
  const i32 = (size: number) => {
    const t = b.createTensor('i32', [size]);
    all.push(t);
    return t;
  };
  let maxIn = 1,
    maxOut = 1;
  for (const t of adapter.config.targetModules) {
    const [i, o] = loraDims(model, t);
    maxIn = Math.max(maxIn, i);
    maxOut = Math.max(maxOut, o);
  }
  const r = adapter.config.r;
  const qkNorm = model.config.arch.norms.q !== null;
  const ones = b.createTensor('f32', [picks], new Float32Array(picks).fill(1));
  all.push(ones);
  return {
    ...cap,
    all,
    ids: i32(rows),
    rowInfo: i32(rows * 2),
    pick: i32(picks),
    labelIds: i32(labels),
    ones,
    layers: Array.from({ length: model.config.layers }, (_, l) => {
      b.place?.(l); // with the layer's weights, where a backend spreads the model over memories
      const acts = layerActs(model, adapter, l, rows, kv, f);
      b.place?.(null);
      return acts;
    }),
    xOut: f(rows * H),
    hOut: f(rows * H),
    last: f(picks * H),
    logits: f(picks * V),
    labelWeights: f(labels),
    loss: f(picks),
    dLogits: f(picks * V),
    dLast: f(picks * H),
    dX: f(rows * H),
    dH: f(rows * H),
    dTmp: f(rows * H),
    dAtt: f(rows * heads * D),
    dq: f(rows * heads * D),
    dk: f(rows * kvHeads * D),
    dv: f(rows * kvHeads * D),
    dqRaw: qkNorm ? f(rows * heads * D) : null,
    dkRaw: qkNorm ? f(rows * kvHeads * D) : null,
    dMlp: f(rows * model.config.intermediateSize),
    dGate: f(rows * model.config.intermediateSize),
    dUp: f(rows * model.config.intermediateSize),
    dU: f(rows * r),
    delta: f(rows * Math.max(maxIn, maxOut)),
    delta2: f(rows * maxIn),
    onehot: full ? f(rows * V) : null,
  };
}

function layerActs(model: CausalLM, adapter: LoraAdapter, l: number, rows: number, kv: number, f: (size: number) => Tensor): LayerActs {
  const { hiddenSize: H, heads, kvHeads, headDim: D, intermediateSize: I, arch } = model.config;
  const sandwich = arch.norms.attnOut !== null;
  const la: LayerActs = {
    xIn: f(rows * H),
    h: f(rows * H),
    qRaw: arch.norms.q ? f(rows * heads * D) : null,
    kRaw: arch.norms.k ? f(rows * kvHeads * D) : null,
    q: f(rows * heads * D),
    kCache: f(kv),
    vCache: f(kv),
    att: f(rows * heads * D),
    attProj: sandwich ? f(rows * H) : null,
    xMid: f(rows * H),
    h2: f(rows * H),
    gate: f(rows * I),
    up: f(rows * I),
    mlp: f(rows * I),
    mlpProj: sandwich ? f(rows * H) : null,
    lora: {},
  };
  const p = adapter.config.dropout;
  for (const t of Object.keys(adapter.layers[l] ?? {}) as LoraTarget[]) {
    // With p = 0 the input itself is used (xd is set to it in the forward).
    la.lora[t] = { xd: p > 0 ? f(rows * loraDims(model, t)[0]) : la.h, u: f(rows * adapter.config.r) };
  }
  return la;
}
