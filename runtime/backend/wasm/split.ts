// How the Wasm backend cuts an op's range across its threads (backend.ts). Every part is computed
// exactly as the single-thread kernel would compute it, so where the cuts fall changes speed only,
// never the bits.

/** Ops below about this many multiply-adds (or equivalent) stay on one thread: ~15 µs of work. */
export const MIN_PARALLEL_WORK = 1 << 18;

/**
 * Boundaries b[0] = 0 < … < b[T] = total splitting [0, total) into T ≤ threads parts at
 * multiples of `align` (the last part ends at total), or null when the op is too small to pay a
 * dispatch (`work`: its multiply-adds or so) or there is one thread.
 */
export function splitEven(threads: number, total: number, align: number, work: number): number[] | null {
  if (threads <= 1 || work < MIN_PARALLEL_WORK) return null;
  const T = Math.min(threads, Math.ceil(total / align));
  if (T <= 1) return null;
  const b = [0];
  for (let t = 1; t < T; t++) b.push(Math.min(total, Math.round((total * t) / T / align) * align));
  b.push(total);
  return b;
}

/**
 * Like splitEven, but balancing a per-item cost (cost[i] ≥ 0 for items [0, cost.length)): each
 * part gets about 1/T of the total cost.
 */
export function splitByCost(threads: number, cost: ArrayLike<number>, work: number): number[] | null {
  if (threads <= 1 || work < MIN_PARALLEL_WORK || cost.length < 2) return null;
  const T = Math.min(threads, cost.length);
  let total = 0;
  for (let i = 0; i < cost.length; i++) total += cost[i];
  const b = [0];
  let acc = 0,
    i = 0;
  for (let t = 1; t < T; t++) {
    const goal = (total * t) / T;
    while (i < cost.length && acc + cost[i] / 2 < goal) acc += cost[i++];
    b.push(Math.max(i, b[b.length - 1]));
  }
  b.push(cost.length);
  return b;
}
