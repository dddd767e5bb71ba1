// The one interface every compute backend implements (WebGPU, Wasm, and the plain-TypeScript
// reference that serves as the test oracle). The model code in runtime/model/ is written once
// against it.
//
// Execution model: ops are *enqueued*. A WebGPU backend records them into one command encoder
// and submits when `read` (or `flush`) is called, so a whole forward pass is one submit and one
// readback. The Wasm and reference backends run each op immediately. Callers must therefore never
// assume a result is visible before `read` resolves.
//
// Inputs are validated by the caller (runtime/model): GPU kernels cannot throw, so out-of-range
// token ids or (slot, position) rows are undefined behaviour there. Tensors passed to one op must
// not alias each other unless the op says so (kvWrite needs two distinct caches; the WebGPU
// backend needs headDim a multiple of 4, at most 128, for attention).
//
// Tensors are opaque handles owned by the backend that made them. Activations are f32, index
// tensors i32; weights keep the dtype of the checkpoint file (f32, f16 or bf16) and are unpacked
// to f32 inside the kernels. Every tensor is dense, row-major and contiguous.
//
// Quantized weights (issue 30): 'q8_0' and 'q4_0' are llama.cpp's block formats (runtime/quant/),
// 32 values of a row per block (34 / 18 bytes), so a matrix's rows must be a multiple of 32 long.
// A backend that reads them (reference: dequantizes on upload; Wasm and WebGPU: kernels read the
// blocks) lists 'quantized' in info.features; the others (WebGL2) refuse them. Only matmul and
// training.matmulNN take a quantized weight.

/** The plain float dtypes a checkpoint file stores weights in. */
export type FloatDType = 'f32' | 'f16' | 'bf16';
export type WeightDType = FloatDType | 'q8_0' | 'q4_0';
/** The block formats among the weight dtypes. */
export type QuantDType = 'q8_0' | 'q4_0';
export function isQuantDType(d: string): d is QuantDType {
  return d === 'q8_0' || d === 'q4_0';
}
export type DType = WeightDType | 'i32';

export interface Tensor {
  readonly dtype: DType;
  readonly shape: readonly number[];
  /** Number of elements (product of shape). */
  readonly size: number;
}

/**
 * The gated MLP's activation (config.json's hidden_act / hidden_activation):
 *   silu:      g · σ(g)                                         (Llama, Qwen)
 *   gelu_tanh: 0.5 · g · (1 + tanh(√(2/π) · (g + 0.044715 · g³)))  (Gemma: gelu_pytorch_tanh)
 */
export type GluActivation = 'silu' | 'gelu_tanh';

export type BackendKind = 'webgpu' | 'webgl2' | 'wasm' | 'reference';

export interface BackendInfo {
  kind: BackendKind;
  /** e.g. the GPU adapter description, or "wasm simd128 (2 threads)". */
  device: string;
  /** Capability flags detected once at creation and frozen (e.g. shader-f16, simd, relaxed-simd). */
  features: readonly string[];
  /** Limits that matter to the runtime (maxStorageBufferBindingSize, maxBufferSize, memory pages…). */
  limits: Readonly<Record<string, number>>;
  /** Why this backend runs as it does when that is not what was asked (e.g. fewer threads than
   * requested, or `auto` passing over a software WebGPU adapter); absent when nothing to say. */
  note?: string;
}

/**
 * Per-row addressing used by rope, kvWrite and attention: an i32 tensor of shape [n, 2] holding
 * (slot, position) for each of the n rows being processed. `slot` picks the sequence's KV cache
 * (0 ≤ slot < cache.shape[0]); `position` is the absolute token position within that sequence.
 * Prefill of one sequence of length L is rows (s, 0) … (s, L-1); a batched decode step is one row
 * per sequence. Causality is by position: row r attends to cache[slot_r][·][0..position_r].
 */
export type Rows = Tensor;

export interface Backend {
  readonly info: BackendInfo;

