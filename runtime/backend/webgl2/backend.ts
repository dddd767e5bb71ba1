// The WebGL2 backend (gpu.js): memory and the forward ops. Ops run as draws into new textures as
// they are called (WebGL queues them); `read` is the one synchronisation point, so a decode step
// is one readback. Shapes are checked here; ids and rows live on the GPU and are trusted, as
// Backend says. Stage 1's contrast is in contrast.ts. It has no `training`: fine-tuning needs
// backward passes, scatter-adds and AdamW, which a fragment shader (gather only, no atomics, f32
// render targets) would run slowly and with reduction orders far from the other backends; stage 2
// belongs on wasm or webgpu, and a training job asked to run here refuses it by name
// (requireTraining in ../training.ts).

import { decodeToF32 } from '../../util/dtype.ts';
import {
  type Backend,
  type BackendInfo,
  type DType,
  type GluActivation,
  type Rows,
  type Tensor,
  type WeightDType,
  isQuantDType,
  BYTES_PER_ELEMENT,
  sizeOf,
} from '../types.ts';
import { runContrast } from './contrast.ts';
import type { GpuInstance, GpuJsModule, GpuTexture } from './gpujs.ts';
import * as K from './kernels.ts';
import { Reader } from './readback.ts';
import { type KernelArg, Runner } from './runner.ts';
import { GLTensor, MAX_ACTIVATION_ELEMENTS, Store, createWeightTexture, dims3, gl2, grid } from './textures.ts';

/** Elements per chunk of the two-stage row reductions (softmax, argmax, contrast, sumSquares). */
export const CHUNK = 512;

const lastDim = (x: Tensor) => (x.shape.length === 0 ? 1 : x.shape[x.shape.length - 1]);
const rowsOf = (x: Tensor) => (lastDim(x) === 0 ? 0 : x.size / lastDim(x));
/** Loop bounds that vary per call are compiled as the next power of two, so few shaders build. */
const pow2 = (n: number) => 2 ** Math.ceil(Math.log2(Math.max(n, 1)));

function expect(ok: boolean, op: string, what: string): void {
  if (!ok) throw new RangeError(`${op}: ${what}`);
}

export interface WebGL2BackendConfig {
  gl: WebGL2RenderingContext;
  gpu: GpuInstance;
  lib: GpuJsModule;
  info: BackendInfo;
  maxTextureSize: number;
}

export class WebGL2Backend implements Backend {
  readonly info: BackendInfo;
  readonly gl: WebGL2RenderingContext;
  readonly runner: Runner;
  private readonly gpu: GpuInstance;
  private readonly reader: Reader;
  private readonly maxTextureSize: number;
  /** Every store and weight texture alive, freed by destroy. */
  private readonly owned = new Set<GLTensor>();
  /** kvWrite's inverse row map of the last rows tensor, reused by every layer of a forward. */
  private kvIndex: { rows: GpuTexture; key: string; inv: GpuTexture } | null = null;
  private destroyed = false;

  constructor(cfg: WebGL2BackendConfig) {
    this.gl = cfg.gl;
    this.gpu = cfg.gpu;
    this.info = cfg.info;
    this.maxTextureSize = cfg.maxTextureSize;
    this.runner = new Runner(cfg.gpu, cfg.lib, cfg.maxTextureSize);
    this.reader = new Reader(cfg.gl);
  }

  // ---- stores ----------------------------------------------------------------------------------

  /** Render `source` over `output` and return the texture (a temporary the caller deletes). */
  private draw(name: string, source: string, constants: Record<string, number>, output: readonly [number, number, number], args: KernelArg[]): GpuTexture {
    if (this.destroyed) throw new Error('webgl2 backend used after destroy()');
    return this.runner.run(name, source, constants, output, args);
  }

