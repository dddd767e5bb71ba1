// Helpers of the bit-for-bit tests (a model over several Wasm memories, a WebGPU model with split
// weights, each against the plain one): no tap, no node: imports, so Deno and Chromium use them too.

import type { CausalLM } from '../../runtime/model/model.ts';

/** Equal lengths and every element the same bits (Object.is: -0 ≠ 0, NaN = NaN). */
export const sameBits = (a: ArrayLike<number>, b: ArrayLike<number>): boolean =>
  a.length === b.length && Array.prototype.every.call(a, (v: number, i: number) => Object.is(v, b[i]));

/** Logits of every position of one prompt, through a fresh KV cache. */
export async function prefillLogits(model: CausalLM, ids: number[]): Promise<Float32Array> {
  const cache = model.createCache(1, ids.length);
  try {
    const logits = model.forward(
      { tokens: Int32Array.from(ids), rows: Int32Array.from(ids.flatMap((_, p) => [0, p])), logitRows: Int32Array.from(ids.keys()) },
      cache,
    );
    return (await model.backend.read(logits)) as Float32Array;
  } finally {
    model.disposeCache(cache);
  }
}
