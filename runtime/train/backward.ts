// The explicit backward of one training pass, layer by layer (llm.c style), mirroring the forward in
// model/forward.ts for every architecture setting: sandwich norms, q/k norms, the GLU activation,
// sliding windows and per-layer rope. It accumulates the LoRA gradients (and, with FullGrads, every
// weight's), reading the activations the forward kept (pass-storage.ts).

import type { Backend, Tensor, TrainingOps } from '../backend/types.ts';
import type { ModelConfig } from '../model/config.ts';
import type { LayerWeights, ModelWeights } from '../model/weights.ts';
import type { LoraAdapter, LoraPair, LoraTarget } from './lora.ts';
import type { LayerActs, Storage } from './pass-storage.ts';

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

/** Everything the backward reads: the pass's views (n rows, m loss rows) and the model. */
export interface BackwardContext {
  b: Backend;
  tr: TrainingOps;
  config: ModelConfig;
  weights: ModelWeights;
  adapter: LoraAdapter;
  grads: Partial<Record<LoraTarget, LoraPair>>[];
  full: FullGrads | null;
  st: Storage;
  /** Layer activations as views of this pass's n rows. */
  acts: LayerActs[];
  invFreqs: readonly Tensor[];
  n: number;
  m: number;
  tokens: Int32Array;
  rows: Tensor;
  pick: Tensor;
  last: Tensor; // [m, H]
  xOut: Tensor; // [n, H]
  dLogits: Tensor; // [m, V]
  /** Dropout (seed, stream) of a LoRA target's input: the backward regenerates the forward's mask. */
  dropout: { p: number; seed: number; stream(l: number, t: LoraTarget): number };
}

const v2 = (b: Backend, t: Tensor, rows: number, cols: number) => b.view(t, [rows, cols]);

/** Backward from dLogits to every gradient. */
export function backward(x: BackwardContext): void {
  const { b, tr, st, full, config: c, n, m } = x;
  const H = c.hiddenSize;
  const dX = v2(b, st.dX, n, H),
    dH = v2(b, st.dH, n, H),
    dLast = v2(b, st.dLast, m, H);
  if (full) tr.matmulTN(x.dLogits, x.last, full.lmHead, 1, true); // dW_head += dLogitsᵀ · last
  tr.matmulNN(x.dLogits, x.weights.lmHead, dLast, false);
  b.fill(dH, 0);
  tr.scatterAddRows(dLast, x.pick, dH);
  tr.rmsNormBackward(x.xOut, x.weights.norm, dH, c.rmsEps, dX);
  // Layers below the lowest adapted one need no gradient (with full grads every layer does, and
  // the embedding needs ∂/∂x_0).
  let lowest = 0;
  while (!full && lowest < c.layers && Object.keys(x.adapter.layers[lowest] ?? {}).length === 0) lowest++;
  for (let l = c.layers - 1; l >= lowest; l--) {
    mlpBackward(x, l);
    if (!attentionBackward(x, l, l > lowest || full !== null)) break;
  }
  if (full) embeddingBackward(x, dX);
}

/** dX: ∂/∂xOut on entry, ∂/∂xMid on exit. xOut = xMid + mlpOutNorm?(down(act(gate)·up)), gate/up = W·mlpNorm(xMid). */
function mlpBackward(x: BackwardContext, l: number): void {
  const { b, tr, st, n, config: c } = x;
  const L = x.weights.layers[l],
    a = x.acts[l],
    I = c.intermediateSize,
    H = c.hiddenSize;
  const dX = v2(b, st.dX, n, H),
    dH = v2(b, st.dH, n, H),
    dTmp = v2(b, st.dTmp, n, H);
  const dMlp = v2(b, st.dMlp, n, I),
    dGate = v2(b, st.dGate, n, I),
    dUp = v2(b, st.dUp, n, I);
  linearBack(x, l, 'down_proj', a.mlp, outNormBack(x, L.mlpOutNorm, a.mlpProj, dX, dTmp), L.down, dMlp, false);
  tr.gluBackward(a.gate, a.up, dMlp, dGate, dUp, c.arch.activation);
  linearBack(x, l, 'gate_proj', a.h2, dGate, L.gate, dH, false);
  linearBack(x, l, 'up_proj', a.h2, dUp, L.up, dH, true);
  tr.rmsNormBackward(a.xMid, L.mlpNorm, dH, c.rmsEps, dTmp);
  b.axpy(dX, dTmp, 1);
}

/**
 * dX: ∂/∂xMid on entry, ∂/∂xIn on exit (when needInput; returns false when the layers below need
 * nothing). xMid = xIn + attnOutNorm?(o(attention(rope(qNorm?(q)), rope(kNorm?(k)), v))), q/k/v = W·attnNorm(xIn).
 */