  // ---- memory -------------------------------------------------------------------------------
  /**
   * Optional: bytes of storage this backend can still hand out, where it has a hard bound (Wasm: its
   * linear memory's maximum, 4 GiB, less what is allocated); absent where no total is known (WebGPU
   * exposes none). The model checks weights and KV caches against it before allocating, so what
   * cannot fit is refused with a clear message instead of failing halfway.
   */
  memoryAvailable?(): number;
  /** Optional: the most bytes one createTensor tensor may take (WebGPU: one storage binding). */
  readonly maxTensorBytes?: number;
  /**
   * Optional: tensors created until the next call belong to decoder layer `group` ('head': the final
   * norm and LM head; null: none — embeddings, activations, adapters). A backend that spreads a
   * model over several memories (sharded.ts) keeps each layer's weights, KV cache and saved
   * training activations together by it; the others have no such method.
   */
  place?(group: number | 'head' | null): void;
  /** Upload a weight in its file dtype (raw little-endian bytes, exactly size * bytesPerElement). */
  createWeight(dtype: WeightDType, shape: readonly number[], bytes: Uint8Array): Tensor;
  /** Create an f32 or i32 tensor, zero-filled unless `data` is given. */
  createTensor(dtype: 'f32' | 'i32', shape: readonly number[], data?: Float32Array | Int32Array): Tensor;
  /** Overwrite the first data.length elements of an f32/i32 tensor (ordered after earlier ops). */
  write(t: Tensor, data: Float32Array | Int32Array): void;
  /** Run everything enqueued so far and return a copy of the tensor's contents as f32/i32. */
  read(t: Tensor): Promise<Float32Array | Int32Array>;
  /** A tensor sharing t's storage from element 0, with a new shape whose size ≤ t.size. */
  view(t: Tensor, shape: readonly number[]): Tensor;
  /** Submit enqueued work without reading anything back. */
  flush(): Promise<void>;
  dispose(t: Tensor): void;
  destroy(): void;

  /** The training ops, on a backend that can fine-tune (Wasm, WebGPU, reference); absent on one that cannot (WebGL2). */
  readonly training?: TrainingOps;

  // ---- element-wise helpers (LoRA adapters at inference, stage 1's probe, the optimizer) -------
  /** x[:] = value. */
  fill(x: Tensor, value: number): void;
  /** x += alpha · y (same size). */
  axpy(x: Tensor, y: Tensor, alpha: number): void;
  /** out[0] += Σ x² (out: f32 [1]); for the global gradient norm and stage 1's finiteness probe. */
  sumSquares(x: Tensor, out: Tensor): void;

