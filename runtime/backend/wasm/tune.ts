// Picks this host's matmul variant (variants.ts) once: forced by the caller or the environment,
// else remembered from an earlier run on this host, else measured now. The measurement is short
// (< 0.2 s on 2 cores) and only compares variants with each other, in the same minute, so a noisy
// neighbour slows both sides alike; a variant must beat the default by MARGIN to be taken, so noise
// falls back to the default. Since every variant gives the same bits, a wrong pick costs speed only.

import type { Backend } from '../types.ts';
import { LightReasonerError } from '../../errors.ts';
import { ALL_VARIANTS, DEFAULT_VARIANT, formatVariant, hostTuning, type MatmulVariant, parseVariant, prefetchOf } from './variants.ts';

/** What a variant must gain over the default to be chosen. */
const MARGIN = 0.03;
/** Below this much memory the autotune's ~40 MiB are not spent: the default runs. */
const MIN_TUNING_BYTES = 256 * 2 ** 20;

interface Tunable extends Backend {
  matmulVariant: MatmulVariant;
  readonly threads: number;
}

/** Choices made in this process, by host key (a second backend does not measure again). */
const chosen = new Map<string, MatmulVariant>();

export async function chooseVariant(b: Tunable, asked: MatmulVariant | string | undefined): Promise<MatmulVariant> {
  if (asked !== undefined && asked !== 'auto')
    return typeof asked === 'string' ? parseVariant(asked, 'matmulVariant') : parseVariant(formatVariant(asked), 'matmulVariant');
  const t = hostTuning();
  const forced = t.forced();
  if (forced !== undefined && forced !== '' && forced !== 'auto') {
    try {
      return parseVariant(forced, 'LIGHTREASONER_WASM_VARIANT');
    } catch (e) {
      // the user's environment, not a caller's bug: a BAD_INPUT error (exit 2, no stack in the CLI)
      throw new LightReasonerError('BAD_INPUT', `${(e as Error).message}; or unset it to let this host choose`);
    }
  }
  const key = `${t.hostKey()}|${b.info.device}|v2`;
  const known = chosen.get(key) ?? (await remembered(key));
  if (known) {
    chosen.set(key, known);
    return known;
  }
  if (b.info.limits.maxMemoryBytes < MIN_TUNING_BYTES) return DEFAULT_VARIANT;
  let pick: MatmulVariant;
  try {
    pick = tune(b);
  } catch {
    return DEFAULT_VARIANT; // e.g. memory refused: the default, not remembered
  }
  chosen.set(key, pick);
  await t.store.set(key, formatVariant(pick)).catch(() => {});
  return pick;
}

async function remembered(key: string): Promise<MatmulVariant | undefined> {
  try {
    const text = await hostTuning().store.get(key);
    return text ? parseVariant(text) : undefined;
  } catch {
    return undefined; // unreadable or from another version: measure again
  }
}

/** Deterministic bf16 bits of small values (no Math.random: tuning inputs are the same every run). */
function bf16Data(n: number): Uint8Array {
  const u = new Uint16Array(n);
  for (let i = 0; i < n; i++) u[i] = 0x3c00 + ((i * 2654435761) >>> 24) - (i & 1 ? 0x8000 : 0); // ±(2⁻⁷ … 2⁻⁶)
  return new Uint8Array(u.buffer);
}

/**
 * Two measurements, each between variants taken in turns: unpack and prefetch at 128 rows
 * (prefill-like, 2 MiB of weights), the prefetch at 8 rows (a decode batch, 32 MiB of weights,
 * beyond most L2s).
 */
export function tune(b: Tunable): MatmulVariant {
  const K = 1024,
    data = bf16Data(K * K);
  const made: ReturnType<Backend['createTensor']>[] = [];
  const saved = b.matmulVariant;
  try {
    const x64 = b.createTensor('f32', [128, K], new Float32Array(128 * K).fill(0.5));
    const o64 = b.createTensor('f32', [128, K]);
    const w = b.createWeight('bf16', [K, K], data);
    made.push(x64, o64, w);
    // 128 rows: unpack × prefetch (both only matter from ONCE_MIN_ROWS rows on)
    const prefill = faster(
      b,
      (['registers', 'once'] as const).flatMap((unpack) => (['prefill', 'none'] as const).map((prefetch) => ({ unpack, prefetch }))),
      () => {
        b.matmul(x64, w, null, o64);
      },
    );
    const x8 = b.createTensor('f32', [8, K], new Float32Array(8 * K).fill(0.5));
    const o8 = b.createTensor('f32', [8, K]);
    const ws = Array.from({ length: 16 }, () => b.createWeight('bf16', [K, K], data));
    made.push(x8, o8, ...ws);
    const batch = faster(
      b,
      (['batch', 'none'] as const).map((prefetch) => ({ unpack: 'registers' as const, prefetch })),
      () => {
        for (const wi of ws) b.matmul(x8, wi, null, o8);
      },
    );
    const prefetch = prefetchOf(batch.prefetch === 'batch', prefill.prefetch === 'prefill');
    return ALL_VARIANTS.find((v) => v.unpack === prefill.unpack && v.prefetch === prefetch)!;
  } finally {
    b.matmulVariant = saved;
    for (const t of made) b.dispose(t);
  }
}

/** The first candidate (the default side) unless another is faster by MARGIN: best of 5 turns each. */
function faster(b: Tunable, candidates: MatmulVariant[], work: () => void): MatmulVariant {
  const best = candidates.map(() => Infinity);
  for (let r = 0; r < 6; r++) {
    for (let i = 0; i < candidates.length; i++) {
      b.matmulVariant = candidates[i];
      const t0 = performance.now();
      work();
      const dt = performance.now() - t0;
      if (r > 0) best[i] = Math.min(best[i], dt); // turn 0 warms the code and the caches
    }
  }
  let pick = 0;
  for (let i = 1; i < candidates.length; i++) if (best[i] < best[pick] * (1 - MARGIN) && best[i] < best[0] * (1 - MARGIN)) pick = i;
  return candidates[pick];
}
