// Every forward op of the WebGL2 backend against the ReferenceBackend, in the browser (bundled by
// test/webgl2.test.ts through webgl2-entry.ts). Shapes are small and odd on purpose: SwiftShader
// is slow, and odd sizes hit the row padding of 16-bit weights, chunk tails and partial texels.

import { requireTraining } from '../../runtime/backend/training.ts';
import type { Backend, Tensor, FloatDType } from '../../runtime/backend/types.ts';
import type { WebGL2Backend } from '../../runtime/backend/webgl2/index.ts';
import { textureBytes, type GLTensor } from '../../runtime/backend/webgl2/textures.ts';
import { generateGreedy } from '../../runtime/model/generate.ts';
import { randomModel, SHAPES } from '../../tooling/random-model.ts';
import { decodeToF32, encodeFromF32 } from '../../runtime/util/dtype.ts';
import { checker, compare, type Log, Pair, type Tol } from '../portable/oracle.ts';
import { checkWebGL2ArchOps } from './webgl2-arch-ops.ts';

const DTYPES: readonly FloatDType[] = ['f32', 'f16', 'bf16'];
const MM: Tol = { atol: 2e-5, rtol: 1e-4 };
const TIGHT: Tol = { atol: 1e-6, rtol: 1e-6 };
const EXACT: Tol = { atol: 0, rtol: 0 };

