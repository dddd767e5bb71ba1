// The WebAssembly backend (created by createWasmBackend in index.ts, whose header says how it
// works): tensors in one linear memory, shape and index checks, and the dispatch of every op to
// its kernel (wasm/*.ts), split across the thread pool where it pays (split.ts).

import { decodeToF32 } from '../../util/dtype.ts';
import {
  type Backend,
  type BackendInfo,
  type DType,
  type FloatDType,
  type GluActivation,
  isQuantDType,
  type Rows,
  type Tensor,
  type TrainingOps,
  type WeightDType,
  BYTES_PER_ELEMENT,
  sizeOf,
} from '../types.ts';
import { checkQuantShape, quantMatmul, readQuant } from './quant.ts';
import { Heap } from './memory.ts';
import { DT_CODE, type Kernels, PAGE_BYTES } from './module.ts';
import type { Pool } from './pool.ts';
import { splitByCost, splitEven } from './split.ts';
import * as train from './train.ts';
import { DEFAULT_VARIANT, type MatmulVariant, NO_PREFETCH, ONCE_MIN_ROWS, prefetches } from './variants.ts';

class WasmTensor implements Tensor {
  readonly size: number;
  disposed = false;
  constructor(
    readonly owner: WasmBackend,
    readonly dtype: DType,
    readonly shape: readonly number[],
    readonly ptr: number,
    /** Bytes reserved by the allocator (0 for views, which own nothing). */
    readonly reserved: number,
    /** The tensor that owns the storage, for views; null for owners. */
    readonly root: WasmTensor | null,
    /** A createWeight matrix, stored in the interleaved layout (wasm/layout.ts), not row-major. */
    readonly interleaved = false,
  ) {
    this.size = sizeOf(shape);
    Object.freeze(this.shape);
  }
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
function isWeightDType(d: DType): d is FloatDType {
  return d === 'f32' || d === 'f16' || d === 'bf16';
}

export class WasmBackend implements Backend {
  readonly info: BackendInfo;
  private kernels: Kernels;
  private memory: WebAssembly.Memory;
  private heap: Heap;
  private scratchBlock = { start: 0, size: 0 };
  private destroyed = false;
  /** Which matmul variant runs (variants.ts); every variant gives the same bits. */
  private variant: MatmulVariant = DEFAULT_VARIANT;
  /** Worker threads sharing this memory (null: one thread). */
  private pool: Pool | null;
  /** What the training ops (train.ts) need of this backend's private state. */
  private readonly host: train.TrainHost = {
    kernels: () => this.kernels,
    buffer: () => this.memory.buffer,
    scratch: (bytes) => this.scratch(bytes),
    f32: (x, what) => this.f32(x, what),
    i32: (x, what) => this.i32(x, what),
    weight: (x, what) => this.weight(x, what),
    quantWeight: (x) => this.quantWeight(x),
    cache: (x, what) => this.cache(x, what),
    checkRows: (rows, slots, maxT) => this.checkRows(rows as WasmTensor, slots, maxT),
    checkIndices: (idx, limit, what) => this.checkIndices(idx as WasmTensor, limit, what),
    threads: () => this.threads,
    split: (total, align, work) => this.split(total, align, work),
    run: (name, bounds, job, total) => this.run(name, bounds, job, total),
  };
  /** The training ops (train.ts), over the same memory and threads. */
  readonly training: TrainingOps = new train.WasmTraining(this.host);

  constructor(
    kernels: Kernels,
    memory: WebAssembly.Memory,
    maxPages: number,
    pool: Pool | null = null,
    heapStart = kernels.heapBase() >>> 0,
    relaxed = false,
    note?: string,
  ) {
    this.kernels = kernels;
    this.memory = memory;
    this.pool = pool;
    this.heap = new Heap(memory, heapStart, maxPages);
    const T = pool?.threads ?? 1;
    this.info = Object.freeze({
      kind: 'wasm' as const,
      device: `wasm simd128${relaxed ? ' + relaxed-simd' : ''} (${T} thread${T > 1 ? 's' : ''})`,
      features: Object.freeze(['simd128', 'quantized', ...(relaxed ? ['relaxed-simd'] : []), ...(pool ? ['threads'] : [])]),
      limits: Object.freeze({ maxMemoryPages: maxPages, memoryPageBytes: PAGE_BYTES, maxMemoryBytes: maxPages * PAGE_BYTES }),
      ...(note ? { note } : {}),
    });
  }

