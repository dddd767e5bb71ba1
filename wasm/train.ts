// The two matmuls of the backward pass (runtime/backend/training.ts).
//
// matmulNN: out[n, K] (+)= x[n, N] · w[N, K], w row-major in any weight dtype (or f32). This is
// dX = dY·W over the frozen weights, once per linear layer: the hot op of the backward pass. Each
// output row is a sum of scaled contiguous rows of w (out[r, :] = Σ_j x[r, j]·w[j, :]), an axpy
// formulation. GEMM-style packing: a panel of 256 rows × 16 columns of w is decoded once to a
// dense f32 [256, 16] block (16 KiB, stays in L1; the decode is amortised over all n rows), then
// a 2-row × 16-column micro-kernel runs over it: 8 f32x4 accumulators, 4 contiguous weight loads
// and 2 splatted x values per step (14 live vectors, inside x86-64's 16 xmm registers). Packing
// makes the 16-bit dtypes as fast as f32 (no unpacking in the inner loop) and replaces the
// 1-row-of-w stride (K·2 bytes, a new cache line per step) by a contiguous stream. Measured on a
// shared 2-core AMD EPYC under Node 20, bf16 128×1536·[1536, 576]: ~23 GFLOP/s loaded, ~37
// quiet; the unpacked strided version (w read in place, even/odd unpack per step) got 8–25, with
// f16 at 7–19; 4 rows × 8 columns was worse still.
//
// matmulTN: out[M, N] (+)= alpha · a[n, M]ᵀ · b[n, N], the LoRA weight gradients (M or N is the
// rank, ~8): simple, out row m is Σ_r a[r, m]·b[r, :], 16 / 4 / 1 columns at a time.
//
// Ranges: rows [r0, r1) × columns [c0, c1) of out, so a threaded caller can split either.

import { bytesOf, widen8, widenRow } from './unpack';
import { widenIlvRow } from './layout';

@inline function fma(acc: v128, s: v128, w: v128): v128 {
  return f32x4.add(acc, f32x4.mul(s, w));
}

/** Strip width of out handled per packed panel (16 columns = 4 f32x4 accumulators per row). */
const CW: i32 = 16;
/** Rows of w per packed panel: 256 × 16 f32 = 16 KiB, which stays in L1 while every row pair uses it. */
const JT: i32 = 256;

/**
 * Bytes of scratch one matmulNN caller needs: the packed panel plus a 2-row staging area for
 * partial strips (a threaded caller gives each worker its own).
 */
export function matmulNNScratchBytes(): i32 {
  return JT * CW * 4 + 2 * CW * 4;
}

// Decode rows [j0, j0 + nj) × columns [c, c + cw) of w [N, K] (row-major, or interleaved: layout.ts)
// into a dense f32 panel [nj, 16], zero-padded past cw.
@inline function pack(w: usize, N: i32, K: i32, ilv: bool, j0: i32, nj: i32, c: i32, cw: i32, dt: i32, panel: usize): void {
  const WB = bytesOf(dt), rowW = <usize>K * WB, G: usize = 8 * WB, RB: usize = <usize>CW << 2;
  // interleaved, whole strip inside the 8-groups: a block's 4 rows hold the strip's two groups in
  // two runs of 4·G contiguous bytes, decoded 4 rows at a time
  const blocks = ilv && cw == CW && (c & 7) == 0 && c + CW <= (K & ~7);
  const N4 = N & ~3;
  let j = 0;
  while (j < nj) {
    const dst = panel + <usize>j * RB;
    const r = j0 + j;
    if (blocks && (r & 3) == 0 && r + 4 <= N4 && j + 4 <= nj) {
      const p = w + <usize>r * rowW + <usize>(c >> 3) * 4 * G;
      widen8(p, dt, dst); widen8(p + 4 * G, dt, dst + 32);
      widen8(p + G, dt, dst + RB); widen8(p + 5 * G, dt, dst + RB + 32);
      widen8(p + 2 * G, dt, dst + 2 * RB); widen8(p + 6 * G, dt, dst + 2 * RB + 32);
      widen8(p + 3 * G, dt, dst + 3 * RB); widen8(p + 7 * G, dt, dst + 3 * RB + 32);
      j += 4;
      continue;
    }
    if (ilv) widenIlvRow(w, N, K, dt, r, c, cw, dst);
    else widenRow(w + <usize>r * rowW + <usize>c * WB, dt, dst, cw);
    if (cw < CW) memory.fill(dst + (<usize>cw << 2), 0, <usize>(CW - cw) << 2);
    j++;
  }
}

