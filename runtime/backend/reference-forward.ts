// The plain-TypeScript backend's forward ops (reference.ts adds the training ops): straightforward
// loops, no tricks. See reference.ts for what it is for.

import { dequantize } from '../quant/index.ts';
import { decodeToF32 } from '../util/dtype.ts';
import {
  type BackendInfo,
  BYTES_PER_ELEMENT,
  type DType,
  type GluActivation,
  isQuantDType,
  type Rows,
  type Tensor,
  type WeightDType,
  sizeOf,
} from './types.ts';

class RefTensor implements Tensor {
  readonly size: number;
  constructor(
    readonly dtype: DType,
    readonly shape: readonly number[],
    readonly data: Float32Array | Int32Array,
  ) {
    this.size = sizeOf(shape);
  }
}

export function t(x: Tensor): RefTensor {
  if (!(x instanceof RefTensor)) throw new TypeError('tensor belongs to another backend');
  return x;
}
export function f(x: Tensor): Float32Array {
  const d = t(x).data;
  if (!(d instanceof Float32Array)) throw new TypeError('expected a float tensor');
  return d;
}
export function i(x: Tensor): Int32Array {
  const d = t(x).data;
  if (!(d instanceof Int32Array)) throw new TypeError('expected an i32 tensor');
  return d;
}
export function rowsOf(x: Tensor): number {
  return x.shape.length === 1 ? 1 : x.size / x.shape[x.shape.length - 1];
}
export function lastDim(x: Tensor): number {
  return x.shape[x.shape.length - 1];
}

/** The first key position a query at `pos` sees: 0, or with a sliding window pos − window + 1. */
export function windowStart(pos: number, window: number): number {
  return window > 0 ? Math.max(0, pos - window + 1) : 0;
}

export const silu = (g: number): number => g / (1 + Math.exp(-g));
const GELU_K = Math.sqrt(2 / Math.PI);
/** gelu_pytorch_tanh, as torch.nn.functional.gelu(x, approximate='tanh'). */
export const geluTanh = (g: number): number => 0.5 * g * (1 + Math.tanh(GELU_K * (g + 0.044715 * g * g * g)));

/** act(g) and act'(g) of a GluActivation (the backward's oracle). */
export function gluGrad(activation: GluActivation, g: number): { act: number; grad: number } {
  if (activation === 'silu') {
    const sig = 1 / (1 + Math.exp(-g));
    return { act: g * sig, grad: sig * (1 + g * (1 - sig)) };
  }
  const t = Math.tanh(GELU_K * (g + 0.044715 * g * g * g));
  return { act: 0.5 * g * (1 + t), grad: 0.5 * (1 + t) + 0.5 * g * (1 - t * t) * GELU_K * (1 + 3 * 0.044715 * g * g) };
}

/** Forward ops; the full Backend (with training ops) is ReferenceBackend in reference.ts. */
export class ReferenceForward {
  readonly info: BackendInfo = Object.freeze({
    kind: 'reference' as const,
    device: 'plain TypeScript (test oracle)',
    features: Object.freeze(['quantized']),
    limits: Object.freeze({}),
  });

  createWeight(dtype: WeightDType, shape: readonly number[], bytes: Uint8Array): Tensor {
    const n = sizeOf(shape);
    if (isQuantDType(dtype) && (shape.length !== 2 || shape[1] % 32 !== 0))
      throw new RangeError(`weight [${shape}] ${dtype}: a block-format weight must be a matrix with rows a multiple of 32 long`);
    const want = n * BYTES_PER_ELEMENT[dtype];
    if (bytes.byteLength !== want) throw new RangeError(`weight [${shape}] ${dtype} needs ${want} bytes, got ${bytes.byteLength}`);
    // block formats are dequantized here: the oracle of the quantized kernels is the f32 model of
    // gguf's dequantized values
    return new RefTensor(dtype, shape, isQuantDType(dtype) ? dequantize(dtype, bytes, n) : decodeToF32(dtype, bytes));
  }

  createTensor(dtype: 'f32' | 'i32', shape: readonly number[], data?: Float32Array | Int32Array): Tensor {
    const n = sizeOf(shape);
    const store = dtype === 'f32' ? new Float32Array(n) : new Int32Array(n);
    if (data) store.set(data.subarray(0, n));
    return new RefTensor(dtype, shape, store);
  }

  write(x: Tensor, data: Float32Array | Int32Array): void {
    if (data.length > x.size) throw new RangeError('write larger than tensor');
    t(x).data.set(data);
  }

  async read(x: Tensor): Promise<Float32Array | Int32Array> {
    return t(x).data.slice(0, x.size);
  }

  view(x: Tensor, shape: readonly number[]): Tensor {
    const n = sizeOf(shape);
    if (n > x.size) throw new RangeError(`view [${shape}] larger than tensor [${x.shape}]`);
    return new RefTensor(x.dtype, shape, t(x).data.subarray(0, n));
  }

  async flush(): Promise<void> {}
  dispose(_x: Tensor): void {}
  destroy(): void {}