  /** Render into tensor `out`: the result becomes the top layer of its store. */
  private render(
    out: Tensor,
    name: string,
    source: string,
    constants: Record<string, number>,
    args: KernelArg[],
    output: readonly [number, number, number] = dims3(out.shape),
  ): void {
    const t = gl2(out);
    const tex = this.draw(name, source, constants, output, args);
    this.assign(t, tex, output[0] * output[1] * output[2]);
  }

  private assign(t: GLTensor, tex: GpuTexture, extent: number): void {
    const s = this.storeOf(t, 'write');
    // layers the new one shadows completely are dropped; extents grow strictly downwards
    const keep = s.layers.filter((l) => l.extent > extent);
    for (const l of s.layers) if (!keep.includes(l)) l.tex.delete();
    s.layers = [{ tex, extent: Math.min(extent, s.capacity) }, ...keep];
  }

  private storeOf(t: GLTensor, op: string): Store {
    if (!t.store) throw new TypeError(`${op}: a matrix weight [${t.shape}] cannot be used as an activation`);
    if (t.store.disposed) throw new Error(`${op}: tensor [${t.shape}] was disposed`);
    return t.store;
  }

  /** A texture whose first `need` elements are the tensor's (splicing layers when needed). */
  private tex(x: Tensor, need = x.size): GpuTexture {
    const s = this.storeOf(gl2(x), 'read');
    const from = s.layers.findIndex((l) => l.extent >= need);
    if (from < 0) throw new RangeError(`read of ${need} elements from a store of ${s.capacity}`);
    if (from === 0) return s.layers[0].tex;
    let cur = s.layers[from];
    for (let i = from - 1; i >= 0; i--) {
      const top = s.layers[i];
      const tex = this.draw('splice', K.SPLICE, {}, [cur.extent, 1, 1], [top.tex, cur.tex, top.extent]);
      if (i < from - 1) cur.tex.delete();
      cur = { tex, extent: cur.extent };
    }
    for (const l of s.layers.slice(0, from + 1)) l.tex.delete();
    s.layers = [cur, ...s.layers.slice(from + 1)];
    return cur.tex;
  }

  /** A new store holding `data` (zeros without); `dtype` is what the tensor reports (a vector
   * weight keeps its file dtype, its store is f32). */
  private newStore(dtype: DType, shape: readonly number[], data?: Float32Array): GLTensor {
    const n = sizeOf(shape);
    if (n > MAX_ACTIVATION_ELEMENTS) throw new RangeError(`webgl2: tensor [${shape}] has ${n} elements, more than the 2^24 this backend addresses exactly`);
    const t = new GLTensor(dtype, shape, new Store(n), null);
    if (n > 0) {
      const tex = data ? this.draw('upload', K.UPLOAD, {}, dims3(shape), [data]) : this.draw('fill', K.FILL, {}, dims3(shape), [0]);
      t.store!.layers = [{ tex, extent: n }];
    }
    this.owned.add(t);
    return t;
  }

  // ---- memory ----------------------------------------------------------------------------------

  createWeight(dtype: WeightDType, shape: readonly number[], bytes: Uint8Array): Tensor {
    if (isQuantDType(dtype))
      throw new TypeError(`createWeight: the webgl2 backend has no kernels for ${dtype} weights (issue 30: WebGPU, Wasm and reference only)`);
    const n = sizeOf(shape);
    const want = n * BYTES_PER_ELEMENT[dtype];
    if (bytes.byteLength !== want) throw new RangeError(`weight [${shape}] ${dtype} needs ${want} bytes, got ${bytes.byteLength}`);
    if (shape.length < 2) return this.newStore(dtype, shape, decodeToF32(dtype, bytes));
    const t = new GLTensor(dtype, shape, null, createWeightTexture(this.gl, dtype, shape, bytes, this.maxTextureSize));
    this.owned.add(t);
    return t;
  }

