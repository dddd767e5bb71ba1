// Every op of the Wasm backend against the plain-TypeScript reference, on random data and odd
// shapes, all weight dtypes. Tolerance: |got − ref| ≤ atol + rtol·|ref| (the kernels accumulate in
// f32 in a different order than the reference, which sums in f64).
import t, { type Test } from 'tap';
import { ReferenceBackend } from '../runtime/backend/reference.ts';
import type { Backend, Tensor, FloatDType } from '../runtime/backend/types.ts';
import { createWasmBackend } from '../runtime/backend/wasm/index.ts';
import { relaxedSimdSupported } from '../runtime/backend/wasm/features.ts';
// the Node adapter enables relaxed SIMD in Node 20 (a V8 flag), so both kernel flavours are tested
import '../runtime/platform/node.ts';
import { encodeFromF32 } from '../runtime/util/dtype.ts';
import { rng, uniform, integers } from './portable/random.ts';

const ATOL = 1e-5,
  RTOL = 1e-4;
const DTYPES: FloatDType[] = ['f32', 'f16', 'bf16'];

const rand = rng(0x9e3779b9);
const randn = (n: number, scale = 1): Float32Array => uniform(rand, n, scale);
const randInts = (n: number, limit: number): Int32Array => integers(rand, n, limit);

// one thread (the pool has its own test); the relaxed-SIMD build wherever the host has it
const wasm = await createWasmBackend({ threads: 1 });
const plain = await createWasmBackend({ threads: 1, relaxedSimd: false });
const ref = new ReferenceBackend();
t.teardown(() => {
  wasm.destroy();
  plain.destroy();
});

/** Upload the same f32 / i32 data, or the same raw weight bytes, to both backends. */
function both(dtype: 'f32' | 'i32', shape: number[], data?: Float32Array | Int32Array): [Tensor, Tensor] {
  return [wasm.createTensor(dtype, shape, data), ref.createTensor(dtype, shape, data)];
}
function weights(dtype: FloatDType, shape: number[], scale = 1): [Tensor, Tensor] {
  const bytes = encodeFromF32(
    dtype,
    randn(
      shape.reduce((a, b) => a * b, 1),
      scale,
    ),
  );
  return [wasm.createWeight(dtype, shape, bytes), ref.createWeight(dtype, shape, bytes)];
}

/** Checks got against want; returns the largest |got − want| (for the ops that report theirs). */
async function close(tt: Test, got: Tensor, want: Tensor, what: string, atol = ATOL, rtol = RTOL): Promise<number> {
  const g = await wasm.read(got),
    w = await ref.read(want);
  tt.equal(g.length, w.length, `${what}: length`);
  let worst = -1,
    at = -1,
    maxAbs = 0;
  for (let i = 0; i < w.length; i++) {
    const excess = Math.abs(g[i] - w[i]) - (atol + rtol * Math.abs(w[i]));
    maxAbs = Math.max(maxAbs, Math.abs(g[i] - w[i]));
    if (!(excess <= 0) && (worst < 0 || !(excess <= worst))) {
      worst = excess;
      at = i;
    }
  }
  tt.ok(at < 0, at < 0 ? what : `${what}: element ${at} got ${g[at]}, want ${w[at]}`);
  return maxAbs;
}

t.test('info', async (tt) => {
  tt.equal(wasm.info.kind, 'wasm');
  tt.match(wasm.info.device, /simd128/);
  tt.ok(Object.isFrozen(wasm.info.features) && wasm.info.features.includes('simd128'));
  tt.equal(wasm.info.limits.maxMemoryPages, 65536);
  tt.equal(wasm.info.features.includes('relaxed-simd'), relaxedSimdSupported(), 'relaxed SIMD used where the host has it');
  tt.notOk(plain.info.features.includes('relaxed-simd'), 'relaxedSimd: false gives plain SIMD128');
  if (!relaxedSimdSupported()) tt.comment('this host has no relaxed SIMD: only the plain kernels are tested');
});

