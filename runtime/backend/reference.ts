// The plain-TypeScript backend: straightforward loops, no tricks. It is the oracle every WebGPU and
// Wasm kernel is tested against and the baseline the benches compare with; it is never picked by
// `auto`. It decodes weights to f32 on upload, which is fine for an oracle and why it is not used
// for real models. Forward ops live in reference-forward.ts; the training ops are here.

import { f, gluGrad, i, lastDim, ReferenceForward, rowsOf, windowStart } from './reference-forward.ts';
import { dropoutHash } from './training.ts';
import type { AdamWStep, Backend, GluActivation, Rows, Tensor, TrainingOps } from './types.ts';

export class ReferenceBackend extends ReferenceForward implements Backend, TrainingOps {
  /** The reference implements the training ops itself (the oracle for the other backends'). */
  readonly training: TrainingOps = this;

  fill(x: Tensor, value: number): void {
    f(x).subarray(0, x.size).fill(value);
  }

  axpy(x: Tensor, y: Tensor, alpha: number): void {
    const a = f(x),
      b = f(y);
    for (let j = 0; j < x.size; j++) a[j] += alpha * b[j];
  }

  matmulNN(x: Tensor, w: Tensor, out: Tensor, accumulate: boolean): void {
    const a = f(x),
      b = f(w),
      o = f(out);
    const N = lastDim(x),
      K = lastDim(w),
      n = rowsOf(x);
    if (w.shape[0] !== N || lastDim(out) !== K) throw new RangeError(`matmulNN shapes [${x.shape}]·[${w.shape}] → [${out.shape}]`);
    for (let r = 0; r < n; r++) {
      for (let k = 0; k < K; k++) {
        let s = 0;
        for (let j = 0; j < N; j++) s += a[r * N + j] * b[j * K + k];
        o[r * K + k] = (accumulate ? o[r * K + k] : 0) + s;
      }
    }
  }

  matmulTN(a: Tensor, b: Tensor, out: Tensor, alpha: number, accumulate: boolean): void {
    const x = f(a),
      y = f(b),
      o = f(out);
    const M = lastDim(a),
      N = lastDim(b),
      n = rowsOf(a);
    if (rowsOf(b) !== n || out.size !== M * N) throw new RangeError(`matmulTN shapes [${a.shape}]ᵀ·[${b.shape}] → [${out.shape}]`);
    for (let m = 0; m < M; m++) {
      for (let c = 0; c < N; c++) {
        let s = 0;
        for (let r = 0; r < n; r++) s += x[r * M + m] * y[r * N + c];
        o[m * N + c] = (accumulate ? o[m * N + c] : 0) + alpha * s;
      }
    }
  }

  rmsNormBackward(x: Tensor, weight: Tensor, dy: Tensor, eps: number, dx: Tensor): void {
    const a = f(x),
      w = f(weight),
      g = f(dy),
      o = f(dx);
    const H = lastDim(x);
    for (let r = 0; r < rowsOf(x); r++) {
      let ss = 0,
        dot = 0;
      for (let j = 0; j < H; j++) {
        ss += a[r * H + j] * a[r * H + j];
        dot += g[r * H + j] * w[j] * a[r * H + j];
      }
      const inv = 1 / Math.sqrt(ss / H + eps);
      for (let j = 0; j < H; j++) o[r * H + j] = inv * g[r * H + j] * w[j] - (inv * inv * inv * a[r * H + j] * dot) / H;
    }
  }

  gluBackward(gate: Tensor, up: Tensor, dy: Tensor, dgate: Tensor, dup: Tensor, activation: GluActivation): void {
    const gt = f(gate),
      u = f(up),
      g = f(dy),
      dg = f(dgate),
      du = f(dup);
    for (let j = 0; j < gate.size; j++) {
      const { act, grad } = gluGrad(activation, gt[j]);
      du[j] = g[j] * act;
      dg[j] = g[j] * u[j] * grad;
    }
  }

  ropeBackward(x: Tensor, rows: Rows, invFreq: Tensor, heads: number, headDim: number): void {
    const a = f(x),
      rw = i(rows),
      fr = f(invFreq);
    const half = headDim / 2;
    for (let r = 0; r < rows.shape[0]; r++) {
      const pos = rw[r * 2 + 1];
      for (let h = 0; h < heads; h++) {
        const base = (r * heads + h) * headDim;
        for (let j = 0; j < half; j++) {
          const th = Math.fround(pos * fr[j]);
          const cs = Math.cos(th),
            sn = Math.sin(th);
          const p = a[base + j],
            q = a[base + j + half];
          a[base + j] = p * cs + q * sn;
          a[base + j + half] = q * cs - p * sn;
        }
      }
    }
  }