  /** The matmul variant in use (variants.ts): chosen for this host at creation, or forced. */
  get matmulVariant(): MatmulVariant {
    return this.variant;
  }
  set matmulVariant(v: MatmulVariant) {
    this.variant = Object.freeze({ unpack: v.unpack, prefetch: v.prefetch });
  }

  /** Threads the heavy kernels run on (1 without a pool). */
  get threads(): number {
    return this.pool?.threads ?? 1;
  }

  // ---- splitting work across threads ------------------------------------------------------------

  /** splitEven over this backend's threads (null without a pool). */
  private split(total: number, align: number, work: number): number[] | null {
    return this.pool ? splitEven(this.pool.threads, total, align, work) : null;
  }

  /** splitByCost over this backend's threads (null without a pool). */
  private splitWeighted(cost: ArrayLike<number>, work: number): number[] | null {
    return this.pool ? splitByCost(this.pool.threads, cost, work) : null;
  }

  /**
   * Runs kernel `name` over [0, total): on this thread when `bounds` is null, else part t =
   * [bounds[t], bounds[t+1]) on thread t. `job(t, i0, i1)` gives the kernel's arguments for a part.
   */
  private run(name: keyof Kernels, bounds: number[] | null, job: (t: number, i0: number, i1: number) => number[], total: number): void {
    const k = this.kernels as unknown as Record<string, (...a: number[]) => unknown>;
    if (!bounds || !this.pool) {
      k[name](...job(0, 0, total));
      return;
    }
    const jobs: (number[] | null)[] = [];
    for (let t = 0; t + 1 < bounds.length; t++) jobs.push(bounds[t + 1] > bounds[t] ? job(t, bounds[t], bounds[t + 1]) : null);
    this.pool.run(this.kernels, name, jobs);
  }

  /** Per-thread scratch: `bytes` (rounded to 64) for each of `threads` callers; returns the base and stride. */
  private scratchPerThread(bytes: number, threads: number): { base: number; stride: number } {
    const stride = Math.ceil(Math.max(bytes, 1) / 64) * 64;
    return { base: this.scratch(stride * threads), stride };
  }

  /**
   * Streaming read bandwidth of this backend's memory in GB/s (the bench's ceiling for batch-1
   * decoding): `bytes` (default 1 GiB, far above any L3) summed by `threads` threads (default all
   * of the pool), best of `reps` passes after one warm-up pass. Allocates and frees the buffer.
   */
  probeReadBandwidth(opts: { bytes?: number; threads?: number; reps?: number } = {}): number {
    const bytes = Math.floor((opts.bytes ?? 2 ** 30) / 4096) * 4096,
      reps = opts.reps ?? 5;
    const T = Math.max(1, Math.min(opts.threads ?? this.threads, this.threads));
    const block = this.heap.alloc(bytes + 64 * T);
    try {
      const out = block.start + bytes;
      // touch every page first (the first pass would otherwise time page faults, not reads)
      this.run('fill', this.split(bytes / 4, 1024, Infinity), (_t, i0, i1) => [block.start, 1, i0, i1], bytes / 4);
      const bounds = T > 1 && this.pool ? Array.from({ length: T + 1 }, (_, t) => Math.round((bytes * t) / T / 128) * 128) : null;
      let best = 0;
      for (let r = 0; r <= reps; r++) {
        const t0 = performance.now();
        this.run('readSum', bounds, (t, i0, i1) => [block.start, out + 64 * t, i0, i1], bytes);
        const gbs = bytes / ((performance.now() - t0) / 1000) / 1e9;
        if (r > 0) best = Math.max(best, gbs);
      }
      return best;
    } finally {
      this.heap.release(block);
    }
  }

  /** Current size of the linear memory in pages (diagnostics and tests). */
  get memoryPages(): number {
    return this.heap.pages;
  }