// The matmul kernel (wasm/matmul.ts) has 2×4 and 1×4 blocks over 8-row panels, a leftover-column
// path, a scalar K tail and a prefetch that only short rows take: every combination, each flavour.
t.test('matmul kernel paths: n = 1..9 and across panels, odd K and N, both SIMD flavours', async (tt) => {
  const flavours: [string, Backend][] = [['plain', plain]];
  if (wasm.info.features.includes('relaxed-simd')) flavours.push(['relaxed', wasm]);
  const shapes: [number, number, number][] = [];
  for (let n = 1; n <= 9; n++) shapes.push([n, [5, 8, 13, 37, 64][n % 5], [3, 4, 9, 13, 19][(n * 3) % 5]]);
  shapes.push([8, 9, 16], [17, 23, 11], [21, 72, 30], [8, 520, 29], [9, 1100, 8], [7, 1100, 13], [1, 1029, 9], [4, 1536, 22]);
  for (const [name, b] of flavours) {
    for (const dt of DTYPES) {
      for (const [n, K, N] of shapes) {
        const xs = randn(n * K),
          bytes = encodeFromF32(dt, randn(N * K)),
          bb = encodeFromF32(dt, randn(N));
        const x = b.createTensor('f32', [n, K], xs),
          w = b.createWeight(dt, [N, K], bytes),
          bias = b.createWeight(dt, [N], bb);
        const xr = ref.createTensor('f32', [n, K], xs),
          wr = ref.createWeight(dt, [N, K], bytes),
          br = ref.createWeight(dt, [N], bb);
        for (const withBias of [false, true]) {
          const o = b.createTensor('f32', [n, N]),
            or = ref.createTensor('f32', [n, N]);
          b.matmul(x, w, withBias ? bias : null, o);
          ref.matmul(xr, wr, withBias ? br : null, or);
          const g = await b.read(o),
            want = await ref.read(or);
          let bad = -1;
          // sums of up to 1100 terms: the absolute tolerance grows like their rounding error, √K
          for (let i = 0; i < want.length && bad < 0; i++) if (!(Math.abs(g[i] - want[i]) <= ATOL * Math.sqrt(K) + RTOL * Math.abs(want[i]))) bad = i;
          tt.ok(
            bad < 0,
            `${name} ${dt} [${n},${K}]·[${N},${K}]ᵀ${withBias ? ' + bias' : ''}${bad < 0 ? '' : `: element ${bad} got ${g[bad]}, want ${want[bad]}`}`,
          );
          if (withBias && n > 1) {
            // every output element takes the same operations whichever block it falls in: a row
            // alone gives bit-for-bit the value it has in the batch
            const r = n - 1,
              x1 = b.createTensor('f32', [1, K], xs.subarray(r * K)),
              o1 = b.createTensor('f32', [1, N]);
            b.matmul(x1, w, bias, o1);
            const alone = await b.read(o1);
            tt.ok(
              alone.every((v, c) => Object.is(v, g[r * N + c])),
              `${name} ${dt} [${n},${K}]: row ${r} alone is bit-identical`,
            );
            b.dispose(x1);
            b.dispose(o1);
          }
          b.dispose(o);
        }
        for (const z of [x, w, bias]) b.dispose(z);
      }
    }
  }
});

t.test('matmul, all weight dtypes, with and without bias', async (tt) => {
  const shapes = [
    [3, 37, 29],
    [1, 64, 8],
    [5, 16, 7],
    [2, 8, 4],
    [4, 40, 13],
    [7, 3, 5],
    [1, 1, 1],
  ];
  for (const dt of DTYPES) {
    for (const [n, K, N] of shapes) {
      for (const biasKind of ['none', 'same', 'f32'] as const) {
        const [xw, xr] = both('f32', [n, K], randn(n * K));
        const [ww, wr] = weights(dt, [N, K]);
        const [bw, br] = biasKind === 'none' ? [null, null] : weights(biasKind === 'f32' ? 'f32' : dt, [N]);
        const [ow, or] = both('f32', [n, N]);
        wasm.matmul(xw, ww, bw, ow);
        ref.matmul(xr, wr, br, or);
        await close(tt, ow, or, `${dt} [${n},${K}]·[${N},${K}]ᵀ bias ${biasKind}`);
      }
    }
  }
});