export async function checkWebGL2Ops(be: Backend, log: Log): Promise<{ passed: number; failed: number }> {
  const { counts, report, guard } = checker(log);
  const check = async (name: string, got: Tensor, ref: Tensor, p: Pair, tol: Tol) => {
    const r = compare(await p.gpu.read(got), await p.ref.read(ref), tol);
    report(name, r.ok, r.detail);
  };

  for (const dtype of DTYPES) {
    for (const [n, K, N] of [
      [3, 37, 29],
      [1, 40, 29],
      [8, 64, 13],
      [21, 37, 131],
    ]) {
      for (const bias of ['none', 'f32', 'weight'] as const) {
        const tag = `matmul ${dtype} n=${n} K=${K} N=${N} bias=${bias}`;
        await guard(tag, async () => {
          const p = new Pair(be, n * 1000 + K * 10 + N);
          const x = p.f32([n, K]),
            w = p.weight(dtype, [N, K]);
          const b = bias === 'none' ? null : bias === 'f32' ? p.f32([N]) : p.weight(dtype, [N]);
          const out = p.zeros([n, N]);
          p.both((be, t) => be.matmul(t(x), t(w), b ? t(b) : null, t(out)));
          await check(tag, out[0], out[1], p, MM);
        });
      }
    }
  }
  await guard('matmul by an f32 tensor (LoRA A/B)', async () => {
    const p = new Pair(be, 77);
    const x = p.f32([5, 33]),
      w = p.weight('tensor', [7, 33]),
      out = p.zeros([5, 7]);
    p.both((be, t) => be.matmul(t(x), t(w), null, t(out)));
    await check('matmul by an f32 tensor (LoRA A/B)', out[0], out[1], p, MM);
  });

  await guard('16-bit weights stay 2 bytes per element', async () => {
    const p = new Pair(be, 7);
    const w = p.weight('bf16', [29, 38])[0] as GLTensor;
    const bytes = textureBytes(w.weight!.tex);
    report(
      '16-bit weights stay 2 bytes per element',
      bytes <= 29 * 38 * 2 + 4 * w.weight!.tex.size[0],
      `${bytes} bytes on the GPU for ${29 * 38} bf16 elements (texture ${w.weight!.tex.size})`,
    );
  });

  for (const dtype of DTYPES) {
    const tag = `embedding ${dtype} V=101 H=37`;
    await guard(tag, async () => {
      const p = new Pair(be, 11);
      const table = p.weight(dtype, [101, 37]);
      const ids = p.i32([7], [0, 100, 6, 7, 50, 6, 99]);
      const out = p.zeros([7, 37]);
      p.both((be, t) => be.embedding(t(ids), t(table), t(out)));
      await check(tag, out[0], out[1], p, EXACT);
    });
  }
  for (const dtype of ['f16', 'bf16'] as const) {
    await guard(`${dtype} unpack exact`, async () => {
      const p = new Pair(be, 21);
      const vals = p.values(37 * 5, 70000); // f16 overflows to ±Inf, subnormals below
      vals[0] = 1e-7;
      vals[1] = -3e-6;
      vals[2] = 0;
      const bytes = encodeFromF32(dtype, vals);
      const table = be.createWeight(dtype, [5, 37], bytes);
      const got = (await be.read(table)) as Float32Array;
      const want = decodeToF32(dtype, bytes);
      const bad = want.findIndex((v, i) => !Object.is(v, got[i]));
      report(
        `${dtype} unpack exact`,
        bad < 0,
        bad < 0 ? '185 values incl. subnormals, zeros and infinities' : `element ${bad}: got ${got[bad]}, want ${want[bad]}`,
      );
      be.dispose(table);
    });
  }

  for (const dtype of DTYPES) {
    for (const [n, H] of [
      [5, 37],
      [3, 600],
    ]) {
      const tag = `rmsNorm ${dtype} n=${n} H=${H}`;
      await guard(tag, async () => {
        const p = new Pair(be, n * H);
        const x = p.f32([n, H]),
          w = p.weight(dtype, [H]),
          out = p.zeros([n, H]);
        p.both((be, t) => be.rmsNorm(t(x), t(w), 1e-6, t(out)));
        await check(tag, out[0], out[1], p, { atol: 1e-6, rtol: 1e-5 });
      });
    }
  }
  await guard('rmsNorm in place', async () => {
    const p = new Pair(be, 5);
    const x = p.f32([4, 45]),
      w = p.weight('bf16', [45]);
    p.both((be, t) => be.rmsNorm(t(x), t(w), 1e-5, t(x)));
    await check('rmsNorm in place', x[0], x[1], p, { atol: 1e-6, rtol: 1e-5 });
  });

  for (const headDim of [16, 24, 64]) {
    const tag = `rope heads=3 headDim=${headDim} (positions to 31999)`;
    await guard(tag, async () => {
      const p = new Pair(be, headDim);
      const half = headDim / 2;
      const inv = new Float32Array(half).map((_, i) => Math.pow(1e6, (-2 * i) / headDim));
      const rows = p.i32([5, 2], [0, 0, 0, 1, 1, 7, 2, 4999, 0, 31999]);
      const x = p.f32([5, 3 * headDim]),
        f = p.f32([half], inv);
      p.both((be, t) => be.rope(t(x), t(rows), t(f), 3, headDim));
      await check(tag, x[0], x[1], p, { atol: 2e-5, rtol: 1e-4 });
    });
  }

  await checkAttention(be, guard, check);
  await checkWebGL2ArchOps(be, guard, check);
  await checkRows(be, guard, check);
  await checkContrast(be, guard, report);
  await checkExecutionModel(be, guard, check, report);
  return counts;
}

type Guard = (name: string, body: () => Promise<void>) => Promise<void>;
type Check = (name: string, got: Tensor, ref: Tensor, p: Pair, tol: Tol) => Promise<void>;
type Report = (name: string, ok: boolean, detail: string) => void;

/** kvWrite + attention: a prefill of two sequences in one call, then a decode step over three
 * slots (GQA ratios 3 and 1, headDim 16 to 64). */
