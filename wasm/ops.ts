// Element-wise and row-wise ops. All take explicit [start, end) ranges (rows or elements) so a
// later threaded caller can split them; index validation is done on the TypeScript side, these
// kernels trust their inputs.

import { bytesOf, unpack1, unpack4, widenRow, hsum } from './unpack';
import { widenIlvRow } from './layout';
import { expv } from './expv';

/**
 * out[r, :] = table[ids[r], :] widened to f32 and times `scale` (one f32 multiply, skipped at 1 so
 * a plain lookup stays a copy; Gemma scales by √hidden), rows [r0, r1); table [V, H] row-major or
 * interleaved (layout.ts).
 */
export function embedding(ids: usize, table: usize, dt: i32, ilv: bool, V: i32, out: usize, H: i32, scale: f32, r0: i32, r1: i32): void {
  const rowT = <usize>H * bytesOf(dt), rowO = <usize>H << 2;
  for (let r = r0; r < r1; r++) {
    const id = load<i32>(ids + (<usize>r << 2)), o = out + <usize>r * rowO;
    if (ilv) widenIlvRow(table, V, H, dt, id, 0, H, o);
    else widenRow(table + <usize>id * rowT, dt, o, H);
    if (scale != 1) scaleRow(o, H, scale);
  }
}

@inline function scaleRow(o: usize, H: i32, scale: f32): void {
  const sv = f32x4.splat(scale);
  let j = 0;
  for (; j + 4 <= H; j += 4) v128.store(o + (<usize>j << 2), f32x4.mul(v128.load(o + (<usize>j << 2)), sv));
  for (; j < H; j++) store<f32>(o + (<usize>j << 2), load<f32>(o + (<usize>j << 2)) * scale);
}

/** HF LlamaRMSNorm over rows [r0, r1) of x [*, H]; weight [H] in any weight dtype. */
export function rmsNorm(x: usize, w: usize, dt: i32, out: usize, H: i32, eps: f64, r0: i32, r1: i32): void {
  const rowB = <usize>H << 2, H4 = H & ~3;
  for (let r = r0; r < r1; r++) {
    const xr = x + <usize>r * rowB, or = out + <usize>r * rowB;
    let acc = f32x4.splat(0);
    let j = 0;
    for (; j < H4; j += 4) {
      const v = v128.load(xr + (<usize>j << 2));
      acc = f32x4.add(acc, f32x4.mul(v, v));
    }
    let ss = hsum(acc);
    for (; j < H; j++) { const a = load<f32>(xr + (<usize>j << 2)); ss += a * a; }
    const inv = <f32>(1.0 / Math.sqrt(<f64>ss / <f64>H + eps));
    const iv = f32x4.splat(inv);
    for (j = 0; j < H4; j += 4) {
      const o = <usize>j << 2;
      // (x·inv) is rounded to f32 before the weight multiply, as HF does (hidden.to(dtype) * weight)
      v128.store(or + o, f32x4.mul(f32x4.mul(v128.load(xr + o), iv), unpack4(w + <usize>j * bytesOf(dt), dt)));
    }
    for (; j < H; j++) store<f32>(or + (<usize>j << 2), load<f32>(xr + (<usize>j << 2)) * inv * unpack1(w, j, dt));
  }
}

/**
 * Rotary embedding in place on rows [r0, r1) of x [*, heads, headDim] (HF rotate_half). The
 * angle is rounded to f32 (θ = fround(pos · invFreq)) exactly as the reference does, then cos and
 * sin are taken in f64 once per row and reused by every head. scratch: f32 [headDim].
 */
export function rope(x: usize, rows: usize, invFreq: usize, scratch: usize, heads: i32, headDim: i32, r0: i32, r1: i32): void {
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
        v128.store(a + o, f32x4.sub(f32x4.mul(p, c), f32x4.mul(q, s)));
        v128.store(b + o, f32x4.add(f32x4.mul(q, c), f32x4.mul(p, s)));
      }
      for (; i < half; i++) {
        const o = <usize>i << 2;
        const p = load<f32>(a + o), q = load<f32>(b + o), c = load<f32>(cs + o), s = load<f32>(sn + o);
        store<f32>(a + o, p * c - q * s);
        store<f32>(b + o, q * c + p * s);
      }
    }
  }
}

/** Copy rows [r0, r1) of k, v [*, kvHeads·d] into caches [slots, kvHeads, maxT, d] at (slot, position). */
export function kvWrite(k: usize, v: usize, kc: usize, vc: usize, rows: usize, kvHeads: i32, maxT: i32, d: i32, r0: i32, r1: i32): void {
  const headB = <usize>d << 2;
  for (let r = r0; r < r1; r++) {
    const slot = load<i32>(rows + (<usize>r << 3)), pos = load<i32>(rows + (<usize>r << 3), 4);
    for (let h = 0; h < kvHeads; h++) {
      const dst = ((<usize>slot * kvHeads + h) * maxT + pos) * headB;
      const src = (<usize>r * kvHeads + h) * headB;
      memory.copy(kc + dst, k + src, headB);
      memory.copy(vc + dst, v + src, headB);
    }
  }
}

@inline function siluTimes(a: v128, u: v128): v128 {
  return f32x4.mul(f32x4.div(a, f32x4.add(f32x4.splat(1), expv(f32x4.neg(a)))), u);
}

/** out = silu(gate) · up over elements [i0, i1); four at a time, the tail through the same lanes. */
export function swiglu(g: usize, u: usize, out: usize, i0: i32, i1: i32): void {
  let i = i0;
  for (; i + 4 <= i1; i += 4) {
    const o = <usize>i << 2;
    v128.store(out + o, siluTimes(v128.load(g + o), v128.load(u + o)));
  }
  for (; i < i1; i++) {
    const o = <usize>i << 2;
    store<f32>(out + o, f32x4.extract_lane(siluTimes(f32x4.splat(load<f32>(g + o)), f32x4.splat(load<f32>(u + o))), 0));
  }
}

