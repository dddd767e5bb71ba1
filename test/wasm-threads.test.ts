// The Wasm backend's thread pool: with 2 threads every split op gives results bit-identical to 1
// thread (each output element is computed by one thread in the same order), a whole model forward
// included; workers never keep the process alive; no worker host means one thread.
import t, { type Test } from 'tap';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import '../runtime/platform/node.ts'; // registers Node's worker_threads for the Wasm backend
import type { Backend, Tensor, FloatDType } from '../runtime/backend/types.ts';
import { createWasmBackend } from '../runtime/backend/wasm/index.ts';
import { relaxedSimdSupported } from '../runtime/backend/wasm/features.ts';
import { randomModel } from '../tooling/random-model.ts';
import type { ModelConfig } from '../runtime/model/config.ts';
import { encodeFromF32 } from '../runtime/util/dtype.ts';
import { rng, uniform } from './portable/random.ts';
import { plainArch } from '../runtime/model/architectures.ts';

const DTYPES: FloatDType[] = ['f32', 'f16', 'bf16'];

const rand = rng(0x2545f491);
const randn = (n: number, scale = 1): Float32Array => uniform(rand, n, scale);

const one = await createWasmBackend({ threads: 1 });
const two = await createWasmBackend({ threads: 2 });
const pair: [Backend, Backend] = [one, two];
t.teardown(() => {
  one.destroy();
  two.destroy();
});

/** The same data on both backends. */
function both(dtype: 'f32' | 'i32', shape: number[], data?: Float32Array | Int32Array): [Tensor, Tensor] {
  return [one.createTensor(dtype, shape, data), two.createTensor(dtype, shape, data)];
}
function weights(dtype: FloatDType, shape: number[], scale = 1): [Tensor, Tensor] {
  const bytes = encodeFromF32(
    dtype,
    randn(
      shape.reduce((a, b) => a * b, 1),
      scale,
    ),
  );
  return [one.createWeight(dtype, shape, bytes), two.createWeight(dtype, shape, bytes)];
}

/** Bit-for-bit equality of the two backends' tensors. */
async function identical(tt: Test, [a, b]: [Tensor, Tensor], what: string): Promise<void> {
  const x = await one.read(a),
    y = await two.read(b);
  const u = new Uint32Array(x.buffer, x.byteOffset, x.length),
    v = new Uint32Array(y.buffer, y.byteOffset, y.length);
  let at = -1;
  for (let i = 0; i < u.length && at < 0; i++) if (u[i] !== v[i]) at = i;
  tt.ok(u.length === v.length && at < 0, at < 0 ? `${what}: identical (${u.length} values)` : `${what}: element ${at}: 1 thread ${x[at]}, 2 threads ${y[at]}`);
}

t.test('info: threads detected once and frozen', async (tt) => {
  tt.match(one.info.device, /^wasm simd128( \+ relaxed-simd)? \(1 thread\)$/);
  tt.notOk(one.info.features.includes('threads'));
  tt.match(two.info.device, /^wasm simd128( \+ relaxed-simd)? \(2 threads\)$/);
  tt.equal(two.info.device.includes('relaxed-simd'), two.info.features.includes('relaxed-simd'), 'the device names the SIMD flavour');
  tt.ok(Object.isFrozen(two.info.features) && two.info.features.includes('threads') && two.info.features.includes('simd128'));
  // identical results need the same kernels: both relaxed SIMD (Node 20: the adapter's V8 flag) or both plain
  tt.equal(one.info.features.includes('relaxed-simd'), two.info.features.includes('relaxed-simd'), 'same SIMD flavour on 1 and 2 threads');
  tt.equal(two.info.features.includes('relaxed-simd'), relaxedSimdSupported(), 'relaxed SIMD wherever the host has it');
  const none = await createWasmBackend({ threads: 4, workerHost: null });
  tt.match(none.info.device, /\(1 thread\)$/, 'no worker host: one thread');
  none.destroy();
  const broken = await createWasmBackend({
    threads: 2,
    workerHost: {
      concurrency: 2,
      spawn: () => {
        throw new Error('no workers here');
      },
    },
  });
  tt.match(broken.info.device, /\(1 thread\)$/, 'workers fail to start: one thread');
  const x = broken.createTensor('f32', [2, 8], randn(16)),
    w = broken.createWeight('f32', [4, 8], encodeFromF32('f32', randn(32)));
  const o = broken.createTensor('f32', [2, 4]);
  broken.matmul(x, w, null, o);
  tt.equal((await broken.read(o)).length, 8, 'and still computes');
  broken.destroy();
  await tt.rejects(createWasmBackend({ threads: 0 }), RangeError);
  await tt.rejects(createWasmBackend({ threads: 1.5 }), RangeError);
});

