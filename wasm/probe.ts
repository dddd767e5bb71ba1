// The SIMD128 multiply-add ceiling of one core under this engine, measured by `npm run bench`
// (decode): a batch-8 over batch-1 decoding ratio cannot exceed this rate over batch 1's weight
// bandwidth (bench/RESULTS.md). 12 independent accumulator chains cover FMA latency × FMA pipes on
// current x86 and ARM cores; nothing is loaded or stored in the loop. 96 flops per iteration in
// both builds (relaxed: 12 fused multiply-adds; plain: 12 multiplies and 12 adds).

@inline function madd(a: v128, m: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, m, c);
  else return f32x4.add(f32x4.mul(a, m), c);
}

export function fmaPeak(iters: i32, seed: f32): f32 {
  let a0 = f32x4.splat(seed), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0;
  let a6 = a0, a7 = a0, a8 = a0, a9 = a0, a10 = a0, a11 = a0;
  const m = f32x4.splat(0.999999), c = f32x4.splat(1e-7);
  for (let i = 0; i < iters; i++) {
    a0 = madd(a0, m, c); a1 = madd(a1, m, c); a2 = madd(a2, m, c); a3 = madd(a3, m, c);
    a4 = madd(a4, m, c); a5 = madd(a5, m, c); a6 = madd(a6, m, c); a7 = madd(a7, m, c);
    a8 = madd(a8, m, c); a9 = madd(a9, m, c); a10 = madd(a10, m, c); a11 = madd(a11, m, c);
  }
  const s = f32x4.add(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)), f32x4.add(f32x4.add(a4, a5), f32x4.add(a6, a7)));
  return f32x4.extract_lane(f32x4.add(s, f32x4.add(f32x4.add(a8, a9), f32x4.add(a10, a11))), 0);
}
