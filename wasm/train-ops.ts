// Element-wise and row-wise training ops (runtime/backend/training.ts is the spec). Like ops.ts,
// every kernel takes an explicit [start, end) range of rows or elements and trusts its inputs
// (the TypeScript side validates shapes and indices).

import { bytesOf, unpack1, unpack4, hsum } from './unpack';

/** x[i] = value over elements [i0, i1). */
export function fill(x: usize, value: f32, i0: i32, i1: i32): void {
  const v = f32x4.splat(value);
  let i = i0;
  for (; i + 4 <= i1; i += 4) v128.store(x + (<usize>i << 2), v);
  for (; i < i1; i++) store<f32>(x + (<usize>i << 2), value);
}

/** x += alpha·y over elements [i0, i1). */
export function axpy(x: usize, y: usize, alpha: f32, i0: i32, i1: i32): void {
  const a = f32x4.splat(alpha);
  let i = i0;
  for (; i + 4 <= i1; i += 4) {
    const o = <usize>i << 2;
    v128.store(x + o, f32x4.add(v128.load(x + o), f32x4.mul(a, v128.load(y + o))));
  }
  for (; i < i1; i++) {
    const o = <usize>i << 2;
    store<f32>(x + o, load<f32>(x + o) + alpha * load<f32>(y + o));
  }
}

/**
 * Backward of rmsNorm over rows [r0, r1) of [*, H]: with inv = rsqrt(mean x² + eps),
 * dx = inv·dy·w − inv³·x·(Σ dy·w·x)/H. Weight [H] in any weight dtype.
 */
export function rmsNormBackward(x: usize, w: usize, dt: i32, dy: usize, dx: usize, H: i32, eps: f64, r0: i32, r1: i32): void {
  const rowB = <usize>H << 2, H4 = H & ~3, WB = bytesOf(dt);
  for (let r = r0; r < r1; r++) {
    const xr = x + <usize>r * rowB, gr = dy + <usize>r * rowB, or = dx + <usize>r * rowB;
    let ss4 = f32x4.splat(0), dot4 = ss4;
    let j = 0;
    for (; j < H4; j += 4) {
      const o = <usize>j << 2;
      const a = v128.load(xr + o);
      ss4 = f32x4.add(ss4, f32x4.mul(a, a));
      dot4 = f32x4.add(dot4, f32x4.mul(f32x4.mul(v128.load(gr + o), unpack4(w + <usize>j * WB, dt)), a));
    }
    let ss = hsum(ss4), dot = hsum(dot4);
    for (; j < H; j++) {
      const a = load<f32>(xr + (<usize>j << 2));
      ss += a * a;
      dot += load<f32>(gr + (<usize>j << 2)) * unpack1(w, j, dt) * a;
    }
    const inv = 1.0 / Math.sqrt(<f64>ss / <f64>H + eps);
    const invf = <f32>inv, coef = <f32>((inv * inv * inv * <f64>dot) / <f64>H);
    const iv = f32x4.splat(invf), cv = f32x4.splat(coef);
    for (j = 0; j < H4; j += 4) {
      const o = <usize>j << 2;
      const gw = f32x4.mul(v128.load(gr + o), unpack4(w + <usize>j * WB, dt));
      v128.store(or + o, f32x4.sub(f32x4.mul(iv, gw), f32x4.mul(cv, v128.load(xr + o))));
    }
    for (; j < H; j++) {
      const o = <usize>j << 2;
      store<f32>(or + o, invf * load<f32>(gr + o) * unpack1(w, j, dt) - coef * load<f32>(xr + o));
    }
  }
}

/** Backward of silu(gate)·up over elements [i0, i1). */
export function swigluBackward(g: usize, u: usize, dy: usize, dg: usize, du: usize, i0: i32, i1: i32): void {
  for (let i = i0; i < i1; i++) {
    const o = <usize>i << 2;
    const a = load<f32>(g + o), d = load<f32>(dy + o);
    const sig: f32 = 1 / (1 + Mathf.exp(-a));
    store<f32>(du + o, d * a * sig);
    store<f32>(dg + o, d * load<f32>(u + o) * sig * (1 + a * (1 - sig)));
  }
}

/**
 * Backward of gelu_tanh(gate)·up over elements [i0, i1). With σ = σ(2z) (ops.ts: gelu_tanh(a) =
 * a·σ(2z), z = √(2/π)(a + 0.044715a³)): act = a·σ, act' = σ + a·σ(1 − σ)·2√(2/π)(1 + 3·0.044715a²).
 */
export function gegluBackward(g: usize, u: usize, dy: usize, dg: usize, du: usize, i0: i32, i1: i32): void {
  const K2: f32 = 1.5957691216057308, C: f32 = 0.044715;
  for (let i = i0; i < i1; i++) {
    const o = <usize>i << 2;
    const a = load<f32>(g + o), d = load<f32>(dy + o), a2 = a * a;
    const sig: f32 = 1 / (1 + Mathf.exp(-(K2 * a * (1 + C * a2))));
    const s1 = sig * (1 - sig); // 0 where σ saturates: skip the product, which could be 0·∞ there
    store<f32>(du + o, d * a * sig);
    store<f32>(dg + o, d * load<f32>(u + o) * (s1 == 0 ? sig : sig + a * s1 * K2 * (1 + 3 * C * a2)));
  }
}