// Load / store one 16-column strip of an out row; a partial strip (cw < 16) goes through `tmp`.
@inline function ldStrip(o: usize, cw: i32, tmp: usize, acc: bool, part: i32): v128 {
  if (!acc) return f32x4.splat(0);
  return v128.load((cw == CW ? o : tmp) + (<usize>part << 4));
}
@inline function stage(o: usize, cw: i32, tmp: usize, acc: bool): void {
  if (acc && cw < CW) {
    memory.fill(tmp, 0, <usize>CW << 2);
    memory.copy(tmp, o, <usize>cw << 2);
  }
}

/** out[r, c..c+cw) (+)= Σ_j x[r, j]·panel[j, :] for rows [r0, r1); x rows rowX bytes apart. */
@inline function panelRows(x: usize, rowX: usize, panel: usize, nj: i32, out: usize, rowO: usize, cw: i32, acc: bool, tmp: usize, r0: i32, r1: i32): void {
  const tb = tmp + (<usize>CW << 2);
  let r = r0;
  for (; r + 2 <= r1; r += 2) {
    const xa = x + <usize>r * rowX, xb = xa + rowX;
    const oa = out + <usize>r * rowO, ob = oa + rowO;
    stage(oa, cw, tmp, acc);
    stage(ob, cw, tb, acc);
    let a0 = ldStrip(oa, cw, tmp, acc, 0), a1 = ldStrip(oa, cw, tmp, acc, 1), a2 = ldStrip(oa, cw, tmp, acc, 2), a3 = ldStrip(oa, cw, tmp, acc, 3);
    let b0 = ldStrip(ob, cw, tb, acc, 0), b1 = ldStrip(ob, cw, tb, acc, 1), b2 = ldStrip(ob, cw, tb, acc, 2), b3 = ldStrip(ob, cw, tb, acc, 3);
    let wp = panel;
    for (let j = 0; j < nj; j++) {
      const xo = <usize>j << 2;
      const sa = v128.load32_splat(xa + xo), sb = v128.load32_splat(xb + xo);
      const w0 = v128.load(wp), w1 = v128.load(wp, 16), w2 = v128.load(wp, 32), w3 = v128.load(wp, 48);
      a0 = fma(a0, sa, w0); a1 = fma(a1, sa, w1); a2 = fma(a2, sa, w2); a3 = fma(a3, sa, w3);
      b0 = fma(b0, sb, w0); b1 = fma(b1, sb, w1); b2 = fma(b2, sb, w2); b3 = fma(b3, sb, w3);
      wp += <usize>CW << 2;
    }
    if (cw == CW) {
      v128.store(oa, a0); v128.store(oa, a1, 16); v128.store(oa, a2, 32); v128.store(oa, a3, 48);
      v128.store(ob, b0); v128.store(ob, b1, 16); v128.store(ob, b2, 32); v128.store(ob, b3, 48);
    } else {
      v128.store(tmp, a0); v128.store(tmp, a1, 16); v128.store(tmp, a2, 32); v128.store(tmp, a3, 48);
      v128.store(tb, b0); v128.store(tb, b1, 16); v128.store(tb, b2, 32); v128.store(tb, b3, 48);
      memory.copy(oa, tmp, <usize>cw << 2);
      memory.copy(ob, tb, <usize>cw << 2);
    }
  }
  if (r < r1) {
    const xa = x + <usize>r * rowX, oa = out + <usize>r * rowO;
    stage(oa, cw, tmp, acc);
    let a0 = ldStrip(oa, cw, tmp, acc, 0), a1 = ldStrip(oa, cw, tmp, acc, 1), a2 = ldStrip(oa, cw, tmp, acc, 2), a3 = ldStrip(oa, cw, tmp, acc, 3);
    let wp = panel;
    for (let j = 0; j < nj; j++) {
      const sa = v128.load32_splat(xa + (<usize>j << 2));
      a0 = fma(a0, sa, v128.load(wp)); a1 = fma(a1, sa, v128.load(wp, 16));
      a2 = fma(a2, sa, v128.load(wp, 32)); a3 = fma(a3, sa, v128.load(wp, 48));
      wp += <usize>CW << 2;
    }
    const dst = cw == CW ? oa : tmp;
    v128.store(dst, a0); v128.store(dst, a1, 16); v128.store(dst, a2, 32); v128.store(dst, a3, 48);
    if (cw < CW) memory.copy(oa, tmp, <usize>cw << 2);
  }
}

