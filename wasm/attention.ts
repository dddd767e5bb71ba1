// Causal grouped-query attention over f32 KV caches [slots, kvHeads, maxT, headDim]. The unit of
// work is one (row, KV head): the heads / kvHeads query heads that share its keys and values are
// done together, so every key and value row comes in from the cache once for all of them (a decode
// step re-reads the whole cache; head by head that was 3–7 times the traffic). Per query head the
// scores q·k_s (s ≤ pos) go to a scratch row (group × maxT floats per caller, so a threaded caller
// gives each worker its own), the softmax exponentials are taken four at a time (expv.ts), and the
// exp-weighted sum of the value rows accumulates four positions per pass over the output row.
// A sliding window (window > 0: keys pos − window < s ≤ pos, Gemma 3's local layers) only moves
// the first key: the same arithmetic over fewer positions, so window 0 keeps its bits.

import { expv } from './expv';

@inline function dot(a: usize, b: usize, d: i32): f32 {
  let j = 0;
  let s0 = f32x4.splat(0), s1 = s0;
  for (; j + 8 <= d; j += 8) {
    const o = <usize>j << 2;
    s0 = f32x4.add(s0, f32x4.mul(v128.load(a + o), v128.load(b + o)));
    s1 = f32x4.add(s1, f32x4.mul(v128.load(a + o, 16), v128.load(b + o, 16)));
  }
  const t = f32x4.add(s0, s1);
  let s = f32x4.extract_lane(t, 0) + f32x4.extract_lane(t, 1) + f32x4.extract_lane(t, 2) + f32x4.extract_lane(t, 3);
  for (; j < d; j++) s += load<f32>(a + (<usize>j << 2)) * load<f32>(b + (<usize>j << 2));
  return s;
}

// exp(x − m) of a scratch row of T scores, in place; returns their sum. Every element goes through
// the same expv lane arithmetic (the tail via a splat), so a score's value does not depend on T.
@inline function expRow(sp: usize, T: i32): f32 {
  const T4 = T & ~3;
  let mv = f32x4.splat(-Infinity);
  for (let s = 0; s < T4; s += 4) mv = f32x4.pmax(mv, v128.load(sp + (<usize>s << 2))); // scores are never NaN
  let m = max(max(f32x4.extract_lane(mv, 0), f32x4.extract_lane(mv, 1)), max(f32x4.extract_lane(mv, 2), f32x4.extract_lane(mv, 3)));
  for (let s = T4; s < T; s++) m = max(m, load<f32>(sp + (<usize>s << 2)));
  const ms = f32x4.splat(m);
  let sv = f32x4.splat(0);
  for (let s = 0; s < T4; s += 4) {
    const e = expv(f32x4.sub(v128.load(sp + (<usize>s << 2)), ms));
    v128.store(sp + (<usize>s << 2), e);
    sv = f32x4.add(sv, e);
  }
  let sum = (f32x4.extract_lane(sv, 0) + f32x4.extract_lane(sv, 1)) + (f32x4.extract_lane(sv, 2) + f32x4.extract_lane(sv, 3));
  for (let s = T4; s < T; s++) {
    const e = f32x4.extract_lane(expv(f32x4.splat(load<f32>(sp + (<usize>s << 2)) - m)), 0);
    store<f32>(sp + (<usize>s << 2), e);
    sum += e;
  }
  return sum;
}

