// Seeded test data shared by every kernel test (portable: no node: imports), so a failure
// reproduces.

import { mulberry32 } from '../../runtime/data/problems.ts';

/** The runtime's own mulberry32 (runtime/data/problems.ts): one PRNG in the project. */
export const rng = mulberry32;

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