  // ---- tensors --------------------------------------------------------------------------------

  private t(x: Tensor, what = 'tensor'): WasmTensor {
    if (this.destroyed) throw new Error('wasm backend used after destroy()');
    if (!(x instanceof WasmTensor) || x.owner !== this) throw new TypeError(`${what} belongs to another backend`);
    if ((x.root ?? x).disposed) throw new Error(`${what} used after dispose()`);
    return x;
  }
  private f32(x: Tensor, what: string): WasmTensor {
    const w = this.t(x, what);
    if (w.dtype !== 'f32') throw new TypeError(`${what} must be f32, got ${w.dtype}`);
    if (w.interleaved) throw new TypeError(`${what} is a createWeight matrix (stored interleaved, wasm/layout.ts); pass a tensor from createTensor`);
    return w;
  }
  private i32(x: Tensor, what: string): WasmTensor {
    const w = this.t(x, what);
    if (w.dtype !== 'i32') throw new TypeError(`${what} must be i32, got ${w.dtype}`);
    return w;
  }
  private weight(x: Tensor, what: string): WasmTensor {
    const w = this.t(x, what);
    if (!isWeightDType(w.dtype)) throw new TypeError(`${what} must be a float tensor, got ${w.dtype}`);
    return w;
  }

  /** A block-quantized weight (issue 30), or null for any other tensor. */
  private quantWeight(x: Tensor): WasmTensor | null {
    const w = this.t(x, 'w');
    return isQuantDType(w.dtype) ? w : null;
  }

  private allocTensor(dtype: DType, shape: readonly number[], zero: boolean, interleaved = false): WasmTensor {
    if (this.destroyed) throw new Error('wasm backend used after destroy()');
    const n = sizeOf(shape);
    const block = this.heap.alloc(n * BYTES_PER_ELEMENT[dtype]);
    const x = new WasmTensor(this, dtype, [...shape], block.start, block.size, null, interleaved);
    if (zero && !block.fresh) this.bytes(x).fill(0); // a reused block holds old data
    return x;
  }

  private bytes(x: WasmTensor, count = x.size * BYTES_PER_ELEMENT[x.dtype]): Uint8Array {
    return new Uint8Array(this.memory.buffer, x.ptr, count); // fresh view: memory may have grown
  }

  /** A scratch area for kernels (packed x, scores, cos/sin); reused across calls, grown on demand. */
  private scratch(bytes: number): number {
    if (this.scratchBlock.size < bytes) {
      if (this.scratchBlock.size) this.heap.release(this.scratchBlock);
      this.scratchBlock = this.heap.alloc(bytes);
    }
    return this.scratchBlock.start;
  }

  memoryAvailable(): number {
    return this.heap.available();
  }

  createWeight(dtype: WeightDType, shape: readonly number[], bytes: Uint8Array): Tensor {
    if (isQuantDType(dtype)) {
      // block formats stay as the file's blocks, row-major (wasm/qmatmul.ts reads them)
      checkQuantShape(dtype, shape);
      const want = sizeOf(shape) * BYTES_PER_ELEMENT[dtype];
      check(bytes.byteLength === want, () => `weight [${shape}] ${dtype} needs ${want} bytes, got ${bytes.byteLength}`);
      const q = this.allocTensor(dtype, shape, false);
      this.bytes(q).set(bytes);
      return q;
    }
    if (!isWeightDType(dtype)) throw new TypeError(`unknown weight dtype ${dtype as string}`);
    const want = sizeOf(shape) * BYTES_PER_ELEMENT[dtype];
    check(bytes.byteLength === want, () => `weight [${shape}] ${dtype} needs ${want} bytes, got ${bytes.byteLength}`);
    // Matrices are stored interleaved (wasm/layout.ts: the 4 rows the matmul reads together form
    // one stream), permuted in place block by block; vectors (norms, biases) stay as they are.
    const matrix = shape.length === 2;
    const x = this.allocTensor(dtype, shape, false, matrix);
    this.bytes(x).set(bytes);
    if (matrix) {
      const [N, K] = shape;
      this.kernels.interleaveWeight(x.ptr, this.scratch(4 * K * BYTES_PER_ELEMENT[dtype]), N, K, DT_CODE[dtype as FloatDType]);
    }
    return x;
  }