async function checkAttention(be: Backend, guard: Guard, check: Check): Promise<void> {
  for (const [headDim, kvHeads, ratio] of [
    [16, 2, 3],
    [24, 1, 4],
    [64, 2, 1],
  ]) {
    const heads = kvHeads * ratio,
      slots = 3,
      maxT = 80;
    const tag = `attention headDim=${headDim} heads=${heads} kvHeads=${kvHeads}`;
    await guard(tag, async () => {
      const p = new Pair(be, headDim * 10 + ratio);
      const kc = p.zeros([slots, kvHeads, maxT, headDim]),
        vc = p.zeros([slots, kvHeads, maxT, headDim]);
      const step = async (rows: number[], label: string) => {
        const n = rows.length / 2;
        const rowT = p.i32([n, 2], rows);
        const k = p.f32([n, kvHeads * headDim]),
          v = p.f32([n, kvHeads * headDim]),
          q = p.f32([n, heads * headDim], p.values(n * heads * headDim, 2));
        const out = p.zeros([n, heads * headDim]);
        p.both((be, t) => {
          be.kvWrite(t(k), t(v), t(kc), t(vc), t(rowT));
          be.attention(t(q), t(kc), t(vc), t(rowT), t(out), heads, 1 / Math.sqrt(headDim));
        });
        await check(`${tag} ${label}`, out[0], out[1], p, { atol: 1e-5, rtol: 1e-4 });
      };
      const prefill: number[] = [];
      for (let t = 0; t < 70; t++) prefill.push(0, t);
      for (let t = 0; t < 5; t++) prefill.push(2, t);
      await step(prefill, 'prefill slots 0+2');
      await step([0, 70, 2, 5, 1, 0], 'decode 3 slots');
      await check(`${tag} k cache`, kc[0], kc[1], p, EXACT);
      await check(`${tag} v cache`, vc[0], vc[1], p, EXACT);
    });
  }
}

async function checkRows(be: Backend, guard: Guard, check: Check): Promise<void> {
  await guard('swiglu', async () => {
    const p = new Pair(be, 3);
    const g = p.f32([3, 101], p.values(303, 6)),
      u = p.f32([3, 101]),
      out = p.zeros([3, 101]);
    p.both((be, t) => be.glu(t(g), t(u), t(out), 'silu'));
    await check('swiglu', out[0], out[1], p, { atol: 1e-6, rtol: 1e-5 });
  });
  await guard('addInPlace', async () => {
    const p = new Pair(be, 4);
    const x = p.f32([3, 101]),
      y = p.f32([3, 101]);
    p.both((be, t) => be.addInPlace(t(x), t(y)));
    await check('addInPlace', x[0], x[1], p, TIGHT);
  });
  await guard('axpy', async () => {
    const p = new Pair(be, 14);
    const x = p.f32([3, 41]),
      y = p.f32([3, 41]);
    p.both((be, t) => be.axpy(t(x), t(y), -0.75));
    await check('axpy', x[0], x[1], p, TIGHT);
  });
  await guard('gatherRows', async () => {
    const p = new Pair(be, 5);
    const x = p.f32([7, 37]),
      idx = p.i32([4], [6, 0, 3, 6]),
      out = p.zeros([4, 37]);
    p.both((be, t) => be.gatherRows(t(x), t(idx), t(out)));
    await check('gatherRows', out[0], out[1], p, EXACT);
  });
  for (const [n, V] of [
    [3, 1001],
    [1, 49152],
  ]) {
    await guard(`softmax n=${n} V=${V}`, async () => {
      const p = new Pair(be, V);
      const x = p.f32([n, V], p.values(n * V, 12)),
        out = p.zeros([n, V]);
      p.both((be, t) => be.softmax(t(x), t(out)));
      await check(`softmax n=${n} V=${V}`, out[0], out[1], p, { atol: 1e-12, rtol: 1e-4 });
    });
    await guard(`argmax n=${n} V=${V} (ties)`, async () => {
      const p = new Pair(be, V + 1);
      const data = p.values(n * V, 5);
      for (let r = 0; r < n; r++) {
        data[r * V + V - 3] = 9;
        data[r * V + 17 + r * 300] = 9;
      }
      const x = p.f32([n, V], data),
        out = p.i32([n], new Array(n).fill(-1));
      p.both((be, t) => be.argmax(t(x), t(out)));
      await check(`argmax n=${n} V=${V} (ties)`, out[0], out[1], p, EXACT);
    });
  }
  await guard('argmax row of -Infinity', async () => {
    const p = new Pair(be, 9);
    const x = p.f32([1, 700], new Float32Array(700).fill(-Infinity)),
      out = p.i32([1], [-1]);
    p.both((be, t) => be.argmax(t(x), t(out)));
    await check('argmax row of -Infinity', out[0], out[1], p, EXACT);
  });
  await guard('sumSquares accumulates', async () => {
    const p = new Pair(be, 10);
    const x = p.f32([3, 700]),
      out = p.f32([1], Float32Array.of(2));
    p.both((be, t) => be.sumSquares(t(x), t(out)));
    await check('sumSquares accumulates', out[0], out[1], p, { atol: 1e-4, rtol: 1e-5 });
  });
}

