// Causal grouped-query attention over f32 KV caches [slots, kvHeads, maxT, headDim], two-pass
// softmax: scores for positions 0..pos go to a scratch row (maxT floats per caller, so a threaded
// caller gives each worker its own), then the exp-weighted sum of V rows accumulates straight
// into the output row.

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

// One (row, head): scores of q·k_s for s ≤ pos, softmax, weighted sum of v_s into the output.
@inline function attendHead(
  q: usize, kc: usize, vc: usize, rows: usize, out: usize, scores: usize,
  heads: i32, kvHeads: i32, maxT: i32, d: i32, scale: f32, r: i32, h: i32,
): void {
  const group = heads / kvHeads;
  const headB = <usize>d << 2, rowB = <usize>heads * headB;
  const d4 = d & ~3;
  const slot = load<i32>(rows + (<usize>r << 3)), pos = load<i32>(rows + (<usize>r << 3), 4);
  const qp = q + <usize>r * rowB + <usize>h * headB, op = out + <usize>r * rowB + <usize>h * headB;
  const cb = (<usize>slot * kvHeads + h / group) * maxT * headB;
  const kp = kc + cb, vp = vc + cb;
  let m: f32 = -Infinity;
  for (let s = 0; s <= pos; s++) {
    const sc = dot(qp, kp + <usize>s * headB, d) * scale;
    store<f32>(scores + (<usize>s << 2), sc);
    m = max(m, sc);
  }
  let sum: f32 = 0;
  for (let s = 0; s <= pos; s++) {
    const e = Mathf.exp(load<f32>(scores + (<usize>s << 2)) - m);
    store<f32>(scores + (<usize>s << 2), e);
    sum += e;
  }
  memory.fill(op, 0, headB);
  for (let s = 0; s <= pos; s++) {
    const p = load<f32>(scores + (<usize>s << 2)), pv = f32x4.splat(p);
    const vr = vp + <usize>s * headB;
    let j = 0;
    for (; j < d4; j += 4) {
      const o = <usize>j << 2;
      v128.store(op + o, f32x4.add(v128.load(op + o), f32x4.mul(pv, v128.load(vr + o))));
    }
    for (; j < d; j++) {
      const o = <usize>j << 2;
      store<f32>(op + o, load<f32>(op + o) + p * load<f32>(vr + o));
    }
  }
  const inv: f32 = 1 / sum;
  const iv = f32x4.splat(inv);
  let j = 0;
  for (; j < d4; j += 4) v128.store(op + (<usize>j << 2), f32x4.mul(v128.load(op + (<usize>j << 2)), iv));
  for (; j < d; j++) store<f32>(op + (<usize>j << 2), load<f32>(op + (<usize>j << 2)) * inv);
}

/** Rows [r0, r1) of q [*, heads·d] → out (same shape); rows holds (slot, position) pairs. */
export function attention(
  q: usize, kc: usize, vc: usize, rows: usize, out: usize, scores: usize,
  heads: i32, kvHeads: i32, maxT: i32, d: i32, scale: f32, r0: i32, r1: i32,
): void {
  for (let r = r0; r < r1; r++) {
    for (let h = 0; h < heads; h++) attendHead(q, kc, vc, rows, out, scores, heads, kvHeads, maxT, d, scale, r, h);
  }
}

/**
 * The same over (row, head) pairs [i0, i1) with i = row·heads + head, so a threaded caller can
 * split decode steps (1–8 rows) across threads by head. Each pair is computed exactly as above.
 */
export function attentionHeads(
  q: usize, kc: usize, vc: usize, rows: usize, out: usize, scores: usize,
  heads: i32, kvHeads: i32, maxT: i32, d: i32, scale: f32, i0: i32, i1: i32,
): void {
  for (let i = i0; i < i1; i++) attendHead(q, kc, vc, rows, out, scores, heads, kvHeads, maxT, d, scale, i / heads, i % heads);
}