t.test('matmul, all dtypes, split by columns (prefill, decode) and by rows', async (tt) => {
  // [n, K, N]: columns with N % 4 ≠ 0 and K % 8 ≠ 0; decode rows (1, 3, 8: prefetching short
  // rows); rows > columns (ending in a part of an 8-row panel); the bench shape
  const shapes = [
    [128, 200, 1037],
    [3, 960, 2001],
    [1, 576, 1536],
    [8, 576, 1030],
    [8, 1541, 70],
    [301, 67, 40],
    [37, 1100, 33],
    [128, 576, 1536],
  ];
  for (const dt of DTYPES) {
    for (const [n, K, N] of shapes) {
      const x = both('f32', [n, K], randn(n * K));
      const w = weights(dt, [N, K], 0.1);
      const bias = weights(dt, [N], 0.1);
      for (const withBias of [false, true]) {
        const o = both('f32', [n, N]);
        for (let i = 0; i < 2; i++) pair[i].matmul(x[i], w[i], withBias ? bias[i] : null, o[i]);
        await identical(tt, o, `${dt} [${n}, ${K}]·[${N}, ${K}]ᵀ${withBias ? ' + bias' : ''}`);
      }
    }
  }
});

t.test('matmulNN and matmulTN, split by columns and by rows', async (tt) => {
  for (const dt of DTYPES) {
    // [n, N, K]: out [n, K]
    for (const [n, N, K] of [
      [20, 300, 1000],
      [500, 100, 40],
      [7, 960, 2561],
    ]) {
      const x = both('f32', [n, N], randn(n * N));
      const w = weights(dt, [N, K], 0.1);
      for (const acc of [false, true]) {
        const start = randn(n * K);
        const o = both('f32', [n, K], start);
        for (let i = 0; i < 2; i++) pair[i].training!.matmulNN(x[i], w[i], o[i], acc);
        await identical(tt, o, `matmulNN ${dt} [${n}, ${N}]·[${N}, ${K}]${acc ? ' (+=)' : ''}`);
      }
    }
  }
  // out [M, N] = aᵀ·b over n rows: columns (N large) and rows (M large)
  for (const [n, M, N] of [
    [600, 8, 960],
    [600, 960, 8],
    [300, 33, 1001],
  ]) {
    const a = both('f32', [n, M], randn(n * M)),
      b = both('f32', [n, N], randn(n * N));
    for (const acc of [false, true]) {
      const o = both('f32', [M, N], randn(M * N));
      for (let i = 0; i < 2; i++) pair[i].training!.matmulTN(a[i], b[i], o[i], 0.5, acc);
      await identical(tt, o, `matmulTN [${n}, ${M}]ᵀ·[${n}, ${N}]${acc ? ' (+=)' : ''}`);
    }
  }
});