  // ---- forward ops (shapes are checked; all activations f32) ---------------------------------
  /**
   * out[r, :] = table[ids[r], :] · scale (an f32 multiply; scale 1 copies exactly). ids: i32 [n];
   * table: weight [V, H]; out: [n, H]. Gemma scales its embeddings by √hidden (architecture spec).
   */
  embedding(ids: Tensor, table: Tensor, out: Tensor, scale?: number): void;
  /** HF LlamaRMSNorm: out = x * rsqrt(mean(x²) + eps) * weight. x, out: [n, H]; weight: [H]. */
  rmsNorm(x: Tensor, weight: Tensor, eps: number, out: Tensor): void;
  /** out = x · wᵀ (+ bias). x: [n, K]; w: weight [N, K] (HF Linear layout); bias: [N], f32 or a weight dtype; out: [n, N]. */
  matmul(x: Tensor, w: Tensor, bias: Tensor | null, out: Tensor): void;
  /**
   * Rotary embedding in place, HF convention (rotate_half): x viewed as [n, heads, headDim]; for
   * i < headDim/2, θ = position_r · invFreq[i], (a, b) = (x[i], x[i + headDim/2]) becomes
   * (a·cosθ − b·sinθ, b·cosθ + a·sinθ). invFreq: f32 [headDim/2] (llama3 scaling already applied).
   */
  rope(x: Tensor, rows: Rows, invFreq: Tensor, heads: number, headDim: number): void;
  /** Store k, v ([n, kvHeads·headDim]) into caches [slots, kvHeads, maxT, headDim] at each row's (slot, position). */
  kvWrite(k: Tensor, v: Tensor, kCache: Tensor, vCache: Tensor, rows: Rows): void;
  /**
   * Causal grouped-query attention. q: [n, heads·headDim]; out: same shape. Head h reads KV head
   * h / (heads / kvHeads); row r attends to positions 0..position_r of its slot's cache.
   * Scores are scaled by `scale` (1/√headDim, or the architecture's own) before the softmax.
   * `window` > 0 makes it sliding-window attention (transformers' mask: key position j is seen by
   * a query at position p iff p − window < j ≤ p), as in Gemma 3's local layers; 0 (the default)
   * is full causal attention.
   */
  attention(q: Tensor, kCache: Tensor, vCache: Tensor, rows: Rows, out: Tensor, heads: number, scale: number, window?: number): void;
  /**
   * Optional: matmul(x', w, bias, out) with x' = rmsNorm(x, fuse.norm) (never written) and, with
   * fuse.accumulate, out += the result instead of out = (a residual add), or with fuse.up the
   * SwiGLU of this and a second projection (see LinearFusion). Returns false, doing
   * nothing, when this backend does not fuse for these shapes (the caller runs the plain ops).
   * The WebGPU backend fuses at decode (≤ 8 rows).
   */
  linearFused?(x: Tensor, w: Tensor, bias: Tensor | null, out: Tensor, fuse: LinearFusion): boolean;
  /**
   * Optional: q, k, v = rmsNorm(x, norm) · w.{q,k,v}ᵀ + their biases in one op. Returns false, doing
   * nothing, when this backend does not fuse it for these shapes (WebGPU: decode, ≤ 8 rows).
   */
  qkvFused?(x: Tensor, norm: { weight: Tensor; eps: number }, w: QKVWeights, q: Tensor, k: Tensor, v: Tensor): boolean;
  /** Optional: rope(q, heads), rope(k, kvHeads) and kvWrite(k, v, kCache, vCache) in one op (the
   * kv head count and headDim from the cache's shape). */
  ropeKvWrite?(q: Tensor, k: Tensor, v: Tensor, kCache: Tensor, vCache: Tensor, rows: Rows, invFreq: Tensor, heads: number): void;
  /** The gated MLP's activation: out = act(gate) * up, all [n, I] (GluActivation says which act). */
  glu(gate: Tensor, up: Tensor, out: Tensor, activation: GluActivation): void;
  /** x += y, both [n, H]. */
  addInPlace(x: Tensor, y: Tensor): void;
  /** out[j, :] = x[index[j], :]. x: [n, H]; index: i32 [m]; out: [m, H]. */
  gatherRows(x: Tensor, index: Tensor, out: Tensor): void;
  /** Row-wise softmax over the last dimension. x, out: [n, V]. */
  softmax(x: Tensor, out: Tensor): void;
  /** out[r] = index of the largest x[r, :] (the first one on ties, as torch.argmax). out: i32 [n]. */
  argmax(x: Tensor, out: Tensor): void;

  // ---- LightReasoner ---------------------------------------------------------------------------
  /**
   * The contrast of an expert and an amateur next-token distribution, per row (LIGHTREASONER.md
   * stage 1). expert: [m, Ve] and amateur: [m, Va] logits; `shared` = n ≤ min(Ve, Va).
   * pE = softmax(expert[r, :]) and pA = softmax(amateur[r, :]) over each model's whole vocabulary,
   * then compared on ids < n (not renormalised), with ε = 1e-12 inside every log as the reference:
   *   kl    = Σ_{i<n} pE_i · (ln(pE_i + ε) − ln(pA_i + ε))
   *   mask  = { i < n : pE_i ≥ alpha · max_{j<n} pE_j }
   *   w_i   = softmax over the mask of ln(pE_i + ε) − ln(pA_i + ε)   (0 outside the mask)
   * Outputs: stats f32 [m, 2] = (kl, |mask|); labelIds i32 [m, K] and labelWeights f32 [m, K] hold
   * the mask's ids in ascending order with their weights, padded with (-1, 0). When |mask| > K the
   * label arrays hold only the first K ids and the caller must recompute that row (rare: the mask
   * is large only when the expert is nearly uniform).
   */
  contrast(expert: Tensor, amateur: Tensor, shared: number, alpha: number, stats: Tensor, labelIds: Tensor, labelWeights: Tensor): void;
}