  /**
   * A live view of x's bytes in this memory, in its stored layout (valid until the next
   * allocation). With `adopt`, the sharded backend's copy between memories (sharded.ts).
   */
  rawBytes(x: Tensor): Uint8Array {
    const w = this.t(x);
    return new Uint8Array(this.memory.buffer, w.ptr, w.size * BYTES_PER_ELEMENT[w.dtype]);
  }

  /** A new tensor like `like` (of any WasmBackend: same dtype, shape and layout) holding a copy of `bytes` (its rawBytes). */
  adopt(like: Tensor, bytes: Uint8Array): Tensor {
    const src = like as WasmTensor;
    const x = this.allocTensor(src.dtype, src.shape, false, src.interleaved);
    this.bytes(x).set(bytes);
    return x;
  }

  createTensor(dtype: 'f32' | 'i32', shape: readonly number[], data?: Float32Array | Int32Array): Tensor {
    if (dtype !== 'f32' && dtype !== 'i32') throw new TypeError(`createTensor makes f32 or i32 tensors, not ${dtype as string}`);
    const x = this.allocTensor(dtype, shape, true);
    if (data) this.typed(x).set(data.subarray(0, x.size));
    return x;
  }

  private typed(x: WasmTensor): Float32Array | Int32Array {
    const C = x.dtype === 'i32' ? Int32Array : Float32Array;
    return new C(this.memory.buffer, x.ptr, x.size);
  }

  write(x: Tensor, data: Float32Array | Int32Array): void {
    const w = this.t(x);
    if (w.dtype !== 'f32' && w.dtype !== 'i32') throw new TypeError(`write needs an f32/i32 tensor, got ${w.dtype}`);
    if (w.interleaved) throw new TypeError('write into a createWeight matrix: weights are read-only here (make trainable tensors with createTensor)');
    check(data.length <= w.size, () => `write of ${data.length} elements into tensor [${w.shape}]`);
    this.typed(w).set(data);
  }

  async read(x: Tensor): Promise<Float32Array | Int32Array> {
    const w = this.t(x);
    if (isQuantDType(w.dtype)) return readQuant(this.bytes(w), w);
    if (w.interleaved) return this.readInterleaved(w);
    if (w.dtype === 'f16' || w.dtype === 'bf16') return decodeToF32(w.dtype, this.bytes(w));
    return this.typed(w).slice();
  }

  /** A weight matrix back in row-major order (through a temporary block; reads are rare). */
  private readInterleaved(w: WasmTensor): Float32Array {
    const [N, K] = w.shape,
      nbytes = w.size * BYTES_PER_ELEMENT[w.dtype];
    const tmp = this.heap.alloc(nbytes);
    try {
      this.kernels.deinterleaveWeight(w.ptr, tmp.start, N, K, DT_CODE[w.dtype as FloatDType]);
      const raw = new Uint8Array(this.memory.buffer, tmp.start, nbytes);
      return w.dtype === 'f32' ? new Float32Array(raw.slice().buffer) : decodeToF32(w.dtype as 'f16' | 'bf16', raw);
    } finally {
      this.heap.release(tmp);
    }
  }

  view(x: Tensor, shape: readonly number[]): Tensor {
    const w = this.t(x);
    const n = sizeOf(shape);
    check(n <= w.size, () => `view [${shape}] larger than tensor [${w.shape}]`);
    if (w.interleaved || isQuantDType(w.dtype))
      throw new TypeError(`view of a createWeight matrix [${w.shape}]: its rows are stored interleaved (wasm/layout.ts), so only whole-weight ops read it`);
    return new WasmTensor(this, w.dtype, [...shape], w.ptr, 0, w.root ?? w);
  }

  async flush(): Promise<void> {}

