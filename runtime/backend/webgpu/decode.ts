// The decode paths of the WebGPU backend (a few rows at a time): kernels without workgroup memory
// or barriers, which software GPUs (SwiftShader runs a workgroup's invocations as coroutines and
// switches at every barrier) and hardware alike run in one pass. Each returns false when the
// shape is not a decode shape, and the caller runs its general kernel instead.

import * as K from '../../generated/kernels.ts';
import type { GluActivation, Rows, Tensor } from '../types.ts';
import { type Access, type KernelSpec, type Recorder, grid1d, pack } from './recorder.ts';
import { expect, expectF32, g, lastDim, rowsOf } from './shapes.ts';
import type { GPUTensor } from './tensor.ts';

const VEC_OPERANDS = ['x', 'w', 'b', 'g', 'u', 't', 'bk', 'bv'].map((name, i) => ({ name, binding: [2, 3, 4, 5, 6, 9, 10, 11][i] }));
const NO_QKV = 'fn store_qkv(part: u32, r: u32, col: u32, v: f32) {}';
const STORE_QKV = `@group(0) @binding(7) var<storage, read_write> outK: array<f32>;
@group(0) @binding(8) var<storage, read_write> outV: array<f32>;
fn store_qkv(part: u32, r: u32, col: u32, v: f32) {
  if (part == 0u) { out[r * p.nq + col] = v; } else if (part == 1u) { outK[r * p.nk + col] = v; } else { outV[r * p.nk + col] = v; }
}`;
const vecSpec = (name: string, glu: boolean, qkv: boolean, gelu = false): KernelSpec => ({
  name,
  source: `const GLU = ${glu};\nconst QKV = ${qkv};\nconst GELU = ${gelu};\n${qkv ? STORE_QKV : NO_QKV}\n${K.matmulVec}`,
  operands: VEC_OPERANDS,
});
const MATMUL_VEC = vecSpec('matmul-vec', false, false);
/** matmul-vec with the SwiGLU epilogue: gate and up projections in one pass. */
const MATMUL_VEC_GLU = vecSpec('matmul-vec-glu', true, false);
/** The same with the gelu_tanh activation (Gemma's GeGLU). */
const MATMUL_VEC_GEGLU = vecSpec('matmul-vec-geglu', true, false, true);
/** matmul-vec over q, k and v side by side: a layer's three projections in one pass. */
const MATMUL_VEC_QKV = vecSpec('matmul-vec-qkv', false, true);
/** Storage bindings the QKV pass needs (three outputs, x, three weights, three biases, the norm). */
const QKV_BINDINGS = 11;
/** attention-decode with q and the output in D4_MAX vec4 registers: headDim ≤ 128, or ≤ 256. */
const ATTENTION_DECODE: KernelSpec = { name: 'attention-decode', source: `const D4_MAX = 32;\n${K.attentionDecode}` };
const ATTENTION_DECODE_256: KernelSpec = { name: 'attention-decode-256', source: `const D4_MAX = 64;\n${K.attentionDecode}` };
const ATTENTION_COMBINE: KernelSpec = { name: 'attention-combine', source: K.attentionCombine };
const RMS_NORM_ROWS: KernelSpec = { name: 'rms-norm-rows', source: K.rmsNormRows, operands: [{ name: 'w', binding: 3 }] };
const ARGMAX_ROWS: KernelSpec = { name: 'argmax-rows', source: K.argmaxRows };
const ROPE_KV_WRITE: KernelSpec = { name: 'rope-kv-write', source: K.sincos + K.ropeKvWrite };

/** Rows a decode kernel takes at once (matmul-vec keeps one accumulator per row in registers). */
const DECODE_ROWS = 8;
/** Cache positions per split of attention decode; one split (no second pass) up to this length. */
const ATTENTION_CHUNK = 256;
/** Longest row the one-invocation-per-element RMSNorm takes (each invocation reads its whole row). */
const NORM_ROW_MAX = 1024;
/** Longest row the one-invocation-per-row argmax takes. */
const ARGMAX_ROW_MAX = 8192;

