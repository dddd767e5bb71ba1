// The one transformer forward. Inference (CausalLM.forward: a KV cache, the backend's decode
// fusions) and training (TrainPass.pass: every layer's activations kept for the backward) both run
// this code; what differs is only where each tensor lives (LayerBuffers) and how a linear layer
// applies a LoRA adapter (LinearFn). The family's shape of a layer comes from config.arch
// (architectures.ts): norm names and offset, q/k norms, sandwich norms, GLU activation, embedding
// and attention scales, per-layer sliding windows and rope kinds.
//
// Everything is enqueued on the backend (one submit per pass on WebGPU); nothing loops over
// activations in JS.

import type { Backend, LinearFusion, Tensor } from '../backend/types.ts';
import type { LoraTarget } from '../train/lora.ts';
import type { ModelConfig } from './config.ts';
import { ropeInvFreq } from './rope.ts';
import type { LayerWeights, ModelWeights } from './weights.ts';

/**
 * Where one layer's activations live, each [n, …] for the pass's n rows. Inference passes one
 * tensor as xIn, xMid and xOut (the residual stream, updated in place) and shares scratch between
 * layers; training passes distinct tensors per layer and keeps them for the backward.
 */
export interface LayerBuffers {
  xIn: Tensor; // [n, H]  residual stream entering the layer
  xMid: Tensor; // [n, H] after the attention block
  xOut: Tensor; // [n, H] after the MLP block (training: the next layer's xIn)
  h: Tensor; // [n, H]   attnNorm(xIn): the input of q/k/v
  h2: Tensor; // [n, H]  mlpNorm(xMid): the input of gate/up (inference may pass h)
  qRaw: Tensor | null; // [n, heads·D]  q_proj output before q_norm (families with q/k norms)
  kRaw: Tensor | null; // [n, kvHeads·D]
  q: Tensor; // [n, heads·D]    queries after q_norm and rope, as attention read them
  k: Tensor; // [n, kvHeads·D]  keys (after k_norm and rope) before they enter the cache
  v: Tensor; // [n, kvHeads·D]
  kCache: Tensor; // [slots, kvHeads, maxT, D]
  vCache: Tensor;
  att: Tensor; // [n, heads·D]  attention output: the input of o_proj
  attProj: Tensor; // [n, H]   o_proj output, where it is not written into the stream directly
  gate: Tensor; // [n, I]
  up: Tensor; // [n, I]
  mlp: Tensor; // [n, I]   act(gate)·up: the input of down_proj
  mlpProj: Tensor; // [n, H]  down_proj output, where it is not written into the stream directly
}

/** out = x·wᵀ + bias, plus the adapter's low-rank update when it targets (layer, target). */
export type LinearFn = (layer: number, target: LoraTarget, x: Tensor, w: Tensor, bias: Tensor | null, out: Tensor) => void;

export interface PassInputs {
  n: number;
  ids: Tensor; // i32 [n]
  rows: Tensor; // i32 [n, 2]  (slot, position)
  linear: LinearFn;
  /** Try the backend's decode fusions (inference without an adapter). */
  fuse: boolean;
}

type Projection = [w: Tensor, bias: Tensor | null, out: Tensor, target: LoraTarget];

/** One rope table per rope kind of the architecture (Gemma 3: local and global). */
export function createInvFreqs(backend: Backend, config: ModelConfig): Tensor[] {
  return config.arch.ropes.map((r) => backend.createTensor('f32', [config.headDim / 2], ropeInvFreq(r, config.headDim)));
}

/** One forward pass over n rows: embed, layers, head. A new one per pass (it carries the fusion state). */
export class ForwardPass {
  /** True once the backend took the first fused op: fusions are all or none for a pass. */
  private fusing = false;
  private readonly b: Backend;
  private readonly c: ModelConfig;
  private readonly eps: number;

  constructor(
    backend: Backend,
    config: ModelConfig,
    private readonly w: ModelWeights,
    private readonly invFreqs: readonly Tensor[],
    private readonly p: PassInputs,
  ) {
    this.b = backend;
    this.c = config;
    this.eps = config.rmsEps;
    // Fusion needs the backend's linearFused (the others are optional on top of it).
    this.p = { ...p, fuse: p.fuse && backend.linearFused !== undefined && p.n > 0 };
  }

  /** x = embed(ids) · embedScale. */
  embed(x: Tensor): void {
    this.b.embedding(this.p.ids, this.w.embed, x, this.c.arch.embedScale);
  }

  layer(l: number, io: LayerBuffers): void {
    const L = this.w.layers[l];
    this.attention(l, L, io);
    this.mlp(l, L, io);
  }

  /** logits [m, V] of the rows `pick` selects from the final stream x ([n, H]; h: [n, H] scratch). */
  head(x: Tensor, h: Tensor, pick: Tensor, last: Tensor, logits: Tensor): Tensor {
    const { b, w } = this;
    if (this.fusing && pick.size <= this.p.n) {
      // Fused: gather the rows first (the norm is per row), normalise them inside the LM head.
      b.gatherRows(x, pick, last);
      this.fused(last, w.lmHead, null, logits, { norm: { weight: w.norm, eps: this.eps } });
      return logits;
    }
    // Backends never alias an op's input and output, so normalise all rows into h, then gather.
    b.rmsNorm(x, w.norm, this.eps, h);
    b.gatherRows(h, pick, last);
    b.matmul(last, w.lmHead, null, logits);
    return logits;
  }

