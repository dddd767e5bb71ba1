// The WebGPU backend's training ops (TrainingOps in ../types.ts): backward passes, LoRA weight
// gradients, the soft-label loss, dropout and AdamW. WebGPUBackend exposes one WebGPUTraining as its
// `training` (and calls its fill, axpy and sumSquares, which are core Backend ops); ops record
// dispatches into the same recorder, so a whole training step is still one submit. Shapes are checked here on the CPU as in backend.ts.

import * as K from '../../generated/kernels.ts';
import type { AdamWStep, GluActivation, Rows, Tensor, TrainingOps } from '../types.ts';
import { type Access, type KernelSpec, type Recorder, grid1d, pack } from './recorder.ts';
import { expect, expectF32, g, lastDim, rowsOf } from './shapes.ts';
import type { GPUTensor } from './tensor.ts';

const FILL: KernelSpec = { name: 'fill', source: K.fill };
const AXPY: KernelSpec = { name: 'axpy', source: K.axpy };
const MATMUL_NN: KernelSpec = {
  name: 'matmul-nn',
  source: K.matmulNn,
  operands: [
    { name: 'x', binding: 2 },
    { name: 'w', binding: 3 },
  ],
};
const MATMUL_TN: KernelSpec = { name: 'matmul-tn', source: K.matmulTn };
const RMS_NORM_BACKWARD: KernelSpec = { name: 'rms-norm-backward', source: K.rmsNormBackward, operands: [{ name: 'w', binding: 3 }] };
const SWIGLU_BACKWARD: KernelSpec = { name: 'swiglu-backward', source: K.swigluBackward };
const ATTENTION_BACKWARD_Q: KernelSpec = { name: 'attention-backward-q', source: K.attentionBackwardQ };
const ATTENTION_BACKWARD_KV: KernelSpec = { name: 'attention-backward-kv', source: K.attentionBackwardKv };
const SCATTER_ADD_ROWS: KernelSpec = { name: 'scatter-add-rows', source: K.scatterAddRows };
const SOFT_LABEL_LOSS: KernelSpec = { name: 'soft-label-loss', source: K.softLabelLoss };
const DROPOUT: KernelSpec = { name: 'dropout', source: K.dropout };
const SUM_SQUARES: KernelSpec = { name: 'sum-squares', source: K.sumSquares };
const ADAMW: KernelSpec = { name: 'adamw', source: K.adamw };

const isU32 = (v: number) => Number.isInteger(v) && v >= 0 && v <= 0xffffffff;

/** The training ops; ropeBackward shares rope's kernel, which the backend passes in. */
export class WebGPUTraining implements TrainingOps {
  private nnPartials: GPUBuffer | null = null;

  constructor(
    private readonly rec: Recorder,
    private readonly device: GPUDevice,
    private readonly maxGroups: number,
    /** How a weight-like operand is read (the backend's dtype → accessor choice). */
    private readonly access: (t: GPUTensor) => Access,
    /** rope's kernel with the angle negated: its backward (backend.ts). */
    readonly ropeBackward: (x: Tensor, rows: Rows, invFreq: Tensor, heads: number, headDim: number) => void,
  ) {}

  /** One dispatch of an elementwise kernel over `count` elements (64-thread groups). */
  private elementwise(spec: KernelSpec, params: ArrayBuffer, bindings: { binding: number; buffer: GPUBuffer; write?: boolean }[], count: number): void {
    this.rec.dispatch(this.rec.pipeline(spec), params, bindings, grid1d(count, 64, this.maxGroups));
  }

  fill(x: Tensor, value: number): void {
    expectF32('fill', x);
    if (x.size === 0) return;
    this.elementwise(FILL, pack('uf', x.size, value), [{ binding: 1, buffer: g(x).buffer, write: true }], x.size);
  }