/**
 * Split-K slices for matmul-vec: enough that N columns × slices keep ~8k invocations busy on a
 * hardware GPU, each slice ≥ 256 of K, at most 8 (the second pass reads every slice). Shapes of
 * the tiny models of the tests (K ≤ 511) never split.
 */
function vecSlices(N: number, K: number): number {
  return Math.max(1, Math.min(Math.ceil(8192 / N), Math.floor(K / 256), 8));
}

/** What matmul-vec fuses around the product: the RMSNorm of x before it, a residual add or the
 * gated MLP with a second weight (`up`, w's shape, no bias) after, its activation silu (default)
 * or gelu_tanh. */
export interface VecFusion {
  norm?: { weight: GPUTensor; eps: number };
  accumulate?: boolean;
  up?: GPUTensor;
  activation?: GluActivation;
}

/** A layer's q, k and v projections with their (all present or all absent) biases. */
export interface QKVTensors {
  q: GPUTensor;
  k: GPUTensor;
  v: GPUTensor;
  qBias: GPUTensor | null;
  kBias: GPUTensor | null;
  vBias: GPUTensor | null;
}

export class WebGPUDecode {
  private attentionScratch: GPUBuffer | null = null;

  constructor(
    private readonly rec: Recorder,
    private readonly device: GPUDevice,
    private readonly maxGroups: number,
    private readonly access: (t: GPUTensor) => Access,
    /** The backend's split-K scratch, shared with its large matmul: at least `bytes` long. */
    private readonly splitScratch: (bytes: number) => GPUBuffer,
  ) {}

  /** out (+)= x' · wᵀ + bias for n ≤ 8 rows, x' = x or its RMSNorm. Shapes checked by the caller. */
  matmul(x: GPUTensor, wt: GPUTensor, b: GPUTensor | null, out: GPUTensor, fuse: VecFusion = {}): boolean {
    const Kd = lastDim(x),
      n = rowsOf(x),
      N = wt.shape[0];
    if (n > DECODE_ROWS) return false;
    const norm = fuse.norm ?? null,
      up = fuse.up ?? null;
    if (up && (b || up.chunks.length !== wt.chunks.length)) return false;
    const spec = !up ? MATMUL_VEC : fuse.activation === 'gelu_tanh' ? MATMUL_VEC_GEGLU : MATMUL_VEC_GLU;
    const pipe = this.rec.pipeline(spec, [
      'f32',
      this.access(wt),
      b ? this.access(b) : 'none',
      norm ? this.access(norm.weight) : 'none',
      up ? this.access(up) : 'none',
      'none',
      'none',
      'none',
    ]);
    // The epilogues (a residual add, SwiGLU) need whole sums: one slice.
    const slices = fuse.accumulate || up ? 1 : vecSlices(N, Kd);
    const kSlice = Math.ceil(Math.ceil(Kd / slices) / 4) * 4;
    const used = Math.ceil(Kd / kSlice);
    const target = used > 1 ? this.splitScratch(used * n * N * 4) : out.buffer;
    for (const [ci, c] of wt.chunks.entries()) {
      const rowCount = Math.min(c.rowCount, N - c.rowStart);
      if (rowCount <= 0) continue;
      const bindings = [
        { binding: 1, buffer: target, write: true },
        { binding: 2, buffer: x.buffer },
        { binding: 3, buffer: c.buffer },
      ];
      if (b) bindings.push({ binding: 4, buffer: b.buffer });
      if (norm) bindings.push({ binding: 5, buffer: norm.weight.buffer });
      if (up) bindings.push({ binding: 6, buffer: up.chunks[ci].buffer });
      const params = pack(
        'uuuuuuuufuuu',
        n,
        Kd,
        c.rowStart,
        rowCount,
        N,
        kSlice,
        used > 1 ? n * N : 0,
        norm ? 1 : 0,
        norm?.eps ?? 0,
        fuse.accumulate ? 1 : 0,
        0,
        0,
      );
      this.rec.dispatch(pipe, params, bindings, [Math.ceil(rowCount / 64), used]);
      if (used > 1) {
        this.rec.dispatch(
          this.rec.pipeline({ name: 'sum-slices', source: K.sumSlices }),
          pack('uuuuuu', n, c.rowStart, rowCount, N, used, n * N),
          [
            { binding: 1, buffer: out.buffer, write: true },
            { binding: 2, buffer: target },
          ],
          grid1d(n * rowCount, 64, this.maxGroups),
        );
      }
    }
    return true;
  }

