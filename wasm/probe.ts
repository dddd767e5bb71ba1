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

// Streaming read bandwidth (the ceiling of batch-1 decoding, which reads every weight once a step):
// sums bytes [i0, i1) of x as f32x4 with 8 independent accumulators, 128 bytes an iteration, so
// only the memory system limits it. The sum goes to out[0] so the loads cannot be dropped.
export function readSum(x: usize, out: usize, i0: i32, i1: i32): void {
  let a0 = f32x4.splat(0), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
  for (let p = x + <usize>i0, end = x + <usize>i1; p + 128 <= end; p += 128) {
    a0 = f32x4.add(a0, v128.load(p)); a1 = f32x4.add(a1, v128.load(p, 16));
    a2 = f32x4.add(a2, v128.load(p, 32)); a3 = f32x4.add(a3, v128.load(p, 48));
    a4 = f32x4.add(a4, v128.load(p, 64)); a5 = f32x4.add(a5, v128.load(p, 80));
    a6 = f32x4.add(a6, v128.load(p, 96)); a7 = f32x4.add(a7, v128.load(p, 112));
  }
  const s = f32x4.add(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)), f32x4.add(f32x4.add(a4, a5), f32x4.add(a6, a7)));
  store<f32>(out, f32x4.extract_lane(s, 0) + f32x4.extract_lane(s, 1) + f32x4.extract_lane(s, 2) + f32x4.extract_lane(s, 3));
}

// The core clock, estimated: 16 dependent integer ops (alternating add and xor, 1-cycle latency on
// every current x86 and ARM core, and not foldable into fewer) per iteration, so iters × 16 cycles.
// For hosts (VMs) whose /proc/cpuinfo does not report a frequency.
export function clockChain(iters: i32, seed: i32): i32 {
  let x = seed;
  for (let i = 0; i < iters; i++) {
    x = (x + 0x3c6ef372) ^ 0x1b873593; x = (x + 0x7f4a7c15) ^ 0x2545f491;
    x = (x + 0x61c88647) ^ 0x0b4f1a8d; x = (x + 0x5bd1e995) ^ 0x68e31da4;
    x = (x + 0x1f83d9ab) ^ 0x6a09e667; x = (x + 0x3c6ef372) ^ 0x510e527f;
    x = (x + 0x5be0cd19) ^ 0x428a2f98; x = (x + 0x71374491) ^ 0x3956c25b;
  }
  return x;
}