t.test('embedding and rmsNorm, all weight dtypes', async (tt) => {
  for (const dt of DTYPES) {
    for (const H of [37, 64, 5]) {
      const [tw, tr] = weights(dt, [1001, H]);
      const ids = randInts(6, 1001);
      ids[0] = 1000;
      ids[1] = 0;
      const [iw, ir] = both('i32', [6], ids);
      const [ow, or] = both('f32', [6, H]);
      wasm.embedding(iw, tw, ow);
      ref.embedding(ir, tr, or);
      await close(tt, ow, or, `embedding ${dt} V=1001 H=${H}`, 0, 0);

      const [xw, xr] = both('f32', [3, H], randn(3 * H, 3));
      const [gw, gr] = weights(dt, [H]);
      const [nw, nr] = both('f32', [3, H]);
      wasm.rmsNorm(xw, gw, 1e-6, nw);
      ref.rmsNorm(xr, gr, 1e-6, nr);
      await close(tt, nw, nr, `rmsNorm ${dt} H=${H}`);
    }
  }
  // Gemma's scaled embeddings: one f32 multiply by fround(scale), the reference's bits exactly
  for (const dt of DTYPES) {
    const H = 37,
      [tw, tr] = weights(dt, [1001, H]);
    const [iw, ir] = both('i32', [5], new Int32Array([3, 1000, 0, 3, 512]));
    const [ow, or] = both('f32', [5, H]);
    wasm.embedding(iw, tw, ow, Math.sqrt(2304));
    ref.embedding(ir, tr, or, Math.sqrt(2304));
    await close(tt, ow, or, `embedding ${dt} scaled by √2304`, 0, 0);
  }
  const [iw] = both('i32', [1], new Int32Array([1001]));
  const [tw] = weights('bf16', [1001, 4]);
  tt.throws(() => wasm.embedding(iw, tw, wasm.createTensor('f32', [1, 4])), RangeError, 'token id out of range');
});

t.test('weight matrices are stored interleaved (wasm/layout.ts): read gives them back row-major, misuse is refused', async (tt) => {
  // every tail case of the layout: N % 4 leftover rows, K % 8 tails, K < 8 and N < 4 (row-major)
  const shapes = [
    [1, 1],
    [3, 7],
    [4, 8],
    [5, 9],
    [9, 17],
    [13, 37],
    [8, 64],
    [6, 3],
    [12, 23],
    [7, 1029],
  ];
  for (const dt of DTYPES) {
    for (const [N, K] of shapes) {
      const bytes = encodeFromF32(dt, randn(N * K));
      const got = await wasm.read(wasm.createWeight(dt, [N, K], bytes));
      const want = await ref.read(ref.createWeight(dt, [N, K], bytes));
      tt.same(got, want, `read of a ${dt} [${N}, ${K}] weight`);
    }
  }
  const w = wasm.createWeight('f32', [8, 16], new Uint8Array(new Float32Array(128).buffer));
  tt.throws(() => wasm.view(w, [16, 8]), TypeError, 'a view of a weight matrix');
  tt.throws(() => wasm.write(w, new Float32Array(128)), TypeError, 'a write into a weight matrix');
  tt.throws(() => wasm.matmul(w, w, null, wasm.createTensor('f32', [8, 8])), TypeError, 'a weight matrix as an activation');
  const v = wasm.createWeight('f32', [4], new Uint8Array(16));
  wasm.write(v, new Float32Array([1, 2, 3, 4]));
  tt.same(await wasm.read(v), new Float32Array([1, 2, 3, 4]), 'vectors stay plain (written and read as they are)');
});

t.test('expv (wasm/expv.ts) is within 2.5e-7 relative of Math.exp over the softmax and sigmoid range', async (tt) => {
  const k = (wasm as unknown as { kernels: { expOne(x: number): number } }).kernels;
  let worst = 0,
    at = 0;
  for (let i = 0; i <= 200000; i++) {
    const x = Math.fround(-87 + (175 * i) / 200000);
    const want = Math.exp(x),
      got = k.expOne(x);
    const rel = Math.abs(got - want) / want;
    if (rel > worst) [worst, at] = [rel, x];
  }
  tt.ok(worst <= 2.5e-7, `worst relative error ${worst.toExponential(2)} at x = ${at}`);
  tt.equal(k.expOne(0), 1, 'exp(0) = 1 exactly (the softmax maximum)');
  tt.ok(k.expOne(-1000) >= 0 && k.expOne(-1000) < 1e-37, 'far below the range: ~0');
  tt.ok(Number.isFinite(k.expOne(1000)), 'far above the range: finite');
});

