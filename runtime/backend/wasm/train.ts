// The TypeScript side of the Wasm backend's training ops (runtime/backend/training.ts is the spec,
// wasm/train*.ts the kernels): check shapes and indices, then call the kernels with pointers over
// the whole range, or split across the backend's threads for the heavy ones (matmulNN, matmulTN,
// attentionBackward, softLabelLoss: each output element by one thread, so results do not depend
// on the thread count). WasmBackend (index.ts) exposes a WasmTraining as its `training`, built over
// the host below, which exposes what these ops need of its private state; fill, axpy and sumSquares
// are core Backend ops the backend calls here too.

import type { AdamWStep, GluActivation, Rows, Tensor, TrainingOps, FloatDType } from '../types.ts';
import { DT_CODE, type Kernels } from './module.ts';
import { quantMatmulNN } from './quant.ts';

/** A tensor of this backend: its byte offset in linear memory. */
export interface Buf extends Tensor {
  readonly ptr: number;
  /** A createWeight matrix in the interleaved layout (wasm/layout.ts). */
  readonly interleaved: boolean;
}

export interface TrainHost {
  kernels(): Kernels;
  /** The current memory buffer (take it after any scratch/alloc call: growth detaches it). */
  buffer(): ArrayBuffer;
  /** A scratch area of `bytes`, shared by all ops (one op at a time). */
  scratch(bytes: number): number;
  f32(x: Tensor, what: string): Buf;
  i32(x: Tensor, what: string): Buf;
  weight(x: Tensor, what: string): Buf;
  /** x when it is a block-quantized weight, else null. */
  quantWeight(x: Tensor): Buf | null;
  cache(x: Tensor, what: string): Buf;
  checkRows(rows: Buf, slots: number, maxT: number): number;
  checkIndices(idx: Buf, limit: number, what: string): void;
  /** Threads available to `run`. */
  threads(): number;
  /** Boundaries splitting [0, total) at multiples of `align` across threads, or null (too small / one thread). */
  split(total: number, align: number, work: number): number[] | null;
  /** Runs a kernel over [0, total) (bounds null) or over each part on its own thread. */
  run(name: keyof Kernels, bounds: number[] | null, job: (t: number, i0: number, i1: number) => number[], total: number): void;
}

/** Per-thread scratch stride (64-byte aligned). */
function stride64(bytes: number): number {
  return Math.ceil(Math.max(bytes, 1) / 64) * 64;
}

function lastDim(x: Tensor): number {
  return x.shape[x.shape.length - 1];
}
function rowsOf(x: Tensor): number {
  return x.shape.length === 1 ? 1 : x.size / lastDim(x);
}
function check(ok: boolean, msg: () => string): void {
  if (!ok) throw new RangeError(msg());
}
function byteLen(x: Buf): number {
  return x.size * (x.dtype === 'f16' || x.dtype === 'bf16' ? 2 : 4);
}
/** Outputs written while inputs are still read must not share storage with them. */
function disjoint(a: Buf, b: Buf, what: string): void {
  check(a.ptr + byteLen(a) <= b.ptr || b.ptr + byteLen(b) <= a.ptr || a.size === 0 || b.size === 0, () => `${what}: tensors overlap`);
}

export function fill(h: TrainHost, x: Tensor, value: number): void {
  const a = h.f32(x, 'x');
  h.kernels().fill(a.ptr, value, 0, a.size);
}

export function axpy(h: TrainHost, x: Tensor, y: Tensor, alpha: number): void {
  const a = h.f32(x, 'x'),
    b = h.f32(y, 'y');
  check(a.size === b.size, () => `axpy [${a.shape}] += α·[${b.shape}]`);
  h.kernels().axpy(a.ptr, b.ptr, alpha, 0, a.size);
}

export function sumSquares(h: TrainHost, x: Tensor, out: Tensor): void {
  const a = h.f32(x, 'x'),
    o = h.f32(out, 'out');
  check(o.size >= 1, () => `sumSquares out [${o.shape}] is empty`);
  const s = h.kernels().sumSquares(a.ptr, 0, a.size);
  const v = new Float32Array(h.buffer(), o.ptr, 1);
  v[0] += s;
}

/** The Wasm backend's training ops (Backend.training), over its host. */
export class WasmTraining implements TrainingOps {
  constructor(private readonly h: TrainHost) {}

