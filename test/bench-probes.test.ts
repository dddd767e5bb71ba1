// The bench's ceiling probes (wasm/probe.ts, issue 18): readSum sums exactly the bytes it is given
// (so the bandwidth figure times real loads of the whole buffer), clockChain is the integer chain it
// claims (no ops folded away), and the backend's bandwidth probe runs on 1 and 2 threads.
import t from 'tap';
import '../runtime/platform/node.ts'; // worker_threads for the 2-thread backend
import { createWasmBackend, type WasmBackend } from '../runtime/backend/wasm/index.ts';
import { instantiate } from '../runtime/backend/wasm/module.ts';

const { kernels, memory } = await instantiate(64);
const base = Math.ceil((kernels.heapBase() >>> 0) / 64) * 64;

t.test('readSum: the f32 sum of [i0, i1) in 128-byte steps, odd ranges included', async (tt) => {
  const n = 4096; // floats
  memory.grow(2);
  const x = new Float32Array(memory.buffer, base, n);
  for (let i = 0; i < n; i++) x[i] = ((i * 37) % 11) - 5 + 0.25;
  const out = base + n * 4;
  for (const [i0, i1] of [
    [0, n * 4],
    [128, 1024],
    [256, 256 + 128],
    [512, 512],
  ] as const) {
    kernels.readSum(base, out, i0, i1);
    let ref = 0;
    for (let i = i0 / 4; i < i1 / 4; i++) ref += x[i];
    const got = new Float32Array(memory.buffer, out, 1)[0];
    tt.ok(Math.abs(got - ref) <= 1e-3 + 1e-5 * Math.abs(ref), `[${i0}, ${i1}): ${got} vs ${ref}`);
  }
  // a range that is not a multiple of 128 bytes reads only whole 128-byte blocks
  kernels.readSum(base, out, 0, 200);
  let ref = 0;
  for (let i = 0; i < 32; i++) ref += x[i];
  tt.ok(Math.abs(new Float32Array(memory.buffer, out, 1)[0] - ref) <= 1e-4, 'a tail under 128 bytes is not read');
});

t.test('clockChain: 16 dependent add/xor ops an iteration, as the JS mirror computes them', async (tt) => {
  const C = [
    0x3c6ef372, 0x1b873593, 0x7f4a7c15, 0x2545f491, 0x61c88647, 0x0b4f1a8d, 0x5bd1e995, 0x68e31da4, 0x1f83d9ab, 0x6a09e667, 0x3c6ef372, 0x510e527f, 0x5be0cd19,
    0x428a2f98, 0x71374491, 0x3956c25b,
  ];
  for (const [iters, seed] of [
    [0, 7],
    [1, 7],
    [1000, 12345],
  ]) {
    let v = seed | 0;
    for (let i = 0; i < iters; i++) for (let j = 0; j < 16; j += 2) v = ((v + C[j]) | 0) ^ C[j + 1];
    tt.equal(kernels.clockChain(iters, seed), v, `${iters} iterations from ${seed}`);
  }
});

t.test('probeReadBandwidth: a finite positive rate on 1 and 2 threads, memory released', async (tt) => {
  const b = (await createWasmBackend({ threads: 2 })) as WasmBackend;
  t.teardown(() => b.destroy());
  let pages = 0;
  for (const threads of [1, 2]) {
    const gbs = b.probeReadBandwidth({ bytes: 8 << 20, threads, reps: 1 });
    tt.ok(Number.isFinite(gbs) && gbs > 0, `${threads} thread(s): ${gbs.toFixed(1)} GB/s`);
    pages ||= b.memoryPages;
  }
  b.probeReadBandwidth({ bytes: 8 << 20, reps: 1 }); // the same block is reused, not leaked
  tt.equal(b.memoryPages, pages, 'the probe block is freed after each probe and reused, memory does not grow');
});