t.test('f16 and bf16 unpacking is exact, subnormals and signed zero included', async (tt) => {
  // f16 subnormals (|x| < 2^-14) go through the magic multiply; random data almost never hits them
  const special = new Float32Array([
    0,
    -0,
    2 ** -24,
    -(2 ** -24),
    3 * 2 ** -20,
    -(2 ** -14),
    2 ** -14 * 0.999,
    65504,
    -65504,
    1,
    -1.5,
    1e-5,
    -7e-6,
    0.333,
    2 ** -15,
    1234.5,
  ]);
  for (const dt of ['f16', 'bf16'] as const) {
    const [tw, tr] = [wasm.createWeight(dt, [2, 8], encodeFromF32(dt, special)), ref.createWeight(dt, [2, 8], encodeFromF32(dt, special))];
    const [iw, ir] = both('i32', [2], new Int32Array([0, 1]));
    const [ow, or] = both('f32', [2, 8]);
    wasm.embedding(iw, tw, ow);
    ref.embedding(ir, tr, or);
    const g = await wasm.read(ow),
      r = await ref.read(or);
    tt.ok(
      g.every((v, i) => Object.is(v, r[i])),
      `${dt} decode bit-exact: ${[...g].join(' ')}`,
    );
    // the same values through the pair-split matmul path: x = one-hot picks each weight
    for (let k = 0; k < 8; k++) {
      const x = new Float32Array(8);
      x[k] = 1;
      const [xw, xr] = both('f32', [1, 8], x);
      const [mw, mr] = both('f32', [1, 2]);
      wasm.matmul(xw, tw, null, mw);
      ref.matmul(xr, tr, null, mr);
      tt.same(await wasm.read(mw), await ref.read(mr), `${dt} matmul picks element ${k} exactly`);
    }
  }
});

// Qwen3 / Gemma 3 q_norm and k_norm: the [n, heads·headDim] projection viewed as
// [n·heads, headDim] rows, normalised with a [headDim] weight.
t.test('rmsNorm over a per-head view [n·heads, headDim], headDim 16…256', async (tt) => {
  for (const hd of [16, 24, 32, 64, 128, 256]) {
    for (const dt of DTYPES) {
      const n = 3,
        heads = 5;
      const [xw, xr] = both('f32', [n, heads * hd], randn(n * heads * hd, 3));
      const [gw, gr] = weights(dt, [hd]);
      const [ow, or] = both('f32', [n, heads * hd]);
      wasm.rmsNorm(wasm.view(xw, [n * heads, hd]), gw, 1e-6, wasm.view(ow, [n * heads, hd]));
      ref.rmsNorm(ref.view(xr, [n * heads, hd]), gr, 1e-6, ref.view(or, [n * heads, hd]));
      await close(tt, ow, or, `rmsNorm per head ${dt} headDim=${hd}`);
    }
  }
});

t.test('rope', async (tt) => {
  for (const [heads, headDim] of [
    [3, 16],
    [2, 64],
    [1, 128],
    [2, 6],
  ]) {
    const n = 5,
      half = headDim / 2;
    const inv = new Float32Array(half).map((_, i) => Math.pow(10000, (-2 * i) / headDim));
    const rows = new Int32Array([0, 0, 0, 1, 1, 7, 2, 4095, 1, 31]);
    const [xw, xr] = both('f32', [n, heads * headDim], randn(n * heads * headDim));
    const [rw, rr] = both('i32', [n, 2], rows);
    const [fw, fr] = both('f32', [half], inv);
    wasm.rope(xw, rw, fw, heads, headDim);
    ref.rope(xr, rr, fr, heads, headDim);
    await close(tt, xw, xr, `rope heads=${heads} headDim=${headDim}`);
  }
});

t.test('kvWrite and attention: several slots, prefill and decode, GQA 1 and 3', async (tt) => {
  for (const [heads, kvHeads] of [
    [2, 2],
    [6, 2],
  ]) {
    for (const d of [16, 64, 128, 12, 6]) {
      const slots = 3,
        maxT = 24,
        scale = 1 / Math.sqrt(d);
      const [kcw, kcr] = both('f32', [slots, kvHeads, maxT, d]);
      const [vcw, vcr] = both('f32', [slots, kvHeads, maxT, d]);
      const step = async (rowsData: number[], label: string) => {
        const n = rowsData.length / 2;
        const [rw, rr] = both('i32', [n, 2], new Int32Array(rowsData));
        const [kw, kr] = both('f32', [n, kvHeads * d], randn(n * kvHeads * d));
        const [vw, vr] = both('f32', [n, kvHeads * d], randn(n * kvHeads * d));
        wasm.kvWrite(kw, vw, kcw, vcw, rw);
        ref.kvWrite(kr, vr, kcr, vcr, rr);
        const [qw, qr] = both('f32', [n, heads * d], randn(n * heads * d, 2));
        const [ow, or] = both('f32', [n, heads * d]);
        wasm.attention(qw, kcw, vcw, rw, ow, heads, scale);
        ref.attention(qr, kcr, vcr, rr, or, heads, scale);
        await close(tt, ow, or, `attention ${label} heads=${heads}/${kvHeads} d=${d}`);
      };
      // prefill slot 1 (11 tokens) and slot 0 (5 tokens) in one batch, then two batched decode steps
      const prefill: number[] = [];
      for (let p = 0; p < 11; p++) prefill.push(1, p);
      for (let p = 0; p < 5; p++) prefill.push(0, p);
      await step(prefill, 'prefill');
      await step([1, 11, 0, 5, 2, 0], 'decode');
      await step([0, 6, 1, 12], 'decode 2');
      await close(tt, kcw, kcr, `kCache heads=${heads}/${kvHeads} d=${d}`, 0, 0);
      await close(tt, vcw, vcr, `vCache heads=${heads}/${kvHeads} d=${d}`, 0, 0);
    }
  }
  const [kc] = both('f32', [1, 1, 4, 4]);
  const bad = wasm.createTensor('i32', [1, 2], new Int32Array([0, 4]));
  tt.throws(() => wasm.kvWrite(wasm.createTensor('f32', [1, 4]), wasm.createTensor('f32', [1, 4]), kc, kc, bad), RangeError, 'position past maxT');
});