  embedding(ids: Tensor, table: Tensor, out: Tensor, scale = 1): void {
    const id = i(ids),
      w = f(table),
      o = f(out);
    const H = lastDim(table),
      V = table.shape[0];
    for (let r = 0; r < ids.size; r++) {
      if (id[r] < 0 || id[r] >= V) throw new RangeError(`token id ${id[r]} outside vocabulary of ${V}`);
      o.set(w.subarray(id[r] * H, id[r] * H + H), r * H);
      // an f32 multiply, as the doc says and HF does (embeds * embed_scale.to(dtype)): the scale is
      // rounded to f32 first (the f64 product of two f32 values is exact, then rounded once)
      if (scale !== 1) for (let j = r * H; j < r * H + H; j++) o[j] *= Math.fround(scale);
    }
  }

  rmsNorm(x: Tensor, weight: Tensor, eps: number, out: Tensor): void {
    const a = f(x),
      w = f(weight),
      o = f(out);
    const H = lastDim(x);
    for (let r = 0; r < rowsOf(x); r++) {
      let ss = 0;
      for (let j = 0; j < H; j++) ss += a[r * H + j] * a[r * H + j];
      const inv = 1 / Math.sqrt(ss / H + eps);
      for (let j = 0; j < H; j++) o[r * H + j] = Math.fround(a[r * H + j] * inv) * w[j];
    }
  }

  matmul(x: Tensor, w: Tensor, bias: Tensor | null, out: Tensor): void {
    const a = f(x),
      b = f(w),
      o = f(out),
      c = bias ? f(bias) : null;
    const K = lastDim(x),
      N = w.shape[0],
      n = rowsOf(x);
    if (lastDim(w) !== K || lastDim(out) !== N) throw new RangeError(`matmul shapes [${x.shape}]·[${w.shape}]ᵀ → [${out.shape}]`);
    for (let r = 0; r < n; r++) {
      for (let col = 0; col < N; col++) {
        let s = 0;
        for (let k = 0; k < K; k++) s += a[r * K + k] * b[col * K + k];
        o[r * N + col] = s + (c ? c[col] : 0);
      }
    }
  }

  rope(x: Tensor, rows: Rows, invFreq: Tensor, heads: number, headDim: number): void {
    const a = f(x),
      rw = i(rows),
      fr = f(invFreq);
    const half = headDim / 2,
      n = rows.shape[0];
    for (let r = 0; r < n; r++) {
      const pos = rw[r * 2 + 1];
      for (let h = 0; h < heads; h++) {
        const base = (r * heads + h) * headDim;
        for (let j = 0; j < half; j++) {
          const th = Math.fround(pos * fr[j]);
          const cs = Math.cos(th),
            sn = Math.sin(th);
          const p = a[base + j],
            q = a[base + j + half];
          a[base + j] = p * cs - q * sn;
          a[base + j + half] = q * cs + p * sn;
        }
      }
    }
  }

  kvWrite(k: Tensor, v: Tensor, kCache: Tensor, vCache: Tensor, rows: Rows): void {
    const kk = f(k),
      vv = f(v),
      kc = f(kCache),
      vc = f(vCache),
      rw = i(rows);
    const [slots, kvh, maxT, d] = kCache.shape;
    for (let r = 0; r < rows.shape[0]; r++) {
      const slot = rw[r * 2],
        pos = rw[r * 2 + 1];
      if (slot < 0 || slot >= slots || pos < 0 || pos >= maxT)
        throw new RangeError(`row ${r}: (slot ${slot}, position ${pos}) outside KV cache [${kCache.shape}]`);
      for (let h = 0; h < kvh; h++) {
        const dst = ((slot * kvh + h) * maxT + pos) * d,
          src = (r * kvh + h) * d;
        kc.set(kk.subarray(src, src + d), dst);
        vc.set(vv.subarray(src, src + d), dst);
      }
    }
  }

  attention(q: Tensor, kCache: Tensor, vCache: Tensor, rows: Rows, out: Tensor, heads: number, scale: number, window = 0): void {
    const qq = f(q),
      kc = f(kCache),
      vc = f(vCache),
      rw = i(rows),
      o = f(out);
    const [, kvh, maxT, d] = kCache.shape;
    const group = heads / kvh;
    const scores = new Float32Array(maxT);
    for (let r = 0; r < rows.shape[0]; r++) {
      const slot = rw[r * 2],
        pos = rw[r * 2 + 1],
        s0 = windowStart(pos, window);
      for (let h = 0; h < heads; h++) {
        const g = Math.floor(h / group);
        const qb = (r * heads + h) * d,
          cb = (slot * kvh + g) * maxT * d;
        let max = -Infinity;
        for (let s = s0; s <= pos; s++) {
          let dot = 0;
          for (let j = 0; j < d; j++) dot += qq[qb + j] * kc[cb + s * d + j];
          scores[s] = dot * scale;
          if (scores[s] > max) max = scores[s];
        }
        let sum = 0;
        for (let s = s0; s <= pos; s++) {
          scores[s] = Math.exp(scores[s] - max);
          sum += scores[s];
        }
        for (let j = 0; j < d; j++) {
          let acc = 0;
          for (let s = s0; s <= pos; s++) acc += scores[s] * vc[cb + s * d + j];
          o[qb + j] = acc / sum;
        }
      }
    }
  }

