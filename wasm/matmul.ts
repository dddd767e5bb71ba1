// out[n, N] = x[n, K] · w[N, K]ᵀ (+ bias[N]). Every output is the dot product of a row of x and a
// row of w; the kernel blocks 2 rows of x × 4 rows of w (8 f32x4 accumulators): each weight vector
// is loaded and unpacked once for two rows, each x vector loaded once for four columns. Weights
// from createWeight are interleaved (layout.ts), so the 4 rows of a block are read as one stream
// (what decoding, which reads every weight once per step, waits on); f32 tensors are row-major.
//
// What limits it is V8's code generation rather than the arithmetic, so the shape of the source is
// chosen for TurboFan (x86-64, 15 usable xmm registers):
//  * x is re-packed per call into 8-row panels (packX): for each 8-element k step the rows of a
//    block lie next to each other, so every x load is one pointer plus a constant offset. With one
//    pointer per row, the address arithmetic of the rows and columns ran out of general registers.
//  * TurboFan hoists all loads of a loop body to its top; with more loaded values than registers it
//    spills, and it spills the accumulators, whose loop-carried store → reload then bounds the loop
//    (measured 26 GFLOP/s on one thread, with or without FMA). Storing each freshly updated pair
//    of accumulators to a per-thread scratch slot (`pin`) orders the loads after the previous
//    column's FMAs: no spills, and the FMA form then pays (bf16, 8 or 128 rows, one thread, AMD EPYC
//    Zen 4, Node 20: 26 → 45 GFLOP/s with relaxed SIMD, 26 → 32 without).
//  * The relaxed build (asconfig.json target "relaxed", ASC_FEATURE_RELAXED_SIMD) uses
//    f32x4.relaxed_madd, which V8 lowers to vfmadd where the CPU has FMA; the plain build
//    multiplies and adds. Both do the same operations in the same order for every output element
//    whatever the block it falls in (2×4, 1×4, single column), so a result does not depend on the
//    batch size, the thread split, or which rows share a block.
//
// 16-bit weights: one 16-byte load per 8 k-elements, split into even/odd lanes (unpack.ts); the x
// panel is permuted the same way so the products line up. f32 weights: two plain loads, x panel in
// natural order. The K % 8 tail is scalar and reads the unpacked x.
//
// Ranges [r0, r1) × [c0, c1) let a multi-threaded caller hand each worker a slice of the output;
// the kernel writes nothing outside its slice and its scratch slot.

import { F32, bytesOf, evenOf, oddOf, unpack1, unpack4, hsum4, hsum } from './unpack';


// Rows are grouped in blocks of 8 (the last may be shorter); block b starts at byte 32·8b·K8 of the
// panel and holds, for each 8-element k step, its m ≤ 8 rows one after the other (32 bytes each).
@inline function blockRows(r: i32, n: i32): i32 {
  return min(8, n - (r & ~7));
}
/** Byte address of row r's first k step in the panel. */
@inline function panelRow(xp: usize, r: i32, n: i32, K8: i32): usize {
  return xp + <usize>(r & ~7) * (<usize>K8 << 2) + (<usize>(r & 7) << 5);
}

/** Packs rows [r0, r1) of x [n, K] into the 8-row panel layout at xp (16-bit weights: even/odd order). */
export function packX(x: usize, xp: usize, K: i32, n: i32, perm: bool, r0: i32, r1: i32): void {
  const K8 = K & ~7;
  const rowX = <usize>K << 2;
  for (let r = r0; r < r1; r++) {
    const src = x + <usize>r * rowX;
    let dst = panelRow(xp, r, n, K8);
    const S = <usize>blockRows(r, n) << 5;
    for (let k = 0; k < K8; k += 8) {
      const a = v128.load(src + (<usize>k << 2)), b = v128.load(src + (<usize>k << 2), 16);
      if (perm) {
        v128.store(dst, f32x4.shuffle(a, b, 0, 2, 4, 6));
        v128.store(dst, f32x4.shuffle(a, b, 1, 3, 5, 7), 16);
      } else {
        v128.store(dst, a);
        v128.store(dst, b, 16);
      }
      dst += S;
    }
  }
}

// acc + xa·wa + xb·wb, in this order in both builds (the relaxed one may fuse each multiply-add).
@inline function step(acc: v128, xa: v128, wa: v128, xb: v128, wb: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(xb, wb, f32x4.relaxed_madd(xa, wa, acc));
  else return f32x4.add(acc, f32x4.add(f32x4.mul(xa, wa), f32x4.mul(xb, wb)));
}

// A store the optimiser must keep: loads after it cannot be hoisted above it (see the top comment).
@inline function pin(s: usize, a: v128, b: v128): void {
  v128.store(s, a);
  v128.store(s, b, 16);
}