  createTensor(dtype: 'f32' | 'i32', shape: readonly number[], data?: Float32Array | Int32Array): Tensor {
    const n = sizeOf(shape);
    if (data && data.length < n) {
      const full = new Float32Array(n);
      full.set(data);
      return this.newStore(dtype, shape, full);
    }
    return this.newStore(dtype, shape, data ? toF32(data.subarray(0, n)) : undefined);
  }

  write(t: Tensor, data: Float32Array | Int32Array): void {
    const x = gl2(t);
    if (data.length > x.size) throw new RangeError('write larger than tensor');
    if (data.length === 0) return;
    const output = data.length === x.size ? dims3(x.shape) : ([data.length, 1, 1] as const);
    this.assign(x, this.draw('upload', K.UPLOAD, {}, output, [toF32(data)]), data.length);
  }

  async read(t: Tensor): Promise<Float32Array | Int32Array> {
    const x = gl2(t);
    if (x.weight) return this.readWeight(x);
    const data = x.size === 0 ? new Float32Array(0) : await this.reader.read(this.tex(x), x.size);
    return x.dtype === 'i32' ? Int32Array.from(data) : data;
  }

  /** A matrix weight as f32: one embedding lookup of every row. */
  private async readWeight(w: GLTensor): Promise<Float32Array> {
    const rows = w.size / lastDim(w);
    const ids = this.createTensor(
      'i32',
      [rows],
      Int32Array.from({ length: rows }, (_, i) => i),
    );
    const out = this.createTensor('f32', [rows, lastDim(w)]);
    try {
      this.embedding(ids, w, out);
      return (await this.read(out)) as Float32Array;
    } finally {
      this.dispose(ids);
      this.dispose(out);
    }
  }

  view(t: Tensor, shape: readonly number[]): Tensor {
    const x = gl2(t);
    const n = sizeOf(shape);
    if (n > x.size) throw new RangeError(`view [${shape}] larger than tensor [${x.shape}]`);
    if (x.weight) throw new TypeError('webgl2: views of matrix weights are not supported');
    return new GLTensor(x.dtype, shape, x.store, null, x.base ?? x);
  }

  async flush(): Promise<void> {
    this.gl.flush();
  }

  dispose(t: Tensor): void {
    const x = gl2(t);
    if (x.base || !this.owned.has(x)) return;
    this.owned.delete(x);
    if (x.weight) x.weight.tex.delete();
    if (x.store) {
      for (const l of x.store.layers) l.tex.delete();
      x.store.layers = [];
      x.store.disposed = true;
    }
  }

  destroy(): void {
    if (this.destroyed) return;
    for (const t of [...this.owned]) this.dispose(t);
    this.kvIndex?.inv.delete();
    this.kvIndex = null;
    this.runner.destroy();
    this.reader.dispose();
    void Promise.resolve(this.gpu.destroy()).catch(() => {});
    this.gl.getExtension('WEBGL_lose_context')?.loseContext();
    this.destroyed = true;
  }

  /** For tests and benches: shaders compiled and kernels launched so far. */
  get stats(): { kernels: number; launches: number } {
    return { kernels: this.runner.kernelCount, launches: this.runner.launches };
  }

  // ---- forward ops -----------------------------------------------------------------------------

  /** A matrix operand read [row][k]: a weight's texture, or an f32 tensor rendered as [K, rows]. */
  private matrix(w: Tensor): GpuTexture {
    const t = gl2(w);
    if (t.weight) return t.weight.tex;
    const tex = this.tex(t);
    if (tex.output[0] === lastDim(t)) return tex;
    // rendered under another shape (a splice, a view): copy it into the [K, rows] layout once
    this.render(t, 'relayout', K.SPLICE, {}, [tex, tex, t.size], dims3([rowsOf(t), lastDim(t)]));
    return this.tex(t);
  }

  private weightKind(w: Tensor): 'f32' | 'f16' | 'bf16' {
    const t = gl2(w);
    return t.weight && t.dtype !== 'f32' ? (t.dtype as 'f16' | 'bf16') : 'f32';
  }