/**
 * Backward of rope in place on rows [r0, r1) of x [*, heads, headDim]: the rotation by −θ, with θ
 * rounded exactly as the forward kernel (ops.ts) does. scratch: f32 [headDim].
 */
export function ropeBackward(x: usize, rows: usize, invFreq: usize, scratch: usize, heads: i32, headDim: i32, r0: i32, r1: i32): void {
  const half = headDim >> 1, half4 = half & ~3;
  const cs = scratch, sn = scratch + (<usize>half << 2);
  const rowB = <usize>heads * headDim << 2;
  for (let r = r0; r < r1; r++) {
    const pos = <f32>load<i32>(rows + (<usize>r << 3), 4);
    for (let i = 0; i < half; i++) {
      const th = <f64>(pos * load<f32>(invFreq + (<usize>i << 2)));
      store<f32>(cs + (<usize>i << 2), <f32>Math.cos(th));
      store<f32>(sn + (<usize>i << 2), <f32>Math.sin(th));
    }
    for (let h = 0; h < heads; h++) {
      const a = x + <usize>r * rowB + (<usize>h * headDim << 2), b = a + (<usize>half << 2);
      let i = 0;
      for (; i < half4; i += 4) {
        const o = <usize>i << 2;
        const p = v128.load(a + o), q = v128.load(b + o), c = v128.load(cs + o), s = v128.load(sn + o);
        v128.store(a + o, f32x4.add(f32x4.mul(p, c), f32x4.mul(q, s)));
        v128.store(b + o, f32x4.sub(f32x4.mul(q, c), f32x4.mul(p, s)));
      }
      for (; i < half; i++) {
        const o = <usize>i << 2;
        const p = load<f32>(a + o), q = load<f32>(b + o), c = load<f32>(cs + o), s = load<f32>(sn + o);
        store<f32>(a + o, p * c + q * s);
        store<f32>(b + o, q * c - p * s);
      }
    }
  }
}

/** out[index[j], :] += x[j, :] for j in [j0, j1). A threaded caller must give workers disjoint target rows. */
export function scatterAddRows(x: usize, index: usize, out: usize, H: i32, j0: i32, j1: i32): void {
  const rowB = <usize>H << 2;
  for (let j = j0; j < j1; j++) {
    const src = x + <usize>j * rowB, dst = out + <usize>load<i32>(index + (<usize>j << 2)) * rowB;
    let c = 0;
    for (; c + 4 <= H; c += 4) {
      const o = <usize>c << 2;
      v128.store(dst + o, f32x4.add(v128.load(dst + o), v128.load(src + o)));
    }
    for (; c < H; c++) {
      const o = <usize>c << 2;
      store<f32>(dst + o, load<f32>(dst + o) + load<f32>(src + o));
    }
  }
}

/**
 * Soft-label loss and its gradient over rows [r0, r1) of logits [*, V]; labels [*, K] padded with
 * (-1, 0). One exp per logit: e = exp(z − max) goes straight into dLogits and is scaled by
 * scale/Σe afterwards; the log-sum-exp and the loss are formed in f64.
 */
export function softLabelLoss(z: usize, ids: usize, lw: usize, scale: f32, loss: usize, g: usize, V: i32, K: i32, r0: i32, r1: i32): void {
  const rowB = <usize>V << 2;
  for (let r = r0; r < r1; r++) {
    const zr = z + <usize>r * rowB, gr = g + <usize>r * rowB;
    let j = 0;
    let m4 = f32x4.splat(-Infinity);
    for (; j + 4 <= V; j += 4) m4 = f32x4.max(m4, v128.load(zr + (<usize>j << 2)));
    let m = max(max(f32x4.extract_lane(m4, 0), f32x4.extract_lane(m4, 1)), max(f32x4.extract_lane(m4, 2), f32x4.extract_lane(m4, 3)));
    for (; j < V; j++) m = max(m, load<f32>(zr + (<usize>j << 2)));
    let sum: f64 = 0;
    for (j = 0; j < V; j++) {
      const e = Mathf.exp(load<f32>(zr + (<usize>j << 2)) - m);
      store<f32>(gr + (<usize>j << 2), e);
      sum += e;
    }
    const lse = <f64>m + Math.log(sum);
    const f = <f32>(<f64>scale / sum), fv = f32x4.splat(f);
    for (j = 0; j + 4 <= V; j += 4) v128.store(gr + (<usize>j << 2), f32x4.mul(v128.load(gr + (<usize>j << 2)), fv));
    for (; j < V; j++) store<f32>(gr + (<usize>j << 2), load<f32>(gr + (<usize>j << 2)) * f);
    let acc: f64 = 0;
    for (let k = 0; k < K; k++) {
      const o = (<usize>r * K + k) << 2;
      const id = load<i32>(ids + o), wk = load<f32>(lw + o);
      if (id < 0 || wk == 0) continue;
      const zi = load<f32>(zr + (<usize>id << 2));
      acc += <f64>wk * (Math.log(<f64>wk) - (<f64>zi - lse));
      store<f32>(gr + (<usize>id << 2), load<f32>(gr + (<usize>id << 2)) - scale * wk);
    }
    store<f32>(loss + (<usize>r << 2), <f32>acc);
  }
}