  axpy(x: Tensor, y: Tensor, alpha: number): void {
    expectF32('axpy', x, y);
    expect(x.size === y.size, 'axpy', `x [${x.shape}], y [${y.shape}]`);
    if (x.size === 0) return;
    this.elementwise(
      AXPY,
      pack('uf', x.size, alpha),
      [
        { binding: 1, buffer: g(x).buffer, write: true },
        { binding: 2, buffer: g(y).buffer },
      ],
      x.size,
    );
  }

  matmulNN(x: Tensor, w: Tensor, out: Tensor, accumulate: boolean): void {
    const wt = g(w),
      N = lastDim(x),
      n = rowsOf(x),
      Kd = lastDim(wt);
    expectF32('matmulNN', x, out);
    expect(
      wt.shape.length === 2 && wt.shape[0] === N && lastDim(out) === Kd && out.size === n * Kd,
      'matmulNN',
      `shapes [${x.shape}]·[${wt.shape}] → [${out.shape}]`,
    );
    expect(Math.ceil(n / 32) <= this.maxGroups && Math.ceil(Kd / 64) <= this.maxGroups, 'matmulNN', `[${n}, ${Kd}] output exceeds the workgroup grid`);
    if (n === 0 || Kd === 0) return;
    if (N === 0) {
      if (!accumulate) this.fill(out, 0);
      return;
    }
    const pipe = this.rec.pipeline(MATMUL_NN, ['f32', this.access(wt)]);
    // A view of a larger f32 tensor uses only its own rows.
    const chunks = wt.chunks.filter((c) => c.rowStart < N);
    // Split: the chunks after the first go on from the partial sum (accumulate = 2), into scratch
    // when out's old value is to be added last, as the unsplit kernel adds it (x + y = y + x).
    const split = chunks.length > 1;
    const target = split && accumulate ? this.nnScratch(n * Kd * 4) : g(out).buffer;
    for (const [i, c] of chunks.entries()) {
      const rowCount = Math.min(c.rowCount, N - c.rowStart);
      const xAligned = N % 4 === 0 && c.rowStart % 4 === 0 ? 1 : 0;
      const mode = i > 0 ? 2 : accumulate && !split ? 1 : 0;
      this.rec.dispatch(
        pipe,
        pack('uuuuuuu', n, N, Kd, c.rowStart, rowCount, mode, xAligned),
        [
          { binding: 1, buffer: target, write: true },
          { binding: 2, buffer: g(x).buffer },
          { binding: 3, buffer: c.buffer },
        ],
        [Math.ceil(Kd / 64), Math.ceil(n / 32)],
      );
    }
    if (target !== g(out).buffer) {
      this.elementwise(
        AXPY,
        pack('uf', n * Kd, 1),
        [
          { binding: 1, buffer: g(out).buffer, write: true },
          { binding: 2, buffer: target },
        ],
        n * Kd,
      );
    }
  }

  /** matmulNN's partial sums for a split weight whose product adds to out, grown on demand. */
  private nnScratch(bytes: number): GPUBuffer {
    if (!this.nnPartials || this.nnPartials.size < bytes) {
      if (this.nnPartials) this.rec.release(this.nnPartials);
      this.nnPartials = this.device.createBuffer({ label: 'matmul-nn partial sums', size: bytes, usage: GPUBufferUsage.STORAGE });
    }
    return this.nnPartials;
  }

  matmulTN(a: Tensor, b: Tensor, out: Tensor, alpha: number, accumulate: boolean): void {
    const M = lastDim(a),
      N = lastDim(b),
      n = rowsOf(a);
    expectF32('matmulTN', a, b, out);
    expect(rowsOf(b) === n && out.size === M * N, 'matmulTN', `shapes [${a.shape}]ᵀ·[${b.shape}] → [${out.shape}]`);
    if (out.size === 0) return;
    this.elementwise(
      MATMUL_TN,
      pack('uuufu', n, M, N, alpha, accumulate ? 1 : 0),
      [
        { binding: 1, buffer: g(out).buffer, write: true },
        { binding: 2, buffer: g(a).buffer },
        { binding: 3, buffer: g(b).buffer },
      ],
      M * N,
    );
  }