  /**
   * q, k, v = x' · [wq; wk; wv]ᵀ + biases in one pass (x' = RMSNorm(x)), for n ≤ 8 rows of
   * unchunked weights where the device allows 11 storage bindings; false otherwise.
   */
  qkv(x: GPUTensor, norm: { weight: GPUTensor; eps: number }, w: QKVTensors, out: [GPUTensor, GPUTensor, GPUTensor]): boolean {
    const Kd = lastDim(x),
      n = rowsOf(x),
      nq = w.q.shape[0],
      nk = w.k.shape[0];
    const weights = [w.q, w.k, w.v],
      biases = [w.qBias, w.kBias, w.vBias];
    if (n > DECODE_ROWS || this.device.limits.maxStorageBuffersPerShaderStage < QKV_BINDINGS) return false;
    if (weights.some((t) => t.chunks.length !== 1) || w.v.shape[0] !== nk || biases.some((b) => (b === null) !== (w.qBias === null))) return false;
    const bAccess = biases.map((b) => (b ? this.access(b) : 'none'));
    const pipe = this.rec.pipeline(MATMUL_VEC_QKV, [
      'f32',
      this.access(w.q),
      bAccess[0],
      this.access(norm.weight),
      this.access(w.k),
      this.access(w.v),
      bAccess[1],
      bAccess[2],
    ]);
    const cols = nq + 2 * nk;
    const bindings = [
      { binding: 1, buffer: out[0].buffer, write: true },
      { binding: 7, buffer: out[1].buffer, write: true },
      { binding: 8, buffer: out[2].buffer, write: true },
      { binding: 2, buffer: x.buffer },
      { binding: 3, buffer: w.q.buffer },
      { binding: 6, buffer: w.k.buffer },
      { binding: 9, buffer: w.v.buffer },
      { binding: 5, buffer: norm.weight.buffer },
    ];
    biases.forEach((b, i) => {
      if (b) bindings.push({ binding: [4, 10, 11][i], buffer: b.buffer });
    });
    this.rec.dispatch(pipe, pack('uuuuuuuufuuu', n, Kd, 0, cols, cols, Kd + 4, 0, 1, norm.eps, 0, nq, nk), bindings, [Math.ceil(cols / 64), 1]);
    return true;
  }

  /**
   * Attention for n ≤ 8 rows: one invocation per (row, head, split), splits merged by a second
   * pass. Splits cover the positions a row can see, from the start of its window: maxT of them,
   * or at most `window` with a sliding window (rows' positions live on the GPU, so the count
   * cannot depend on them).
   */
  attention(q: Tensor, kCache: Tensor, vCache: Tensor, rows: Rows, out: Tensor, heads: number, scale: number, window = 0): boolean {
    const n = rows.shape[0];
    if (n > DECODE_ROWS) return false;
    const [slots, kvHeads, maxT, headDim] = kCache.shape;
    const splits = Math.ceil((window > 0 ? Math.min(window, maxT) : maxT) / ATTENTION_CHUNK);
    const partials = splits > 1 ? this.partials(n * heads * splits * (headDim + 2) * 4) : g(out).buffer;
    const spec = headDim <= 128 ? ATTENTION_DECODE : ATTENTION_DECODE_256;
    this.rec.dispatch(
      this.rec.pipeline(spec),
      pack('uuuuufuuuu', heads, kvHeads, maxT, headDim, slots, scale, n, splits, ATTENTION_CHUNK, window),
      [
        { binding: 1, buffer: partials, write: true },
        { binding: 2, buffer: g(q).buffer },
        { binding: 3, buffer: g(kCache).buffer },
        { binding: 4, buffer: g(vCache).buffer },
        { binding: 5, buffer: g(rows).buffer },
      ],
      grid1d(n * heads * splits, 64, this.maxGroups),
    );
    if (splits > 1) {
      this.rec.dispatch(
        this.rec.pipeline(ATTENTION_COMBINE),
        pack('uuuu', n, heads, headDim, splits),
        [
          { binding: 1, buffer: g(out).buffer, write: true },
          { binding: 2, buffer: partials },
        ],
        grid1d(n * heads * headDim, 64, this.maxGroups),
      );
    }
    return true;
  }