/** KL, mask count and compacted labels, as test/portable/webgpu-kernels.ts (fewer cases). */
async function checkContrast(be: Backend, guard: Guard, report: Report): Promise<void> {
  const TOL: Tol = { atol: 1e-5, rtol: 1e-4 };
  const cases = [
    { m: 1, Ve: 1001, Va: 1001, n: 1001, K: 8, alpha: 0.2, scales: [6] },
    { m: 5, Ve: 1001, Va: 1013, n: 990, K: 16, alpha: 0.05, scales: [1, 8, 0.3, 10, 40] },
    { m: 3, Ve: 1001, Va: 1001, n: 1001, K: 12, alpha: 0.2, scales: [0.05, 0.1, 0.3] }, // |mask| ≫ K
    { m: 2, Ve: 37, Va: 40, n: 37, K: 64, alpha: 0, scales: [1, 8] }, // every shared id, K > n
    { m: 2, Ve: 37, Va: 40, n: 30, K: 4, alpha: 1.5, scales: [1, 8] }, // empty mask
    { m: 1, Ve: 49152, Va: 49100, n: 49000, K: 16, alpha: 0.05, scales: [6] },
  ];
  for (const c of cases) {
    const tag = `contrast m=${c.m} Ve=${c.Ve} Va=${c.Va} n=${c.n} K=${c.K} alpha=${c.alpha}`;
    await guard(tag, async () => {
      const p = new Pair(be, c.m * 7919 + c.Ve + c.n + c.K);
      const rowsOf = (V: number, amateur: number) => {
        const d = new Float32Array(c.m * V);
        for (let r = 0; r < c.m; r++) d.set(p.values(V, r % 2 ? c.scales[r] * amateur : c.scales[r]), r * V);
        return d;
      };
      const e = p.f32([c.m, c.Ve], rowsOf(c.Ve, 1)),
        a = p.f32([c.m, c.Va], rowsOf(c.Va, 0.5));
      const st = p.f32([c.m, 2], new Float32Array(c.m * 2).fill(NaN));
      const ids = p.i32([c.m, c.K], new Array(c.m * c.K).fill(7));
      const w = p.f32([c.m, c.K], new Float32Array(c.m * c.K).fill(NaN));
      p.both((be, t) => be.contrast(t(e), t(a), c.n, c.alpha, t(st), t(ids), t(w)));
      const [gs, rs] = [(await p.gpu.read(st[0])) as Float32Array, (await p.ref.read(st[1])) as Float32Array];
      const kl = compare(
        gs.filter((_, i) => i % 2 === 0),
        rs.filter((_, i) => i % 2 === 0),
        TOL,
      );
      const count = compare(
        gs.filter((_, i) => i % 2 === 1),
        rs.filter((_, i) => i % 2 === 1),
        EXACT,
      );
      report(`${tag} kl`, kl.ok, kl.detail);
      report(`${tag} mask count`, count.ok, count.detail);
      const li = compare(await p.gpu.read(ids[0]), await p.ref.read(ids[1]), EXACT);
      report(`${tag} label ids`, li.ok, li.detail);
      const lw = compare(await p.gpu.read(w[0]), await p.ref.read(w[1]), TOL);
      report(`${tag} label weights`, lw.ok, lw.detail);
    });
  }
}