// Scalar K-tail of one dot product (x in natural order past K8).
@inline function tail(xr: usize, wr: usize, K8: i32, K: i32, dt: i32): f32 {
  let s: f32 = 0;
  for (let k = K8; k < K; k++) s += load<f32>(xr + (<usize>k << 2)) * unpack1(wr, k, dt);
  return s;
}

@inline function tail4(xr: usize, w0: usize, rowW: usize, K8: i32, K: i32, dt: i32): v128 {
  let t = f32x4.splat(0);
  t = f32x4.replace_lane(t, 0, tail(xr, w0, K8, K, dt));
  t = f32x4.replace_lane(t, 1, tail(xr, w0 + rowW, K8, K, dt));
  t = f32x4.replace_lane(t, 2, tail(xr, w0 + 2 * rowW, K8, K, dt));
  t = f32x4.replace_lane(t, 3, tail(xr, w0 + 3 * rowW, K8, K, dt));
  return t;
}

@inline function biasAt(bias: usize, bdt: i32, c: i32): f32 {
  return bias ? unpack1(bias, c, bdt) : 0;
}

// Weight vectors of column row `wr` at byte offset 0: even/odd halves (16-bit) or the two f32 halves.
@inline function wLo(wr: usize, dt: i32): v128 {
  return evenOf(v128.load(wr), dt);
}
@inline function wHi(wr: usize, dt: i32): v128 {
  return dt == F32 ? v128.load(wr, 16) : oddOf(v128.load(wr), dt);
}

// Address of weight row j's 8-element group at byte offset o of a row-major row: in the interleaved
// layout (layout.ts) the 4 rows of a block alternate group by group, so all four are one stream.
@inline function wAt(ilv: bool, w0: usize, wj: usize, j: i32, o: usize, dt: i32): usize {
  return ilv ? w0 + (o << 2) + <usize>j * 8 * bytesOf(dt) : wj + o;
}

// The K % 8 tails of columns c..c+3: row-major, 4 rows rowW apart; interleaved, after the groups.
@inline function tailBase(ilv: bool, w0: usize, K8: i32, dt: i32): usize {
  return ilv ? w0 + <usize>K8 * 3 * bytesOf(dt) : w0; // so that base + k·WB is row 0's element k ≥ K8
}
@inline function tailStride(ilv: bool, rowW: usize, K8: i32, K: i32, dt: i32): usize {
  return ilv ? <usize>(K - K8) * bytesOf(dt) : rowW;
}

/** Rows r, r+1 (same panel block, stride S) × columns c..c+3: 2×4 block; also reads row `pf`. */
@inline function block2x4(
  pa: usize, S: usize, w0: usize, rowW: usize, bv: v128, s: usize, oa: usize, rowO: usize,
  xa: usize, K8: i32, K: i32, dt: i32, pf: usize, ilv: bool,
): void {
  const WB = bytesOf(dt);
  const w1 = w0 + rowW, w2 = w1 + rowW, w3 = w2 + rowW;
  let a0 = f32x4.splat(0), a1 = a0, a2 = a0, a3 = a0;
  let b0 = a0, b1 = a0, b2 = a0, b3 = a0;
  let p = pa, o: usize = 0;
  const end = <usize>K8 * WB;
  for (; o < end; o += 8 * WB) {
    const x0 = v128.load(p), y0 = v128.load(p, 16), x1 = v128.load(p, 32), y1 = v128.load(p, 48);
    let q = wAt(ilv, w0, w0, 0, o, dt);
    let we = wLo(q, dt), wd = wHi(q, dt);
    a0 = step(a0, x0, we, y0, wd); b0 = step(b0, x1, we, y1, wd);
    pin(s, a0, b0);
    q = wAt(ilv, w0, w1, 1, o, dt);
    we = wLo(q, dt); wd = wHi(q, dt);
    a1 = step(a1, x0, we, y0, wd); b1 = step(b1, x1, we, y1, wd);
    pin(s, a1, b1);
    q = wAt(ilv, w0, w2, 2, o, dt);
    we = wLo(q, dt); wd = wHi(q, dt);
    a2 = step(a2, x0, we, y0, wd); b2 = step(b2, x1, we, y1, wd);
    pin(s, a2, b2);
    q = wAt(ilv, w0, w3, 3, o, dt);
    we = wLo(q, dt); wd = wHi(q, dt);
    a3 = step(a3, x0, we, y0, wd); b3 = step(b3, x1, we, y1, wd);
    pin(s, a3, b3);
    v128.store(s, v128.load(pf + o), 32);
    p += S;
  }
  let sa = f32x4.add(hsum4(a0, a1, a2, a3), bv), sb = f32x4.add(hsum4(b0, b1, b2, b3), bv);
  if (K8 < K) {
    const tb = tailBase(ilv, w0, K8, dt), ts = tailStride(ilv, rowW, K8, K, dt);
    sa = f32x4.add(sa, tail4(xa, tb, ts, K8, K, dt));
    sb = f32x4.add(sb, tail4(xa + (<usize>K << 2), tb, ts, K8, K, dt));
  }
  v128.store(oa, sa);
  v128.store(oa + rowO, sb);
}

