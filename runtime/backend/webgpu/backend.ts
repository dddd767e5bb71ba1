// The WebGPU backend: tensors are GPU buffers, ops record dispatches (see recorder.ts), `read`
// submits and maps one staging buffer. Shapes are validated here on the CPU, since a kernel
// cannot report an error; ids and rows that live on the GPU are bounds-checked in the kernels,
// which skip (or zero) out-of-range entries instead of throwing as the reference does.

import * as K from '../../generated/kernels.ts';
import {
  type Backend,
  type BackendInfo,
  type GluActivation,
  type LinearFusion,
  type QKVWeights,
  type Rows,
  type Tensor,
  type WeightDType,
  isQuantDType,
  sizeOf,
} from '../types.ts';
import { type Access, type KernelSpec, Recorder, type WebGPUStats, grid1d, pack } from './recorder.ts';
import { expect, expectF32, g, lastDim, rowsOf } from './shapes.ts';
import { GPUTensor, bufferBytes, createWeightTensor, uploadBuffer } from './tensor.ts';
import { WebGPUDecode } from './decode.ts';
import { WebGPUTraining } from './train.ts';
import { DeviceMemory } from './memory.ts';
import { LightReasonerError } from '../../errors.ts';
import { sizeText } from '../../util/units.ts';

const X = { name: 'x', binding: 2 };
const MATMUL_TILED: KernelSpec = { name: 'matmul-tiled', source: K.matmulTiled, operands: [X, { name: 'w', binding: 3 }, { name: 'b', binding: 4 }] };
const MATMUL_LARGE: KernelSpec = { name: 'matmul-large', source: K.matmulLarge, operands: [X, { name: 'w', binding: 3 }, { name: 'b', binding: 4 }] };
const SUM_SLICES: KernelSpec = { name: 'sum-slices', source: K.sumSlices };
const EMBEDDING: KernelSpec = { name: 'embedding', source: K.embedding, operands: [{ name: 'w', binding: 3 }] };
const RMS_NORM: KernelSpec = { name: 'rms-norm', source: K.rmsNorm, operands: [{ name: 'w', binding: 3 }] };
const ROPE: KernelSpec = { name: 'rope', source: K.sincos + K.rope };
const KV_WRITE: KernelSpec = { name: 'kv-write', source: K.kvWrite };
const ATTENTION: KernelSpec = { name: 'attention', source: K.attention };
const SWIGLU: KernelSpec = { name: 'swiglu', source: K.swiglu };
const ADD: KernelSpec = { name: 'add', source: K.add };
const GATHER: KernelSpec = { name: 'gather-rows', source: K.gatherRows };
const SOFTMAX: KernelSpec = { name: 'softmax', source: K.softmax };
const ARGMAX: KernelSpec = { name: 'argmax', source: K.argmax };
const CONTRAST: KernelSpec = { name: 'contrast', source: K.contrast };

/**
 * The matmul kernels, and the output block (columns × rows) one workgroup of each covers. `rows`
 * (decode.ts, kernels/matmul-vec.wgsl) streams the weight once for up to 8 rows, one invocation
 * per output column and no barriers; `tiled` is a small shared-memory tiling; `large` the
 * register-blocked SGEMM of kernels/matmul-large.wgsl.
 */
const MATMULS = {
  tiled: { spec: MATMUL_TILED, cols: 64, rows: 32 },
  large: { spec: MATMUL_LARGE, cols: 128, rows: 128 },
} as const;
type MatmulKind = keyof typeof MATMULS | 'rows';

/** Which matmul kernel runs: `auto` picks by shape; the others force one at any row count (tests, benches). */
export type MatmulKernel = 'auto' | Exclude<MatmulKind, 'rows'>;

/**
 * Split-K slices for the `large` kernel, measured on an H100 (bench/RESULTS.md): a matrix of fewer
 * than 160 output tiles (128 × 128) gets enough K-slices per tile for ~256 workgroups (132 SMs need
 * ~2 each to hide latency), each slice ≥ 256 of K (16 BK steps), at most 8. At 128 tiles (M = 512,
 * N = 4096) 2 slices gave 1.2× (41 % of fp32 peak), at 80 tiles 3–4 slices 1.07–1.27×, at 64
 * tiles 4 slices 2.1–2.2×; at 200 tiles 2 slices lost 11–15 %. 1 = no split.
 */