  /** Frees an owner's storage (its views become unusable); disposing a view does nothing. */
  dispose(x: Tensor): void {
    if (this.destroyed || !(x instanceof WasmTensor) || x.owner !== this) return;
    if (x.root || x.disposed) return;
    x.disposed = true;
    this.heap.release({ start: x.ptr, size: x.reserved });
  }

  destroy(): void {
    // stop the workers (they hold the memory too), then drop the references so the engine can
    // reclaim the (possibly multi-GB) memory
    this.pool?.close();
    this.pool = null;
    this.destroyed = true;
    this.kernels = null as unknown as Kernels;
    this.memory = null as unknown as WebAssembly.Memory;
  }

  // ---- index validation (the kernels would otherwise read or write out of bounds) ---------------

  private checkIndices(idx: WasmTensor, limit: number, what: string): void {
    const v = new Int32Array(this.memory.buffer, idx.ptr, idx.size);
    for (let j = 0; j < v.length; j++) {
      if (v[j] < 0 || v[j] >= limit) throw new RangeError(`${what} ${v[j]} outside 0..${limit - 1}`);
    }
  }

  private checkRows(rows: WasmTensor, slots: number, maxT: number): number {
    check(rows.shape.length === 2 && rows.shape[1] === 2, () => `rows must be i32 [n, 2], got [${rows.shape}]`);
    const n = rows.shape[0];
    const v = new Int32Array(this.memory.buffer, rows.ptr, n * 2);
    for (let r = 0; r < n; r++) {
      const slot = v[r * 2],
        pos = v[r * 2 + 1];
      if (slot < 0 || slot >= slots || pos < 0 || pos >= maxT)
        throw new RangeError(`row ${r}: (slot ${slot}, position ${pos}) outside KV cache [${slots}, ·, ${maxT}, ·]`);
    }
    return n;
  }

  private cache(c: Tensor, what: string): WasmTensor {
    const w = this.f32(c, what);
    check(w.shape.length === 4, () => `${what} must be [slots, kvHeads, maxT, headDim], got [${w.shape}]`);
    return w;
  }

  // ---- forward ops ----------------------------------------------------------------------------

  embedding(ids: Tensor, table: Tensor, out: Tensor, scale = 1): void {
    check(Number.isFinite(scale), () => `embedding scale ${scale} is not finite`);
    const id = this.i32(ids, 'ids'),
      tb = this.weight(table, 'table'),
      o = this.f32(out, 'out');
    check(tb.shape.length === 2, () => `embedding table must be [V, H], got [${tb.shape}]`);
    const [V, H] = tb.shape,
      n = id.size;
    check(o.size === n * H && lastDim(o) === H, () => `embedding out [${o.shape}] for ${n} ids of width ${H}`);
    this.checkIndices(id, V, 'token id');
    this.kernels.embedding(id.ptr, tb.ptr, DT_CODE[tb.dtype as FloatDType], tb.interleaved, V, o.ptr, H, scale, 0, n);
  }

  rmsNorm(x: Tensor, weight: Tensor, eps: number, out: Tensor): void {
    const a = this.f32(x, 'x'),
      w = this.weight(weight, 'weight'),
      o = this.f32(out, 'out');
    const H = lastDim(a);
    check(w.size === H && o.size === a.size, () => `rmsNorm x [${a.shape}], weight [${w.shape}], out [${o.shape}]`);
    this.kernels.rmsNorm(a.ptr, w.ptr, DT_CODE[w.dtype as FloatDType], o.ptr, H, eps, 0, rowsOf(a));
  }