/** Row r × columns c..c+3: the same per-element operations as block2x4, for a leftover row. */
@inline function block1x4(
  pa: usize, S: usize, w0: usize, rowW: usize, bv: v128, s: usize, oa: usize,
  xa: usize, K8: i32, K: i32, dt: i32, ilv: bool,
): void {
  const WB = bytesOf(dt);
  const w1 = w0 + rowW, w2 = w1 + rowW, w3 = w2 + rowW;
  let a0 = f32x4.splat(0), a1 = a0, a2 = a0, a3 = a0;
  let p = pa, o: usize = 0;
  const end = <usize>K8 * WB;
  for (; o < end; o += 8 * WB) {
    const x0 = v128.load(p), y0 = v128.load(p, 16);
    const q0 = wAt(ilv, w0, w0, 0, o, dt), q1 = wAt(ilv, w0, w1, 1, o, dt);
    a0 = step(a0, x0, wLo(q0, dt), y0, wHi(q0, dt));
    a1 = step(a1, x0, wLo(q1, dt), y0, wHi(q1, dt));
    pin(s, a0, a1);
    const q2 = wAt(ilv, w0, w2, 2, o, dt), q3 = wAt(ilv, w0, w3, 3, o, dt);
    a2 = step(a2, x0, wLo(q2, dt), y0, wHi(q2, dt));
    a3 = step(a3, x0, wLo(q3, dt), y0, wHi(q3, dt));
    pin(s, a2, a3);
    p += S;
  }
  let sa = f32x4.add(hsum4(a0, a1, a2, a3), bv);
  if (K8 < K) sa = f32x4.add(sa, tail4(xa, tailBase(ilv, w0, K8, dt), tailStride(ilv, rowW, K8, K, dt), K8, K, dt));
  v128.store(oa, sa);
}

/** One output element (N % 4 leftover columns), same operations again. */
@inline function dot1(pa: usize, S: usize, wr: usize, xa: usize, K8: i32, K: i32, dt: i32): f32 {
  const WB = bytesOf(dt);
  let acc = f32x4.splat(0);
  let p = pa;
  const end = <usize>K8 * WB;
  for (let o: usize = 0; o < end; o += 8 * WB) {
    acc = step(acc, v128.load(p), wLo(wr + o, dt), v128.load(p, 16), wHi(wr + o, dt));
    p += S;
  }
  return hsum(acc);
}

/**
 * Unpack-once: the 4-row interleaved block of 16-bit weights at w0 widened to f32 at `strip`, in the
 * same interleaved layout (group g of row j at 128g + 32j, then the tails), each group's 8 values
 * stored as [even 4, odd 4] — the lane order evenOf/oddOf give in registers, so the f32 kernel over
 * the strip does exactly the operations of the 16-bit kernel (bit-identical; the widening is exact).
 */
@inline function unpackStrip(w0: usize, strip: usize, K: i32, dt: i32): void {
  const K8 = K & ~7;
  const groups = <usize>(K8 >> 3) * 4;
  for (let g: usize = 0; g < groups; g++) {
    const v = v128.load(w0 + (g << 4));
    v128.store(strip + (g << 5), evenOf(v, dt));
    v128.store(strip + (g << 5), oddOf(v, dt), 16);
  }
  const tails = (K - K8) * 4;
  const ts = w0 + <usize>K8 * 4 * 2, td = strip + <usize>K8 * 4 * 4;
  for (let i = 0; i < tails; i++) store<f32>(td + (<usize>i << 2), unpack1(ts, i, dt));
}