  matmulNN(x: Tensor, w: Tensor, out: Tensor, accumulate: boolean): void {
    const h = this.h;
    const q = h.quantWeight(w);
    if (q) {
      quantMatmulNN(h, h.f32(x, 'x'), q, h.f32(out, 'out'), accumulate);
      return;
    }
    const a = h.f32(x, 'x'),
      b = h.weight(w, 'w'),
      o = h.f32(out, 'out');
    const N = lastDim(a),
      n = rowsOf(a),
      K = lastDim(b);
    check(b.shape.length === 2 && b.shape[0] === N && lastDim(o) === K && o.size === n * K, () => `matmulNN shapes [${a.shape}]·[${b.shape}] → [${o.shape}]`);
    disjoint(a, o, 'matmulNN x and out');
    disjoint(b, o, 'matmulNN w and out');
    const k = h.kernels();
    const name = b.dtype === 'f32' ? 'matmulNNF32' : b.dtype === 'f16' ? 'matmulNNF16' : 'matmulNNBf16';
    // columns in 16-wide strips (the kernel's panel width) or rows, whichever is larger
    const byCols = K >= n;
    const bounds = byCols ? h.split(K, 16, n * N * K) : h.split(n, 2, n * N * K);
    const st = stride64(k.matmulNNScratchBytes());
    const base = h.scratch(st * (bounds ? bounds.length - 1 : 1));
    const acc = accumulate ? 1 : 0;
    const ilv = b.interleaved ? 1 : 0; // a createWeight matrix (wasm/layout.ts)
    h.run(
      name,
      bounds,
      (t, i0, i1) =>
        byCols ? [a.ptr, b.ptr, ilv, o.ptr, base + t * st, N, K, acc, 0, n, i0, i1] : [a.ptr, b.ptr, ilv, o.ptr, base + t * st, N, K, acc, i0, i1, 0, K],
      byCols ? K : n,
    );
  }

  matmulTN(a: Tensor, b: Tensor, out: Tensor, alpha: number, accumulate: boolean): void {
    const h = this.h;
    const x = h.f32(a, 'a'),
      y = h.f32(b, 'b'),
      o = h.f32(out, 'out');
    const M = lastDim(x),
      N = lastDim(y),
      n = rowsOf(x);
    check(rowsOf(y) === n && o.size === M * N, () => `matmulTN shapes [${x.shape}]ᵀ·[${y.shape}] → [${o.shape}]`);
    disjoint(x, o, 'matmulTN a and out');
    disjoint(y, o, 'matmulTN b and out');
    // columns in 16-wide blocks (the kernel's widest; N % 16 stays in the last part) or rows of out
    const byCols = N >= M;
    const bounds = byCols ? h.split(N, 16, n * M * N) : h.split(M, 1, n * M * N);
    const acc = accumulate ? 1 : 0;
    h.run(
      'matmulTN',
      bounds,
      (_t, i0, i1) => (byCols ? [x.ptr, y.ptr, o.ptr, n, M, N, alpha, acc, 0, M, i0, i1] : [x.ptr, y.ptr, o.ptr, n, M, N, alpha, acc, i0, i1, 0, N]),
      byCols ? N : M,
    );
  }

  rmsNormBackward(x: Tensor, weight: Tensor, dy: Tensor, eps: number, dx: Tensor): void {
    const h = this.h;
    const a = h.f32(x, 'x'),
      w = h.weight(weight, 'weight'),
      g = h.f32(dy, 'dy'),
      o = h.f32(dx, 'dx');
    const H = lastDim(a);
    check(
      w.size === H && g.size === a.size && o.size === a.size,
      () => `rmsNormBackward x [${a.shape}], weight [${w.shape}], dy [${g.shape}], dx [${o.shape}]`,
    );
    h.kernels().rmsNormBackward(a.ptr, w.ptr, DT_CODE[w.dtype as FloatDType], g.ptr, o.ptr, H, eps, 0, rowsOf(a));
  }

  gluBackward(gate: Tensor, up: Tensor, dy: Tensor, dgate: Tensor, dup: Tensor, activation: GluActivation): void {
    check(activation === 'silu' || activation === 'gelu_tanh', () => `gluBackward activation ${String(activation)} (want silu or gelu_tanh)`);
    const h = this.h;
    const g = h.f32(gate, 'gate'),
      u = h.f32(up, 'up'),
      d = h.f32(dy, 'dy'),
      dg = h.f32(dgate, 'dgate'),
      du = h.f32(dup, 'dup');
    check(
      [u, d, dg, du].every((t) => t.size === g.size),
      () => `gluBackward gate [${g.shape}], up [${u.shape}], dy [${d.shape}], dgate [${dg.shape}], dup [${du.shape}]`,
    );
    const k = h.kernels();
    (activation === 'silu' ? k.swigluBackward : k.gegluBackward)(g.ptr, u.ptr, d.ptr, dg.ptr, du.ptr, 0, g.size);
  }