  matmul(x: Tensor, w: Tensor, bias: Tensor | null, out: Tensor): void {
    const q = this.quantWeight(w);
    if (q) {
      const c = bias ? this.weight(bias, 'bias') : null;
      quantMatmul(this.host, this.f32(x, 'x'), q, c && { ptr: c.ptr, code: DT_CODE[c.dtype as FloatDType] }, this.f32(out, 'out'));
      return;
    }
    const a = this.f32(x, 'x'),
      b = this.weight(w, 'w'),
      o = this.f32(out, 'out');
    const c = bias ? this.weight(bias, 'bias') : null;
    const K = lastDim(a),
      n = rowsOf(a),
      N = b.shape[0];
    check(
      b.shape.length === 2 && lastDim(b) === K && lastDim(o) === N && o.size === n * N && (!c || c.size === N),
      () => `matmul shapes [${a.shape}]·[${b.shape}]ᵀ${c ? ` + [${c.shape}]` : ''} → [${o.shape}]`,
    );
    const biasPtr = c ? c.ptr : 0,
      biasDt = c ? DT_CODE[c.dtype as FloatDType] : 0;
    const k = this.kernels;
    // x re-packed once into 8-row panels (even/odd order for 16-bit weights), then per thread a
    // 64-byte slot (the kernel uses 48) it stores to so V8 keeps its loads in order
    // (wasm/matmul.ts)
    // (and, for unpack-once, a 16·K-byte strip per thread: variants.ts)
    const once = this.variant.unpack === 'once' && n >= ONCE_MIN_ROWS && b.interleaved && b.dtype !== 'f32';
    const panel = Math.ceil((n * (K & ~7) * 4) / 64) * 64,
      stripBytes = once ? Math.ceil((K * 16) / 64) * 64 : 0;
    const xp = this.scratch(panel + (64 + stripBytes) * this.threads);
    k.packX(a.ptr, xp, K, n, b.dtype !== 'f32', 0, n);
    const slot = (t: number) => xp + panel + 64 * t,
      strip = (t: number) => (once ? xp + panel + 64 * this.threads + stripBytes * t : 0);
    const flags = prefetches(this.variant, n) ? 0 : NO_PREFETCH;
    // createWeight matrices are interleaved (wasm/layout.ts); only f32 tensors can be row-major
    const name = !b.interleaved ? 'matmulF32' : b.dtype === 'f32' ? 'matmulIlvF32' : b.dtype === 'bf16' ? 'matmulIlvBf16' : 'matmulIlvF16';
    // columns in multiples of 16 (the kernel's 4-column blocks, and N % 4 stays in the last part)
    // or rows in whole 8-row panel blocks, whichever dimension is larger
    const byCols = N >= n;
    const bounds = byCols ? this.split(N, 16, n * K * N) : this.split(n, 8, n * K * N);
    if (!bounds) {
      k[name](a.ptr, xp, b.ptr, biasPtr, biasDt, o.ptr, slot(0), K, N, n, 0, n, 0, N, strip(0), flags);
      return;
    }
    this.run(
      name,
      bounds,
      (t, i0, i1) =>
        byCols
          ? [a.ptr, xp, b.ptr, biasPtr, biasDt, o.ptr, slot(t), K, N, n, 0, n, i0, i1, strip(t), flags]
          : [a.ptr, xp, b.ptr, biasPtr, biasDt, o.ptr, slot(t), K, N, n, i0, i1, 0, N, strip(t), flags],
      byCols ? N : n,
    );
  }

  rope(x: Tensor, rows: Rows, invFreq: Tensor, heads: number, headDim: number): void {
    const a = this.f32(x, 'x'),
      rw = this.i32(rows, 'rows'),
      fr = this.f32(invFreq, 'invFreq');
    check(
      Number.isInteger(heads) && heads > 0 && Number.isInteger(headDim) && headDim > 0 && headDim % 2 === 0,
      () => `rope heads ${heads}, headDim ${headDim}`,
    );
    check(rw.shape.length === 2 && rw.shape[1] === 2, () => `rows must be i32 [n, 2], got [${rw.shape}]`);
    const n = rw.shape[0];
    check(
      a.size === n * heads * headDim && fr.size >= headDim / 2,
      () => `rope x [${a.shape}] for ${n} rows × ${heads} heads × ${headDim}, invFreq [${fr.shape}]`,
    );
    this.kernels.rope(a.ptr, rw.ptr, fr.ptr, this.scratch(headDim * 4), heads, headDim, 0, n);
  }