// Gemma 3's local layers: keys pos − window < s ≤ pos. Windows shorter than the positions (rows
// far past the window), window 1, and windows at or beyond every position (= full attention).
t.test('attention with a sliding window: prefill and decode past the window, GQA, odd headDim', async (tt) => {
  let maxAbs = 0;
  for (const [heads, kvHeads] of [
    [2, 2],
    [6, 2],
    [3, 1],
  ]) {
    for (const d of [16, 12, 256]) {
      for (const window of [1, 3, 8, 16, 40]) {
        const slots = 2,
          maxT = 24,
          scale = 1 / Math.sqrt(d);
        const [kcw, kcr] = both('f32', [slots, kvHeads, maxT, d], randn(slots * kvHeads * maxT * d));
        const [vcw, vcr] = both('f32', [slots, kvHeads, maxT, d], randn(slots * kvHeads * maxT * d));
        // slot 1: 19 prefill rows (positions 0..18); slot 0: decode rows at 0, 7 and 23
        const rowsData: number[] = [];
        for (let p = 0; p < 19; p++) rowsData.push(1, p);
        rowsData.push(0, 0, 0, 7, 0, 23);
        const n = rowsData.length / 2;
        const [rw, rr] = both('i32', [n, 2], new Int32Array(rowsData));
        const [qw, qr] = both('f32', [n, heads * d], randn(n * heads * d, 2));
        const [ow, or] = both('f32', [n, heads * d]);
        wasm.attention(qw, kcw, vcw, rw, ow, heads, scale, window);
        ref.attention(qr, kcr, vcr, rr, or, heads, scale, window);
        maxAbs = Math.max(maxAbs, await close(tt, ow, or, `attention window=${window} heads=${heads}/${kvHeads} d=${d}`));
        if (window === 3) {
          // the plain-SIMD build (no relaxed ops in attention) gives the same bits
          const on = async (x: Tensor) => plain.createTensor('f32', [...x.shape], (await wasm.read(x)) as Float32Array);
          const [qp, kp, vp] = [await on(qw), await on(kcw), await on(vcw)];
          const rp = plain.createTensor('i32', [n, 2], new Int32Array(rowsData)),
            op = plain.createTensor('f32', [n, heads * d]);
          plain.attention(qp, kp, vp, rp, op, heads, scale, window);
          const a = await plain.read(op),
            b = await wasm.read(ow);
          tt.ok(
            a.every((v, i) => Object.is(v, b[i])),
            `attention window=3 heads=${heads}/${kvHeads} d=${d}: plain and relaxed SIMD builds give the same bits`,
          );
        }
      }
    }
  }
  tt.comment(`windowed attention: max |Δ| ${maxAbs.toExponential(2)}`);
  const one = both('f32', [1, 1, 4, 4]);
  tt.throws(
    () => wasm.attention(wasm.createTensor('f32', [1, 4]), one[0], one[0], wasm.createTensor('i32', [1, 2]), wasm.createTensor('f32', [1, 4]), 1, 1, -1),
    RangeError,
    'negative window',
  );
});