  embedding(ids: Tensor, table: Tensor, out: Tensor, scale = 1): void {
    const H = lastDim(table),
      n = ids.size;
    expect(Number.isFinite(scale), 'embedding', `scale ${scale} is not finite`);
    expect(ids.dtype === 'i32' && out.size === n * H && lastDim(out) === H, 'embedding', `ids [${ids.shape}], table [${table.shape}] → out [${out.shape}]`);
    if (n === 0) return;
    const kind = this.weightKind(table);
    const source = kind === 'f32' ? K.EMBED_F32 : K.embed16(kind);
    this.render(out, `embedding-${kind}`, source, {}, [this.tex(ids), this.matrix(table), Math.fround(scale)], grid(H, n));
  }

  rmsNorm(x: Tensor, weight: Tensor, eps: number, out: Tensor): void {
    const H = lastDim(x),
      n = rowsOf(x);
    expect(out.size === x.size && weight.size === H, 'rmsNorm', `x [${x.shape}], weight [${weight.shape}], out [${out.shape}]`);
    if (n === 0) return;
    const inv = this.draw('rms-inv', K.RMS_INV, { H }, [n, 1, 1], [this.tex(x), eps]);
    this.render(out, 'rms-apply', K.RMS_APPLY, { H }, [this.tex(x), inv, this.tex(weight)], grid(H, n));
    inv.delete();
  }

  matmul(x: Tensor, w: Tensor, bias: Tensor | null, out: Tensor): void {
    const Kd = lastDim(x),
      N = rowsOf(w),
      n = rowsOf(x);
    expect(lastDim(w) === Kd && lastDim(out) === N && out.size === n * N, 'matmul', `shapes [${x.shape}]·[${w.shape}]ᵀ → [${out.shape}]`);
    expect(!bias || bias.size === N, 'matmul', `bias [${bias?.shape}] for N = ${N}`);
    if (n === 0) return;
    const kind = this.weightKind(w);
    const constants: Record<string, number> = kind === 'f32' ? { K: Kd } : { K: Kd, PAIRS: Math.floor(Kd / 2), ODD: Kd % 2 };
    const args: KernelArg[] = [this.tex(x), this.matrix(w)];
    if (bias) args.push(this.tex(bias));
    this.render(out, `matmul-${kind}${bias ? '-bias' : ''}`, K.matmul(kind, !!bias), constants, args, grid(N, n));
  }

  rope(x: Tensor, rows: Rows, invFreq: Tensor, heads: number, headDim: number): void {
    const n = rows.shape[0],
      W = heads * headDim;
    expect(headDim % 2 === 0 && x.size === n * W && invFreq.size >= headDim / 2, 'rope', `x [${x.shape}] as [${n}, ${heads}, ${headDim}]`);
    if (n === 0) return;
    this.render(x, 'rope', K.ROPE, { D: headDim, HALF: headDim / 2, W }, [this.tex(x), this.tex(rows), this.tex(invFreq)], grid(W, n));
  }

  kvWrite(k: Tensor, v: Tensor, kCache: Tensor, vCache: Tensor, rows: Rows): void {
    const [slots, kvh, maxT, D] = kCache.shape;
    const n = rows.shape[0];
    expect(
      kCache.shape.length === 4 && vCache.size === kCache.size && k.size === n * kvh * D && v.size === k.size,
      'kvWrite',
      `k [${k.shape}] into [${kCache.shape}]`,
    );
    expect(kCache !== vCache, 'kvWrite', 'the two caches must be distinct');
    if (n === 0) return;
    const inv = this.inverseRows(rows, n, slots, maxT);
    const output = [D, maxT, slots * kvh] as const;
    const constants = { D, KVH: kvh };
    this.render(kCache, 'kv-write', K.KV_WRITE, constants, [this.tex(k), this.tex(kCache), inv, maxT], output);
    this.render(vCache, 'kv-write', K.KV_WRITE, constants, [this.tex(v), this.tex(vCache), inv, maxT], output);
  }

