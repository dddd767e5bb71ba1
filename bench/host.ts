// This host's description and ceilings for `npm run bench` (issue 18): the CPU model, its clock and
// cache sizes (every figure in bench/RESULTS.md is tied to one host), and the limits measured in the
// same run that bound each figure — the SIMD128 multiply-add peak (matmul, batched decode) and the
// streaming read bandwidth from Wasm (batch-1 decode reads every weight once a step).

import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { createWasmBackend, type WasmBackend } from '../runtime/backend/wasm/index.ts';
import { estimateClockGHz, measureSimdPeak } from './probes.ts';

export interface HostInfo {
  cpu: string;
  cores: number;
  /** GHz: from /proc/cpuinfo or lscpu when the (virtual) machine reports it, else estimated */
  clockGHz: number;
  clockSource: 'reported' | 'estimated';
  /** bytes per core (L1d, L2) and in all (L3), from getconf (CPUID); 0 when unknown */
  cache: { l1d: number; l2: number; l3: number };
}

export interface Ceilings {
  /** SIMD128 multiply-add GFLOP/s of one thread, and of all the threads the bench uses */
  fmaPeak1: number;
  fmaPeakAll: number;
  relaxed: boolean;
  /** streaming read GB/s from Wasm linear memory: one thread and all threads */
  read1: number;
  readAll: number;
  readBytes: number;
}

function reportedClockGHz(): number {
  try {
    const mhz = /^cpu MHz\s*:\s*([\d.]+)/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (mhz) return Number(mhz[1]) / 1000;
  } catch {
    /* not Linux */
  }
  const l = spawnSync('lscpu', [], { encoding: 'utf8' });
  const max = /CPU max MHz:\s*([\d.]+)/.exec(l.stdout ?? '');
  return max ? Number(max[1]) / 1000 : 0;
}

function cacheSizes(): HostInfo['cache'] {
  const g = spawnSync('getconf', ['-a'], { encoding: 'utf8' });
  const get = (key: string) => Number(new RegExp(`^${key}\\s+(\\d+)`, 'm').exec(g.stdout ?? '')?.[1] ?? 0);
  return { l1d: get('LEVEL1_DCACHE_SIZE'), l2: get('LEVEL2_CACHE_SIZE'), l3: get('LEVEL3_CACHE_SIZE') };
}

export async function describeHost(): Promise<HostInfo> {
  const reported = reportedClockGHz();
  return {
    cpu: cpus()[0]?.model?.trim() || 'unknown CPU',
    cores: cpus().length,
    clockGHz: reported || (await estimateClockGHz()),
    clockSource: reported ? 'reported' : 'estimated',
    cache: cacheSizes(),
  };
}

export function hostLine(h: HostInfo): string {
  const kib = (b: number) => (b >= 2 ** 20 ? `${(b / 2 ** 20).toFixed(0)} MiB` : `${(b / 1024).toFixed(0)} KiB`);
  const c = h.cache;
  const caches = c.l1d ? `L1d ${kib(c.l1d)}, L2 ${kib(c.l2)}${c.l3 ? `, L3 ${kib(c.l3)} (as CPUID reports it)` : ''}` : 'cache sizes unknown';
  return `${h.cpu}, ${h.cores} cores, ${h.clockGHz.toFixed(2)} GHz (${h.clockSource === 'reported' ? 'reported' : 'estimated from a dependent integer chain: the VM reports none'}), ${caches}`;
}

/** The ceilings, measured now (~3 s: the FMA probe, and 2 × 6 passes over 1 GiB). */
export async function measureCeilings(threads: number, readBytes = 2 ** 30): Promise<Ceilings> {
  const peak = await measureSimdPeak();
  const b = (await createWasmBackend({ threads })) as WasmBackend;
  try {
    const read1 = b.probeReadBandwidth({ bytes: readBytes, threads: 1 });
    const readAll = b.probeReadBandwidth({ bytes: readBytes });
    return { fmaPeak1: peak.gflops, fmaPeakAll: peak.gflops * b.threads, relaxed: peak.relaxed, read1, readAll, readBytes };
  } finally {
    b.destroy();
  }
}