t.test('attention (split by row and head) and attentionBackward (by rows)', async (tt) => {
  const heads = 6,
    kvh = 2,
    d = 64,
    slots = 3,
    maxT = 256;
  const kc = both('f32', [slots, kvh, maxT, d], randn(slots * kvh * maxT * d));
  const vc = both('f32', [slots, kvh, maxT, d], randn(slots * kvh * maxT * d));
  // decode: 1 and 8 rows at scattered positions; prefill: 64 causal rows of one slot
  const cases: [string, Int32Array][] = [
    ['decode 1 row', Int32Array.from([1, 200])],
    ['decode 8 rows', Int32Array.from([0, 10, 1, 255, 2, 100, 0, 3, 1, 77, 2, 200, 0, 150, 1, 0])],
    ['prefill 64 rows', Int32Array.from({ length: 128 }, (_, i) => (i & 1 ? 40 + (i >> 1) : 2))],
  ];
  for (const [what, rv] of cases) {
    const n = rv.length / 2;
    const rows = both('i32', [n, 2], rv);
    const q = both('f32', [n, heads * d], randn(n * heads * d));
    const o = both('f32', [n, heads * d]);
    for (let i = 0; i < 2; i++) pair[i].attention(q[i], kc[i], vc[i], rows[i], o[i], heads, 0.125);
    await identical(tt, o, `attention, ${what}`);
    // a sliding window shorter than most positions (units balanced by their windowed key counts)
    const ow = both('f32', [n, heads * d]);
    for (let i = 0; i < 2; i++) pair[i].attention(q[i], kc[i], vc[i], rows[i], ow[i], heads, 0.125, 24);
    await identical(tt, ow, `attention window 24, ${what}`);
  }
  // training: two sequences that wrote every position they attend to
  const L = 90,
    n = 2 * L;
  const rv = new Int32Array(n * 2);
  for (let r = 0; r < n; r++) {
    rv[2 * r] = r < L ? 0 : 2;
    rv[2 * r + 1] = r % L;
  }
  const rows = both('i32', [n, 2], rv);
  const q = both('f32', [n, heads * d], randn(n * heads * d));
  const o = both('f32', [n, heads * d]),
    dOut = both('f32', [n, heads * d], randn(n * heads * d));
  const dq = both('f32', [n, heads * d]),
    dk = both('f32', [n, kvh * d]),
    dv = both('f32', [n, kvh * d]);
  for (let i = 0; i < 2; i++) {
    pair[i].attention(q[i], kc[i], vc[i], rows[i], o[i], heads, 0.125);
    pair[i].training!.attentionBackward(q[i], kc[i], vc[i], rows[i], o[i], dOut[i], dq[i], dk[i], dv[i], heads, 0.125);
  }
  await identical(tt, o, 'attention, training rows');
  await identical(tt, dq, 'attentionBackward dq');
  await identical(tt, dk, 'attentionBackward dk');
  await identical(tt, dv, 'attentionBackward dv');
  for (let i = 0; i < 2; i++) {
    pair[i].attention(q[i], kc[i], vc[i], rows[i], o[i], heads, 0.125, 17);
    pair[i].training!.attentionBackward(q[i], kc[i], vc[i], rows[i], o[i], dOut[i], dq[i], dk[i], dv[i], heads, 0.125, 17);
  }
  await identical(tt, o, 'attention window 17, training rows');
  await identical(tt, dq, 'attentionBackward window 17 dq');
  await identical(tt, dk, 'attentionBackward window 17 dk');
  await identical(tt, dv, 'attentionBackward window 17 dv');
});

t.test('glu silu and gelu_tanh (split by elements)', async (tt) => {
  const n = 8,
    I = 40003; // big enough to split, odd so a part ends off a multiple of 4
  const gate = both('f32', [n, I], randn(n * I, 8)),
    up = both('f32', [n, I], randn(n * I));
  for (const act of ['silu', 'gelu_tanh'] as const) {
    const o = both('f32', [n, I]);
    for (let i = 0; i < 2; i++) pair[i].glu(gate[i], up[i], o[i], act);
    await identical(tt, o, `glu ${act}`);
  }
});

t.test('contrast, softmax, argmax, softLabelLoss (split by rows)', async (tt) => {
  const m = 7,
    Ve = 6000,
    Va = 5000,
    shared = 4900,
    K = 4;
  const e = both('f32', [m, Ve], randn(m * Ve, 4)),
    a = both('f32', [m, Va], randn(m * Va, 4));
  const st = both('f32', [m, 2]),
    ids = both('i32', [m, K]),
    lw = both('f32', [m, K]);
  for (let i = 0; i < 2; i++) pair[i].contrast(e[i], a[i], shared, 0.2, st[i], ids[i], lw[i]);
  await identical(tt, st, 'contrast stats');
  await identical(tt, ids, 'contrast label ids');
  await identical(tt, lw, 'contrast label weights');
  const sm = both('f32', [m, Ve]),
    am = both('i32', [m]);
  for (let i = 0; i < 2; i++) {
    pair[i].softmax(e[i], sm[i]);
    pair[i].argmax(e[i], am[i]);
  }
  await identical(tt, sm, 'softmax');
  await identical(tt, am, 'argmax');
  const loss = both('f32', [m]),
    g = both('f32', [m, Ve]);
  const lab = both(
    'i32',
    [m, K],
    Int32Array.from({ length: m * K }, (_, j) => (j * 977) % Ve),
  );
  const lwt = both(
    'f32',
    [m, K],
    Float32Array.from({ length: m * K }, () => 0.25),
  );
  for (let i = 0; i < 2; i++) pair[i].training!.softLabelLoss(e[i], lab[i], lwt[i], 1 / m, loss[i], g[i]);
  await identical(tt, loss, 'softLabelLoss loss');
  await identical(tt, g, 'softLabelLoss dLogits');
});