function attentionBackward(x: BackwardContext, l: number, needInput: boolean): boolean {
  const { b, tr, st, n, config: c } = x;
  const { hiddenSize: H, heads, kvHeads, headDim: D } = c;
  const L = x.weights.layers[l],
    a = x.acts[l],
    layer = c.arch.layerAttention[l];
  const dX = v2(b, st.dX, n, H),
    dH = v2(b, st.dH, n, H),
    dTmp = v2(b, st.dTmp, n, H);
  const dAtt = v2(b, st.dAtt, n, heads * D),
    dq = v2(b, st.dq, n, heads * D),
    dk = v2(b, st.dk, n, kvHeads * D),
    dv = v2(b, st.dv, n, kvHeads * D);
  linearBack(x, l, 'o_proj', a.att, outNormBack(x, L.attnOutNorm, a.attProj, dX, dTmp), L.o, dAtt, false);
  tr.attentionBackward(a.q, a.kCache, a.vCache, x.rows, a.att, dAtt, dq, dk, dv, heads, c.arch.attentionScale, layer.window);
  const invFreq = x.invFreqs[layer.rope];
  tr.ropeBackward(dq, x.rows, invFreq, heads, D);
  tr.ropeBackward(dk, x.rows, invFreq, kvHeads, D);
  const dqIn = qkNormBack(x, L.qNorm, a.qRaw, dq, st.dqRaw, heads);
  const dkIn = qkNormBack(x, L.kNorm, a.kRaw, dk, st.dkRaw, kvHeads);
  linearBack(x, l, 'q_proj', a.h, dqIn, L.q, needInput ? dH : null, false);
  linearBack(x, l, 'k_proj', a.h, dkIn, L.k, needInput ? dH : null, true);
  linearBack(x, l, 'v_proj', a.h, dv, L.v, needInput ? dH : null, true);
  if (!needInput) return false;
  tr.rmsNormBackward(a.xIn, L.attnNorm, dH, c.rmsEps, dTmp);
  b.axpy(dX, dTmp, 1);
  return true;
}

/** The gradient at a branch's linear output: dY itself, or through the branch's output norm (into scratch). */
function outNormBack(x: BackwardContext, norm: LayerWeights['attnOutNorm'], proj: Tensor | null, dY: Tensor, scratch: Tensor): Tensor {
  if (!norm) return dY;
  x.tr.rmsNormBackward(v2(x.b, proj!, x.n, x.config.hiddenSize), norm, dY, x.config.rmsEps, scratch);
  return scratch;
}

/** The gradient at a q/k projection's output: through the per-head norm when the family has one. */
function qkNormBack(x: BackwardContext, norm: Tensor | null, raw: Tensor | null, dNormed: Tensor, out: Tensor | null, heads: number): Tensor {
  if (!norm) return dNormed;
  const { b, n } = x,
    D = x.config.headDim;
  x.tr.rmsNormBackward(b.view(raw!, [n * heads, D]), norm, b.view(dNormed, [n * heads, D]), x.config.rmsEps, b.view(out!, [n * heads, D]));
  return v2(b, out!, n, heads * D);
}

/**
 * Backward of a linear layer: dIn (+)= dY·W (when wanted) plus the LoRA pair's gradients and its dX.
 * `input` is the layer's input in the forward (for the full-parameter gradient dW += dYᵀ·input).
 */
function linearBack(x: BackwardContext, l: number, t: LoraTarget, input: Tensor, dY: Tensor, w: Tensor, dIn: Tensor | null, accumulate: boolean): void {
  const { b, tr, st, n, full, adapter: ad } = x;
  if (full) tr.matmulTN(dY, input, full.layers[l][t], 1, true);
  if (dIn) tr.matmulNN(dY, w, dIn, accumulate);
  const pair = ad.layers[l]?.[t];
  if (!pair) return;
  const la = x.acts[l].lora[t]!,
    g = x.grads[l][t]!,
    s = ad.scaling;
  const inDim = pair.a.shape[1];
  const dU = v2(b, st.dU, n, ad.config.r);
  tr.matmulTN(dY, la.u, g.b, s, true); // dB += s · dYᵀ · U
  tr.matmulNN(dY, pair.b, dU, false); // dU = dY · B
  tr.matmulTN(dU, la.xd, g.a, s, true); // dA += s · dUᵀ · dropout(X)
  if (!dIn) return;
  const back = v2(b, st.delta, n, inDim);
  tr.matmulNN(dU, pair.a, back, false);
  const { p, seed } = x.dropout;
  if (p > 0) {
    const back2 = v2(b, st.delta2, n, inDim);
    tr.dropout(back, back2, p, seed, x.dropout.stream(l, t)); // the same mask: dropout is its own backward
    b.axpy(dIn, back2, s);
  } else b.axpy(dIn, back, s);
}

/**
 * The input embedding's gradient: dE[id, :] += dX[r, :] for every row r with ids[r] = id. Ids
 * repeat within a pass, so scatterAddRows (distinct indices only) cannot do it without write
 * races; dE += onehot(ids)ᵀ · dX [V, n]·[n, H] is race-free on every backend at the cost of
 * n·V·H multiply-adds — about one LM-head matmul, fine for the few-hundred-token vocabularies
 * full training is meant for (tooling/full-train.ts, plain Llama: no embedding scale).
 */
function embeddingBackward(x: BackwardContext, dX: Tensor): void {
  const { b, n, tokens } = x,
    V = x.config.vocabSize;
  const onehot = v2(b, x.st.onehot!, n, V),
    hot = new Float32Array(n * V);
  for (let r = 0; r < n; r++) hot[r * V + tokens[r]] = 1;
  b.write(onehot, hot);
  x.tr.matmulTN(onehot, dX, x.full!.embed, 1, true);
}
