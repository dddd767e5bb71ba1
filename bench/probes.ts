// Ceiling probes for the bench (wasm/probe.ts kernels): the SIMD multiply-add peak and the core
// clock. Bench tooling, kept out of the runtime's backend; the read-bandwidth probe needs the
// backend's memory and threads and stays a WasmBackend method (probeReadBandwidth).

import { instantiate } from '../runtime/backend/wasm/module.ts';

/**
 * The SIMD128 multiply-add rate one thread of this host reaches with nothing but registers
 * (wasm/probe.ts), in GFLOP/s: the ceiling every kernel here is measured against (`npm run bench`).
 * Same flavour choice as the backends (relaxed SIMD where the host has it). Runs ~0.3 s.
 */
export async function measureSimdPeak(relaxedSimd?: boolean): Promise<{ gflops: number; relaxed: boolean }> {
  const { kernels, relaxed } = await instantiate(1, false, relaxedSimd);
  kernels.fmaPeak(1e6, 1); // tier up to the optimising compiler
  let best = 0;
  for (let r = 0; r < 3; r++) {
    const iters = 3e7,
      t0 = performance.now();
    kernels.fmaPeak(iters, 1);
    best = Math.max(best, (iters * 96) / ((performance.now() - t0) / 1000) / 1e9);
  }
  return { gflops: best, relaxed };
}

/**
 * This core's clock in GHz, estimated from a chain of dependent 1-cycle integer ops
 * (wasm/probe.ts clockChain) — for VMs whose /proc/cpuinfo reports no frequency. Best of 3, ~0.1 s.
 */
export async function estimateClockGHz(): Promise<number> {
  const { kernels } = await instantiate(1, false, false);
  kernels.clockChain(1e6, 1); // tier up
  let best = 0;
  for (let r = 0; r < 3; r++) {
    const iters = 2e7,
      t0 = performance.now();
    kernels.clockChain(iters, r);
    best = Math.max(best, (iters * 16) / ((performance.now() - t0) / 1000) / 1e9);
  }
  return best;
}