  rmsNormBackward(x: Tensor, weight: Tensor, dy: Tensor, eps: number, dx: Tensor): void {
    const H = lastDim(x),
      n = rowsOf(x),
      w = g(weight);
    expectF32('rmsNormBackward', x, dy, dx);
    expect(
      dy.size === x.size && dx.size === x.size && lastDim(dx) === H && w.size === H,
      'rmsNormBackward',
      `x [${x.shape}], weight [${w.shape}], dy [${dy.shape}], dx [${dx.shape}]`,
    );
    expect(n <= this.maxGroups, 'rmsNormBackward', `${n} rows exceed ${this.maxGroups} workgroups`);
    if (n === 0) return;
    this.rec.dispatch(
      this.rec.pipeline(RMS_NORM_BACKWARD, [this.access(w)]),
      pack('uf', H, eps),
      [
        { binding: 1, buffer: g(dx).buffer, write: true },
        { binding: 2, buffer: g(x).buffer },
        { binding: 3, buffer: w.buffer },
        { binding: 4, buffer: g(dy).buffer },
      ],
      [n],
    );
  }

  gluBackward(gate: Tensor, up: Tensor, dy: Tensor, dgate: Tensor, dup: Tensor, activation: GluActivation): void {
    const op = 'gluBackward';
    expect(activation === 'silu' || activation === 'gelu_tanh', op, `activation ${String(activation)} (want silu or gelu_tanh)`);
    expectF32(op, gate, up, dy, dgate, dup);
    const n = gate.size;
    expect(
      up.size === n && dy.size === n && dgate.size === n && dup.size === n,
      op,
      `gate [${gate.shape}], up [${up.shape}], dy [${dy.shape}], dgate [${dgate.shape}], dup [${dup.shape}]`,
    );
    expect(g(dgate).buffer !== g(dup).buffer, op, 'dgate and dup must be distinct tensors');
    if (n === 0) return;
    this.elementwise(
      SWIGLU_BACKWARD,
      pack('uu', n, activation === 'gelu_tanh' ? 1 : 0),
      [
        { binding: 1, buffer: g(dgate).buffer, write: true },
        { binding: 2, buffer: g(dup).buffer, write: true },
        { binding: 3, buffer: g(gate).buffer },
        { binding: 4, buffer: g(up).buffer },
        { binding: 5, buffer: g(dy).buffer },
      ],
      n,
    );
  }