  kvWrite(k: Tensor, v: Tensor, kCache: Tensor, vCache: Tensor, rows: Rows): void {
    const kk = this.f32(k, 'k'),
      vv = this.f32(v, 'v'),
      kc = this.cache(kCache, 'kCache'),
      vc = this.cache(vCache, 'vCache');
    const rw = this.i32(rows, 'rows');
    const [slots, kvh, maxT, d] = kc.shape;
    check(
      vc.shape.every((s, j) => s === kc.shape[j]),
      () => `kCache [${kc.shape}] and vCache [${vc.shape}] differ`,
    );
    const n = this.checkRows(rw, slots, maxT);
    check(kk.size === n * kvh * d && vv.size === kk.size, () => `kvWrite k [${kk.shape}], v [${vv.shape}] for ${n} rows × ${kvh}·${d}`);
    this.kernels.kvWrite(kk.ptr, vv.ptr, kc.ptr, vc.ptr, rw.ptr, kvh, maxT, d, 0, n);
  }

  attention(q: Tensor, kCache: Tensor, vCache: Tensor, rows: Rows, out: Tensor, heads: number, scale: number, window = 0): void {
    check(Number.isInteger(window) && window >= 0, () => `attention window ${window} must be an integer ≥ 0`);
    const qq = this.f32(q, 'q'),
      kc = this.cache(kCache, 'kCache'),
      vc = this.cache(vCache, 'vCache');
    const rw = this.i32(rows, 'rows'),
      o = this.f32(out, 'out');
    const [slots, kvh, maxT, d] = kc.shape;
    check(
      vc.shape.every((s, j) => s === kc.shape[j]),
      () => `kCache [${kc.shape}] and vCache [${vc.shape}] differ`,
    );
    check(Number.isInteger(heads) && heads > 0 && heads % kvh === 0, () => `attention: ${heads} heads is not a multiple of ${kvh} KV heads`);
    const n = this.checkRows(rw, slots, maxT);
    check(qq.size === n * heads * d && o.size === qq.size, () => `attention q [${qq.shape}], out [${o.shape}] for ${n} rows × ${heads}·${d}`);
    const scratch = this.kernels.attentionScratchFloats(heads, kvh, maxT) * 4;
    if (this.pool && n * kvh > 1) {
      // split (row, KV head) units, balanced by their cost (the keys each sees: pos + 1, or at
      // most `window` with a sliding window, for every head)
      const rv = new Int32Array(this.memory.buffer, rw.ptr, n * 2);
      const cost = new Float64Array(n * kvh);
      let work = 0;
      for (let r = 0; r < n; r++) {
        const c = window > 0 ? Math.min(window, rv[r * 2 + 1] + 1) : rv[r * 2 + 1] + 1;
        cost.fill(c, r * kvh, (r + 1) * kvh);
        work += c * heads * d * 2;
      }
      const bounds = this.splitWeighted(cost, work);
      if (bounds) {
        const { base, stride } = this.scratchPerThread(scratch, bounds.length - 1);
        this.run(
          'attentionGroups',
          bounds,
          (t, i0, i1) => [qq.ptr, kc.ptr, vc.ptr, rw.ptr, o.ptr, base + t * stride, heads, kvh, maxT, d, scale, window, i0, i1],
          n * kvh,
        );
        return;
      }
    }
    this.kernels.attention(qq.ptr, kc.ptr, vc.ptr, rw.ptr, o.ptr, this.scratch(scratch), heads, kvh, maxT, d, scale, window, 0, n);
  }

  glu(gate: Tensor, up: Tensor, out: Tensor, activation: GluActivation): void {
    check(activation === 'silu' || activation === 'gelu_tanh', () => `glu activation ${String(activation)} (want silu or gelu_tanh)`);
    const g = this.f32(gate, 'gate'),
      u = this.f32(up, 'up'),
      o = this.f32(out, 'out');
    check(g.size === o.size && u.size === o.size, () => `glu gate [${g.shape}], up [${u.shape}], out [${o.shape}]`);
    // by elements across threads where it pays: with the vector exp a decode batch of 8 at
    // SmolLM2-360M ([8, 2560]) is ~15 µs on one thread, less than a dispatch; prefill splits
    const kernel = activation === 'silu' ? 'swiglu' : 'geglu';
    this.run(kernel, this.split(o.size, 4, o.size * 4), (_t, i0, i1) => [g.ptr, u.ptr, o.ptr, i0, i1], o.size);
  }