// lowbias32 (training.ts dropoutHash), scalar and four lanes at a time
@inline function lowbias(x: u32): u32 {
  x ^= x >>> 16;
  x *= 0x7feb352d;
  x ^= x >>> 15;
  x *= 0x846ca68b;
  x ^= x >>> 16;
  return x;
}
@inline function lowbias4(x: v128): v128 {
  x = v128.xor(x, i32x4.shr_u(x, 16));
  x = i32x4.mul(x, i32x4.splat(0x7feb352d));
  x = v128.xor(x, i32x4.shr_u(x, 15));
  x = i32x4.mul(x, i32x4.splat(<i32>0x846ca68b));
  return v128.xor(x, i32x4.shr_u(x, 16));
}

/**
 * Inverted dropout over elements [i0, i1): element i is kept iff (hash(seed, stream, i) >>> 8) ≥
 * threshold, where threshold = ⌈p·2^24⌉ (equivalent to the spec's (h >>> 8)/2^24 ≥ p, since
 * h >>> 8 is an integer); kept elements are multiplied by keep = 1/(1 − p) in f64 and rounded
 * once, exactly as the reference.
 */
export function dropout(x: usize, out: usize, threshold: u32, keep: f64, seed: u32, stream: u32, i0: i32, i1: i32): void {
  const key = lowbias(stream ^ lowbias(seed));
  const kv = i32x4.splat(key), tv = i32x4.splat(threshold), keepv = f64x2.splat(keep);
  let i = i0;
  for (; i + 4 <= i1; i += 4) {
    const idx = i32x4.add(i32x4.splat(i), i32x4(0, 1, 2, 3));
    const kept = i32x4.ge_u(i32x4.shr_u(lowbias4(v128.xor(idx, kv)), 8), tv);
    const o = <usize>i << 2;
    const a = v128.load(x + o);
    const lo = f32x4.demote_f64x2_zero(f64x2.mul(f64x2.promote_low_f32x4(a), keepv));
    const hi = f32x4.demote_f64x2_zero(f64x2.mul(f64x2.promote_low_f32x4(f32x4.shuffle(a, a, 2, 3, 0, 1)), keepv));
    v128.store(out + o, v128.and(f32x4.shuffle(lo, hi, 0, 1, 4, 5), kept));
  }
  for (; i < i1; i++) {
    const o = <usize>i << 2;
    const kept = (lowbias(<u32>i ^ key) >>> 8) >= threshold;
    store<f32>(out + o, kept ? <f32>(<f64>load<f32>(x + o) * keep) : 0);
  }
}

/** Σ x² over elements [i0, i1), accumulated in f64 (the caller adds it to out[0]). */
export function sumSquares(x: usize, i0: i32, i1: i32): f64 {
  let s0 = f64x2.splat(0), s1 = s0;
  let i = i0;
  for (; i + 4 <= i1; i += 4) {
    const a = v128.load(x + (<usize>i << 2));
    const lo = f64x2.promote_low_f32x4(a), hi = f64x2.promote_low_f32x4(f32x4.shuffle(a, a, 2, 3, 0, 1));
    s0 = f64x2.add(s0, f64x2.mul(lo, lo));
    s1 = f64x2.add(s1, f64x2.mul(hi, hi));
  }
  const t = f64x2.add(s0, s1);
  let s = f64x2.extract_lane(t, 0) + f64x2.extract_lane(t, 1);
  for (; i < i1; i++) {
    const a = <f64>load<f32>(x + (<usize>i << 2));
    s += a * a;
  }
  return s;
}

/**
 * One AdamW step over elements [i0, i1), in f64 with f32 storage exactly as the reference:
 * decay = 1 − lr·weightDecay, stepSize = lr/(1 − β1^step), sqrtBc2 = √(1 − β2^step).
 */
export function adamw(p: usize, g: usize, m: usize, v: usize, gradScale: f64, b1: f64, b2: f64, eps: f64, decay: f64, stepSize: f64, sqrtBc2: f64, i0: i32, i1: i32): void {
  for (let i = i0; i < i1; i++) {
    const o = <usize>i << 2;
    const gj = <f64>load<f32>(g + o) * gradScale;
    const mj = <f32>(b1 * <f64>load<f32>(m + o) + (1 - b1) * gj);
    const vj = <f32>(b2 * <f64>load<f32>(v + o) + (1 - b2) * gj * gj);
    store<f32>(m + o, mj);
    store<f32>(v + o, vj);
    store<f32>(p + o, <f32>(<f64>load<f32>(p + o) * decay - stepSize * (<f64>mj / (Math.sqrt(<f64>vj) / sqrtBc2 + eps))));
  }
}