  private attention(l: number, L: LayerWeights, io: LayerBuffers): void {
    const { b, c, p } = this;
    const { heads, kvHeads, headDim: D } = c;
    const layer = c.arch.layerAttention[l];
    const qOut = io.qRaw ?? io.q,
      kOut = io.kRaw ?? io.k;
    if (p.fuse && b.qkvFused?.(io.xIn, { weight: L.attnNorm, eps: this.eps }, L, qOut, kOut, io.v)) this.fusing = true;
    else
      this.normed(l, io.xIn, L.attnNorm, io.h, [
        [L.q, L.qBias, qOut, 'q_proj'],
        [L.k, L.kBias, kOut, 'k_proj'],
        [L.v, L.vBias, io.v, 'v_proj'],
      ]);
    // Per-head q/k RMSNorm: the rows viewed as [n·heads, D] share one gain vector [D].
    if (io.qRaw) b.rmsNorm(b.view(io.qRaw, [p.n * heads, D]), L.qNorm!, this.eps, b.view(io.q, [p.n * heads, D]));
    if (io.kRaw) b.rmsNorm(b.view(io.kRaw, [p.n * kvHeads, D]), L.kNorm!, this.eps, b.view(io.k, [p.n * kvHeads, D]));
    const invFreq = this.invFreqs[layer.rope];
    if (this.fusing && b.ropeKvWrite) b.ropeKvWrite(io.q, io.k, io.v, io.kCache, io.vCache, p.rows, invFreq, heads);
    else {
      b.rope(io.q, p.rows, invFreq, heads, D);
      b.rope(io.k, p.rows, invFreq, kvHeads, D);
      b.kvWrite(io.k, io.v, io.kCache, io.vCache, p.rows);
    }
    b.attention(io.q, io.kCache, io.vCache, p.rows, io.att, heads, c.arch.attentionScale, layer.window);
    this.residual(l, 'o_proj', io.att, L.o, L.oBias, L.attnOutNorm, io.xIn, io.xMid, io.attProj, io.h);
  }

  private mlp(l: number, L: LayerWeights, io: LayerBuffers): void {
    const { b, c } = this;
    const act = c.arch.activation;
    // Gate and up in one pass with the activation applied (a backend that cannot returns false).
    const fusedGlu =
      this.fusing &&
      !L.gateBias &&
      !L.upBias &&
      b.linearFused!(io.xMid, L.gate, null, io.mlp, { norm: { weight: L.mlpNorm, eps: this.eps }, up: L.up, activation: act });
    if (!fusedGlu) {
      this.normed(l, io.xMid, L.mlpNorm, io.h2, [
        [L.gate, L.gateBias, io.gate, 'gate_proj'],
        [L.up, L.upBias, io.up, 'up_proj'],
      ]);
      b.glu(io.gate, io.up, io.mlp, act);
    }
    this.residual(l, 'down_proj', io.mlp, L.down, L.downBias, L.mlpOutNorm, io.xMid, io.xOut, io.mlpProj, io.h);
  }

  /** x → RMSNorm(·, norm) into h → the projections; or, fused, the norm inside each projection. */
  private normed(l: number, x: Tensor, norm: Tensor, h: Tensor, outs: Projection[]): void {
    const { b, p } = this;
    const fusion: LinearFusion = { norm: { weight: norm, eps: this.eps } };
    if (p.fuse && b.linearFused!(x, outs[0][0], outs[0][1], outs[0][2], fusion)) {
      for (const [w, bias, out] of outs.slice(1)) this.fused(x, w, bias, out, fusion);
      this.fusing = true;
      return;
    }
    b.rmsNorm(x, norm, this.eps, h);
    for (const [w, bias, out, target] of outs) p.linear(l, target, h, w, bias, out);
  }

  /**
   * to = from + outNorm?(x·wᵀ + bias). In place (to === from, inference) the branch goes through
   * scratch (`proj`, and `normed` after an output norm) or the backend's fused residual add; into a
   * new tensor (training) it is written there and `from` added (the same sum: + commutes exactly).
   */
  private residual(
    l: number,
    target: LoraTarget,
    x: Tensor,
    w: Tensor,
    bias: Tensor | null,
    outNorm: Tensor | null,
    from: Tensor,
    to: Tensor,
    proj: Tensor,
    normed: Tensor,
  ): void {
    const { b, p } = this;
    const inPlace = from === to;
    if (outNorm) {
      p.linear(l, target, x, w, bias, proj);
      b.rmsNorm(proj, outNorm, this.eps, inPlace ? normed : to);
      b.addInPlace(to, inPlace ? normed : from);
      return;
    }
    if (inPlace) {
      if (this.fusing && b.linearFused!(x, w, bias, to, { accumulate: true })) return;
      p.linear(l, target, x, w, bias, proj);
      b.addInPlace(to, proj);
      return;
    }
    p.linear(l, target, x, w, bias, to);
    b.addInPlace(to, from);
  }

  private fused(x: Tensor, w: Tensor, bias: Tensor | null, out: Tensor, f: LinearFusion): void {
    if (!this.b.linearFused!(x, w, bias, out, f)) throw new Error('linearFused refused a shape it accepted before');
  }
}