  /** inv[slot, t] = the row writing (slot, t), or -1; cached for the layers of one forward. */
  private inverseRows(rows: Rows, n: number, slots: number, maxT: number): GpuTexture {
    const rt = this.tex(rows);
    const key = `${n},${slots},${maxT}`;
    if (this.kvIndex && this.kvIndex.rows === rt && this.kvIndex.key === key) return this.kvIndex.inv;
    this.kvIndex?.inv.delete();
    const inv = this.draw('kv-index', K.KV_INDEX, { NR: pow2(n) }, grid(maxT, slots), [rt, n]);
    this.kvIndex = { rows: rt, key, inv };
    return inv;
  }

  attention(q: Tensor, kCache: Tensor, vCache: Tensor, rows: Rows, out: Tensor, heads: number, scale: number, window = 0): void {
    const [, kvh, maxT, D] = kCache.shape;
    expect(Number.isInteger(window) && window >= 0, 'attention', `window ${window} must be an integer ≥ 0`);
    const n = rows.shape[0];
    expect(heads % kvh === 0 && q.size === n * heads * D && out.size === q.size, 'attention', `q [${q.shape}], ${heads} heads over cache [${kCache.shape}]`);
    expect(
      n * heads * maxT <= MAX_ACTIVATION_ELEMENTS,
      'attention',
      `${n} rows × ${heads} heads × ${maxT} positions of scores exceed 2^24; use shorter prompts or wasm`,
    );
    if (n === 0) return;
    const c = { HEADS: heads, GROUP: heads / kvh, KVH: kvh, D, LT: pow2(maxT) };
    const rt = this.tex(rows);
    const scores = this.draw('att-scores', K.ATT_SCORES, c, grid(maxT, n * heads), [this.tex(q), this.tex(kCache), rt, scale, maxT, window]);
    const stats = this.draw('att-stats', K.ATT_STATS, { HEADS: heads, LT: c.LT }, grid(2, n * heads), [scores, rt, maxT, window]);
    this.render(out, 'att-out', K.ATT_OUT, c, [scores, stats, this.tex(vCache), rt, maxT, window], grid(heads * D, n));
    scores.delete();
    stats.delete();
  }

  glu(gate: Tensor, up: Tensor, out: Tensor, activation: GluActivation): void {
    expect(activation === 'silu' || activation === 'gelu_tanh', 'glu', `activation ${String(activation)} (want silu or gelu_tanh)`);
    expect(gate.size === up.size && out.size === gate.size, 'glu', `[${gate.shape}] · [${up.shape}] → [${out.shape}]`);
    const [name, source] = activation === 'silu' ? ['swiglu', K.SWIGLU] : ['geglu', K.GEGLU];
    if (out.size > 0) this.render(out, name, source, {}, [this.tex(gate, out.size), this.tex(up, out.size)]);
  }

  addInPlace(x: Tensor, y: Tensor): void {
    expect(x.size === y.size, 'addInPlace', `[${x.shape}] += [${y.shape}]`);
    if (x.size > 0) this.render(x, 'add', K.ADD, {}, [this.tex(x), this.tex(y)]);
  }

  gatherRows(x: Tensor, index: Tensor, out: Tensor): void {
    const H = lastDim(x),
      m = index.size;
    expect(index.dtype === 'i32' && out.size === m * H, 'gatherRows', `x [${x.shape}], index [${index.shape}] → out [${out.shape}]`);
    if (m > 0) this.render(out, 'gather', K.GATHER, { H }, [this.tex(x), this.tex(index)], grid(H, m));
  }

  /** (max, Σ exp) of each row, as an ArrayTexture(2) [R] (the caller deletes it). */
  private rowStats(x: Tensor): GpuTexture {
    const V = lastDim(x),
      R = rowsOf(x),
      C = Math.ceil(V / CHUNK);
    const part = this.draw('row-part', K.ROW_PART, { V, S: CHUNK }, grid(C, R), [this.tex(x)]);
    const st = this.draw('row-merge', K.ROW_MERGE, { C }, [R, 1, 1], [part]);
    part.delete();
    return st;
  }