// ---- training (a capability: Backend.training) -------------------------------------------------
// The ops fine-tuning needs beyond the forward pass: backward passes of each layer, LoRA's weight
// gradients, the soft-label loss, dropout and AdamW. A backend that can train exposes them as its
// `training` object (Wasm: wasm/train.ts, WebGPU: webgpu/train.ts, reference: reference.ts); one
// that cannot (WebGL2) has none, and a training job refuses it by name when it starts
// (requireTraining in training.ts).
//
// Conventions as for the forward ops: f32 activations, i32 indices, weights in their file dtype
// (frozen) or f32 (LoRA A/B, which are ordinary f32 tensors made with createTensor and may be passed
// wherever an op takes a weight). No op aliases its inputs and outputs unless it says so.

export interface TrainingOps {
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
  /** Backward of out = act(gate)·up: dgate = dy·up·act'(gate), dup = dy·act(gate). All [n, I]. */
  gluBackward(gate: Tensor, up: Tensor, dy: Tensor, dgate: Tensor, dup: Tensor, activation: GluActivation): void;
  /** Backward of rope: the rotation by −θ, in place (same layout and rows as rope). */
  ropeBackward(x: Tensor, rows: Rows, invFreq: Tensor, heads: number, headDim: number): void;
  /**
   * Backward of kvWrite + attention over the rows of one call that wrote every cache position its
   * rows attend to (a training pass over whole sequences, each row's (slot, position) unique).
   * q: [n, heads·D] (after rope); caches as in attention; out: the forward output [n, heads·D];
   * dOut: [n, heads·D]. Writes dq: [n, heads·D], and dk, dv: [n, kvHeads·D] — the gradients of
   * the k and v rows this call wrote (dk before ropeBackward).
   */
  attentionBackward(
    q: Tensor,
    kCache: Tensor,
    vCache: Tensor,
    rows: Rows,
    out: Tensor,
    dOut: Tensor,
    dq: Tensor,
    dk: Tensor,
    dv: Tensor,
    heads: number,
    scale: number,
    window?: number,
  ): void;
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

/** A layer's attention projections (biases all present or all absent). */
export interface QKVWeights {
  q: Tensor;
  k: Tensor;
  v: Tensor;
  qBias: Tensor | null;
  kBias: Tensor | null;
  vBias: Tensor | null;
}

/** What linearFused folds around a matmul: x's RMSNorm before it; after it a residual add
 * (out += result), or with `up` (a second weight of w's shape; no bias) out = act(x'·wᵀ) · (x'·upᵀ)
 * with act = `activation` (default silu: the SwiGLU; gelu_tanh: Gemma's GeGLU). */
export interface LinearFusion {
  norm?: { weight: Tensor; eps: number };
  accumulate?: boolean;
  up?: Tensor;
  activation?: GluActivation;
}

// Block formats have a fractional size per element (34/32 and 18/32 bytes, exact in binary), so
// size · BYTES_PER_ELEMENT is the byte count of any tensor of whole blocks.
export const BYTES_PER_ELEMENT: Readonly<Record<DType, number>> = Object.freeze({ f32: 4, f16: 2, bf16: 2, i32: 4, q8_0: 34 / 32, q4_0: 18 / 32 });

export function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new RangeError(`invalid tensor shape [${shape.join(', ')}]`);
    n *= d;
  }
  return n;
}