t.test('a whole model forward gives identical logits with 1 and 2 threads', async (tt) => {
  const config: ModelConfig = {
    modelType: 'qwen2',
    architecture: 'Qwen2ForCausalLM',
    hiddenSize: 256,
    layers: 2,
    heads: 4,
    kvHeads: 2,
    headDim: 64,
    intermediateSize: 704,
    vocabSize: 3001,
    rmsEps: 1e-6,
    maxPositions: 512,
    tieEmbeddings: true,
    qkvBias: true,
    oBias: false,
    mlpBias: false,
    rope: { theta: 10000, type: 'default', factor: 1, lowFreqFactor: 1, highFreqFactor: 1, originalMaxPositions: 0 },
    arch: plainArch(64, 2, { theta: 10000, type: 'default', factor: 1, lowFreqFactor: 1, highFreqFactor: 1, originalMaxPositions: 0 }),
    bosTokenId: null,
    eosTokenIds: [],
  };
  // bf16 weights, and the projections quantized (issue 30: the block kernels split across threads too)
  for (const quant of [undefined, 'q8_0', 'q4_0'] as const) {
    const logits: Float32Array[][] = [];
    for (const b of pair) {
      const model = randomModel(config, b, 'bf16', 7, quant);
      const cache = model.createCache(2, 64);
      const P = 24;
      const tokens = Int32Array.from({ length: 2 * P }, (_, i) => (i * 7919) % config.vocabSize);
      const rows = Int32Array.from({ length: 4 * P }, (_, i) => (i & 1 ? (i >> 1) % P : i >> 1 < P ? 0 : 1));
      const out: Float32Array[] = [];
      out.push((await b.read(model.forward({ tokens, rows, logitRows: Int32Array.from([P - 1, 2 * P - 1]) }, cache))) as Float32Array);
      // one batched decode step for both slots
      out.push(
        (await b.read(
          model.forward({ tokens: Int32Array.from([5, 6]), rows: Int32Array.from([0, P, 1, P]), logitRows: Int32Array.from([0, 1]) }, cache),
        )) as Float32Array,
      );
      logits.push(out);
    }
    for (let s = 0; s < 2; s++) {
      const x = new Uint32Array(logits[0][s].buffer, logits[0][s].byteOffset, logits[0][s].length);
      const y = new Uint32Array(logits[1][s].buffer, logits[1][s].byteOffset, logits[1][s].length);
      tt.ok(x.length === 2 * config.vocabSize && x.every((v, i) => v === y[i]), `${quant ?? 'bf16'} ${s ? 'decode' : 'prefill'} logits identical`);
    }
  }
});

t.test('workers never keep the process alive', async (tt) => {
  const root = new URL('..', import.meta.url);
  const script = (destroy: boolean) => `
    import ${JSON.stringify(new URL('runtime/platform/node.ts', root).href)};
    import { createWasmBackend } from ${JSON.stringify(new URL('runtime/backend/wasm/index.ts', root).href)};
    const b = await createWasmBackend({ threads: 2 });
    const x = b.createTensor('f32', [64, 512]), w = b.createWeight('f32', [512, 512], new Uint8Array(512 * 512 * 4));
    const o = b.createTensor('f32', [64, 512]);
    b.matmul(x, w, null, o);
    console.log(b.info.device);
    ${destroy ? 'b.destroy();' : ''}
  `;
  for (const destroy of [true, false]) {
    const t0 = performance.now();
    const r = await new Promise<{ code: number | null; out: string }>((resolve) => {
      const child = spawn(process.execPath, [...process.execArgv, '--input-type=module', '-e', script(destroy)], {
        cwd: fileURLToPath(root),
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let out = '';
      child.stdout.on('data', (d) => (out += d));
      const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code, out });
      });
    });
    tt.equal(r.code, 0, `exits by itself ${destroy ? 'after destroy()' : 'without destroy()'} (${Math.round(performance.now() - t0)} ms)`);
    tt.match(r.out, /2 threads/);
  }
});
