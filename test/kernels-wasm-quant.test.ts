// Issue 30: the Wasm kernels over Q8_0 / Q4_0 blocks (wasm/qmatmul.ts) against the reference, which
// dequantizes the same bytes to f32 (runtime/quant): matmul (prefill, decode rows, bias) and
// matmulNN (QLoRA's dX), odd shapes (K = 32·k with k odd, N % 4 ≠ 0); the same bits whatever the
// batch (a row alone or among others), the thread count and plain or relaxed SIMD within a flavour;
// block weights refused where no op reads them.
import t from 'tap';
import '../runtime/platform/node.ts'; // worker_threads for the 2-thread backend
import { ReferenceBackend } from '../runtime/backend/reference.ts';
import type { Backend, QuantDType, Tensor } from '../runtime/backend/types.ts';
import { createWasmBackend } from '../runtime/backend/wasm/index.ts';
import { dequantize, quantize } from '../runtime/quant/index.ts';
import { encodeFromF32 } from '../runtime/util/dtype.ts';
import { rng, uniform } from './portable/random.ts';

const rand = rng(0x30a11);
const ref = new ReferenceBackend();
const one = await createWasmBackend({ threads: 1 });
const two = await createWasmBackend({ threads: 2 });
const plain = await createWasmBackend({ threads: 2, relaxedSimd: false });
t.teardown(() => {
  for (const b of [one, two, plain]) b.destroy();
});
const TYPES: QuantDType[] = ['q8_0', 'q4_0'];

function blocks(type: QuantDType, N: number, K: number): Uint8Array {
  return quantize(type, 'f32', new Uint8Array(uniform(rand, N * K).buffer), K);
}
function bits(x: Float32Array): Uint32Array {
  return new Uint32Array(x.buffer, x.byteOffset, x.length);
}
function firstDiff(a: Float32Array, b: Float32Array): number {
  const u = bits(a),
    v = bits(b);
  for (let i = 0; i < u.length; i++) if (u[i] !== v[i]) return i;
  return u.length === v.length ? -1 : u.length;
}
/** Index of the first element outside atol + rtol·|want|, or -1. */
function outside(got: Float32Array, want: Float32Array, atol: number, rtol = 1e-5): number {
  for (let i = 0; i < want.length; i++) if (!(Math.abs(got[i] - want[i]) <= atol + rtol * Math.abs(want[i]))) return i;
  return got.length === want.length ? -1 : want.length;
}

async function matmulOn(
  b: Backend,
  type: QuantDType,
  w: Uint8Array,
  xs: Float32Array,
  n: number,
  K: number,
  N: number,
  bias?: Uint8Array,
): Promise<Float32Array> {
  const x = b.createTensor('f32', [n, K], xs),
    wt = b.createWeight(type, [N, K], w),
    o = b.createTensor('f32', [n, N]);
  const bt: Tensor | null = bias ? b.createWeight('bf16', [N], bias) : null;
  b.matmul(x, wt, bt, o);
  const got = (await b.read(o)) as Float32Array;
  for (const z of [x, wt, o, ...(bt ? [bt] : [])]) b.dispose(z);
  return got;
}

