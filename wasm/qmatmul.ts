// Matmuls over llama.cpp's block-quantized weights (issue 30; runtime/quant/ has the formats):
// Q8_0 blocks are an f16 scale d and 32 int8 q (34 bytes), Q4_0 blocks an f16 d and 16 bytes of
// nibbles (low nibbles are values 0..15, high nibbles 16..31, each minus 8; 18 bytes). A weight
// [N, K] is N rows of K/32 blocks, row-major as the file has them (no interleaving: a row of Q4_0
// is 18·K/32 bytes, one stream already).
//
// The blocks are dequantized in registers (int → f32, exact) and everything else is f32 with the
// activations as given: no activation quantization (llama.cpp's shortcut), so the result is that of
// the gguf-dequantized model up to f32 rounding order — LightReasoner's KL must not move.
//
//  * qmatmul (out = x · wᵀ): per block, s = Σ q_i · x_i over the 32 values (8 f32x4 lanes, fixed
//    order; Q4_0 as Σ n_i · x_i − 8 · Σ x_i with n_i the unsigned nibble, see packQ), then
//    acc += d · s; at the end out = hsum(acc) + bias. Up to 4 rows of x share one dequantized block. Every output element runs these same operations whatever its group, thread
//    or batch, so the bits do not depend on them.
//  * qmatmulNN (out = x · w, the backward for the input: dX = dY · W): per 32-column block and row
//    j of w, the block dequantized and scaled (w_i = d · q_i, exact in f32) is added into the rows'
//    output slices times x[r, j]: each output element sums j = 0..N-1 in order, then adds to out.

import { F16, hsum, unpack1 } from './unpack';

const QK: i32 = 32;

// acc + a·b (the relaxed build may fuse it; the same form everywhere in one build)
@inline function madd(a: v128, b: v128, acc: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, acc);
  else return f32x4.add(acc, f32x4.mul(a, b));
}

@inline function blockBytes(q4: bool): usize {
  return q4 ? 18 : 34;
}

// 16 int8 → four f32x4 (natural order), by sign extension (matmulNN's unpacking).
@inline function lo4(v: v128): v128 {
  return f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(i16x8.extend_low_i8x16_s(v)));
}
@inline function lohi4(v: v128): v128 {
  return f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(i16x8.extend_low_i8x16_s(v)));
}
@inline function hilo4(v: v128): v128 {
  return f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(i16x8.extend_high_i8x16_s(v)));
}
@inline function hi4(v: v128): v128 {
  return f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(i16x8.extend_high_i8x16_s(v)));
}

// The 32 signed values of a block as two vectors of 16 int8 (values 0..15 and 16..31).
@inline function firstHalf(p: usize, q4: bool): v128 {
  const v = v128.load(p, 2);
  return q4 ? i8x16.sub(v128.and(v, i8x16.splat(0x0f)), i8x16.splat(8)) : v;
}
@inline function secondHalf(p: usize, q4: bool): v128 {
  if (q4) return i8x16.sub(i8x16.shr_u(v128.load(p, 2), 4), i8x16.splat(8));
  return v128.load(p, 18);
}

// ---- matmul: fields taken in place -----------------------------------------------------------------
// Fewer operations per weight than widening byte → i16 → i32 (which V8 lowers to 2 instructions for
// each "high" half): each i32 lane of a 16-byte load holds 4 consecutive values, and field k of
// every lane is taken with one shift (and a mask): vector (h, k) holds values 16h + 4i + k,
// i = 0..3. x is packed per call in the same order (packQ), 32 floats per block, and for Q4_0 the
// block's lane-wise sums of x after them: Q4_0's nibbles are taken unsigned (0..15) and the −8 of
// every value is applied once per block as −8 · Σx (per lane), not per value.

/** Vector (h, k) of a block's values as f32 (see above); v: the block's first 16 bytes of values
 * (Q4_0: all of them), or for Q8_0 with h = 1 the second 16. */