/** Writes are ordered after earlier ops; writing a view keeps the rest of the tensor; a repeated
 * op compiles nothing new; training ops refuse with a message naming wasm. */
async function checkExecutionModel(be: Backend, guard: Guard, check: Check, report: Report): Promise<void> {
  await guard('write ordering and views', async () => {
    const p = new Pair(be, 12);
    const x = p.f32([2, 33]),
      y = p.f32([2, 33]);
    const y2 = p.values(66);
    for (const [b, xs, ys] of [
      [p.gpu, x[0], y[0]],
      [p.ref, x[1], y[1]],
    ] as const) {
      b.addInPlace(xs, ys);
      b.write(ys, y2);
      b.addInPlace(xs, ys);
      b.addInPlace(b.view(xs, [33]), b.view(ys, [33])); // first row only, through views
      b.write(b.view(ys, [5]), Float32Array.of(1, 2, 3, 4, 5));
      b.addInPlace(b.view(xs, [2, 33]), ys);
    }
    await check('write ordering and views', x[0], x[1], p, TIGHT);
  });
  await guard('kernels are cached', async () => {
    const g = be as WebGL2Backend;
    const p = new Pair(be, 13);
    const x = p.f32([2, 40]),
      w = p.weight('bf16', [9, 40]),
      out = p.zeros([2, 9]);
    p.gpu.matmul(x[0], w[0], null, out[0]);
    await p.gpu.read(out[0]);
    const before = g.stats.kernels;
    for (let i = 0; i < 3; i++) p.gpu.matmul(x[0], w[0], null, out[0]);
    await p.gpu.read(out[0]);
    report('kernels are cached', g.stats.kernels === before, `${before} kernels before, ${g.stats.kernels} after three more matmuls`);
  });
  await guard('no textures left behind', async () => {
    const g = be as WebGL2Backend;
    const live = new Set<WebGLTexture>();
    const [create, del] = [g.gl.createTexture.bind(g.gl), g.gl.deleteTexture.bind(g.gl)];
    g.gl.createTexture = () => {
      const t = create();
      if (t) live.add(t);
      return t;
    };
    g.gl.deleteTexture = (t) => {
      if (t) live.delete(t);
      del(t);
    };
    try {
      const cfg = { ...SHAPES['Qwen2.5-0.5B'], hiddenSize: 32, layers: 2, heads: 4, kvHeads: 2, headDim: 8, intermediateSize: 40, vocabSize: 300 };
      const model = randomModel(cfg, be, 'bf16');
      // kernels hold textures of their own (outputs, uploaded arguments) and a store written
      // through a view holds two layers, so the count depends on what ran before; from the
      // second round on, the same calls must end at the same counts
      const counts: number[] = [];
      for (let round = 0; round < 3; round++) {
        for (const len of [9, 3, 14]) {
          await generateGreedy(model, [Array.from({ length: len }, (_, i) => i + 1), [7, 8]], { maxNewTokens: 6, eosTokenIds: [] });
          counts.push(live.size);
        }
      }
      const same = counts.slice(6).every((c, i) => c === counts[i + 3]);
      report('no textures left behind', same, `live textures after each of 3 × 3 generate calls (prompts 9, 3, 14 long): ${counts.join(', ')}`);
    } finally {
      g.gl.createTexture = create;
      g.gl.deleteTexture = del;
    }
  });
  await guard('training ops refuse', async () => {
    // no training capability: a training job refuses the backend by name when it starts
    if (be.training !== undefined) return report('training ops refuse', false, 'the webgl2 backend has training ops');
    try {
      requireTraining(be, 'fine-tuning');
      report('training ops refuse', false, 'requireTraining did not throw');
    } catch (e) {
      const err = e as { code?: string; message?: string };
      report(
        'training ops refuse',
        err.code === 'UNSUPPORTED' && /webgl2/.test(err.message ?? '') && /--backend wasm/.test(err.message ?? ''),
        `${err.code}: ${err.message}`,
      );
    }
  });
}