// One (row r, KV head g) with its `group` query heads: scores, softmax, weighted sum of v_s.
@inline function attendGroup(
  q: usize, kc: usize, vc: usize, rows: usize, out: usize, scores: usize,
  heads: i32, kvHeads: i32, maxT: i32, d: i32, scale: f32, window: i32, r: i32, g: i32,
): void {
  const group = heads / kvHeads;
  const headB = <usize>d << 2, rowB = <usize>heads * headB, rowS = <usize>maxT << 2;
  const d4 = d & ~3;
  const slot = load<i32>(rows + (<usize>r << 3)), pos = load<i32>(rows + (<usize>r << 3), 4);
  const s0 = window > 0 ? max(0, pos - window + 1) : 0; // first key seen
  const T = pos + 1 - s0, T4 = T & ~3;
  const qp = q + <usize>r * rowB + <usize>(g * group) * headB, op = out + <usize>r * rowB + <usize>(g * group) * headB;
  const cb = ((<usize>slot * kvHeads + g) * maxT + <usize>s0) * headB;
  const kp = kc + cb, vp = vc + cb;
  for (let s = 0; s < T; s++) {
    const kr = kp + <usize>s * headB;
    for (let h = 0; h < group; h++) store<f32>(scores + <usize>h * rowS + (<usize>s << 2), dot(qp + <usize>h * headB, kr, d) * scale);
  }
  // softmax numerators in place; 1/Σ is applied to the output at the end
  const inv = <usize>scores + <usize>group * rowS; // group floats after the score rows
  for (let h = 0; h < group; h++) store<f32>(inv + (<usize>h << 2), 1 / expRow(scores + <usize>h * rowS, T));
  memory.fill(op, 0, <usize>group * headB);
  // four value rows at a time, all heads of the group over them (they stay in L1 meanwhile)
  for (let s = 0; s < T4; s += 4) {
    const v0 = vp + <usize>s * headB, v1 = v0 + headB, v2 = v1 + headB, v3 = v2 + headB;
    for (let h = 0; h < group; h++) {
      const ps = scores + <usize>h * rowS + (<usize>s << 2), oh = op + <usize>h * headB;
      const pv = v128.load(ps);
      const p0 = f32x4.splat(f32x4.extract_lane(pv, 0)), p1 = f32x4.splat(f32x4.extract_lane(pv, 1));
      const p2 = f32x4.splat(f32x4.extract_lane(pv, 2)), p3 = f32x4.splat(f32x4.extract_lane(pv, 3));
      let j = 0;
      for (; j < d4; j += 4) {
        const o = <usize>j << 2;
        let a = f32x4.add(v128.load(oh + o), f32x4.mul(p0, v128.load(v0 + o)));
        a = f32x4.add(a, f32x4.mul(p1, v128.load(v1 + o)));
        a = f32x4.add(a, f32x4.mul(p2, v128.load(v2 + o)));
        v128.store(oh + o, f32x4.add(a, f32x4.mul(p3, v128.load(v3 + o))));
      }
      for (; j < d; j++) {
        const o = <usize>j << 2;
        let a = load<f32>(oh + o) + f32x4.extract_lane(pv, 0) * load<f32>(v0 + o);
        a += f32x4.extract_lane(pv, 1) * load<f32>(v1 + o);
        a += f32x4.extract_lane(pv, 2) * load<f32>(v2 + o);
        store<f32>(oh + o, a + f32x4.extract_lane(pv, 3) * load<f32>(v3 + o));
      }
    }
  }
  for (let s = T4; s < T; s++) {
    const vr = vp + <usize>s * headB;
    for (let h = 0; h < group; h++) {
      const p = load<f32>(scores + <usize>h * rowS + (<usize>s << 2)), pv = f32x4.splat(p);
      const oh = op + <usize>h * headB;
      let j = 0;
      for (; j < d4; j += 4) {
        const o = <usize>j << 2;
        v128.store(oh + o, f32x4.add(v128.load(oh + o), f32x4.mul(pv, v128.load(vr + o))));
      }
      for (; j < d; j++) {
        const o = <usize>j << 2;
        store<f32>(oh + o, load<f32>(oh + o) + p * load<f32>(vr + o));
      }
    }
  }
  for (let h = 0; h < group; h++) {
    const oh = op + <usize>h * headB, f = load<f32>(inv + (<usize>h << 2)), iv = f32x4.splat(f);
    let j = 0;
    for (; j < d4; j += 4) v128.store(oh + (<usize>j << 2), f32x4.mul(v128.load(oh + (<usize>j << 2)), iv));
    for (; j < d; j++) store<f32>(oh + (<usize>j << 2), load<f32>(oh + (<usize>j << 2)) * f);
  }
}

/** Scratch floats one caller needs: a score row per query head of a group, and their 1/Σ. */
export function attentionScratchFloats(heads: i32, kvHeads: i32, maxT: i32): i32 {
  const group = heads / kvHeads;
  return group * maxT + group;
}

/** Rows [r0, r1) of q [*, heads·d] → out (same shape); rows holds (slot, position) pairs; window 0 = full causal. */
export function attention(
  q: usize, kc: usize, vc: usize, rows: usize, out: usize, scores: usize,
  heads: i32, kvHeads: i32, maxT: i32, d: i32, scale: f32, window: i32, r0: i32, r1: i32,
): void {
  for (let r = r0; r < r1; r++) {
    for (let g = 0; g < kvHeads; g++) attendGroup(q, kc, vc, rows, out, scores, heads, kvHeads, maxT, d, scale, window, r, g);
  }
}

/**
 * The same over (row, KV head) units [i0, i1) with i = row·kvHeads + g, so a threaded caller can
 * split decode steps (1–8 rows) across threads. Each unit is computed exactly as above.
 */
export function attentionGroups(
  q: usize, kc: usize, vc: usize, rows: usize, out: usize, scores: usize,
  heads: i32, kvHeads: i32, maxT: i32, d: i32, scale: f32, window: i32, i0: i32, i1: i32,
): void {
  for (let i = i0; i < i1; i++) attendGroup(q, kc, vc, rows, out, scores, heads, kvHeads, maxT, d, scale, window, i / kvHeads, i % kvHeads);
}