@inline function field(v: v128, h: i32, k: i32, q4: bool): v128 {
  // (values 0..15 convert exactly as signed: the unsigned convert costs more instructions in V8)
  if (q4) {
    const sh = 8 * k + 4 * h;
    if (sh == 28) return f32x4.convert_i32x4_s(i32x4.shr_u(v, 28));
    return f32x4.convert_i32x4_s(v128.and(sh ? i32x4.shr_u(v, sh) : v, i32x4.splat(0x0f)));
  }
  return f32x4.convert_i32x4_s(k == 3 ? i32x4.shr_s(v, 24) : i32x4.shr_s(i32x4.shl(v, 24 - 8 * k), 24));
}

/** Bytes of one block of packed x: 32 floats, and for Q4_0 4 more (its lane-wise sums). */
@inline function packedBlock(q4: bool): usize {
  return q4 ? 144 : 128;
}

/** Packs rows [r0, r1) of x [n, K] for qmatmul: per block, float (h, k, i) = x[32b + 16h + 4i + k]. */
export function packQ(x: usize, xq: usize, K: i32, q4: bool, r0: i32, r1: i32): void {
  const nb = K / QK, PB = packedBlock(q4);
  for (let r = r0; r < r1; r++) {
    for (let b = 0; b < nb; b++) {
      const src = x + ((<usize>r * <usize>K + <usize>b * QK) << 2), dst = xq + (<usize>r * <usize>nb + <usize>b) * PB;
      let sum = f32x4.splat(0);
      for (let h = 0; h < 2; h++) {
        // the 4×4 transpose of x[16h .. 16h+15]: vector k = (x[16h + k], x[16h + 4 + k], …)
        const a = v128.load(src + (<usize>h << 6)), c = v128.load(src + (<usize>h << 6), 16);
        const e = v128.load(src + (<usize>h << 6), 32), g = v128.load(src + (<usize>h << 6), 48);
        const ac0 = f32x4.shuffle(a, c, 0, 4, 1, 5), ac1 = f32x4.shuffle(a, c, 2, 6, 3, 7);
        const eg0 = f32x4.shuffle(e, g, 0, 4, 1, 5), eg1 = f32x4.shuffle(e, g, 2, 6, 3, 7);
        const v0 = f32x4.shuffle(ac0, eg0, 0, 1, 4, 5), v1 = f32x4.shuffle(ac0, eg0, 2, 3, 6, 7);
        const v2 = f32x4.shuffle(ac1, eg1, 0, 1, 4, 5), v3 = f32x4.shuffle(ac1, eg1, 2, 3, 6, 7);
        const o = dst + (<usize>h << 6);
        v128.store(o, v0); v128.store(o, v1, 16); v128.store(o, v2, 32); v128.store(o, v3, 48);
        sum = f32x4.add(f32x4.add(f32x4.add(f32x4.add(sum, v0), v1), v2), v3);
      }
      if (q4) v128.store(dst, sum, 128);
    }
  }
}

// Σ values · x of one block and one packed row (xr), in a fixed order; Q4_0: minus 8 · Σx.
@inline function blockDot(xr: usize, q0: v128, q1: v128, q2: v128, q3: v128, q4: v128, q5: v128, q6: v128, q7: v128, isQ4: bool): v128 {
  let s = f32x4.mul(q0, v128.load(xr));
  s = madd(q1, v128.load(xr, 16), s);
  s = madd(q2, v128.load(xr, 32), s);
  s = madd(q3, v128.load(xr, 48), s);
  s = madd(q4, v128.load(xr, 64), s);
  s = madd(q5, v128.load(xr, 80), s);
  s = madd(q6, v128.load(xr, 96), s);
  s = madd(q7, v128.load(xr, 112), s);
  if (isQ4) s = madd(f32x4.splat(-8), v128.load(xr, 128), s);
  return s;
}