@inline function mmNN(x: usize, w: usize, ilv: bool, out: usize, scratch: usize, N: i32, K: i32, acc: bool, r0: i32, r1: i32, c0: i32, c1: i32, dt: i32): void {
  const rowX = <usize>N << 2, rowO = <usize>K << 2;
  const panel = scratch, tmp = scratch + (<usize>(JT * CW) << 2);
  if (N == 0) {
    if (!acc) for (let r = r0; r < r1; r++) memory.fill(out + <usize>r * rowO + (<usize>c0 << 2), 0, <usize>(c1 - c0) << 2);
    return;
  }
  for (let j = 0; j < N; j += JT) {
    const nj = min(JT, N - j);
    for (let c = c0; c < c1; c += CW) {
      const cw = min(CW, c1 - c);
      pack(w, N, K, ilv, j, nj, c, cw, dt, panel);
      panelRows(x + (<usize>j << 2), rowX, panel, nj, out + (<usize>c << 2), rowO, cw, acc || j > 0, tmp, r0, r1);
    }
  }
}

// One export per weight dtype so each decode is specialised at compile time; ilv: w is in the
// interleaved layout (a createWeight matrix). scratch: matmulNNScratchBytes().
export function matmulNNF32(x: usize, w: usize, ilv: bool, out: usize, scratch: usize, N: i32, K: i32, acc: bool, r0: i32, r1: i32, c0: i32, c1: i32): void {
  mmNN(x, w, ilv, out, scratch, N, K, acc, r0, r1, c0, c1, 0);
}
export function matmulNNF16(x: usize, w: usize, ilv: bool, out: usize, scratch: usize, N: i32, K: i32, acc: bool, r0: i32, r1: i32, c0: i32, c1: i32): void {
  mmNN(x, w, ilv, out, scratch, N, K, acc, r0, r1, c0, c1, 1);
}
export function matmulNNBf16(x: usize, w: usize, ilv: bool, out: usize, scratch: usize, N: i32, K: i32, acc: bool, r0: i32, r1: i32, c0: i32, c1: i32): void {
  mmNN(x, w, ilv, out, scratch, N, K, acc, r0, r1, c0, c1, 2);
}

/** out[m, c] = alpha·Σ_r a[r, m]·b[r, c] (+ out[m, c] when acc), rows [m0, m1) × columns [c0, c1) of out [M, N]. */
export function matmulTN(a: usize, b: usize, out: usize, n: i32, M: i32, N: i32, alpha: f32, acc: bool, m0: i32, m1: i32, c0: i32, c1: i32): void {
  const rowA = <usize>M << 2, rowB = <usize>N << 2;
  const al = f32x4.splat(alpha);
  for (let m = m0; m < m1; m++) {
    const am = a + (<usize>m << 2), om = out + <usize>m * rowB;
    let c = c0;
    for (; c + 16 <= c1; c += 16) {
      const bc = b + (<usize>c << 2), oc = om + (<usize>c << 2);
      let s0 = f32x4.splat(0), s1 = s0, s2 = s0, s3 = s0;
      for (let r = 0; r < n; r++) {
        const s = v128.load32_splat(am + <usize>r * rowA), br = bc + <usize>r * rowB;
        s0 = fma(s0, s, v128.load(br)); s1 = fma(s1, s, v128.load(br, 16));
        s2 = fma(s2, s, v128.load(br, 32)); s3 = fma(s3, s, v128.load(br, 48));
      }
      s0 = f32x4.mul(s0, al); s1 = f32x4.mul(s1, al); s2 = f32x4.mul(s2, al); s3 = f32x4.mul(s3, al);
      if (acc) {
        s0 = f32x4.add(s0, v128.load(oc)); s1 = f32x4.add(s1, v128.load(oc, 16));
        s2 = f32x4.add(s2, v128.load(oc, 32)); s3 = f32x4.add(s3, v128.load(oc, 48));
      }
      v128.store(oc, s0); v128.store(oc, s1, 16); v128.store(oc, s2, 32); v128.store(oc, s3, 48);
    }
    for (; c + 4 <= c1; c += 4) {
      const bc = b + (<usize>c << 2), oc = om + (<usize>c << 2);
      let s0 = f32x4.splat(0);
      for (let r = 0; r < n; r++) s0 = fma(s0, v128.load32_splat(am + <usize>r * rowA), v128.load(bc + <usize>r * rowB));
      s0 = f32x4.mul(s0, al);
      if (acc) s0 = f32x4.add(s0, v128.load(oc));
      v128.store(oc, s0);
    }
    for (; c < c1; c++) {
      let s: f32 = 0;
      for (let r = 0; r < n; r++) s += load<f32>(am + <usize>r * rowA) * load<f32>(b + <usize>r * rowB + (<usize>c << 2));
      const oc = om + (<usize>c << 2);
      store<f32>(oc, (acc ? load<f32>(oc) : 0) + alpha * s);
    }
  }
}
