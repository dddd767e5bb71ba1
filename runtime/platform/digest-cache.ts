// A small map from a file's identity — (real path, size, modification time) — to the sha-256 of its
// bytes, so a weight file outside the Hub cache is hashed once, not on every run. In memory by
// default; the Node adapter registers one kept in a JSON file in the user's cache directory
// ($XDG_CACHE_HOME/lightreasoner-wasm/fingerprints.json). It is a cache only: a file that cannot be
// read or written is ignored (the digest is computed again).
import type { FileSystem } from './types.ts';

export interface DigestCache {
  get(key: string): Promise<string | undefined>;
  set(key: string, digest: string): Promise<void>;
}

const isSha256 = (v: string) => /^[0-9a-f]{64}$/.test(v);

/** Entries kept at most (the oldest go first): far more weight files than one machine holds. */
const MAX_ENTRIES = 4096;

export function memoryDigestCache(): DigestCache {
  const map = new Map<string, string>();
  return {
    get: async (key) => map.get(key),
    async set(key, digest) {
      map.delete(key);
      map.set(key, digest);
      while (map.size > MAX_ENTRIES) map.delete(map.keys().next().value!);
    },
  };
}

/**
 * A cache in `file` (JSON {key: digest}), read once and rewritten atomically on each new entry.
 * Entries whose value `accept` refuses are dropped on reading (default: sha-256 hex digests; the Node
 * adapter keeps the Wasm matmul variants, runtime/backend/wasm/variants.ts, in one of these too).
 */
export function fileDigestCache(fs: FileSystem, file: string, folder: string, accept: (value: string) => boolean = isSha256): DigestCache {
  let map: Promise<Map<string, string>> | null = null;
  let writes: Promise<void> = Promise.resolve();
  const load = () =>
    (map ??= fs
      .readText(file)
      .then(
        (text) => {
          const j = JSON.parse(text) as unknown;
          const m = new Map<string, string>();
          if (j && typeof j === 'object' && !Array.isArray(j)) for (const [k, v] of Object.entries(j)) if (typeof v === 'string' && accept(v)) m.set(k, v);
          return m;
        },
        () => new Map<string, string>(),
      )
      .catch(() => new Map<string, string>()));
  return {
    get: async (key) => (await load()).get(key),
    async set(key, digest) {
      const m = await load();
      m.delete(key);
      m.set(key, digest);
      while (m.size > MAX_ENTRIES) m.delete(m.keys().next().value!);
      const text = JSON.stringify(Object.fromEntries(m));
      // One write at a time (fingerprints run in parallel); a failure only loses the cache entry.
      writes = writes.then(async () => {
        try {
          await fs.mkdir?.(folder);
          await fs.writeFileAtomic?.(file, text);
        } catch {
          // a read-only or full cache directory: the digest is computed again next time
        }
      });
      await writes;
    },
  };
}

let current: DigestCache = memoryDigestCache();

/** The cache fingerprints use unless given one. */
export const defaultDigestCache = (): DigestCache => current;

/** Make `cache` the default (the Node adapter's file-backed one). */
export function setDefaultDigestCache(cache: DigestCache): void {
  current = cache;
}