// gelu_tanh(a) = 0.5·a·(1 + tanh(z)), z = √(2/π)·(a + 0.044715·a³). Since 1 + tanh(z) = 2σ(2z),
// it is a·σ(2z) = a / (1 + e^(−2z)): the silu form with the vector exp, no tanh needed. Gates
// below −10 are taken as −10: there gelu is below 1e−36 in magnitude, while expv's clamp at e^88
// would let a / (1 + e^88) grow with |a| (−3e38 would give −1.8). Large positive gates give a
// (a³ overflowing to ∞ makes e^(−2z) expv's tiny floor), so no input gives NaN.
const GELU_2K: f32 = 1.5957691216057308; // 2·√(2/π)
const GELU_C: f32 = 0.044715;
const GELU_LO: f32 = -10;

@inline function geluTimes(g: v128, u: v128): v128 {
  const a = f32x4.pmax(g, f32x4.splat(GELU_LO));
  const z2 = f32x4.mul(f32x4.mul(a, f32x4.add(f32x4.splat(1), f32x4.mul(f32x4.splat(GELU_C), f32x4.mul(a, a)))), f32x4.splat(GELU_2K));
  return f32x4.mul(f32x4.div(a, f32x4.add(f32x4.splat(1), expv(f32x4.neg(z2)))), u);
}

/** out = gelu_tanh(gate) · up over elements [i0, i1) (Gemma's GeGLU); the tail through the same lanes. */
export function geglu(g: usize, u: usize, out: usize, i0: i32, i1: i32): void {
  let i = i0;
  for (; i + 4 <= i1; i += 4) {
    const o = <usize>i << 2;
    v128.store(out + o, geluTimes(v128.load(g + o), v128.load(u + o)));
  }
  for (; i < i1; i++) {
    const o = <usize>i << 2;
    store<f32>(out + o, f32x4.extract_lane(geluTimes(f32x4.splat(load<f32>(g + o)), f32x4.splat(load<f32>(u + o))), 0));
  }
}

/** x += y over elements [i0, i1). */
export function addInPlace(x: usize, y: usize, i0: i32, i1: i32): void {
  let i = i0;
  for (; i + 4 <= i1; i += 4) {
    const o = <usize>i << 2;
    v128.store(x + o, f32x4.add(v128.load(x + o), v128.load(y + o)));
  }
  for (; i < i1; i++) {
    const o = <usize>i << 2;
    store<f32>(x + o, load<f32>(x + o) + load<f32>(y + o));
  }
}

/** out[j, :] = x[index[j], :] for j in [j0, j1). */
export function gatherRows(x: usize, index: usize, out: usize, H: i32, j0: i32, j1: i32): void {
  const rowB = <usize>H << 2;
  for (let j = j0; j < j1; j++) {
    memory.copy(out + <usize>j * rowB, x + <usize>load<i32>(index + (<usize>j << 2)) * rowB, rowB);
  }
}

@inline function rowMax(xr: usize, V: i32): f32 {
  let j = 0;
  let m = f32x4.splat(-Infinity);
  for (; j + 4 <= V; j += 4) m = f32x4.max(m, v128.load(xr + (<usize>j << 2)));
  let best = max(max(f32x4.extract_lane(m, 0), f32x4.extract_lane(m, 1)), max(f32x4.extract_lane(m, 2), f32x4.extract_lane(m, 3)));
  for (; j < V; j++) best = max(best, load<f32>(xr + (<usize>j << 2)));
  return best;
}

/** Row-wise softmax over rows [r0, r1) of x [*, V]. */
export function softmax(x: usize, out: usize, V: i32, r0: i32, r1: i32): void {
  const rowB = <usize>V << 2;
  for (let r = r0; r < r1; r++) {
    const xr = x + <usize>r * rowB, or = out + <usize>r * rowB;
    const m = rowMax(xr, V);
    let sum: f32 = 0;
    for (let j = 0; j < V; j++) {
      const e = Mathf.exp(load<f32>(xr + (<usize>j << 2)) - m);
      store<f32>(or + (<usize>j << 2), e);
      sum += e;
    }
    const inv = f32x4.splat(1 / sum);
    let j = 0;
    for (; j + 4 <= V; j += 4) v128.store(or + (<usize>j << 2), f32x4.mul(v128.load(or + (<usize>j << 2)), inv));
    for (; j < V; j++) store<f32>(or + (<usize>j << 2), load<f32>(or + (<usize>j << 2)) / sum);
  }
}

/** out[r] = first index of the row maximum (torch.argmax), rows [r0, r1). */
export function argmax(x: usize, out: usize, V: i32, r0: i32, r1: i32): void {
  const rowB = <usize>V << 2;
  for (let r = r0; r < r1; r++) {
    const xr = x + <usize>r * rowB;
    // SIMD max, then the first position holding it; a NaN defeats the equality scan, in which case
    // fall back to the reference's strict-greater loop so both agree on odd inputs
    const m = rowMax(xr, V);
    let best = -1;
    for (let j = 0; j < V; j++) if (load<f32>(xr + (<usize>j << 2)) == m) { best = j; break; }
    if (best < 0) {
      best = 0;
      for (let j = 1; j < V; j++) if (load<f32>(xr + (<usize>j << 2)) > load<f32>(xr + (<usize>best << 2))) best = j;
    }
    store<i32>(out + (<usize>r << 2), best);
  }
}