// gelu_pytorch_tanh: a random spread plus the points where a tanh or exp could go wrong (0, tiny,
// the tails at ±10…±1e20, where a³ overflows f32).
t.test('glu gelu_tanh: random gates, tails and special values, SIMD body and tail', async (tt) => {
  let maxAbs = 0;
  const special = [0, -0, 1e-7, -1e-7, 1e-3, -1e-3, 0.5, -0.5, 1, -1, 3, -3, 5, -5, 10, -10, 30, -30, 100, -100, 1e4, -1e4, 1e20, -1e20, 3e38, -3e38];
  for (const I of [1001, 4, 3]) {
    const n = 3,
      g = randn(n * I, 8);
    if (I > special.length) g.set(special, 5);
    const [gw, gr] = both('f32', [n, I], g);
    const [uw, ur] = both('f32', [n, I], randn(n * I));
    const [ow, or] = both('f32', [n, I]);
    wasm.glu(gw, uw, ow, 'gelu_tanh');
    ref.glu(gr, ur, or, 'gelu_tanh');
    maxAbs = Math.max(maxAbs, await close(tt, ow, or, `glu gelu_tanh [${n}, ${I}]`));
    // the plain-SIMD build runs the same lane arithmetic (no relaxed ops in it): the same bits
    const [gp, up, op] = [
      plain.createTensor('f32', [n, I], g),
      plain.createTensor('f32', [n, I], (await wasm.read(uw)) as Float32Array),
      plain.createTensor('f32', [n, I]),
    ];
    plain.glu(gp, up, op, 'gelu_tanh');
    const a = await plain.read(op),
      b = await wasm.read(ow);
    tt.ok(
      a.every((v, i) => Object.is(v, b[i])),
      `glu gelu_tanh [${n}, ${I}]: plain and relaxed SIMD builds give the same bits`,
    );
  }
  tt.comment(`glu gelu_tanh: max |Δ| ${maxAbs.toExponential(2)} (|gate| ≤ 8 and the special values)`);
  tt.throws(
    () => wasm.glu(wasm.createTensor('f32', [4]), wasm.createTensor('f32', [4]), wasm.createTensor('f32', [4]), 'relu' as 'silu'),
    RangeError,
    'unknown activation',
  );
});

t.test('swiglu, addInPlace, gatherRows, softmax, argmax', async (tt) => {
  const n = 3,
    I = 1001;
  const [gw, gr] = both('f32', [n, I], randn(n * I, 8));
  const [uw, ur] = both('f32', [n, I], randn(n * I));
  const [ow, or] = both('f32', [n, I]);
  wasm.glu(gw, uw, ow, 'silu');
  ref.glu(gr, ur, or, 'silu');
  await close(tt, ow, or, 'swiglu');

  wasm.addInPlace(gw, uw);
  ref.addInPlace(gr, ur);
  await close(tt, gw, gr, 'addInPlace', 0, 0);

  const [iw, ir] = both('i32', [4], new Int32Array([2, 0, 2, 1]));
  const [xw, xr] = both('f32', [4, I]);
  wasm.gatherRows(gw, iw, xw);
  ref.gatherRows(gr, ir, xr);
  await close(tt, xw, xr, 'gatherRows', 0, 0);

  const [sw, sr] = both('f32', [4, I]);
  wasm.softmax(xw, sw);
  ref.softmax(xr, sr);
  await close(tt, sw, sr, 'softmax', 1e-7, 1e-4);

  const logits = randn(5 * I, 10);
  logits[1 * I + 17] = 50;
  logits[1 * I + 900] = 50; // tie: first index wins
  logits[2 * I + 1000] = 60; // last element
  logits[3 * I] = 60; // first element
  const [lw, lr] = both('f32', [5, I], logits);
  const [aw, ar] = both('i32', [5]);
  wasm.argmax(lw, aw);
  ref.argmax(lr, ar);
  tt.same(await wasm.read(aw), await ref.read(ar), 'argmax');
  tt.equal((await wasm.read(aw))[1], 17, 'argmax takes the first of equal maxima');
});

