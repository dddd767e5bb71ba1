// Backward of causal grouped-query attention over f32 KV caches [slots, kvHeads, maxT, d], for a
// training call whose rows wrote every cache position they attend to (training.ts). Two phases,
// FlashAttention-2 style, so that each writes only the rows of its own range and a threaded caller
// can split both by rows without races:
//
//  1. per query row r and head h (attentionBackwardQ): p = softmax(scale·q·Kᵀ) over positions
//     0..pos, dp_s = dOut·v_s, D = Σ p_s·dp_s, dq = scale·Σ p_s·(dp_s − D)·k_s; the row's
//     log-sum-exp and D go to `stats` [n, heads, 2] for phase 2.
//  2. per key row r' (the row that wrote cache position (slot, s)) and KV head g
//     (attentionBackwardKV): walk the query rows of the same slot at positions t ≥ s (rowAt maps
//     slot·maxT + t → row, −1 for none), recompute p = exp(scale·q·k_s − lse) and dp, and
//     accumulate dk += scale·p·(dp − D)·q and dv += p·dOut over the heads of group g.
//
// A sliding window (window > 0) limits both phases to pairs with t − window < s ≤ t (query position
// t, key position s), as the forward (attention.ts); window 0 is full causal attention.
//
// Scores are recomputed in phase 2 rather than stored: n × heads × maxT floats would not fit for
// long sequences, and the dots are cheap next to the matmuls of the layer.

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

/** acc[0..d) += c·src[0..d). */
@inline function axpyRow(acc: usize, src: usize, c: f32, d: i32): void {
  const cv = f32x4.splat(c);
  let j = 0;
  for (; j + 4 <= d; j += 4) {
    const o = <usize>j << 2;
    v128.store(acc + o, f32x4.add(v128.load(acc + o), f32x4.mul(cv, v128.load(src + o))));
  }
  for (; j < d; j++) {
    const o = <usize>j << 2;
    store<f32>(acc + o, load<f32>(acc + o) + c * load<f32>(src + o));
  }
}

/** Phase 1 over query rows [r0, r1). scratch: f32 [2·maxT] per caller. */
export function attentionBackwardQ(
  q: usize, kc: usize, vc: usize, rows: usize, dOut: usize, dq: usize, stats: usize, scratch: usize,
  heads: i32, kvHeads: i32, maxT: i32, d: i32, scale: f32, window: i32, r0: i32, r1: i32,
): void {
  const group = heads / kvHeads;
  const headB = <usize>d << 2, rowB = <usize>heads * headB;
  const ps = scratch, dps = scratch + (<usize>maxT << 2);
  for (let r = r0; r < r1; r++) {
    const slot = load<i32>(rows + (<usize>r << 3)), pos = load<i32>(rows + (<usize>r << 3), 4);
    const lo = window > 0 ? max(0, pos - window + 1) : 0;
    for (let h = 0; h < heads; h++) {
      const off = <usize>r * rowB + <usize>h * headB;
      const qp = q + off, gp = dOut + off, dqp = dq + off;
      const cb = (<usize>slot * kvHeads + h / group) * maxT * headB;
      const kp = kc + cb, vp = vc + cb;
      let m: f32 = -Infinity;
      for (let s = lo; s <= pos; s++) {
        const sc = dot(qp, kp + <usize>s * headB, d) * scale;
        store<f32>(ps + (<usize>s << 2), sc);
        m = max(m, sc);
      }
      let sum: f32 = 0;
      for (let s = lo; s <= pos; s++) {
        const e = Mathf.exp(load<f32>(ps + (<usize>s << 2)) - m);
        store<f32>(ps + (<usize>s << 2), e);
        sum += e;
      }
      const inv: f32 = 1 / sum;
      let D: f32 = 0;
      for (let s = lo; s <= pos; s++) {
        const p = load<f32>(ps + (<usize>s << 2)) * inv;
        const dp = dot(gp, vp + <usize>s * headB, d);
        store<f32>(ps + (<usize>s << 2), p);
        store<f32>(dps + (<usize>s << 2), dp);
        D += p * dp;
      }
      memory.fill(dqp, 0, headB);
      for (let s = lo; s <= pos; s++) {
        const p = load<f32>(ps + (<usize>s << 2)), dp = load<f32>(dps + (<usize>s << 2));
        axpyRow(dqp, kp + <usize>s * headB, p * (dp - D) * scale, d);
      }
      const st = stats + ((<usize>r * heads + h) << 3);
      store<f32>(st, m + Mathf.log(sum));
      store<f32>(st, D, 4);
    }
  }
}

/** Phase 2 over key rows [r0, r1): writes dk, dv [n, kvHeads·d] rows r0..r1. rowAt: i32 [slots·maxT]. */
export function attentionBackwardKV(
  q: usize, kc: usize, vc: usize, rows: usize, rowAt: usize, dOut: usize, stats: usize, dk: usize, dv: usize,
  heads: i32, kvHeads: i32, maxT: i32, d: i32, scale: f32, window: i32, r0: i32, r1: i32,
): void {
  const group = heads / kvHeads;
  const headB = <usize>d << 2, rowB = <usize>heads * headB;
  for (let r = r0; r < r1; r++) {
    const slot = load<i32>(rows + (<usize>r << 3)), s = load<i32>(rows + (<usize>r << 3), 4);
    const at = rowAt + ((<usize>slot * maxT) << 2);
    const tEnd = window > 0 ? min(maxT, s + window) : maxT; // queries t < s + window see key s
    for (let g = 0; g < kvHeads; g++) {
      const dkp = dk + (<usize>r * kvHeads + g) * headB, dvp = dv + (<usize>r * kvHeads + g) * headB;
      const cp = ((<usize>slot * kvHeads + g) * maxT + s) * headB;
      const kp = kc + cp, vp = vc + cp;
      memory.fill(dkp, 0, headB);
      memory.fill(dvp, 0, headB);
      for (let t = s; t < tEnd; t++) {
        const qr = load<i32>(at + (<usize>t << 2));
        if (qr < 0) continue;
        for (let h = g * group; h < (g + 1) * group; h++) {
          const off = <usize>qr * rowB + <usize>h * headB;
          const st = stats + ((<usize>qr * heads + h) << 3);
          const p = Mathf.exp(dot(q + off, kp, d) * scale - load<f32>(st));
          const dp = dot(dOut + off, vp, d);
          axpyRow(dkp, q + off, p * (dp - load<f32>(st, 4)) * scale, d);
          axpyRow(dvp, dOut + off, p, d);
        }
      }
    }
  }
}