  ropeBackward(x: Tensor, rows: Rows, invFreq: Tensor, heads: number, headDim: number): void {
    const h = this.h;
    const a = h.f32(x, 'x'),
      rw = h.i32(rows, 'rows'),
      fr = h.f32(invFreq, 'invFreq');
    check(
      Number.isInteger(heads) && heads > 0 && Number.isInteger(headDim) && headDim > 0 && headDim % 2 === 0,
      () => `ropeBackward heads ${heads}, headDim ${headDim}`,
    );
    check(rw.shape.length === 2 && rw.shape[1] === 2, () => `rows must be i32 [n, 2], got [${rw.shape}]`);
    const n = rw.shape[0];
    check(
      a.size === n * heads * headDim && fr.size >= headDim / 2,
      () => `ropeBackward x [${a.shape}] for ${n} rows × ${heads} heads × ${headDim}, invFreq [${fr.shape}]`,
    );
    const s = h.scratch(headDim * 4);
    h.kernels().ropeBackward(a.ptr, rw.ptr, fr.ptr, s, heads, headDim, 0, n);
  }

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
    window = 0,
  ): void {
    check(Number.isInteger(window) && window >= 0, () => `attentionBackward window ${window} must be an integer ≥ 0`);
    const h = this.h;
    const qq = h.f32(q, 'q'),
      kc = h.cache(kCache, 'kCache'),
      vc = h.cache(vCache, 'vCache'),
      rw = h.i32(rows, 'rows');
    const o = h.f32(out, 'out'),
      go = h.f32(dOut, 'dOut'),
      gq = h.f32(dq, 'dq'),
      gk = h.f32(dk, 'dk'),
      gv = h.f32(dv, 'dv');
    const [slots, kvh, maxT, d] = kc.shape;
    check(
      vc.shape.every((s, j) => s === kc.shape[j]),
      () => `kCache [${kc.shape}] and vCache [${vc.shape}] differ`,
    );
    check(Number.isInteger(heads) && heads > 0 && heads % kvh === 0, () => `attentionBackward: ${heads} heads is not a multiple of ${kvh} KV heads`);
    const n = h.checkRows(rw, slots, maxT);
    check(
      [qq, o, go, gq].every((t) => t.size === n * heads * d),
      () => `attentionBackward q [${qq.shape}], out [${o.shape}], dOut [${go.shape}], dq [${gq.shape}] for ${n} rows × ${heads}·${d}`,
    );
    check(gk.size === n * kvh * d && gv.size === gk.size, () => `attentionBackward dk [${gk.shape}], dv [${gv.shape}] for ${n} rows × ${kvh}·${d}`);
    // scratch: rowAt i32 [slots·maxT] | stats f32 [n, heads, 2] | p, dp f32 [2·maxT] per thread
    const mapB = stride64(slots * maxT * 4),
      statB = stride64(n * heads * 8),
      pB = stride64(2 * maxT * 4);
    const work = n * heads * d * (window > 0 ? Math.min(window, maxT) : maxT); // an upper bound; causal rows do about half
    const bounds = h.split(n, 1, work);
    const base = h.scratch(mapB + statB + pB * (bounds ? bounds.length - 1 : 1));
    const rowAt = new Int32Array(h.buffer(), base, slots * maxT).fill(-1);
    const rv = new Int32Array(h.buffer(), rw.ptr, n * 2);
    for (let r = 0; r < n; r++) {
      const at = rv[r * 2] * maxT + rv[r * 2 + 1];
      if (rowAt[at] >= 0) throw new RangeError(`attentionBackward: rows ${rowAt[at]} and ${r} both write (slot ${rv[r * 2]}, position ${rv[r * 2 + 1]})`);
      rowAt[at] = r;
    }
    // phase 1 then phase 2 (it reads the stats of every row), each split by rows
    h.run(
      'attentionBackwardQ',
      bounds,
      (t, r0, r1) => [qq.ptr, kc.ptr, vc.ptr, rw.ptr, go.ptr, gq.ptr, base + mapB, base + mapB + statB + t * pB, heads, kvh, maxT, d, scale, window, r0, r1],
      n,
    );
    h.run(
      'attentionBackwardKV',
      bounds,
      (_t, r0, r1) => [qq.ptr, kc.ptr, vc.ptr, rw.ptr, base, go.ptr, base + mapB, gk.ptr, gv.ptr, heads, kvh, maxT, d, scale, window, r0, r1],
      n,
    );
  }

  scatterAddRows(x: Tensor, index: Tensor, out: Tensor): void {
    const h = this.h;
    const a = h.f32(x, 'x'),
      ix = h.i32(index, 'index'),
      o = h.f32(out, 'out');
    const H = lastDim(a),
      m = ix.size;
    check(a.size === m * H && lastDim(o) === H, () => `scatterAddRows x [${a.shape}], index [${ix.shape}], out [${o.shape}]`);
    h.checkIndices(ix, rowsOf(o), 'scatterAddRows: index');
    h.kernels().scatterAddRows(a.ptr, ix.ptr, o.ptr, H, 0, m);
  }

  softLabelLoss(logits: Tensor, labelIds: Tensor, labelWeights: Tensor, scale: number, loss: Tensor, dLogits: Tensor): void {
    const h = this.h;
    const z = h.f32(logits, 'logits'),
      ids = h.i32(labelIds, 'labelIds'),
      lw = h.f32(labelWeights, 'labelWeights');
    const l = h.f32(loss, 'loss'),
      g = h.f32(dLogits, 'dLogits');
    const V = lastDim(z),
      m = rowsOf(z),
      K = lastDim(ids);
    check(V > 0 && K > 0, () => `softLabelLoss: empty last dimension (logits [${z.shape}], labelIds [${ids.shape}])`);
    check(
      ids.size === m * K && lw.size === m * K && lastDim(lw) === K,
      () => `softLabelLoss: labelIds [${ids.shape}], labelWeights [${lw.shape}] for ${m} rows`,
    );
    check(l.size === m && g.size === z.size, () => `softLabelLoss: loss [${l.shape}], dLogits [${g.shape}] for logits [${z.shape}]`);
    disjoint(z, g, 'softLabelLoss logits and dLogits');
    const iv = new Int32Array(h.buffer(), ids.ptr, ids.size);
    for (let j = 0; j < iv.length; j++) if (iv[j] >= V) throw new RangeError(`softLabelLoss: label id ${iv[j]} outside 0..${V - 1}`);
    h.run('softLabelLoss', h.split(m, 1, m * V * 8), (_t, r0, r1) => [z.ptr, ids.ptr, lw.ptr, scale, l.ptr, g.ptr, V, K, r0, r1], m);
  }

  dropout(x: Tensor, out: Tensor, p: number, seed: number, stream: number): void {
    const h = this.h;
    const a = h.f32(x, 'x'),
      o = h.f32(out, 'out');
    check(a.size === o.size, () => `dropout x [${a.shape}], out [${o.shape}]`);
    check(p >= 0 && p <= 1, () => `dropout p ${p} outside [0, 1]`);
    check(Number.isInteger(seed) && Number.isInteger(stream), () => `dropout seed ${seed} and stream ${stream} must be integers`);
    // kept iff (h >>> 8) / 2^24 ≥ p  ⟺  (h >>> 8) ≥ ⌈p·2^24⌉ (p·2^24 is exact in f64)
    const threshold = Math.ceil(p * 16777216);
    h.kernels().dropout(a.ptr, o.ptr, threshold | 0, 1 / (1 - p), seed | 0, stream | 0, 0, a.size);
  }

  adamw(param: Tensor, grad: Tensor, m: Tensor, v: Tensor, o: AdamWStep): void {
    const h = this.h;
    const p = h.f32(param, 'param'),
      g = h.f32(grad, 'grad'),
      mm = h.f32(m, 'm'),
      vv = h.f32(v, 'v');
    check(g.size === p.size && mm.size === p.size && vv.size === p.size, () => `adamw param [${p.shape}], grad [${g.shape}], m [${mm.shape}], v [${vv.shape}]`);
    check(Number.isInteger(o.step) && o.step >= 1, () => `adamw step ${o.step} must be an integer ≥ 1`);
    // the same f64 expressions as the reference, so the step is bit-for-bit the same
    const bc1 = 1 - o.beta1 ** o.step,
      bc2 = 1 - o.beta2 ** o.step;
    h.kernels().adamw(p.ptr, g.ptr, mm.ptr, vv.ptr, o.gradScale, o.beta1, o.beta2, o.eps, 1 - o.lr * o.weightDecay, o.lr / bc1, Math.sqrt(bc2), 0, p.size);
  }
}