  softmax(x: Tensor, out: Tensor): void {
    expect(out.size === x.size && lastDim(out) === lastDim(x), 'softmax', `[${x.shape}] → [${out.shape}]`);
    if (x.size === 0) return;
    const st = this.rowStats(x);
    this.render(out, 'softmax', K.SOFTMAX_APPLY, {}, [this.tex(x), st], grid(lastDim(x), rowsOf(x)));
    st.delete();
  }

  argmax(x: Tensor, out: Tensor): void {
    const V = lastDim(x),
      R = rowsOf(x),
      C = Math.ceil(V / CHUNK);
    expect(out.dtype === 'i32' && out.size === R && V > 0, 'argmax', `[${x.shape}] → [${out.shape}]`);
    if (R === 0) return;
    const part = this.draw('argmax-part', K.ARGMAX_PART, { V, S: CHUNK }, grid(C, R), [this.tex(x)]);
    this.render(out, 'argmax-merge', K.ARGMAX_MERGE, { C }, [part], [R, 1, 1]);
    part.delete();
  }

  contrast(expert: Tensor, amateur: Tensor, shared: number, alpha: number, stats: Tensor, labelIds: Tensor, labelWeights: Tensor): void {
    const Ve = lastDim(expert),
      Va = lastDim(amateur),
      m = rowsOf(expert),
      Kl = lastDim(labelIds);
    expect(shared <= Ve && shared <= Va && rowsOf(amateur) === m, 'contrast', `shared vocabulary ${shared} of [${expert.shape}] and [${amateur.shape}]`);
    expect(
      stats.size === 2 * m && labelIds.size === m * Kl && labelWeights.size === m * Kl && labelIds.dtype === 'i32',
      'contrast',
      `stats [${stats.shape}], labels [${labelIds.shape}] for ${m} rows`,
    );
    if (m === 0) return;
    const out = runContrast((name, source, constants, output, args) => this.draw(name, source, constants, output, args), {
      e: this.tex(expert),
      a: this.tex(amateur),
      Ve,
      Va,
      m,
      shared,
      K: Kl,
      alpha,
      chunk: CHUNK,
    });
    this.assign(gl2(stats), out.stats, 2 * m);
    this.assign(gl2(labelIds), out.ids, m * Kl);
    this.assign(gl2(labelWeights), out.weights, m * Kl);
  }

  // ---- element-wise helpers (LoRA adapters at inference, stage 1's probe) -----------------------

  fill(x: Tensor, value: number): void {
    if (x.size > 0) this.render(x, 'fill', K.FILL, {}, [value]);
  }

  axpy(x: Tensor, y: Tensor, alpha: number): void {
    expect(x.size === y.size, 'axpy', `[${x.shape}] += α·[${y.shape}]`);
    if (x.size > 0) this.render(x, 'axpy', K.AXPY, {}, [this.tex(x), this.tex(y, x.size), alpha]);
  }

  sumSquares(x: Tensor, out: Tensor): void {
    expect(out.size >= 1, 'sumSquares', `out [${out.shape}]`);
    const N = x.size,
      C = Math.max(1, Math.ceil(N / CHUNK));
    const part = this.draw('sumsq-part', K.SUMSQ_PART, { N, S: CHUNK }, [C, 1, 1], [N > 0 ? this.tex(x) : this.tex(out, 1)]);
    this.render(out, 'sumsq-merge', K.SUMSQ_MERGE, { C }, [part, this.tex(out, 1)], [1, 1, 1]);
    part.delete();
  }
}

function toF32(d: Float32Array | Int32Array): Float32Array {
  return d instanceof Float32Array ? d : Float32Array.from(d);
}