export function splitSlices(n: number, N: number, K: number): number {
  const tiles = Math.ceil(n / 128) * Math.ceil(N / 128);
  if (tiles >= 160) return 1;
  return Math.max(1, Math.min(Math.ceil(256 / tiles), Math.floor(K / 256), 8));
}

/**
 * The automatic choice, measured on an H100 (bench/RESULTS.md): the weight-streaming kernel up to
 * 8 rows; `large` (with splitSlices' split-K) once its 128 × 128 tiles number ≥ 64: 2× `tiled` at
 * 64 tiles (M = 256 × N = 4096), 1.3–1.5× at 80 (M = 1200 × N = 960), 2× at 128 and more;
 * `tiled` below, where nothing was measured against it.
 */
export function chooseMatmul(n: number, N: number): MatmulKind {
  if (n <= 8) return 'rows';
  return Math.ceil(n / 128) * Math.ceil(N / 128) >= 64 ? 'large' : 'tiled';
}

export interface WebGPUBackendConfig {
  device: GPUDevice;
  info: BackendInfo;
  /** Weights larger than this many bytes are split by rows into several buffers. */
  maxBindingBytes: number;
  useF16: boolean;
  matmulKernel?: MatmulKernel;
  /** Force the `large` kernel's split-K slice count (1 = no split); default: splitSlices. */
  matmulSplitK?: number;
  /** Bytes per writeBuffer call when uploading weights (memory.ts; tests set it small). */
  uploadPieceBytes?: number;
}

export class WebGPUBackend implements Backend {
  readonly info: BackendInfo;
  readonly device: GPUDevice;
  private readonly rec: Recorder;
  /** Largest storage binding: device limit for activations, possibly capped lower for weights. */
  private readonly maxBinding: number;
  private readonly weightBinding: number;
  private readonly maxBuffer: number;
  private readonly maxGroups: number;
  private readonly useF16: boolean;
  private readonly matmulKernel: MatmulKernel;
  private readonly matmulSplitK: number | undefined;
  /** The split-K partial sums ([slices, n, N] f32), grown on demand. */
  private splitScratch: GPUBuffer | null = null;
  /** Weight bytes placed, pending uploads' error scopes, and the device's first failure. */
  private readonly memory: DeviceMemory;
  private readonly uploadPieceBytes: number | undefined;
  /** The training ops (train.ts), recording into the same encoder. */
  readonly training: WebGPUTraining;
  /** The barrier-free few-row kernels (decode.ts). */
  private readonly decode: WebGPUDecode;

  constructor(cfg: WebGPUBackendConfig) {
    this.device = cfg.device;
    this.info = cfg.info;
    this.rec = new Recorder(cfg.device);
    this.maxBuffer = cfg.device.limits.maxBufferSize;
    this.maxBinding = Math.min(cfg.device.limits.maxStorageBufferBindingSize, this.maxBuffer);
    this.weightBinding = cfg.maxBindingBytes;
    this.maxGroups = cfg.device.limits.maxComputeWorkgroupsPerDimension;
    this.useF16 = cfg.useF16;
    this.matmulKernel = cfg.matmulKernel ?? 'auto';
    this.matmulSplitK = cfg.matmulSplitK;
    this.memory = new DeviceMemory(cfg.device);
    this.uploadPieceBytes = cfg.uploadPieceBytes;
    this.training = new WebGPUTraining(
      this.rec,
      this.device,
      this.maxGroups,
      (t) => this.access(t),
      (x, rows, invFreq, heads, headDim) => this.rotate('ropeBackward', x, rows, invFreq, heads, headDim, -1),
    );
    this.decode = new WebGPUDecode(
      this.rec,
      this.device,
      this.maxGroups,
      (t) => this.access(t),
      (bytes) => this.scratch(bytes),
    );
  }

  /** Dispatches recorded and not yet submitted (for tests and benches). */
  get pendingDispatches(): number {
    return this.rec.dispatches;
  }

  /** Running totals: dispatches, submits, readbacks, bind groups created, submit and wait time. */
  get stats(): Readonly<WebGPUStats> {
    return this.rec.stats;
  }