@inline function matmulImpl(
  x: usize, xp: usize, w: usize, bias: usize, bdt: i32, out: usize, s: usize,
  K: i32, N: i32, n: i32, r0: i32, r1: i32, c0: i32, c1: i32, dt: i32, ilv: bool, strip: usize = 0, flags: i32 = 0,
): void {
  const WB = bytesOf(dt);
  const rowW = <usize>K * WB, rowX = <usize>K << 2, rowO = <usize>N << 2;
  const K8 = K & ~7;
  let c = c0;
  for (; c + 4 <= c1; c += 4) {
    const wsrc = w + <usize>c * rowW;
    // unpack-once (strip != 0, 16-bit interleaved weights only): the block's weights widened to f32
    // once, then every row pair reads f32 (dtype argument F32 below)
    if (strip) unpackStrip(wsrc, strip, K, dt);
    const w0 = strip ? strip : wsrc;
    const bv = bias ? unpack4(bias + <usize>c * bytesOf(bdt), bdt) : f32x4.splat(0);
    let r = r0;
    while (r < r1) {
      const S = <usize>blockRows(r, n) << 5;
      const pa = panelRow(xp, r, n, K8);
      const oa = out + <usize>r * rowO + (<usize>c << 2);
      const xa = x + <usize>r * rowX;
      // a pair only within one panel block (rows 8b..8b+7 share the stride S)
      if (r + 1 < r1 && (r & 7) != 7) {
        // The first 4 passes over this block also pull the next block (the next 4·rowW bytes, in
        // either layout) into the cache, a quarter per pass, so a decode batch (8 rows = 4 passes)
        // does not wait on DRAM at each block's first pass (bf16, 8 rows, weights not cached,
        // interleaved: without it 5–8 % slower, for any row length; row-major: 27 → 34 GFLOP/s at
        // K = 576, but rows > 2 KiB crowded the current block out of L1 and got slower).
        const j = (r - r0) >> 1;
        if (strip) {
          block2x4(pa, S, w0, rowW, bv, s, oa, rowO, xa, K8, K, F32, w0, true);
        } else {
          const pf = j < 4 && c + 4 + j < N && (ilv || rowW <= 2048) && !(flags & NO_PREFETCH) ? w0 + <usize>(4 + j) * rowW : w0;
          block2x4(pa, S, w0, rowW, bv, s, oa, rowO, xa, K8, K, dt, pf, ilv);
        }
        r += 2;
      } else {
        if (strip) block1x4(pa, S, w0, rowW, bv, s, oa, xa, K8, K, F32, true);
        else block1x4(pa, S, w0, rowW, bv, s, oa, xa, K8, K, dt, ilv);
        r += 1;
      }
    }
  }
  // leftover columns (N % 4 within the slice)
  for (; c < c1; c++) {
    const wr = w + <usize>c * rowW, b = biasAt(bias, bdt, c);
    for (let r = r0; r < r1; r++) {
      const xa = x + <usize>r * rowX;
      let v = dot1(panelRow(xp, r, n, K8), <usize>blockRows(r, n) << 5, wr, xa, K8, K, dt) + b;
      if (K8 < K) v += tail(xa, wr, K8, K, dt);
      store<f32>(out + <usize>r * rowO + (<usize>c << 2), v);
    }
  }
}

// One export per weight dtype and layout so each inner loop is specialised at compile time:
// matmulF32 for row-major f32 tensors (createTensor), matmulIlv* for weights in the interleaved
// layout (createWeight; layout.ts). x [n, K] is the activation (natural order), xp its panel (packX,
// permuted for 16-bit weights), s a 64-byte slot of the calling thread (`pin` and the prefetch write
// there); bias (0 = none) may be of any weight dtype `bdt`.
//
// The variants a host may pick (runtime/backend/wasm/variants.ts) change only where data sits and
// when it is fetched, never the operations of an output element, so every variant gives the same
// bits: `strip` (16-bit weights; 0 = unpack in registers on every pass) is a per-thread block of
// 16·K bytes for unpack-once (unpackStrip), and `flags` bit NO_PREFETCH drops the next-block
// prefetch of the 2-row passes.
export const NO_PREFETCH: i32 = 1;
export function matmulF32(x: usize, xp: usize, w: usize, bias: usize, bdt: i32, out: usize, s: usize, K: i32, N: i32, n: i32, r0: i32, r1: i32, c0: i32, c1: i32, strip: usize, flags: i32): void {
  matmulImpl(x, xp, w, bias, bdt, out, s, K, N, n, r0, r1, c0, c1, 0, false, 0, flags);
}
export function matmulIlvF32(x: usize, xp: usize, w: usize, bias: usize, bdt: i32, out: usize, s: usize, K: i32, N: i32, n: i32, r0: i32, r1: i32, c0: i32, c1: i32, strip: usize, flags: i32): void {
  matmulImpl(x, xp, w, bias, bdt, out, s, K, N, n, r0, r1, c0, c1, 0, true, 0, flags);
}
export function matmulIlvF16(x: usize, xp: usize, w: usize, bias: usize, bdt: i32, out: usize, s: usize, K: i32, N: i32, n: i32, r0: i32, r1: i32, c0: i32, c1: i32, strip: usize, flags: i32): void {
  matmulImpl(x, xp, w, bias, bdt, out, s, K, N, n, r0, r1, c0, c1, 1, true, strip, flags);
}
export function matmulIlvBf16(x: usize, xp: usize, w: usize, bias: usize, bdt: i32, out: usize, s: usize, K: i32, N: i32, n: i32, r0: i32, r1: i32, c0: i32, c1: i32, strip: usize, flags: i32): void {
  matmulImpl(x, xp, w, bias, bdt, out, s, K, N, n, r0, r1, c0, c1, 2, true, strip, flags);
}