/** Rows r..r+m-1 (m ≤ 4) of out, column c: dot products of the packed rows (xq) with weight row wr. */
@inline function rowsTimesColumn(xq: usize, wr: usize, K: i32, m: i32, q4: bool): v128 {
  const BB = blockBytes(q4), nb = K / QK, PB = packedBlock(q4), rowP = <usize>nb * PB;
  let a0 = f32x4.splat(0), a1 = a0, a2 = a0, a3 = a0;
  let p = wr, xb = xq;
  for (let b = 0; b < nb; b++) {
    const d = f32x4.splat(unpack1(p, 0, F16));
    const v0 = v128.load(p, 2), v1 = q4 ? v0 : v128.load(p, 18);
    const q0 = field(v0, 0, 0, q4), q1 = field(v0, 0, 1, q4), q2 = field(v0, 0, 2, q4), q3 = field(v0, 0, 3, q4);
    const q5 = field(v1, 1, 0, q4), q6 = field(v1, 1, 1, q4), q7 = field(v1, 1, 2, q4), q8 = field(v1, 1, 3, q4);
    a0 = madd(blockDot(xb, q0, q1, q2, q3, q5, q6, q7, q8, q4), d, a0);
    if (m > 1) a1 = madd(blockDot(xb + rowP, q0, q1, q2, q3, q5, q6, q7, q8, q4), d, a1);
    if (m > 2) a2 = madd(blockDot(xb + 2 * rowP, q0, q1, q2, q3, q5, q6, q7, q8, q4), d, a2);
    if (m > 3) a3 = madd(blockDot(xb + 3 * rowP, q0, q1, q2, q3, q5, q6, q7, q8, q4), d, a3);
    p += BB;
    xb += PB;
  }
  let o = f32x4.splat(0);
  o = f32x4.replace_lane(o, 0, hsum(a0));
  o = f32x4.replace_lane(o, 1, hsum(a1));
  o = f32x4.replace_lane(o, 2, hsum(a2));
  o = f32x4.replace_lane(o, 3, hsum(a3));
  return o;
}

@inline function qmatmulImpl(xq: usize, w: usize, bias: usize, bdt: i32, out: usize, K: i32, N: i32, r0: i32, r1: i32, c0: i32, c1: i32, q4: bool): void {
  const rowW = <usize>(K / QK) * blockBytes(q4), rowP = <usize>(K / QK) * packedBlock(q4), rowO = <usize>N << 2;
  for (let c = c0; c < c1; c++) {
    const wr = w + <usize>c * rowW;
    const bv: f32 = bias ? unpack1(bias, c, bdt) : 0;
    for (let r = r0; r < r1; r += 4) {
      const m = min(4, r1 - r);
      const xr = xq + <usize>r * rowP, oc = out + <usize>r * rowO + (<usize>c << 2);
      // one instantiation per row count, so the 1-row (decode) loop carries no dead work
      let v: v128;
      if (m == 4) v = rowsTimesColumn(xr, wr, K, 4, q4);
      else if (m == 3) v = rowsTimesColumn(xr, wr, K, 3, q4);
      else if (m == 2) v = rowsTimesColumn(xr, wr, K, 2, q4);
      else v = rowsTimesColumn(xr, wr, K, 1, q4);
      store<f32>(oc, f32x4.extract_lane(v, 0) + bv);
      if (m > 1) store<f32>(oc + rowO, f32x4.extract_lane(v, 1) + bv);
      if (m > 2) store<f32>(oc + 2 * rowO, f32x4.extract_lane(v, 2) + bv);
      if (m > 3) store<f32>(oc + 3 * rowO, f32x4.extract_lane(v, 3) + bv);
    }
  }
}

/** out[r, c] = x[r, :] · w[c, :] (+ bias[c]) for r in [r0, r1), c in [c0, c1); K a multiple of 32; xq: x packed by packQ. */
export function qmatmulQ8(xq: usize, w: usize, bias: usize, bdt: i32, out: usize, K: i32, N: i32, r0: i32, r1: i32, c0: i32, c1: i32): void {
  qmatmulImpl(xq, w, bias, bdt, out, K, N, r0, r1, c0, c1, false);
}
export function qmatmulQ4(xq: usize, w: usize, bias: usize, bdt: i32, out: usize, K: i32, N: i32, r0: i32, r1: i32, c0: i32, c1: i32): void {
  qmatmulImpl(xq, w, bias, bdt, out, K, N, r0, r1, c0, c1, true);
}

