// The Wasm backend's ops on block-quantized weights (issue 30; kernels in wasm/qmatmul.ts): shape
// checks and the split across threads. Quantized weights are stored as their blocks, row-major
// (not interleaved), and only these two ops read them.

import { dequantize } from '../../quant/index.ts';
import type { QuantDType, Tensor } from '../types.ts';
import type { Kernels } from './module.ts';

// What these ops need of the backend (a structural subset of train.ts's TrainHost, declared here
// so that train.ts can call into this file without an import circle).
interface Buf extends Tensor {
  readonly ptr: number;
}
interface Host {
  kernels(): Kernels;
  scratch(bytes: number): number;
  split(total: number, align: number, work: number): number[] | null;
  run(name: keyof Kernels, bounds: number[] | null, job: (t: number, i0: number, i1: number) => number[], total: number): void;
}

const QK = 32;

function lastDim(x: Tensor): number {
  return x.shape[x.shape.length - 1];
}
function rowsOf(x: Tensor): number {
  return x.shape.length === 1 ? 1 : x.size / lastDim(x);
}
function check(ok: boolean, msg: () => string): void {
  if (!ok) throw new RangeError(msg());
}

/** Refuse a quantized weight that is not a matrix of whole blocks along its rows. */
export function checkQuantShape(dtype: QuantDType, shape: readonly number[]): void {
  check(
    shape.length === 2 && shape[1] > 0 && shape[1] % QK === 0,
    () => `weight [${shape}] ${dtype}: a block-format weight must be a matrix whose rows are a multiple of ${QK} long`,
  );
}

/** A quantized weight back as f32 values, row-major (reads are rare: tests, merge-free export). */
export function readQuant(bytes: Uint8Array, w: Buf): Float32Array {
  return dequantize(w.dtype as QuantDType, bytes, w.size);
}

/** out = x · wᵀ (+ bias) with w quantized: x packed once (packQ), then columns across threads (rows where they are more). */
export function quantMatmul(h: Host, a: Buf, w: Buf, bias: { ptr: number; code: number } | null, o: Buf): void {
  const K = lastDim(a),
    n = rowsOf(a),
    N = w.shape[0];
  check(lastDim(w) === K && lastDim(o) === N && o.size === n * N, () => `matmul shapes [${a.shape}]·[${w.shape}]ᵀ → [${o.shape}]`);
  const q4 = w.dtype === 'q4_0',
    name = q4 ? 'qmatmulQ4' : 'qmatmulQ8';
  const xq = h.scratch(n * (K / QK) * (q4 ? 144 : 128)); // per block 32 floats (+ Q4_0: 4 lane sums)
  h.kernels().packQ(a.ptr, xq, K, q4, 0, n);
  const byCols = N >= n;
  const bounds = byCols ? h.split(N, 4, n * K * N) : h.split(n, 4, n * K * N);
  const bp = bias?.ptr ?? 0,
    bdt = bias?.code ?? 0;
  h.run(
    name,
    bounds,
    (_t, i0, i1) => (byCols ? [xq, w.ptr, bp, bdt, o.ptr, K, N, 0, n, i0, i1] : [xq, w.ptr, bp, bdt, o.ptr, K, N, i0, i1, 0, N]),
    byCols ? N : n,
  );
}

/** out (+)= x · w with w [N, K] quantized (dX = dY · W): 32-column blocks across threads (or rows). */
export function quantMatmulNN(h: Host, a: Buf, w: Buf, o: Buf, accumulate: boolean): void {
  const N = lastDim(a),
    n = rowsOf(a),
    K = lastDim(w);
  check(w.shape[0] === N && lastDim(o) === K && o.size === n * K, () => `matmulNN shapes [${a.shape}]·[${w.shape}] → [${o.shape}]`);
  check(a.ptr + a.size * 4 <= o.ptr || o.ptr + o.size * 4 <= a.ptr, () => 'matmulNN x and out: tensors overlap');
  const name = w.dtype === 'q8_0' ? 'qmatmulNNQ8' : 'qmatmulNNQ4';
  const blocks = K / QK;
  const byBlocks = blocks >= n;
  const bounds = byBlocks ? h.split(blocks, 1, n * N * K) : h.split(n, 1, n * N * K);
  const parts = bounds ? bounds.length - 1 : 1;
  const stride = Math.ceil((128 * n) / 64) * 64; // each part's sums: 32 f32 per row (at most n rows)
  const base = h.scratch(stride * parts);
  const acc = accumulate ? 1 : 0;
  h.run(
    name,
    bounds,
    (t, i0, i1) =>
      byBlocks ? [a.ptr, w.ptr, o.ptr, base + t * stride, N, K, acc, 0, n, i0, i1] : [a.ptr, w.ptr, o.ptr, base + t * stride, N, K, acc, i0, i1, 0, blocks],
    byBlocks ? blocks : n,
  );
}
