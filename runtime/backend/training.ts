// The ops fine-tuning needs beyond the forward pass: backward passes of each layer, LoRA's weight
// gradients, the soft-label loss, dropout and AdamW. Part of the Backend interface (types.ts);
// each backend implements them next to its forward ops (reference-train.ts is the oracle).
//
// Conventions as in types.ts: f32 activations, i32 indices, weights in their file dtype (frozen)
// or f32 (LoRA A/B, which are ordinary f32 tensors made with createTensor and may be passed
// wherever an op takes a weight). No op aliases its inputs and outputs unless it says so.

import type { Rows, Tensor } from './types.ts';

export interface TrainingOps {
  /** x[:] = value. */
  fill(x: Tensor, value: number): void;
  /** x += alpha · y (same size). */
  axpy(x: Tensor, y: Tensor, alpha: number): void;

  /**
   * out = x · w (no transpose), or out += x · w when `accumulate`. x: [n, N]; w: [N, K] (a weight
   * in any dtype, or f32); out: [n, K]. The backward of matmul for the input: dX = dY · W.
   */
  matmulNN(x: Tensor, w: Tensor, out: Tensor, accumulate: boolean): void;
  /**
   * out = alpha · aᵀ · b, or out += alpha · aᵀ · b when `accumulate`. a: [n, M]; b: [n, N];
   * out: f32 [M, N]. LoRA's weight gradients: dB = s·dYᵀ·U, dA = dUᵀ·X.
   */
  matmulTN(a: Tensor, b: Tensor, out: Tensor, alpha: number, accumulate: boolean): void;

  /** Backward of rmsNorm with a frozen weight: dx = ∂/∂x of (x·rsqrt(mean x² + eps)·w) applied to dy. All [n, H]; weight [H]. */
  rmsNormBackward(x: Tensor, weight: Tensor, dy: Tensor, eps: number, dx: Tensor): void;
  /** Backward of out = silu(gate)·up: dgate = dy·up·silu'(gate), dup = dy·silu(gate). All [n, I]. */
  swigluBackward(gate: Tensor, up: Tensor, dy: Tensor, dgate: Tensor, dup: Tensor): void;
  /** Backward of rope: the rotation by −θ, in place (same layout and rows as rope). */
  ropeBackward(x: Tensor, rows: Rows, invFreq: Tensor, heads: number, headDim: number): void;
  /**
   * Backward of kvWrite + attention over the rows of one call that wrote every cache position its
   * rows attend to (a training pass over whole sequences, each row's (slot, position) unique).
   * q: [n, heads·D] (after rope); caches as in attention; out: the forward output [n, heads·D];
   * dOut: [n, heads·D]. Writes dq: [n, heads·D], and dk, dv: [n, kvHeads·D] — the gradients of
   * the k and v rows this call wrote (dk before ropeBackward).
   */
  attentionBackward(q: Tensor, kCache: Tensor, vCache: Tensor, rows: Rows, out: Tensor, dOut: Tensor, dq: Tensor, dk: Tensor, dv: Tensor, heads: number, scale: number): void;
  /** Backward of gatherRows: out[index[j], :] += x[j, :] (indices distinct). x: [m, H]; out: [n, H]. */
  scatterAddRows(x: Tensor, index: Tensor, out: Tensor): void;

  /**
   * Soft-label KL loss per row and its gradient (LIGHTREASONER.md stage 2; with one label of
   * weight 1 it is cross-entropy, used for SFT). logits: [m, V]; labelIds i32 [m, K] and
   * labelWeights f32 [m, K], padded with (-1, 0); v = the sparse label distribution.
   *   loss[r]      = Σ_k w_k · (ln w_k − log_softmax(logits[r])_{id_k})   (terms with w_k = 0 are 0)
   *   dLogits[r,:] = scale · (softmax(logits[r]) − v_r)
   * loss: f32 [m] (unscaled); dLogits: [m, V].
   */
  softLabelLoss(logits: Tensor, labelIds: Tensor, labelWeights: Tensor, scale: number, loss: Tensor, dLogits: Tensor): void;

  /**
   * Inverted dropout with a stateless counter-based mask, so the backward pass regenerates the
   * forward's mask exactly: element i is kept iff (dropoutHash(seed, stream, i) >>> 8) / 2^24 ≥ p,
   * and out_i = kept ? x_i / (1 − p) : 0. Applying it to a gradient with the same (seed, stream)
   * is its backward. x, out: same shape; seed, stream: u32.
   */
  dropout(x: Tensor, out: Tensor, p: number, seed: number, stream: number): void;

  /** out[0] += Σ x² (out: f32 [1]); for the global gradient norm. */
  sumSquares(x: Tensor, out: Tensor): void;
  /**
   * One AdamW step exactly as torch.optim.AdamW (decoupled weight decay):
   *   g = grad · gradScale;  m = β1·m + (1−β1)·g;  v = β2·v + (1−β2)·g²
   *   param = param·(1 − lr·weightDecay) − (lr / (1 − β1^step)) · m / (√v / √(1 − β2^step) + eps)
   * param, grad, m, v: f32, same shape. `step` counts from 1.
   */
  adamw(param: Tensor, grad: Tensor, m: Tensor, v: Tensor, o: AdamWStep): void;
}

export interface AdamWStep {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  step: number;
  /** Multiplies the gradient first: the clipping coefficient (and any averaging). */
  gradScale: number;
}

/**
 * The dropout mask's hash (every backend implements these exact u32 operations): lowbias32
 * applied as h(i ^ h(stream ^ h(seed))).
 */
export function dropoutHash(seed: number, stream: number, i: number): number {
  const h = (x: number) => {
    x >>>= 0;
    x ^= x >>> 16;
    x = Math.imul(x, 0x7feb352d) >>> 0;
    x ^= x >>> 15;
    x = Math.imul(x, 0x846ca68b) >>> 0;
    x ^= x >>> 16;
    return x >>> 0;
  };
  return h((i ^ h((stream ^ h(seed)) >>> 0)) >>> 0);
}
