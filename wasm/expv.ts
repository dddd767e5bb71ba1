// exp over four f32 lanes, for the contrast op's softmaxes, attention and swiglu. Wasm has no exp
// instruction and Mathf.exp is a scalar call of ~20–40 cycles. This is the Cephes expf scheme:
// x = n·ln 2 + r with |r| ≤ ln 2 / 2, e^r by a degree-7 polynomial, 2^n put into the exponent bits.
// Relative error ≤ 2e-7 (about 1 ulp; tested against Math.exp in test/kernels-wasm.test.ts).
// Inputs are clamped to [−87.3, 88]: below, the result is ~1e-38 instead of a subnormal or 0 (a
// softmax term that small is below f32 rounding of the sum anyway); above, finite instead of inf.
// Plain multiply and add only, so the plain and relaxed SIMD builds give the same bits.

const LOG2E: f32 = 1.44269504088896341;
const LN2_HI: f32 = 0.693359375;
const LN2_LO: f32 = -2.12194440e-4;
const LO: f32 = -87.3365447505531;
const HI: f32 = 88.0;

// 1.5·2^23: adding it rounds an f32 of magnitude < 2^22 to an integer, which then sits in the low
// mantissa bits (cheaper than f32x4.nearest + i32x4.trunc_sat_f32x4_s, which V8 expands on x86).
const ROUND: f32 = 12582912.0;

@inline export function expv(x: v128): v128 {
  // pmin/pmax are single instructions; min/max's NaN and ±0 rules cost several on x86 (no NaN here)
  x = f32x4.pmin(f32x4.pmax(x, f32x4.splat(LO)), f32x4.splat(HI));
  const t = f32x4.add(f32x4.mul(x, f32x4.splat(LOG2E)), f32x4.splat(ROUND));
  const n = f32x4.sub(t, f32x4.splat(ROUND));
  const r = f32x4.sub(f32x4.sub(x, f32x4.mul(n, f32x4.splat(LN2_HI))), f32x4.mul(n, f32x4.splat(LN2_LO)));
  let p = f32x4.splat(1.9875691500e-4);
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.3981999507e-3));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(8.3334519073e-3));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(4.1665795894e-2));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.6666665459e-1));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(5.0000001201e-1));
  const y = f32x4.add(f32x4.add(f32x4.mul(p, f32x4.mul(r, r)), r), f32x4.splat(1));
  // t's bits are 0x4B400000 + n; shifted left by 23 the constant part drops out: (n + 127) << 23
  const scale = i32x4.shl(i32x4.add(t, i32x4.splat(127)), 23);
  return f32x4.mul(y, scale);
}

/** Scalar entry for tests: expv on one value. */
export function expOne(x: f32): f32 {
  return f32x4.extract_lane(expv(f32x4.splat(x)), 0);
}