  glu(gate: Tensor, up: Tensor, out: Tensor, activation: GluActivation): void {
    const g = f(gate),
      u = f(up),
      o = f(out);
    const act = activation === 'silu' ? silu : geluTanh;
    for (let j = 0; j < out.size; j++) o[j] = act(g[j]) * u[j];
  }

  addInPlace(x: Tensor, y: Tensor): void {
    const a = f(x),
      b = f(y);
    for (let j = 0; j < x.size; j++) a[j] += b[j];
  }

  gatherRows(x: Tensor, index: Tensor, out: Tensor): void {
    const a = f(x),
      ix = i(index),
      o = f(out),
      H = lastDim(x),
      n = rowsOf(x);
    for (let j = 0; j < index.size; j++) {
      if (ix[j] < 0 || ix[j] >= n) throw new RangeError(`gatherRows: index ${ix[j]} outside ${n} rows`);
      o.set(a.subarray(ix[j] * H, ix[j] * H + H), j * H);
    }
  }

  softmax(x: Tensor, out: Tensor): void {
    const a = f(x),
      o = f(out),
      V = lastDim(x);
    for (let r = 0; r < rowsOf(x); r++) {
      let max = -Infinity;
      for (let j = 0; j < V; j++) max = Math.max(max, a[r * V + j]);
      let sum = 0;
      for (let j = 0; j < V; j++) {
        o[r * V + j] = Math.exp(a[r * V + j] - max);
        sum += o[r * V + j];
      }
      for (let j = 0; j < V; j++) o[r * V + j] /= sum;
    }
  }

  contrast(expert: Tensor, amateur: Tensor, shared: number, alpha: number, stats: Tensor, labelIds: Tensor, labelWeights: Tensor): void {
    const e = f(expert),
      a = f(amateur),
      st = f(stats),
      ids = i(labelIds),
      lw = f(labelWeights);
    const Ve = lastDim(expert),
      Va = lastDim(amateur),
      m = rowsOf(expert),
      K = lastDim(labelIds);
    if (shared > Ve || shared > Va) throw new RangeError(`contrast: shared vocabulary ${shared} exceeds ${Ve} / ${Va}`);
    for (let r = 0; r < m; r++) {
      const c = contrastRow(e, r * Ve, Ve, a, r * Va, Va, shared, alpha);
      st[r * 2] = c.kl;
      st[r * 2 + 1] = c.ids.length;
      for (let k = 0; k < K; k++) {
        ids[r * K + k] = k < c.ids.length ? c.ids[k] : -1;
        lw[r * K + k] = k < c.ids.length ? c.weights[k] : 0;
      }
    }
  }

  argmax(x: Tensor, out: Tensor): void {
    const a = f(x),
      o = i(out),
      V = lastDim(x);
    for (let r = 0; r < rowsOf(x); r++) {
      let best = 0;
      for (let j = 1; j < V; j++) if (a[r * V + j] > a[r * V + best]) best = j;
      o[r] = best;
    }
  }
}

/**
 * LightReasoner's contrast of one expert row and one amateur row of logits, in float64, exactly as
 * Backend.contrast specifies (the oracle; also the host fallback of stage 1 for rows whose mask
 * overflows the device's label slots).
 */
export function contrastRow(
  e: Float32Array,
  eOff: number,
  Ve: number,
  a: Float32Array,
  aOff: number,
  Va: number,
  shared: number,
  alpha: number,
): { kl: number; ids: number[]; weights: number[] } {
  const EPS = 1e-12;
  const softmax = (x: Float32Array, off: number, V: number): Float64Array => {
    let max = -Infinity;
    for (let j = 0; j < V; j++) max = Math.max(max, x[off + j]);
    const p = new Float64Array(V);
    let sum = 0;
    for (let j = 0; j < V; j++) sum += p[j] = Math.exp(x[off + j] - max);
    for (let j = 0; j < V; j++) p[j] /= sum;
    return p;
  };
  const pe = softmax(e, eOff, Ve),
    pa = softmax(a, aOff, Va);
  let kl = 0,
    maxPe = 0;
  for (let j = 0; j < shared; j++) {
    kl += pe[j] * (Math.log(pe[j] + EPS) - Math.log(pa[j] + EPS));
    maxPe = Math.max(maxPe, pe[j]);
  }
  const ids: number[] = [];
  for (let j = 0; j < shared; j++) if (pe[j] >= alpha * maxPe) ids.push(j);
  const score = ids.map((j) => Math.log(pe[j] + EPS) - Math.log(pa[j] + EPS));
  let top = -Infinity; // a loop, not Math.max(...score): the mask can hold 150k ids
  for (const v of score) if (v > top) top = v;
  let z = 0;
  for (const v of score) z += Math.exp(v - top);
  return { kl, ids, weights: score.map((v) => Math.exp(v - top) / z) };
}
