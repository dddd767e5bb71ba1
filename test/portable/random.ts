// Seeded test data shared by every kernel test (portable: no node: imports), so a failure
// reproduces. mulberry32: small, fast, and good enough for test inputs.

export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** n values uniform in (−scale, scale) drawn from `rand`. */
export function uniform(rand: () => number, n: number, scale = 1): Float32Array {
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) v[i] = (rand() * 2 - 1) * scale;
  return v;
}

/** n integers uniform in [0, limit) drawn from `rand`. */
export function integers(rand: () => number, n: number, limit: number): Int32Array {
  const v = new Int32Array(n);
  for (let i = 0; i < n; i++) v[i] = Math.floor(rand() * limit);
  return v;
}