t.test('matmul on blocks: the dequantized oracle, same bits across batch, threads, flavour', async (tt) => {
  // [n, K, N]: decode rows (1, 3, 8), groups of 4 with leftovers (5, 13), K = 32·k (k odd), N % 4 ≠ 0
  const shapes = [
    [1, 96, 37],
    [3, 160, 33],
    [5, 32, 7],
    [8, 576, 130],
    [13, 224, 61],
    [40, 96, 19],
    [2, 1056, 9],
    [130, 288, 67],
  ];
  for (const type of TYPES) {
    for (const [n, K, N] of shapes) {
      const w = blocks(type, N, K),
        xs = uniform(rand, n * K),
        bias = n % 2 ? encodeFromF32('bf16', uniform(rand, N)) : undefined;
      const what = `${type} [${n},${K}]·[${N},${K}]ᵀ${bias ? ' + bias' : ''}`;
      const want = await matmulOn(ref, type, w, xs, n, K, N, bias);
      const a = await matmulOn(one, type, w, xs, n, K, N, bias);
      const bad = outside(a, want, 1e-5 * Math.sqrt(K));
      tt.equal(bad, -1, `${what}: oracle${bad >= 0 ? ` (element ${bad}: ${a[bad]} vs ${want[bad]})` : ''}`);
      tt.equal(firstDiff(await matmulOn(two, type, w, xs, n, K, N, bias), a), -1, `${what}: 2 threads = 1 thread, bit for bit`);
      const p = await matmulOn(plain, type, w, xs, n, K, N, bias);
      tt.equal(outside(p, want, 1e-5 * Math.sqrt(K)), -1, `${what}: plain SIMD: oracle`);
      // each row alone (the decode path) gives the bits it gets within the batch
      const r = n - 1,
        alone = await matmulOn(two, type, w, xs.subarray(r * K, (r + 1) * K), 1, K, N, bias);
      tt.equal(firstDiff(alone, a.subarray(r * N, (r + 1) * N)), -1, `${what}: row ${r} alone = within the batch`);
    }
  }
});

t.test('matmulNN on blocks (dX = dY · W): oracle, accumulate, threads', async (tt) => {
  const shapes = [
    [1, 37, 96],
    [6, 33, 160],
    [17, 8, 32],
    [64, 21, 288],
    [3, 130, 608],
    [4, 200, 1024],
  ];
  for (const type of TYPES) {
    for (const [n, N, K] of shapes) {
      const w = blocks(type, N, K),
        xs = uniform(rand, n * N),
        init = uniform(rand, n * K);
      for (const acc of [false, true]) {
        const outs: Float32Array[] = [];
        for (const b of [ref, one, two] as Backend[]) {
          const x = b.createTensor('f32', [n, N], xs),
            wt = b.createWeight(type, [N, K], w),
            o = b.createTensor('f32', [n, K], init);
          b.training!.matmulNN(x, wt, o, acc);
          outs.push((await b.read(o)) as Float32Array);
          for (const z of [x, wt, o]) b.dispose(z);
        }
        const what = `${type} [${n},${N}]·[${N},${K}]${acc ? ' accumulate' : ''}`;
        const bad = outside(outs[1], outs[0], 1e-5 * Math.sqrt(N));
        tt.equal(bad, -1, `${what}: oracle${bad >= 0 ? ` (element ${bad}: ${outs[1][bad]} vs ${outs[0][bad]})` : ''}`);
        tt.equal(firstDiff(outs[2], outs[1]), -1, `${what}: 2 threads = 1 thread, bit for bit`);
      }
    }
  }
});

t.test('block weights: read back dequantized; refused where no op reads them', async (tt) => {
  for (const type of TYPES) {
    const w = blocks(type, 6, 64);
    const wt = two.createWeight(type, [6, 64], w);
    tt.same(Array.from((await two.read(wt)) as Float32Array), Array.from(dequantize(type, w, 6 * 64)), `${type}: read = gguf's dequantization`);
    tt.equal(wt.dtype, type);
    tt.throws(() => two.view(wt, [6, 64]), /createWeight matrix/, `${type}: no views`);
    const ids = two.createTensor('i32', [1], new Int32Array([0])),
      o = two.createTensor('f32', [1, 64]);
    tt.throws(() => two.embedding(ids, wt, o), /float tensor/, `${type}: not an embedding table`);
    tt.throws(() => two.createWeight(type, [6, 48], new Uint8Array(6 * 48)), /multiple of 32/, `${type}: rows not whole blocks`);
    tt.throws(() => two.createWeight(type, [64], new Uint8Array(64)), /multiple of 32/, `${type}: not a matrix`);
    tt.throws(() => two.createWeight(type, [6, 64], w.subarray(1)), /needs/, `${type}: wrong byte count`);
    tt.throws(() => ref.createWeight(type, [6, 48], new Uint8Array(6 * 48)), /multiple of 32/, `${type}: the reference refuses it too`);
    two.dispose(wt);
  }
  tt.ok(two.info.features.includes('quantized') && ref.info.features.includes('quantized'), 'both say they read block weights');
});