// out slice += xs · (block of 8 vectors): one row's 32 columns.
@inline function axpyBlock(o: usize, xs: v128, w0: v128, w1: v128, w2: v128, w3: v128, w4: v128, w5: v128, w6: v128, w7: v128): void {
  v128.store(o, madd(xs, w0, v128.load(o)));
  v128.store(o, madd(xs, w1, v128.load(o, 16)), 16);
  v128.store(o, madd(xs, w2, v128.load(o, 32)), 32);
  v128.store(o, madd(xs, w3, v128.load(o, 48)), 48);
  v128.store(o, madd(xs, w4, v128.load(o, 64)), 64);
  v128.store(o, madd(xs, w5, v128.load(o, 80)), 80);
  v128.store(o, madd(xs, w6, v128.load(o, 96)), 96);
  v128.store(o, madd(xs, w7, v128.load(o, 112)), 112);
}

/**
 * out[r, k] (+)= Σ_j x[r, j] · w[j, k] for r in [r0, r1) and the 32-column blocks [b0, b1); x [n, N],
 * w [N, K] quantized, out [n, K]. The sums are formed in `acc` (per thread, 128·(r1 − r0) bytes),
 * then stored or added to out.
 */
@inline function qmatmulNNImpl(x: usize, w: usize, out: usize, accScratch: usize, N: i32, K: i32, accumulate: bool, r0: i32, r1: i32, b0: i32, b1: i32, q4: bool): void {
  const BB = blockBytes(q4), rowW = <usize>(K / QK) * BB, rowX = <usize>N << 2, rowO = <usize>K << 2;
  for (let b = b0; b < b1; b++) {
    memory.fill(accScratch, 0, <usize>(r1 - r0) << 7);
    for (let j = 0; j < N; j++) {
      const p = w + <usize>j * rowW + <usize>b * BB;
      const d = f32x4.splat(unpack1(p, 0, F16));
      const h0 = firstHalf(p, q4), h1 = secondHalf(p, q4);
      const w0 = f32x4.mul(lo4(h0), d), w1 = f32x4.mul(lohi4(h0), d), w2 = f32x4.mul(hilo4(h0), d), w3 = f32x4.mul(hi4(h0), d);
      const w4 = f32x4.mul(lo4(h1), d), w5 = f32x4.mul(lohi4(h1), d), w6 = f32x4.mul(hilo4(h1), d), w7 = f32x4.mul(hi4(h1), d);
      for (let r = r0; r < r1; r++) {
        const xs = f32x4.splat(load<f32>(x + <usize>r * rowX + (<usize>j << 2)));
        axpyBlock(accScratch + (<usize>(r - r0) << 7), xs, w0, w1, w2, w3, w4, w5, w6, w7);
      }
    }
    for (let r = r0; r < r1; r++) {
      const o = out + <usize>r * rowO + (<usize>b << 7), s = accScratch + (<usize>(r - r0) << 7);
      for (let i: usize = 0; i < 128; i += 16) {
        const v = v128.load(s + i);
        v128.store(o + i, accumulate ? f32x4.add(v128.load(o + i), v) : v);
      }
    }
  }
}

export function qmatmulNNQ8(x: usize, w: usize, out: usize, accScratch: usize, N: i32, K: i32, accumulate: bool, r0: i32, r1: i32, b0: i32, b1: i32): void {
  qmatmulNNImpl(x, w, out, accScratch, N, K, accumulate, r0, r1, b0, b1, false);
}
export function qmatmulNNQ4(x: usize, w: usize, out: usize, accScratch: usize, N: i32, K: i32, accumulate: bool, r0: i32, r1: i32, b0: i32, b1: i32): void {
  qmatmulNNImpl(x, w, out, accScratch, N, K, accumulate, r0, r1, b0, b1, true);
}