  rmsNorm(x: Tensor, w: GPUTensor, eps: number, out: Tensor): boolean {
    const H = lastDim(x),
      n = rowsOf(x);
    if (n > DECODE_ROWS || H > NORM_ROW_MAX) return false;
    this.rec.dispatch(
      this.rec.pipeline(RMS_NORM_ROWS, [this.access(w)]),
      pack('ufu', H, eps, n),
      [
        { binding: 1, buffer: g(out).buffer, write: true },
        { binding: 2, buffer: g(x).buffer },
        { binding: 3, buffer: w.buffer },
      ],
      grid1d(n * H, 64, this.maxGroups),
    );
    return true;
  }

  argmax(x: Tensor, out: Tensor): boolean {
    const V = lastDim(x),
      n = rowsOf(x);
    if (V > ARGMAX_ROW_MAX) return false;
    this.rec.dispatch(
      this.rec.pipeline(ARGMAX_ROWS),
      pack('uu', V, n),
      [
        { binding: 1, buffer: g(out).buffer, write: true },
        { binding: 2, buffer: g(x).buffer },
      ],
      grid1d(n, 64, this.maxGroups),
    );
    return true;
  }

  /** rope(q), rope(k) and kvWrite(k, v) in one pass (kernels/rope-kv-write.wgsl). */
  ropeKvWrite(q: Tensor, k: Tensor, v: Tensor, kCache: Tensor, vCache: Tensor, rows: Rows, invFreq: Tensor, heads: number): void {
    const n = rows.shape[0];
    const [slots, kvHeads, maxT, headDim] = kCache.shape;
    expectF32('ropeKvWrite', q, k, v, kCache, vCache, invFreq);
    expect(
      kCache.shape.length === 4 && vCache.shape.join() === kCache.shape.join() && g(kCache).buffer !== g(vCache).buffer,
      'ropeKvWrite',
      `caches [${kCache.shape}] and [${vCache.shape}] (distinct)`,
    );
    expect(rows.dtype === 'i32' && rows.size === n * 2, 'ropeKvWrite', `rows must be i32 [n, 2], got [${rows.shape}]`);
    expect(
      headDim % 2 === 0 && q.size === n * heads * headDim && k.size === n * kvHeads * headDim && v.size === k.size && invFreq.size === headDim / 2,
      'ropeKvWrite',
      `q [${q.shape}], k [${k.shape}], v [${v.shape}] for ${n} rows of ${heads}/${kvHeads} heads × ${headDim}`,
    );
    if (n === 0) return;
    this.rec.dispatch(
      this.rec.pipeline(ROPE_KV_WRITE),
      pack('uuuuuu', n, heads, kvHeads, headDim / 2, maxT, slots),
      [
        { binding: 1, buffer: g(q).buffer, write: true },
        { binding: 2, buffer: g(k).buffer, write: true },
        { binding: 3, buffer: g(kCache).buffer, write: true },
        { binding: 4, buffer: g(vCache).buffer, write: true },
        { binding: 5, buffer: g(v).buffer },
        { binding: 6, buffer: g(rows).buffer },
        { binding: 7, buffer: g(invFreq).buffer },
      ],
      grid1d(n * (heads + kvHeads) * (headDim / 2), 64, this.maxGroups),
    );
  }

  private partials(bytes: number): GPUBuffer {
    if (!this.attentionScratch || this.attentionScratch.size < bytes) {
      if (this.attentionScratch) this.rec.release(this.attentionScratch);
      this.attentionScratch = this.device.createBuffer({ label: 'attention partials', size: bytes, usage: GPUBufferUsage.STORAGE });
    }
    return this.attentionScratch;
  }
}