  /** Pipelines compiled so far; repeated ops must not add any. */
  get pipelineCount(): number {
    return this.rec.pipelineCount;
  }

  private access(t: GPUTensor): Access {
    if (t.dtype === 'f16') return this.useF16 ? 'f16native' : 'f16';
    if (t.dtype === 'bf16') return 'bf16';
    if (t.dtype === 'f32' || isQuantDType(t.dtype)) return t.dtype;
    throw new TypeError(`an i32 tensor cannot be used as a weight`);
  }

  /** Kernels cannot throw, but a bad shader or binding, an out-of-memory or a lost device surface here. */
  private check(): void {
    this.memory.check();
  }

  // ---- memory -------------------------------------------------------------------------------

  createWeight(dtype: WeightDType, shape: readonly number[], bytes: Uint8Array): Tensor {
    return this.memory.guard(`weight [${shape}] ${dtype}`, bytes.byteLength, () =>
      createWeightTensor(this.device, dtype, shape, bytes, this.weightBinding, this.maxBuffer, this.uploadPieceBytes),
    );
  }

  get maxTensorBytes(): number {
    return this.maxBinding;
  }

  createTensor(dtype: 'f32' | 'i32', shape: readonly number[], data?: Float32Array | Int32Array): Tensor {
    const n = sizeOf(shape);
    const size = bufferBytes(dtype, n);
    // Activations and KV caches are one binding each (only weights are split): refused, naming the
    // limit. The model refuses too-long KV caches earlier, with the positions that fit.
    if (size > this.maxBinding)
      throw new LightReasonerError(
        'BAD_INPUT',
        `a [${shape}] ${dtype} tensor (activations or KV cache) needs ${size} bytes (${sizeText(size)}), more than one storage binding of this WebGPU device holds (${this.maxBinding}, its maxStorageBufferBindingSize) — process fewer rows at once (lower --batch-size, shorter prompts or --max-new-tokens), or use --backend wasm`,
      );
    let bytes: Uint8Array = new Uint8Array(0);
    if (data) {
      expect((dtype === 'f32') === data instanceof Float32Array, 'createTensor', `data type does not match dtype ${dtype}`);
      const src = data.subarray(0, n);
      bytes = new Uint8Array(src.buffer, src.byteOffset, src.byteLength);
    }
    return new GPUTensor(dtype, shape, [{ buffer: uploadBuffer(this.device, bytes, size, `${dtype}[${shape}]`), rowStart: 0, rowCount: shape[0] ?? 1 }]);
  }

  write(t: Tensor, data: Float32Array | Int32Array): void {
    const x = g(t);
    expect(data.length <= x.size, 'write', `${data.length} elements into tensor [${x.shape}]`);
    expect((x.dtype === 'f32') === data instanceof Float32Array && (x.dtype === 'f32' || x.dtype === 'i32'), 'write', `data type does not match ${x.dtype}`);
    // queue.writeBuffer runs on the queue timeline, so submit what was recorded first: then the
    // write lands after those ops, as the contract requires.
    this.rec.submit();
    this.device.queue.writeBuffer(x.buffer, 0, data.buffer, data.byteOffset, data.byteLength);
  }