  addInPlace(x: Tensor, y: Tensor): void {
    const a = this.f32(x, 'x'),
      b = this.f32(y, 'y');
    check(a.size === b.size, () => `addInPlace [${a.shape}] += [${b.shape}]`);
    this.kernels.addInPlace(a.ptr, b.ptr, 0, a.size);
  }

  gatherRows(x: Tensor, index: Tensor, out: Tensor): void {
    const a = this.f32(x, 'x'),
      ix = this.i32(index, 'index'),
      o = this.f32(out, 'out');
    const H = lastDim(a),
      m = ix.size;
    check(o.size === m * H, () => `gatherRows out [${o.shape}] for ${m} rows of width ${H}`);
    this.checkIndices(ix, rowsOf(a), 'gatherRows: index');
    this.kernels.gatherRows(a.ptr, ix.ptr, o.ptr, H, 0, m);
  }

  softmax(x: Tensor, out: Tensor): void {
    const a = this.f32(x, 'x'),
      o = this.f32(out, 'out');
    check(o.size === a.size, () => `softmax x [${a.shape}], out [${o.shape}]`);
    const V = lastDim(a),
      m = rowsOf(a);
    this.run('softmax', this.split(m, 1, m * V * 8), (_t, r0, r1) => [a.ptr, o.ptr, V, r0, r1], m);
  }

  argmax(x: Tensor, out: Tensor): void {
    const a = this.f32(x, 'x'),
      o = this.i32(out, 'out');
    check(o.size === rowsOf(a), () => `argmax x [${a.shape}], out [${o.shape}]`);
    const V = lastDim(a),
      m = rowsOf(a);
    this.run('argmax', this.split(m, 1, m * V), (_t, r0, r1) => [a.ptr, o.ptr, V, r0, r1], m);
  }

  // ---- LightReasoner ---------------------------------------------------------------------------

  contrast(expert: Tensor, amateur: Tensor, shared: number, alpha: number, stats: Tensor, labelIds: Tensor, labelWeights: Tensor): void {
    const e = this.f32(expert, 'expert'),
      a = this.f32(amateur, 'amateur'),
      st = this.f32(stats, 'stats');
    const ids = this.i32(labelIds, 'labelIds'),
      lw = this.f32(labelWeights, 'labelWeights');
    const Ve = lastDim(e),
      Va = lastDim(a),
      K = lastDim(ids);
    check(Ve > 0 && Va > 0 && K > 0, () => `contrast: empty last dimension (expert [${e.shape}], amateur [${a.shape}], labelIds [${ids.shape}])`);
    const m = rowsOf(e);
    check(rowsOf(a) === m, () => `contrast: expert [${e.shape}] and amateur [${a.shape}] have different row counts`);
    check(Number.isInteger(shared) && shared >= 0 && shared <= Ve && shared <= Va, () => `contrast: shared vocabulary ${shared} exceeds ${Ve} / ${Va}`);
    check(Number.isFinite(alpha), () => `contrast: alpha ${alpha} is not finite`);
    check(st.size === m * 2 && lastDim(st) === 2, () => `contrast: stats [${st.shape}] for ${m} rows (want [${m}, 2])`);
    check(ids.size === m * K && lw.size === m * K && lastDim(lw) === K, () => `contrast: labelIds [${ids.shape}], labelWeights [${lw.shape}] for ${m} rows`);
    this.run('contrast', this.split(m, 1, m * (Ve + Va) * 16), (_t, r0, r1) => [e.ptr, a.ptr, st.ptr, ids.ptr, lw.ptr, Ve, Va, shared, alpha, K, r0, r1], m);
  }

  // ---- element-wise helpers (their kernels sit with the training ops in train.ts) ---------------

  fill(x: Tensor, value: number): void {
    train.fill(this.host, x, value);
  }
  axpy(x: Tensor, y: Tensor, alpha: number): void {
    train.axpy(this.host, x, y, alpha);
  }
  sumSquares(x: Tensor, out: Tensor): void {
    train.sumSquares(this.host, x, out);
  }
}