t.test('memory grows while tensors are alive; views, dispose and reuse', async (tt) => {
  const b = await createWasmBackend();
  const keep = randn(1000);
  const a = b.createTensor('f32', [1000], keep);
  const w16 = encodeFromF32('bf16', randn(64 * 32));
  const w = b.createWeight('bf16', [64, 32], w16);
  const pages0 = (b as unknown as { memoryPages: number }).memoryPages;
  const big: Tensor[] = [];
  for (let i = 0; i < 6; i++) big.push(b.createTensor('f32', [1 << 20])); // 24 MiB in all
  const pages1 = (b as unknown as { memoryPages: number }).memoryPages;
  tt.ok(pages1 > pages0 + 300, `memory grew from ${pages0} to ${pages1} pages`);
  tt.same(await b.read(a), keep, 'old tensor intact after growth');
  const x = b.createTensor('f32', [2, 32], randn(64));
  const out = b.createTensor('f32', [2, 64]);
  b.matmul(x, w, null, out); // kernels still see the pre-growth weight
  const rx = ref.createTensor('f32', [2, 32], (await b.read(x)) as Float32Array);
  const rout = ref.createTensor('f32', [2, 64]);
  ref.matmul(rx, ref.createWeight('bf16', [64, 32], w16), null, rout);
  const g = await b.read(out),
    r = await ref.read(rout);
  tt.ok(
    g.every((v, i) => Math.abs(v - r[i]) <= ATOL + RTOL * Math.abs(r[i])),
    'matmul after growth',
  );

  const v = b.view(a, [10, 10]);
  b.write(v, new Float32Array([42]));
  tt.equal((await b.read(a))[0], 42, 'view shares storage');
  for (const t of big) {
    b.write(t, new Float32Array(1 << 20).fill(7));
    b.dispose(t);
  }
  const again = b.createTensor('f32', [1 << 20]);
  tt.equal((b as unknown as { memoryPages: number }).memoryPages, pages1, 'freed blocks are reused, no further growth');
  tt.ok(
    (await b.read(again)).every((x) => x === 0),
    'reused block is zero-filled',
  );
  b.dispose(a);
  tt.throws(() => b.addInPlace(a, a), 'disposed tensor rejected');
  tt.throws(() => b.addInPlace(x, wasm.createTensor('f32', [64])), TypeError, 'foreign tensor rejected');
  b.destroy();
});

// LightReasoner contrast. Logits are Gaussian (real logits have a few outliers on top, so the
// mask is small), the amateur is the expert ·0.8 plus noise. Kinds: 'random' (σ = 2), 'peaky'
// (the same ×8: pA of most tokens far below ε = 1e-12, KL large, masks of 1–3 ids) and 'flat'
// (σ = 0.02 at V = 1001: nearly uniform, the mask is the whole shared vocabulary, far more than K).
// At V = 151,936 'flat' is σ = 0.8, masks of ~2k (α 0.2) and ~45k (α 0.05) ids: the reference
// takes Math.max(...scores) over the mask, which overflows the stack for a mask of ~150k ids.
type LogitKind = 'random' | 'peaky' | 'flat';
const contrastWorst = { klAbs: 0, klRel: 0, wAbs: 0 };

function gaussian(n: number, sd: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = sd * Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
  return a;
}

function contrastLogits(kind: LogitKind, m: number, Ve: number, Va: number, big: boolean): [Float32Array, Float32Array] {
  const sd = kind === 'peaky' ? 16 : kind === 'flat' ? (big ? 0.8 : 0.02) : 2;
  const e = gaussian(m * Ve, sd),
    a = gaussian(m * Va, sd);
  for (let r = 0; r < m; r++) {
    for (let j = 0; j < Math.min(Ve, Va); j++) a[r * Va + j] = 0.8 * e[r * Ve + j] + 0.6 * a[r * Va + j];
  }
  return [e, a];
}

async function checkContrast(
  tt: Test,
  label: string,
  m: number,
  Ve: number,
  Va: number,
  n: number,
  alpha: number,
  K: number,
  e: Float32Array,
  a: Float32Array,
): Promise<{ counts: number[]; ids: Int32Array }> {
  const [ew, er] = both('f32', [m, Ve], e),
    [aw, ar] = both('f32', [m, Va], a);
  const [sw, sr] = both('f32', [m, 2]),
    [iw, ir] = both('i32', [m, K]),
    [lw, lr] = both('f32', [m, K]);
  wasm.contrast(ew, aw, n, alpha, sw, iw, lw);
  ref.contrast(er, ar, n, alpha, sr, ir, lr);
  const gs = await wasm.read(sw),
    rs = await ref.read(sr);
  const gi = (await wasm.read(iw)) as Int32Array,
    ri = await ref.read(ir);
  const gw = await wasm.read(lw),
    rw = await ref.read(lr);
  const bad: string[] = [];
  for (let r = 0; r < m; r++) {
    const d = Math.abs(gs[r * 2] - rs[r * 2]),
      excess = d - (ATOL + RTOL * Math.abs(rs[r * 2]));
    contrastWorst.klAbs = Math.max(contrastWorst.klAbs, d);
    contrastWorst.klRel = Math.max(contrastWorst.klRel, d / Math.max(Math.abs(rs[r * 2]), 1e-30));
    if (!(excess <= 0)) bad.push(`row ${r} kl ${gs[r * 2]} want ${rs[r * 2]}`);
    if (gs[r * 2 + 1] !== rs[r * 2 + 1]) bad.push(`row ${r} mask count ${gs[r * 2 + 1]} want ${rs[r * 2 + 1]}`);
  }
  for (let i = 0; i < m * K; i++) {
    if (gi[i] !== ri[i]) {
      bad.push(`label ${i} (row ${Math.floor(i / K)}) id ${gi[i]} want ${ri[i]}`);
      break;
    }
    const d = Math.abs(gw[i] - rw[i]);
    contrastWorst.wAbs = Math.max(contrastWorst.wAbs, d);
    if (!(d <= ATOL + RTOL * Math.abs(rw[i]))) {
      bad.push(`label ${i} (row ${Math.floor(i / K)}) weight ${gw[i]} want ${rw[i]}`);
      break;
    }
  }
  tt.ok(bad.length === 0, bad.length ? `${label}: ${bad.slice(0, 3).join('; ')}` : label);
  for (const x of [ew, aw, sw, iw, lw]) wasm.dispose(x);
  const counts: number[] = [];
  for (let r = 0; r < m; r++) counts.push(rs[r * 2 + 1]);
  return { counts, ids: gi };
}

