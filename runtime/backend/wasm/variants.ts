// Per-host choices of the Wasm matmul (issue 18): which of its variants runs on this machine.
//
// Every variant does the same operations, in the same order, for every output element (see the
// end of wasm/matmul.ts): they differ only in where data sits and when it is fetched. So outputs are
// bit-identical across variants — and across hosts that pick different ones, which the sharded runs
// rely on when they gather shards computed on different machines into one file. What is worth
// choosing per host:
//  * unpack: 16-bit weights widened to f32 in registers on every pass over a 4-row weight block
//    ('registers'), or once per block into a per-thread strip that every row pair then reads
//    ('once'). On CPUs whose vector shifts share ports with the FMAs (Intel's p0/p1) the second
//    takes 8 of every 24 vector ops of the inner loop off those ports; on Zen 5 it measured no
//    gain. Applies from ONCE_MIN_ROWS rows (prefill, training); decoding's 1–8 rows stream each
//    weight from memory once or a few times and always unpack in registers.
//  * prefetch: the 2-row passes pull the next weight block into the cache a quarter at a time —
//    at every row count ('all'), only below ONCE_MIN_ROWS ('batch': decoding), only from there
//    ('prefill') or never ('none'). Zen 4 gained 5–8 % at 8 rows with weights from DRAM; on Zen 5
//    it is within ±3 % either way at 8 and 128 rows (A/B in turns, bench/RESULTS.md).
// The choice comes from a short autotune at the backend's first use on a host (tune.ts, < 0.2 s),
// kept per host in a TuningStore (the Node adapter: a JSON file in the user's cache directory; a
// browser: localStorage), or is forced: WasmBackendOptions.matmulVariant, or the environment
// variable LIGHTREASONER_WASM_VARIANT (Node, Deno), e.g. `unpack=once,prefetch=batch`.

export interface MatmulVariant {
  /** 16-bit weights at ≥ ONCE_MIN_ROWS rows: widen in registers each pass, or once per weight block. */
  readonly unpack: 'registers' | 'once';
  /** Next-block prefetch in the 2-row passes (wasm/matmul.ts): at which row counts. */
  readonly prefetch: Prefetch;
}

/** The variant before any tuning (the kernels' behaviour until issue 18). */
export const DEFAULT_VARIANT: MatmulVariant = Object.freeze({ unpack: 'registers', prefetch: 'all' });

export type Prefetch = 'all' | 'batch' | 'prefill' | 'none';
const PREFETCH: readonly Prefetch[] = ['all', 'batch', 'prefill', 'none'];

/** Whether a matmul of n rows prefetches under `v`. */
export function prefetches(v: MatmulVariant, n: number): boolean {
  return v.prefetch === 'all' || v.prefetch === (n < ONCE_MIN_ROWS ? 'batch' : 'prefill');
}

/** The prefetch setting that is `batch` below ONCE_MIN_ROWS rows and `prefill` from there. */
export function prefetchOf(batch: boolean, prefill: boolean): Prefetch {
  return batch ? (prefill ? 'all' : 'batch') : prefill ? 'prefill' : 'none';
}

/** Every variant, for the autotune and for tests that hold them to the same bits. */
export const ALL_VARIANTS: readonly MatmulVariant[] = Object.freeze(
  (['registers', 'once'] as const).flatMap((unpack) => PREFETCH.map((prefetch) => Object.freeze({ unpack, prefetch }))),
);

/** Rows from which the unpack choice applies (below, every weight is read only a few times). */
export const ONCE_MIN_ROWS = 16;

/** `unpack=registers,prefetch=all` — the form parseVariant reads. */
export function formatVariant(v: MatmulVariant): string {
  return `unpack=${v.unpack},prefetch=${v.prefetch}`;
}

/**
 * Reads `unpack=registers|once,prefetch=all|batch|prefill|none` (on = all, off = none; either key
 * may be left out: the default's value);
 * throws a RangeError naming what is wrong and the accepted form.
 */
export function parseVariant(spec: string, where = 'matmul variant'): MatmulVariant {
  let unpack = DEFAULT_VARIANT.unpack,
    prefetch: Prefetch = DEFAULT_VARIANT.prefetch;
  const form = `expected e.g. "unpack=once,prefetch=batch" (unpack: registers|once, prefetch: all|batch|prefill|none), or "auto"`;
  for (const part of spec
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const [key, value, extra] = part.split('=').map((s) => s.trim());
    if (key === 'unpack' && (value === 'registers' || value === 'once') && extra === undefined) unpack = value;
    else if (key === 'prefetch' && (PREFETCH as readonly string[]).concat('on', 'off').includes(value) && extra === undefined) {
      prefetch = value === 'on' ? 'all' : value === 'off' ? 'none' : (value as Prefetch);
    } else throw new RangeError(`${where}: cannot read "${part}" in "${spec}": ${form}`);
  }
  return Object.freeze({ unpack, prefetch });
}

// ---- where choices are kept between runs ----------------------------------------------------------

/** A small persistent map from a host key to a formatted variant. A cache only: failures are ignored. */
export interface TuningStore {
  get(key: string): Promise<string | undefined>;
  set(key: string, value: string): Promise<void>;
}

function memoryStore(): TuningStore {
  const m = new Map<string, string>();
  return { get: async (k) => m.get(k), set: async (k, v) => void m.set(k, v) };
}

/** The browser's storage where there is one (a page: localStorage), else memory. */
function defaultStore(): TuningStore {
  const ls = (globalThis as { localStorage?: { getItem(k: string): string | null; setItem(k: string, v: string): void } }).localStorage;
  if (!ls) return memoryStore();
  const prefix = 'lightreasoner-wasm/tuning/';
  return {
    get: async (k) => {
      try {
        return ls.getItem(prefix + k) ?? undefined;
      } catch {
        return undefined;
      }
    },
    set: async (k, v) => {
      try {
        ls.setItem(prefix + k, v);
      } catch {
        // storage full or refused: tune again next time
      }
    },
  };
}

interface HostTuning {
  store: TuningStore;
  /** What identifies this machine (CPU model, cores, engine version); the adapter knows best. */
  hostKey: () => string;
  /** A variant forced by the environment (Node/Deno: LIGHTREASONER_WASM_VARIANT), if any. */
  forced: () => string | undefined;
}

function browserHostKey(): string {
  const nav = (globalThis as { navigator?: { userAgent?: string; hardwareConcurrency?: number } }).navigator;
  return `${nav?.userAgent ?? 'unknown engine'}|${nav?.hardwareConcurrency ?? 1} threads`;
}

let tuning: HostTuning = { store: defaultStore(), hostKey: browserHostKey, forced: () => undefined };

/** Platform adapters install their store, host key and environment override (platform/node.ts). */
export function registerHostTuning(t: Partial<HostTuning>): void {
  tuning = { ...tuning, ...t };
}

export function hostTuning(): HostTuning {
  return tuning;
}

/** The kernels' `flags` bit that turns the next-block prefetch off (wasm/matmul.ts NO_PREFETCH). */
export const NO_PREFETCH = 1;