  async read(t: Tensor): Promise<Float32Array | Int32Array> {
    const x = g(t);
    const bytes = x.size * 4;
    expect(x.dtype === 'f32' || x.dtype === 'i32', 'read', `reading ${x.dtype} weights is not supported`);
    const staging = this.device.createBuffer({ label: 'readback', size: Math.max(4, bytes), usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    try {
      if (bytes > 0) this.rec.copy(x.buffer, 0, staging, 0, bytes);
      this.rec.submit();
      const t0 = performance.now();
      await staging.mapAsync(GPUMapMode.READ);
      this.rec.stats.readbacks++;
      this.rec.stats.waitMs += performance.now() - t0;
      this.check();
      const copy = staging.getMappedRange(0, bytes).slice(0);
      staging.unmap();
      return x.dtype === 'f32' ? new Float32Array(copy) : new Int32Array(copy);
    } finally {
      staging.destroy();
    }
  }

  view(t: Tensor, shape: readonly number[]): Tensor {
    const x = g(t);
    const n = sizeOf(shape);
    expect(n <= x.size, 'view', `[${shape}] larger than tensor [${x.shape}]`);
    return new GPUTensor(x.dtype, shape, x.chunks, x.base ?? x);
  }

  /** Also waits for weight uploads, so their staging is freed and an out-of-memory surfaces here. */
  async flush(): Promise<void> {
    this.rec.submit();
    await this.device.queue.onSubmittedWorkDone();
    await this.memory.settle();
    this.check();
  }

  dispose(t: Tensor): void {
    const x = g(t);
    if (x.base) return; // a view: the storage belongs to its base tensor
    for (const c of x.chunks) this.rec.release(c.buffer);
  }

  destroy(): void {
    this.rec.destroy();
    this.device.destroy();
  }

  // ---- ops ----------------------------------------------------------------------------------

  embedding(ids: Tensor, table: Tensor, out: Tensor, scale = 1): void {
    expect(Number.isFinite(scale), 'embedding', `scale ${scale} is not finite`);
    const tab = g(table),
      H = lastDim(table),
      n = ids.size;
    expect(ids.dtype === 'i32', 'embedding', 'ids must be i32');
    expectF32('embedding', out);
    expect(tab.shape.length === 2 && out.size === n * H && lastDim(out) === H, 'embedding', `ids [${ids.shape}], table [${tab.shape}] → out [${out.shape}]`);
    if (n === 0) return;
    const pipe = this.rec.pipeline(EMBEDDING, [this.access(tab)]);
    for (const c of tab.chunks) {
      this.rec.dispatch(
        pipe,
        pack('uuuuf', n, H, c.rowStart, c.rowCount, scale),
        [
          { binding: 1, buffer: g(out).buffer, write: true },
          { binding: 2, buffer: g(ids).buffer },
          { binding: 3, buffer: c.buffer },
        ],
        [Math.ceil(H / 64), n],
      );
    }
  }

  rmsNorm(x: Tensor, weight: Tensor, eps: number, out: Tensor): void {
    const H = lastDim(x),
      n = rowsOf(x),
      w = g(weight);
    expectF32('rmsNorm', x, out);
    expect(out.size === x.size && lastDim(out) === H && w.size === H, 'rmsNorm', `x [${x.shape}], weight [${w.shape}], out [${out.shape}]`);
    if (n === 0) return;
    if (this.decode.rmsNorm(x, w, eps, out)) return;
    this.rec.dispatch(
      this.rec.pipeline(RMS_NORM, [this.access(w)]),
      pack('uf', H, eps),
      [
        { binding: 1, buffer: g(out).buffer, write: true },
        { binding: 2, buffer: g(x).buffer },
        { binding: 3, buffer: w.buffer },
      ],
      [n],
    );
  }

  matmul(x: Tensor, w: Tensor, bias: Tensor | null, out: Tensor): void {
    const wt = g(w),
      K = lastDim(x),
      n = rowsOf(x),
      N = wt.shape[0];
    this.checkMatmul('matmul', x, wt, bias, out);
    if (n === 0 || N === 0) return;
    const b = bias ? g(bias) : null;
    const kind = this.matmulKernel !== 'auto' ? this.matmulKernel : chooseMatmul(n, N);
    if (kind === 'rows' && this.decode.matmul(g(x), wt, b, g(out))) return;
    const { spec, cols, rows: rowsPerGroup } = MATMULS[kind === 'rows' ? 'tiled' : kind];
    const pipe = this.rec.pipeline(spec, ['f32', this.access(wt), b ? this.access(b) : 'none']);
    // K per slice is a multiple of the kernel's BK = 16; rounding up can leave fewer slices.
    const kSlice = Math.ceil(Math.ceil(K / (kind === 'large' ? this.sliceCount(n, N, K) : 1)) / 16) * 16;
    const slices = Math.ceil(K / kSlice);
    const target = slices > 1 ? this.scratch(slices * n * N * 4) : g(out).buffer;
    for (const c of wt.chunks) {
      // A view of a larger f32 tensor (e.g. LoRA A/B) keeps its base's chunk: use the view's rows.
      const rowCount = Math.min(c.rowCount, N - c.rowStart);
      if (rowCount <= 0) continue;
      const bindings = [
        { binding: 1, buffer: target, write: true },
        { binding: 2, buffer: g(x).buffer },
        { binding: 3, buffer: c.buffer },
      ];
      if (b) bindings.push({ binding: 4, buffer: b.buffer });
      const groups: [number, number, number] = [Math.ceil(rowCount / cols), Math.ceil(n / rowsPerGroup), slices];
      const params =
        kind === 'large' ? pack('uuuuuuu', n, K, c.rowStart, rowCount, N, kSlice, slices > 1 ? n * N : 0) : pack('uuuuu', n, K, c.rowStart, rowCount, N);
      this.rec.dispatch(pipe, params, bindings, groups);
      if (slices > 1) {
        this.rec.dispatch(
          this.rec.pipeline(SUM_SLICES),
          pack('uuuuuu', n, c.rowStart, rowCount, N, slices, n * N),
          [
            { binding: 1, buffer: g(out).buffer, write: true },
            { binding: 2, buffer: target },
          ],
          grid1d(n * rowCount, 64, this.maxGroups),
        );
      }
    }
  }

  private checkMatmul(op: string, x: Tensor, wt: GPUTensor, bias: Tensor | null, out: Tensor): void {
    const K = lastDim(x),
      n = rowsOf(x),
      N = wt.shape[0];
    expectF32(op, x, out);
    expect(wt.shape.length === 2 && lastDim(wt) === K && lastDim(out) === N && out.size === n * N, op, `shapes [${x.shape}]·[${wt.shape}]ᵀ → [${out.shape}]`);
    expect(!bias || bias.size === N, op, `bias [${bias?.shape}] for ${N} outputs`);
  }

  linearFused(x: Tensor, w: Tensor, bias: Tensor | null, out: Tensor, fuse: LinearFusion): boolean {
    const wt = g(w);
    this.checkMatmul('linearFused', x, wt, bias, out);
    const norm = fuse.norm ? g(fuse.norm.weight) : null;
    expect(!norm || norm.size === lastDim(x), 'linearFused', `norm weight [${norm?.shape}] for rows of ${lastDim(x)}`);
    expect(!fuse.accumulate || g(out).buffer !== g(x).buffer, 'linearFused', 'out cannot be x when accumulating');
    const up = fuse.up ? g(fuse.up) : null;
    expect(
      !up || (up.shape.join() === wt.shape.join() && !fuse.accumulate),
      'linearFused',
      `up [${up?.shape}] must have w's shape [${wt.shape}] (and no accumulate)`,
    );
    if (this.matmulKernel !== 'auto' || rowsOf(x) === 0 || wt.shape[0] === 0 || chooseMatmul(rowsOf(x), wt.shape[0]) !== 'rows') return false;
    expect(
      !fuse.activation || fuse.activation === 'silu' || fuse.activation === 'gelu_tanh',
      'linearFused',
      `activation ${String(fuse.activation)} (want silu or gelu_tanh)`,
    );
    return this.decode.matmul(g(x), wt, bias ? g(bias) : null, g(out), {
      norm: norm ? { weight: norm, eps: fuse.norm!.eps } : undefined,
      accumulate: fuse.accumulate,
      up: up ?? undefined,
      activation: fuse.activation,
    });
  }

  qkvFused(x: Tensor, norm: { weight: Tensor; eps: number }, w: QKVWeights, q: Tensor, k: Tensor, v: Tensor): boolean {
    const ws = { q: g(w.q), k: g(w.k), v: g(w.v), qBias: w.qBias ? g(w.qBias) : null, kBias: w.kBias ? g(w.kBias) : null, vBias: w.vBias ? g(w.vBias) : null };
    this.checkMatmul('qkvFused q', x, ws.q, w.qBias, q);
    this.checkMatmul('qkvFused k', x, ws.k, w.kBias, k);
    this.checkMatmul('qkvFused v', x, ws.v, w.vBias, v);
    expect(g(norm.weight).size === lastDim(x), 'qkvFused', `norm weight [${norm.weight.shape}] for rows of ${lastDim(x)}`);
    if (this.matmulKernel !== 'auto' || rowsOf(x) === 0) return false;
    return this.decode.qkv(g(x), { weight: g(norm.weight), eps: norm.eps }, ws, [g(q), g(k), g(v)]);
  }

  ropeKvWrite(q: Tensor, k: Tensor, v: Tensor, kCache: Tensor, vCache: Tensor, rows: Rows, invFreq: Tensor, heads: number): void {
    this.decode.ropeKvWrite(q, k, v, kCache, vCache, rows, invFreq, heads);
  }

  /** Split-K slices for a `large` matmul: forced, or splitSlices, within one storage binding. */
  private sliceCount(n: number, N: number, K: number): number {
    const want = Math.max(1, Math.min(this.matmulSplitK ?? splitSlices(n, N, K), Math.ceil(K / 16)));
    return Math.max(1, Math.min(want, Math.floor(this.maxBinding / (n * N * 4))));
  }

  /** The split-K scratch buffer, at least `bytes` long (the old one is released after its uses). */
  private scratch(bytes: number): GPUBuffer {
    if (!this.splitScratch || this.splitScratch.size < bytes) {
      if (this.splitScratch) this.rec.release(this.splitScratch);
      this.splitScratch = this.device.createBuffer({ label: 'split-K partials', size: bytes, usage: GPUBufferUsage.STORAGE });
    }
    return this.splitScratch;
  }

  rope(x: Tensor, rows: Rows, invFreq: Tensor, heads: number, headDim: number): void {
    this.rotate('rope', x, rows, invFreq, heads, headDim, 1);
  }

  /** rope (direction 1) and its backward, the rotation by −θ (direction −1): one kernel. */
  private rotate(op: string, x: Tensor, rows: Rows, invFreq: Tensor, heads: number, headDim: number, direction: 1 | -1): void {
    const n = rows.shape[0];
    expectF32(op, x, invFreq);
    expect(rows.dtype === 'i32' && rows.size === n * 2, op, `rows must be i32 [n, 2], got [${rows.shape}]`);
    expect(
      headDim % 2 === 0 && x.size === n * heads * headDim && invFreq.size === headDim / 2,
      op,
      `x [${x.shape}] as [${n}, ${heads}, ${headDim}], invFreq [${invFreq.shape}]`,
    );
    const count = n * heads * (headDim / 2);
    if (count === 0) return;
    this.rec.dispatch(
      this.rec.pipeline(ROPE),
      pack('uuuf', n, heads, headDim / 2, direction),
      [
        { binding: 1, buffer: g(x).buffer, write: true },
        { binding: 2, buffer: g(rows).buffer },
        { binding: 3, buffer: g(invFreq).buffer },
      ],
      grid1d(count, 64, this.maxGroups),
    );
  }

  kvWrite(k: Tensor, v: Tensor, kCache: Tensor, vCache: Tensor, rows: Rows): void {
    const n = rows.shape[0];
    expectF32('kvWrite', k, v, kCache, vCache);
    expect(kCache.shape.length === 4 && vCache.shape.join() === kCache.shape.join(), 'kvWrite', `caches [${kCache.shape}] and [${vCache.shape}]`);
    const [slots, kvHeads, maxT, headDim] = kCache.shape;
    expect(rows.dtype === 'i32' && rows.size === n * 2, 'kvWrite', `rows must be i32 [n, 2], got [${rows.shape}]`);
    expect(k.size === n * kvHeads * headDim && v.size === k.size, 'kvWrite', `k [${k.shape}], v [${v.shape}] for ${n} rows of ${kvHeads}×${headDim}`);
    expect(g(kCache).buffer !== g(vCache).buffer, 'kvWrite', 'kCache and vCache must be distinct tensors');
    if (k.size === 0) return;
    this.rec.dispatch(
      this.rec.pipeline(KV_WRITE),
      pack('uuuuu', n, kvHeads, maxT, headDim, slots),
      [
        { binding: 1, buffer: g(kCache).buffer, write: true },
        { binding: 2, buffer: g(vCache).buffer, write: true },
        { binding: 3, buffer: g(k).buffer },
        { binding: 4, buffer: g(v).buffer },
        { binding: 5, buffer: g(rows).buffer },
      ],
      grid1d(k.size, 64, this.maxGroups),
    );
  }

  attention(q: Tensor, kCache: Tensor, vCache: Tensor, rows: Rows, out: Tensor, heads: number, scale: number, window = 0): void {
    const n = rows.shape[0];
    expectF32('attention', q, kCache, vCache, out);
    expect(kCache.shape.length === 4 && vCache.shape.join() === kCache.shape.join(), 'attention', `caches [${kCache.shape}] and [${vCache.shape}]`);
    const [slots, kvHeads, maxT, headDim] = kCache.shape;
    expect(headDim % 4 === 0 && headDim <= 256, 'attention', `headDim ${headDim} unsupported (needs a multiple of 4, at most 256)`);
    expect(Number.isInteger(window) && window >= 0, 'attention', `window ${window} must be an integer ≥ 0`);
    expect(kvHeads > 0 && heads % kvHeads === 0, 'attention', `${heads} heads cannot share ${kvHeads} KV heads`);
    expect(rows.dtype === 'i32' && rows.size === n * 2, 'attention', `rows must be i32 [n, 2], got [${rows.shape}]`);
    expect(q.size === n * heads * headDim && out.size === q.size, 'attention', `q [${q.shape}], out [${out.shape}] for ${n} rows of ${heads}×${headDim}`);
    if (q.size === 0) return;
    if (this.decode.attention(q, kCache, vCache, rows, out, heads, scale, window)) return;
    this.rec.dispatch(
      this.rec.pipeline(ATTENTION),
      pack('uuuuufu', heads, kvHeads, maxT, headDim, slots, scale, window),
      [
        { binding: 1, buffer: g(out).buffer, write: true },
        { binding: 2, buffer: g(q).buffer },
        { binding: 3, buffer: g(kCache).buffer },
        { binding: 4, buffer: g(vCache).buffer },
        { binding: 5, buffer: g(rows).buffer },
      ],
      [heads, n],
    );
  }

  glu(gate: Tensor, up: Tensor, out: Tensor, activation: GluActivation): void {
    expect(activation === 'silu' || activation === 'gelu_tanh', 'glu', `activation ${String(activation)} (want silu or gelu_tanh)`);
    expectF32('glu', gate, up, out);
    expect(gate.size === out.size && up.size === out.size, 'glu', `gate [${gate.shape}], up [${up.shape}], out [${out.shape}]`);
    if (out.size === 0) return;
    this.rec.dispatch(
      this.rec.pipeline(SWIGLU),
      pack('uu', out.size, activation === 'gelu_tanh' ? 1 : 0),
      [
        { binding: 1, buffer: g(out).buffer, write: true },
        { binding: 2, buffer: g(gate).buffer },
        { binding: 3, buffer: g(up).buffer },
      ],
      grid1d(out.size, 64, this.maxGroups),
    );
  }

  addInPlace(x: Tensor, y: Tensor): void {
    expectF32('addInPlace', x, y);
    expect(x.size === y.size, 'addInPlace', `x [${x.shape}], y [${y.shape}]`);
    if (x.size === 0) return;
    this.rec.dispatch(
      this.rec.pipeline(ADD),
      pack('u', x.size),
      [
        { binding: 1, buffer: g(x).buffer, write: true },
        { binding: 2, buffer: g(y).buffer },
      ],
      grid1d(x.size, 64, this.maxGroups),
    );
  }

  gatherRows(x: Tensor, index: Tensor, out: Tensor): void {
    const H = lastDim(x),
      m = index.size;
    expectF32('gatherRows', x, out);
    expect(index.dtype === 'i32' && out.size === m * H && lastDim(out) === H, 'gatherRows', `x [${x.shape}], index [${index.shape}], out [${out.shape}]`);
    if (out.size === 0) return;
    this.rec.dispatch(
      this.rec.pipeline(GATHER),
      pack('uuu', m, H, rowsOf(x)),
      [
        { binding: 1, buffer: g(out).buffer, write: true },
        { binding: 2, buffer: g(x).buffer },
        { binding: 3, buffer: g(index).buffer },
      ],
      [Math.ceil(H / 64), m],
    );
  }

  softmax(x: Tensor, out: Tensor): void {
    expectF32('softmax', x, out);
    const V = lastDim(x);
    expect(out.size === x.size && lastDim(out) === V, 'softmax', `x [${x.shape}], out [${out.shape}]`);
    if (x.size === 0) return;
    this.rec.dispatch(
      this.rec.pipeline(SOFTMAX),
      pack('u', V),
      [
        { binding: 1, buffer: g(out).buffer, write: true },
        { binding: 2, buffer: g(x).buffer },
      ],
      [rowsOf(x)],
    );
  }

  argmax(x: Tensor, out: Tensor): void {
    expectF32('argmax', x);
    expect(out.dtype === 'i32' && out.size === rowsOf(x), 'argmax', `x [${x.shape}], out [${out.shape}] (i32, one per row)`);
    if (x.size === 0) return;
    if (this.decode.argmax(x, out)) return;
    this.rec.dispatch(
      this.rec.pipeline(ARGMAX),
      pack('u', lastDim(x)),
      [
        { binding: 1, buffer: g(out).buffer, write: true },
        { binding: 2, buffer: g(x).buffer },
      ],
      [rowsOf(x)],
    );
  }

  /**
   * One workgroup per row (kernels/contrast.wgsl): only stats and the K labels are written, the
   * vocabulary-sized rows stay on the GPU. Computed in f32 with ln p = (x − max) − ln Σ and
   * ln(p + ε) as logaddexp(ln p, ln ε); the mask is tested in log space, (x − max_{j<n} x) ≥ ln α.
   * (Unlike the f64 reference, whose mask becomes every shared id when all shared pE underflow to
   * 0, the log-space mask stays relative to the shared maximum; no real logits get there.)
   */
  contrast(expert: Tensor, amateur: Tensor, shared: number, alpha: number, stats: Tensor, labelIds: Tensor, labelWeights: Tensor): void {
    const Ve = lastDim(expert),
      Va = lastDim(amateur),
      m = rowsOf(expert),
      K = lastDim(labelIds);
    expectF32('contrast', expert, amateur, stats, labelWeights);
    expect(labelIds.dtype === 'i32', 'contrast', 'labelIds must be i32');
    expect(rowsOf(amateur) === m, 'contrast', `expert [${expert.shape}] and amateur [${amateur.shape}] need the same number of rows`);
    expect(Number.isInteger(shared) && shared >= 0 && shared <= Ve && shared <= Va, 'contrast', `shared vocabulary ${shared} exceeds ${Ve} / ${Va}`);
    expect(!Number.isNaN(alpha), 'contrast', 'alpha is NaN');
    expect(stats.size === m * 2 && lastDim(stats) === 2, 'contrast', `stats [${stats.shape}] for ${m} rows (want [${m}, 2])`);
    expect(
      labelIds.size === m * K && labelWeights.size === m * K && lastDim(labelWeights) === K,
      'contrast',
      `labelIds [${labelIds.shape}], labelWeights [${labelWeights.shape}] for ${m} rows`,
    );
    const outs = [g(stats).buffer, g(labelIds).buffer, g(labelWeights).buffer];
    expect(new Set(outs).size === 3, 'contrast', 'stats, labelIds and labelWeights must be distinct tensors');
    expect(m <= this.maxGroups, 'contrast', `${m} rows exceed ${this.maxGroups} workgroups`);
    if (m === 0) return;
    // ln α in f32, kept finite (WGSL may assume no infinities): α ≤ 0 masks every shared id, α > 1 none.
    const lnAlpha = alpha > 0 ? Math.min(Math.max(Math.log(alpha), -3e38), 3e38) : -3e38;
    this.rec.dispatch(
      this.rec.pipeline(CONTRAST),
      pack('uuuuf', Ve, Va, shared, K, lnAlpha),
      [
        { binding: 1, buffer: outs[0], write: true },
        { binding: 2, buffer: outs[1], write: true },
        { binding: 3, buffer: outs[2], write: true },
        { binding: 4, buffer: g(expert).buffer },
        { binding: 5, buffer: g(amateur).buffer },
      ],
      [m],
    );
  }

  // ---- element-wise helpers (their kernels sit with the training ops in train.ts) ---------------

  fill(x: Tensor, value: number): void {
    this.training.fill(x, value);
  }
  axpy(x: Tensor, y: Tensor, alpha: number): void {
    this.training.axpy(x, y, alpha);
  }
  sumSquares(x: Tensor, out: Tensor): void {
    this.training.sumSquares(x, out);
  }
}