t.test('contrast against the reference', async (tt) => {
  const K = 16;
  // [Ve, Va, shared]: equal vocabularies, and Ve ≠ Va with shared < both (Qwen2.5 7B vs 1.5B-like)
  const shapes: [number, number, number][] = [
    [1001, 1001, 1001],
    [1001, 1010, 997],
    [151936, 151936, 151936],
    [152064, 151936, 151643],
  ];
  let sawBigMask = false,
    sawPadding = false;
  for (const [Ve, Va, n] of shapes) {
    const big = Ve > 100000;
    for (const m of [1, 5, 17]) {
      for (const kind of ['random', 'peaky', 'flat'] as const) {
        const [e, a] = contrastLogits(kind, m, Ve, Va, big);
        for (const alpha of [0.2, 0.05]) {
          const { counts } = await checkContrast(tt, `contrast ${kind} m=${m} Ve=${Ve} Va=${Va} shared=${n} alpha=${alpha}`, m, Ve, Va, n, alpha, K, e, a);
          if (counts.some((c) => c > K)) sawBigMask = true;
          if (counts.some((c) => c < K)) sawPadding = true;
        }
      }
    }
  }
  tt.ok(sawBigMask && sawPadding, 'cases cover |mask| > K and |mask| < K (padding)');

  // the mask larger than K: count exact, the first K ids in ascending order, weights normalised over the whole mask
  {
    const V = 1001,
      m = 3;
    const [e, a] = contrastLogits('flat', m, V, V, false);
    const { counts, ids } = await checkContrast(tt, 'contrast mask > K', m, V, V, V, 0.05, K, e, a);
    tt.same(counts, [V, V, V], 'flat rows: the mask is the whole shared vocabulary');
    tt.same(
      [...ids.subarray(0, K)],
      Array.from({ length: K }, (_, k) => k),
      'first K ids are 0..K−1',
    );
  }
  // edge logits: −∞ and ties at the maximum, an expert maximum outside the shared vocabulary
  {
    const V = 37,
      n = 30,
      m = 2;
    const e = randn(m * V, 3),
      a = randn(m * V, 3);
    e[3] = -Infinity;
    a[5] = -Infinity;
    e[7] = 9;
    e[11] = 9;
    e[V + 33] = 50;
    a[V + 2] = -Infinity;
    await checkContrast(tt, 'contrast −∞ logits, ties, expert max outside shared', m, V, V, n, 0.2, 4, e, a);
  }
  tt.comment(
    `contrast worst: |Δkl| ${contrastWorst.klAbs.toExponential(2)}, relative ${contrastWorst.klRel.toExponential(2)}, |Δw| ${contrastWorst.wAbs.toExponential(2)}`,
  );

  const [ew] = both('f32', [2, 10]),
    [aw] = both('f32', [2, 8]);
  const st = wasm.createTensor('f32', [2, 2]),
    li = wasm.createTensor('i32', [2, 4]),
    lw = wasm.createTensor('f32', [2, 4]);
  tt.throws(() => wasm.contrast(ew, aw, 9, 0.2, st, li, lw), RangeError, 'shared larger than the amateur vocabulary');
  tt.throws(() => wasm.contrast(ew, aw, 8, 0.2, wasm.createTensor('f32', [2, 3]), li, lw), RangeError, 'stats of the wrong shape');
  tt.throws(() => wasm.contrast(ew, aw, 8, 0.2, st, li, wasm.createTensor('f32', [2, 5])), RangeError, 'labelWeights of the wrong shape');
  tt.throws(() => wasm.contrast(ew, aw, 8, 0.2, st, lw, lw), TypeError, 'labelIds must be i32');
});