  attentionBackward(
    q: Tensor,
    kCache: Tensor,
    vCache: Tensor,
    rows: Rows,
    _out: Tensor,
    dOut: Tensor,
    dq: Tensor,
    dk: Tensor,
    dv: Tensor,
    heads: number,
    scale: number,
    window = 0,
  ): void {
    const qq = f(q),
      kc = f(kCache),
      vc = f(vCache),
      rw = i(rows),
      go = f(dOut),
      gq = f(dq),
      gk = f(dk),
      gv = f(dv);
    const [, kvh, maxT, d] = kCache.shape;
    const group = heads / kvh,
      n = rows.shape[0];
    // Gradients w.r.t. the whole caches, gathered back to the rows that wrote them at the end.
    const dK = new Float64Array(kCache.size),
      dV = new Float64Array(vCache.size);
    const p = new Float64Array(maxT),
      dp = new Float64Array(maxT);
    for (let r = 0; r < n; r++) {
      const slot = rw[r * 2],
        pos = rw[r * 2 + 1],
        s0 = windowStart(pos, window);
      for (let h = 0; h < heads; h++) {
        const g = Math.floor(h / group),
          qb = (r * heads + h) * d,
          cb = (slot * kvh + g) * maxT * d;
        let max = -Infinity;
        for (let s = s0; s <= pos; s++) {
          let dot = 0;
          for (let j = 0; j < d; j++) dot += qq[qb + j] * kc[cb + s * d + j];
          p[s] = dot * scale;
          if (p[s] > max) max = p[s];
        }
        let sum = 0;
        for (let s = s0; s <= pos; s++) sum += p[s] = Math.exp(p[s] - max);
        let D = 0;
        for (let s = s0; s <= pos; s++) {
          p[s] /= sum;
          let dot = 0;
          for (let j = 0; j < d; j++) dot += go[qb + j] * vc[cb + s * d + j];
          dp[s] = dot;
          D += p[s] * dot;
        }
        for (let j = 0; j < d; j++) gq[qb + j] = 0;
        for (let s = s0; s <= pos; s++) {
          const ds = p[s] * (dp[s] - D) * scale;
          for (let j = 0; j < d; j++) {
            gq[qb + j] += ds * kc[cb + s * d + j];
            dK[cb + s * d + j] += ds * qq[qb + j];
            dV[cb + s * d + j] += p[s] * go[qb + j];
          }
        }
      }
    }
    for (let r = 0; r < n; r++) {
      const slot = rw[r * 2],
        pos = rw[r * 2 + 1];
      for (let g = 0; g < kvh; g++) {
        const src = ((slot * kvh + g) * maxT + pos) * d,
          dst = (r * kvh + g) * d;
        for (let j = 0; j < d; j++) {
          gk[dst + j] = dK[src + j];
          gv[dst + j] = dV[src + j];
        }
      }
    }
  }

  scatterAddRows(x: Tensor, index: Tensor, out: Tensor): void {
    const a = f(x),
      ix = i(index),
      o = f(out),
      H = lastDim(x);
    for (let j = 0; j < index.size; j++) for (let c = 0; c < H; c++) o[ix[j] * H + c] += a[j * H + c];
  }

  softLabelLoss(logits: Tensor, labelIds: Tensor, labelWeights: Tensor, scale: number, loss: Tensor, dLogits: Tensor): void {
    const z = f(logits),
      ids = i(labelIds),
      w = f(labelWeights),
      l = f(loss),
      g = f(dLogits);
    const V = lastDim(logits),
      K = lastDim(labelIds);
    for (let r = 0; r < rowsOf(logits); r++) {
      let max = -Infinity;
      for (let j = 0; j < V; j++) max = Math.max(max, z[r * V + j]);
      let sum = 0;
      for (let j = 0; j < V; j++) sum += Math.exp(z[r * V + j] - max);
      const lse = max + Math.log(sum);
      for (let j = 0; j < V; j++) g[r * V + j] = scale * Math.exp(z[r * V + j] - lse);
      let acc = 0;
      for (let k = 0; k < K; k++) {
        const id = ids[r * K + k],
          wk = w[r * K + k];
        if (id < 0 || wk === 0) continue;
        acc += wk * (Math.log(wk) - (z[r * V + id] - lse));
        g[r * V + id] -= scale * wk;
      }
      l[r] = acc;
    }
  }

  dropout(x: Tensor, out: Tensor, p: number, seed: number, stream: number): void {
    const a = f(x),
      o = f(out);
    const keep = 1 / (1 - p);
    for (let j = 0; j < x.size; j++) o[j] = (dropoutHash(seed, stream, j) >>> 8) / 16777216 >= p ? a[j] * keep : 0;
  }

  sumSquares(x: Tensor, out: Tensor): void {
    const a = f(x);
    let s = 0;
    for (let j = 0; j < x.size; j++) s += a[j] * a[j];
    f(out)[0] += s;
  }

  adamw(param: Tensor, grad: Tensor, m: Tensor, v: Tensor, o: AdamWStep): void {
    const p = f(param),
      g = f(grad),
      mm = f(m),
      vv = f(v);
    const bc1 = 1 - o.beta1 ** o.step,
      bc2 = 1 - o.beta2 ** o.step;
    for (let j = 0; j < param.size; j++) {
      const gj = g[j] * o.gradScale;
      mm[j] = o.beta1 * mm[j] + (1 - o.beta1) * gj;
      vv[j] = o.beta2 * vv[j] + (1 - o.beta2) * gj * gj;
      p[j] = p[j] * (1 - o.lr * o.weightDecay) - (o.lr / bc1) * (mm[j] / (Math.sqrt(vv[j]) / Math.sqrt(bc2) + o.eps));
    }
  }
}