  /**
   * Two dispatches (kernels/attention-backward-{q,kv}.wgsl): dq with each (row, head)'s lse and
   * D = dOut·out into a scratch buffer, then dk/dv per (KV head, row) from those statistics.
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
    window = 0,
  ): void {
    const n = rows.shape[0];
    const op = 'attentionBackward';
    expectF32(op, q, kCache, vCache, out, dOut, dq, dk, dv);
    expect(kCache.shape.length === 4 && vCache.shape.join() === kCache.shape.join(), op, `caches [${kCache.shape}] and [${vCache.shape}]`);
    const [slots, kvHeads, maxT, headDim] = kCache.shape;
    expect(headDim % 4 === 0 && headDim <= 256, op, `headDim ${headDim} unsupported (needs a multiple of 4, at most 256)`);
    expect(Number.isInteger(window) && window >= 0, op, `window ${window} must be an integer ≥ 0`);
    expect(kvHeads > 0 && heads % kvHeads === 0, op, `${heads} heads cannot share ${kvHeads} KV heads`);
    expect(rows.dtype === 'i32' && rows.size === n * 2, op, `rows must be i32 [n, 2], got [${rows.shape}]`);
    const qSize = n * heads * headDim,
      kvSize = n * kvHeads * headDim;
    expect(
      q.size === qSize && out.size === qSize && dOut.size === qSize && dq.size === qSize,
      op,
      `q [${q.shape}], out [${out.shape}], dOut [${dOut.shape}], dq [${dq.shape}] for ${n} rows of ${heads}×${headDim}`,
    );
    expect(dk.size === kvSize && dv.size === kvSize, op, `dk [${dk.shape}], dv [${dv.shape}] for ${n} rows of ${kvHeads}×${headDim}`);
    expect(g(dk).buffer !== g(dv).buffer, op, 'dk and dv must be distinct tensors');
    expect(n <= this.maxGroups && heads <= this.maxGroups, op, `${n} rows × ${heads} heads exceed the workgroup grid`);
    if (qSize === 0) return;
    const stats = this.device.createBuffer({ label: 'attention stats', size: Math.max(16, n * heads * 8), usage: GPUBufferUsage.STORAGE });
    const r = g(rows).buffer,
      kc = g(kCache).buffer,
      vc = g(vCache).buffer,
      qb = g(q).buffer,
      go = g(dOut).buffer;
    this.rec.dispatch(
      this.rec.pipeline(ATTENTION_BACKWARD_Q),
      pack('uuuuufu', heads, kvHeads, maxT, headDim, slots, scale, window),
      [
        { binding: 1, buffer: g(dq).buffer, write: true },
        { binding: 2, buffer: stats, write: true },
        { binding: 3, buffer: qb },
        { binding: 4, buffer: kc },
        { binding: 5, buffer: vc },
        { binding: 6, buffer: r },
        { binding: 7, buffer: g(out).buffer },
        { binding: 8, buffer: go },
      ],
      [heads, n],
    );
    this.rec.dispatch(
      this.rec.pipeline(ATTENTION_BACKWARD_KV),
      pack('uuuuufuu', heads, kvHeads, maxT, headDim, slots, scale, n, window),
      [
        { binding: 1, buffer: g(dk).buffer, write: true },
        { binding: 2, buffer: g(dv).buffer, write: true },
        { binding: 3, buffer: qb },
        { binding: 4, buffer: kc },
        { binding: 5, buffer: vc },
        { binding: 6, buffer: r },
        { binding: 7, buffer: go },
        { binding: 8, buffer: stats },
      ],
      [kvHeads, n],
    );
    this.rec.release(stats);
  }

  scatterAddRows(x: Tensor, index: Tensor, out: Tensor): void {
    const H = lastDim(x),
      m = index.size;
    expectF32('scatterAddRows', x, out);
    expect(index.dtype === 'i32' && x.size === m * H && lastDim(out) === H, 'scatterAddRows', `x [${x.shape}], index [${index.shape}], out [${out.shape}]`);
    expect(m <= this.maxGroups, 'scatterAddRows', `${m} rows exceed ${this.maxGroups} workgroups`);
    if (x.size === 0) return;
    this.rec.dispatch(
      this.rec.pipeline(SCATTER_ADD_ROWS),
      pack('uuu', m, H, rowsOf(out)),
      [
        { binding: 1, buffer: g(out).buffer, write: true },
        { binding: 2, buffer: g(x).buffer },
        { binding: 3, buffer: g(index).buffer },
      ],
      [Math.ceil(H / 64), m],
    );
  }

  softLabelLoss(logits: Tensor, labelIds: Tensor, labelWeights: Tensor, scale: number, loss: Tensor, dLogits: Tensor): void {
    const V = lastDim(logits),
      m = rowsOf(logits),
      Kl = lastDim(labelIds);
    const op = 'softLabelLoss';
    expectF32(op, logits, labelWeights, loss, dLogits);
    expect(labelIds.dtype === 'i32', op, 'labelIds must be i32');
    expect(
      labelIds.size === m * Kl && labelWeights.size === m * Kl && lastDim(labelWeights) === Kl,
      op,
      `labelIds [${labelIds.shape}], labelWeights [${labelWeights.shape}] for ${m} rows`,
    );
    expect(
      loss.size === m && dLogits.size === logits.size && lastDim(dLogits) === V,
      op,
      `loss [${loss.shape}], dLogits [${dLogits.shape}] for logits [${logits.shape}]`,
    );
    expect(g(loss).buffer !== g(dLogits).buffer, op, 'loss and dLogits must be distinct tensors');
    expect(m <= this.maxGroups, op, `${m} rows exceed ${this.maxGroups} workgroups`);
    if (m === 0 || V === 0) return;
    this.rec.dispatch(
      this.rec.pipeline(SOFT_LABEL_LOSS),
      pack('uuf', V, Kl, scale),
      [
        { binding: 1, buffer: g(loss).buffer, write: true },
        { binding: 2, buffer: g(dLogits).buffer, write: true },
        { binding: 3, buffer: g(logits).buffer },
        { binding: 4, buffer: g(labelIds).buffer },
        { binding: 5, buffer: g(labelWeights).buffer },
      ],
      [m],
    );
  }

  dropout(x: Tensor, out: Tensor, p: number, seed: number, stream: number): void {
    expectF32('dropout', x, out);
    expect(x.size === out.size, 'dropout', `x [${x.shape}], out [${out.shape}]`);
    expect(isU32(seed) && isU32(stream), 'dropout', `seed ${seed} and stream ${stream} must be u32`);
    expect(!Number.isNaN(p), 'dropout', 'p is NaN');
    if (x.size === 0) return;
    // Kept iff (hash >>> 8) / 2^24 ≥ p, i.e. hash >>> 8 ≥ ⌈p · 2^24⌉ (exact: 2^24 · p is exact in f64).
    const threshold = Math.min(Math.max(Math.ceil(p * 16777216), 0), 16777216);
    const keepScale = p < 1 ? 1 / (1 - p) : 0;
    this.elementwise(
      DROPOUT,
      pack('uuuuf', x.size, seed, stream, threshold, keepScale),
      [
        { binding: 1, buffer: g(out).buffer, write: true },
        { binding: 2, buffer: g(x).buffer },
      ],
      x.size,
    );
  }

  sumSquares(x: Tensor, out: Tensor): void {
    expectF32('sumSquares', x, out);
    expect(out.size >= 1, 'sumSquares', `out [${out.shape}] needs one element`);
    if (x.size === 0) return;
    this.rec.dispatch(
      this.rec.pipeline(SUM_SQUARES),
      pack('u', x.size),
      [
        { binding: 1, buffer: g(out).buffer, write: true },
        { binding: 2, buffer: g(x).buffer },
      ],
      [1],
    );
  }

  adamw(param: Tensor, grad: Tensor, m: Tensor, v: Tensor, o: AdamWStep): void {
    expectF32('adamw', param, grad, m, v);
    const n = param.size;
    expect(grad.size === n && m.size === n && v.size === n, 'adamw', `param [${param.shape}], grad [${grad.shape}], m [${m.shape}], v [${v.shape}]`);
    expect(new Set([param, m, v].map((t) => g(t).buffer)).size === 3, 'adamw', 'param, m and v must be distinct tensors');
    expect(Number.isInteger(o.step) && o.step >= 1, 'adamw', `step ${o.step} must be an integer ≥ 1`);
    if (n === 0) return;
    const bc1 = 1 - o.beta1 ** o.step,
      bc2 = 1 - o.beta2 ** o.step;
    this.elementwise(
      ADAMW,
      pack('ufffffff', n, o.beta1, o.beta2, o.eps, 1 - o.lr * o.weightDecay, o.lr / bc1, Math.sqrt(bc2), o.gradScale),
      [
        { binding: 1, buffer: g(param).buffer, write: true },
        { binding: 2, buffer: g(m).buffer, write: true },
        { binding: 3, buffer: g(v).buffer, write: true },
        { binding: 4, buffer: g(grad).buffer },
      ],
      n,
    );
  }
}
