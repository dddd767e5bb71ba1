// Every WebGPU op checked against the ReferenceBackend, written without node: imports or a test
// framework so the same checks run under tap in Node (Dawn on SwiftShader: packed-f16 path) and
// under Deno (wgpu on lavapipe, which has shader-f16: native-f16 path). Each check reports
// through `log`; the caller decides what a failure means. Shapes are small and odd on purpose
// (software Vulkan is slow, and odd sizes hit every tail and alignment branch).

import type { Backend, Tensor, FloatDType } from '../../runtime/backend/types.ts';
import { type MatmulKernel, type WebGPUBackend, createWebGPUBackend } from '../../runtime/backend/webgpu/index.ts';
import { GPUTensor } from '../../runtime/backend/webgpu/tensor.ts';
import { decodeToF32, encodeFromF32 } from '../../runtime/util/dtype.ts';
import { checker, compare, type Log, Pair, type Tol } from './oracle.ts';

export type { Log } from './oracle.ts';

export interface KernelCheckOptions {
  /** Passed to createWebGPUBackend (false forces the packed-f16 path on an f16-capable device). */
  useShaderF16?: boolean;
}

export interface KernelCheckResult {
  passed: number;
  failed: number;
  device: string;
  features: readonly string[];
}

const DTYPES: readonly FloatDType[] = ['f32', 'f16', 'bf16'];

export async function checkWebGPUKernels(gpu: GPU, log: Log, options: KernelCheckOptions = {}): Promise<KernelCheckResult> {
  const { counts, report, guard } = checker(log);
  const check = async (name: string, got: Tensor, ref: Tensor, p: Pair, tol: Tol) => {
    const r = compare(await p.gpu.read(got), await p.ref.read(ref), tol);
    report(name, r.ok, r.detail);
  };

  const be = await createWebGPUBackend(gpu, { useShaderF16: options.useShaderF16 });
  // A tiny storage-binding cap: every weight below is split into several row-chunks.
  const chunked = await createWebGPUBackend(gpu, { useShaderF16: options.useShaderF16, maxBindingBytes: 1024 });
  const f16native = options.useShaderF16 !== false && be.info.features.includes('shader-f16');
  const MM: Tol = { atol: 2e-5, rtol: 1e-4 };
  const TIGHT: Tol = { atol: 1e-6, rtol: 1e-6 };

  await guard('backend info', async () => {
    const ok =
      Object.isFrozen(be.info) && be.info.kind === 'webgpu' && be.info.limits.maxStorageBufferBindingSize > 0 && chunked.info.limits.maxBindingBytes === 1024;
    report(
      'backend info',
      ok,
      `${be.info.device}; f16 weights via ${f16native ? 'native shader-f16' : 'packed u32 + unpack2x16float'}; maxStorageBufferBindingSize ${be.info.limits.maxStorageBufferBindingSize}`,
    );
  });

  // ---- matmul: every kernel (rows ≤ 8, tiled, large: chosen by shape, and tiled and large also
  // forced on small odd shapes, where tiles are mostly padding; large also split into 3 K-slices,
  // fewer where K is short), aligned and unaligned K (and K past one 16-wide slice of the large
  // kernel), bias kinds, chunking.
  const forced = (matmulKernel: MatmulKernel) => createWebGPUBackend(gpu, { useShaderF16: options.useShaderF16, matmulKernel });
  const [forcedTiled, forcedLarge] = [await forced('tiled'), await forced('large')];
  const split3 = await createWebGPUBackend(gpu, { useShaderF16: options.useShaderF16, matmulKernel: 'large', matmulSplitK: 3 });
  const split3chunked = await createWebGPUBackend(gpu, { useShaderF16: options.useShaderF16, matmulKernel: 'large', matmulSplitK: 3, maxBindingBytes: 1024 });
  const MATMUL_SHAPES = [
    [3, 37, 29],
    [1, 40, 29],
    [8, 64, 13],
    [3, 600, 37],
    [21, 37, 29],
    [37, 40, 70],
    [67, 37, 131],
    [129, 16, 255],
    [33, 52, 255],
  ];
  const matmulTargets = [
    [be, ''],
    [chunked, ' chunked'],
    [forcedTiled, ' tiled'],
    [forcedLarge, ' large'],
    [split3, ' large split-K 3'],
    [split3chunked, ' large split-K 3 chunked'],
  ] as const;
  // The three bias kinds rotate over the shapes (shifted per target), so every kernel meets every
  // bias kind on several shapes in every dtype without the full product (3× the SwiftShader time).
  const BIAS_KINDS = ['none', 'f32', 'weight'] as const;
  for (const dtype of DTYPES) {
    for (const [s, [n, K, N]] of MATMUL_SHAPES.entries()) {
      for (const [t, [target, label]] of matmulTargets.entries()) {
        for (const biasKind of [BIAS_KINDS[(s + t) % 3]]) {
          // K = 600 (split-K at decode) rows do not fit the chunked backends' 1024-byte bindings.
          if (K * 4 > 1024 && label.includes('chunked')) continue;
          const tag = `matmul ${dtype} n=${n} K=${K} N=${N} bias=${biasKind}${label}`;
          await guard(tag, async () => {
            const p = new Pair(target, n * 1000 + K * 10 + N);
            const x = p.f32([n, K]),
              w = p.weight(dtype, [N, K]);
            const b = biasKind === 'none' ? null : biasKind === 'f32' ? p.f32([N]) : p.weight(dtype, [N]);
            const out = p.f32([n, N], new Float32Array(n * N));
            if (target === chunked && (w[0] as GPUTensor).chunks.length < 2) throw new Error('weight was not chunked');
            p.gpu.matmul(x[0], w[0], b ? b[0] : null, out[0]);
            p.ref.matmul(x[1], w[1], b ? b[1] : null, out[1]);
            await check(tag, out[0], out[1], p, MM);
          });
        }
      }
    }
  }

  // ---- weights stay 16-bit on the GPU, packed two per word; odd-length chunks keep their data.
  await guard('16-bit weights stay packed', async () => {
    const p = new Pair(chunked, 7);
    const w = p.weight('bf16', [29, 37]) as [GPUTensor, Tensor];
    const bytes = w[0].chunks.reduce((s, c) => s + c.buffer.size, 0);
    const expectMax = w[0].chunks.reduce((s, c) => s + Math.ceil((c.rowCount * 37 * 2) / 16) * 16, 0);
    report(
      '16-bit weights stay packed',
      bytes === expectMax && bytes < 29 * 37 * 4,
      `${w[0].chunks.length} chunks, ${bytes} bytes on the GPU for ${29 * 37} bf16 elements`,
    );
  });

  // ---- embedding: ids spread over the chunks, repeats, first and last row.
  for (const dtype of DTYPES) {
    for (const target of [be, chunked]) {
      const tag = `embedding ${dtype} V=1001 H=37${target === chunked ? ' chunked' : ''}`;
      await guard(tag, async () => {
        const p = new Pair(target, 11);
        const table = p.weight(dtype, [1001, 37]);
        const ids = [0, 1000, 6, 7, 500, 6, 999];
        const idT = p.i32([ids.length], ids);
        const out = p.f32([ids.length, 37], new Float32Array(ids.length * 37));
        p.gpu.embedding(idT[0], table[0], out[0]);
        p.ref.embedding(idT[1], table[1], out[1]);
        await check(tag, out[0], out[1], p, { atol: 0, rtol: 0 });
      });
    }
  }

  // ---- rmsNorm: rows shorter and longer than the 256-thread workgroup, and in place.
  for (const dtype of DTYPES) {
    // ≤ 8 rows of ≤ 1024: the barrier-free kernel; more rows or longer ones: the reduction.
    for (const [n, H] of [
      [5, 37],
      [3, 600],
      [9, 37],
      [2, 1100],
    ]) {
      const tag = `rmsNorm ${dtype} n=${n} H=${H}`;
      await guard(tag, async () => {
        const p = new Pair(be, n * H);
        const x = p.f32([n, H]),
          w = p.weight(dtype, [H]);
        const out = p.f32([n, H], new Float32Array(n * H));
        p.gpu.rmsNorm(x[0], w[0], 1e-6, out[0]);
        p.ref.rmsNorm(x[1], w[1], 1e-6, out[1]);
        await check(tag, out[0], out[1], p, { atol: 1e-6, rtol: 1e-5 });
      });
    }
  }
  await guard('rmsNorm in place (x is out)', async () => {
    const p = new Pair(be, 5);
    const x = p.f32([4, 45]),
      w = p.weight('bf16', [45]);
    p.gpu.rmsNorm(x[0], w[0], 1e-5, x[0]);
    p.ref.rmsNorm(x[1], w[1], 1e-5, x[1]);
    await check('rmsNorm in place (x is out)', x[0], x[1], p, { atol: 1e-6, rtol: 1e-5 });
  });

  // ---- rope: small and large positions (range reduction), headDim 16 and 64.
  for (const headDim of [16, 64]) {
    const tag = `rope heads=3 headDim=${headDim}`;
    await guard(tag, async () => {
      const p = new Pair(be, headDim);
      const half = headDim / 2;
      const inv = new Float32Array(half).map((_, i) => Math.pow(1e6, (-2 * i) / headDim));
      const rows = [0, 0, 0, 1, 1, 7, 2, 4999, 0, 31999];
      const rowT = p.i32([5, 2], rows);
      const x = p.f32([5, 3 * headDim]),
        f = p.f32([half], inv);
      p.gpu.rope(x[0], rowT[0], f[0], 3, headDim);
      p.ref.rope(x[1], rowT[1], f[1], 3, headDim);
      await check(tag, x[0], x[1], p, { atol: 2e-5, rtol: 1e-4 });
    });
  }

  // ---- kvWrite + attention: multi-slot prefill (one call covering two sequences), then a
  // batched decode step over three slots; more than 64 positions so the online softmax rescales.
  for (const [headDim, kvHeads, ratio] of [
    [16, 2, 3],
    [32, 2, 1],
    [64, 1, 3],
    [128, 2, 1],
  ]) {
    const heads = kvHeads * ratio,
      slots = 3,
      maxT = 80;
    const tag = `attention headDim=${headDim} heads=${heads} kvHeads=${kvHeads}`;
    await guard(tag, async () => {
      const p = new Pair(be, headDim * 10 + ratio);
      const kc = p.f32([slots, kvHeads, maxT, headDim], new Float32Array(slots * kvHeads * maxT * headDim));
      const vc = p.f32([slots, kvHeads, maxT, headDim], new Float32Array(slots * kvHeads * maxT * headDim));
      const step = async (rows: number[], label: string) => {
        const n = rows.length / 2;
        const rowT = p.i32([n, 2], rows);
        const k = p.f32([n, kvHeads * headDim]),
          v = p.f32([n, kvHeads * headDim]),
          q = p.f32([n, heads * headDim], p.values(n * heads * headDim, 2));
        const out = p.f32([n, heads * headDim], new Float32Array(n * heads * headDim));
        p.gpu.kvWrite(k[0], v[0], kc[0], vc[0], rowT[0]);
        p.ref.kvWrite(k[1], v[1], kc[1], vc[1], rowT[1]);
        p.gpu.attention(q[0], kc[0], vc[0], rowT[0], out[0], heads, 1 / Math.sqrt(headDim));
        p.ref.attention(q[1], kc[1], vc[1], rowT[1], out[1], heads, 1 / Math.sqrt(headDim));
        await check(`${tag} ${label}`, out[0], out[1], p, { atol: 1e-5, rtol: 1e-4 });
      };
      const prefill: number[] = [];
      for (let t = 0; t < 70; t++) prefill.push(0, t);
      for (let t = 0; t < 5; t++) prefill.push(2, t);
      await step(prefill, 'prefill slots 0+2');
      await step([0, 70, 2, 5, 1, 0], 'decode 3 slots');
      await check(`${tag} k cache`, kc[0], kc[1], p, { atol: 0, rtol: 0 });
      await check(`${tag} v cache`, vc[0], vc[1], p, { atol: 0, rtol: 0 });
    });
  }

  // ---- elementwise and row ops.
  await guard('swiglu', async () => {
    const p = new Pair(be, 3);
    const gt = p.f32([3, 101], p.values(303, 6)),
      up = p.f32([3, 101]),
      out = p.f32([3, 101], new Float32Array(303));
    p.gpu.glu(gt[0], up[0], out[0], 'silu');
    p.ref.glu(gt[1], up[1], out[1], 'silu');
    await check('swiglu', out[0], out[1], p, { atol: 1e-6, rtol: 1e-5 });
  });
  await guard('addInPlace', async () => {
    const p = new Pair(be, 4);
    const x = p.f32([3, 101]),
      y = p.f32([3, 101]);
    p.gpu.addInPlace(x[0], y[0]);
    p.ref.addInPlace(x[1], y[1]);
    await check('addInPlace', x[0], x[1], p, TIGHT);
  });
  await guard('gatherRows', async () => {
    const p = new Pair(be, 5);
    const x = p.f32([7, 37]),
      idx = p.i32([4], [6, 0, 3, 6]),
      out = p.f32([4, 37], new Float32Array(4 * 37));
    p.gpu.gatherRows(x[0], idx[0], out[0]);
    p.ref.gatherRows(x[1], idx[1], out[1]);
    await check('gatherRows', out[0], out[1], p, { atol: 0, rtol: 0 });
  });
  for (const [n, V] of [
    [3, 1001],
    [1, 151936],
  ]) {
    await guard(`softmax n=${n} V=${V}`, async () => {
      const p = new Pair(be, V);
      const x = p.f32([n, V], p.values(n * V, 12)),
        out = p.f32([n, V], new Float32Array(n * V));
      p.gpu.softmax(x[0], out[0]);
      p.ref.softmax(x[1], out[1]);
      await check(`softmax n=${n} V=${V}`, out[0], out[1], p, { atol: 1e-12, rtol: 1e-4 });
    });
    await guard(`argmax n=${n} V=${V}`, async () => {
      const p = new Pair(be, V + 1);
      const data = p.values(n * V, 5);
      // Ties: the maximum appears twice (late then early index) in every row.
      for (let r = 0; r < n; r++) {
        data[r * V + V - 3] = 9;
        data[r * V + 17 + r * 300] = 9;
      }
      const x = p.f32([n, V], data),
        out = p.i32([n], new Array(n).fill(-1));
      p.gpu.argmax(x[0], out[0]);
      p.ref.argmax(x[1], out[1]);
      await check(`argmax n=${n} V=${V}`, out[0], out[1], p, { atol: 0, rtol: 0 });
    });
  }
  await guard('argmax row of -Infinity', async () => {
    const p = new Pair(be, 9);
    const x = p.f32([1, 300], new Float32Array(300).fill(-Infinity)),
      out = p.i32([1], [-1]);
    p.gpu.argmax(x[0], out[0]);
    p.ref.argmax(x[1], out[1]);
    await check('argmax row of -Infinity', out[0], out[1], p, { atol: 0, rtol: 0 });
  });

  // ---- contrast: KL, mask count and compacted soft labels; only stats and labels come back.
  // Each case: rows of logits with per-row scales (×0.05–0.3 flat, ×1 random, ×5–10 peaky, ×40
  // so most pE fall below the 1e-12 ε), Ve ≠ Va with shared < both, both alphas, masks larger
  // than K (count exact, first K ids and their weights), and empty / full masks.
  const CONTRAST_TOL: Tol = { atol: 1e-5, rtol: 1e-4 };
  const contrastCases: { m: number; Ve: number; Va: number; n: number; K: number; alpha: number; scales: number[] }[] = [
    { m: 1, Ve: 1001, Va: 1001, n: 1001, K: 8, alpha: 0.2, scales: [6] },
    { m: 5, Ve: 1001, Va: 1013, n: 990, K: 16, alpha: 0.05, scales: [1, 8, 0.3, 10, 40] },
    { m: 17, Ve: 1001, Va: 700, n: 650, K: 16, alpha: 0.2, scales: [1, 5, 10, 0.2, 7, 2, 40, 9, 1, 6, 3, 10, 0.5, 8, 5, 1, 4] },
    { m: 17, Ve: 333, Va: 345, n: 301, K: 24, alpha: 0.05, scales: [1, 5, 10, 0.2, 7, 2, 40, 9, 1, 6, 3, 10, 0.5, 8, 5, 1, 4] },
    { m: 3, Ve: 1001, Va: 1001, n: 1001, K: 12, alpha: 0.2, scales: [0.05, 0.1, 0.3] }, // |mask| ≫ K
    { m: 2, Ve: 37, Va: 40, n: 37, K: 64, alpha: 0, scales: [1, 8] }, // every shared id, K > n
    { m: 2, Ve: 37, Va: 40, n: 30, K: 4, alpha: 1.5, scales: [1, 8] }, // empty mask
    { m: 1, Ve: 151936, Va: 151900, n: 151643, K: 16, alpha: 0.05, scales: [6] },
    { m: 1, Ve: 151936, Va: 151936, n: 151936, K: 16, alpha: 0.2, scales: [1] },
  ];
  for (const c of contrastCases) {
    const tag = `contrast m=${c.m} Ve=${c.Ve} Va=${c.Va} n=${c.n} K=${c.K} alpha=${c.alpha}`;
    await guard(tag, async () => {
      const p = new Pair(be, c.m * 7919 + c.Ve + c.n + c.K);
      const rowsOfScaled = (V: number, amateurScale: number) => {
        const d = new Float32Array(c.m * V);
        for (let r = 0; r < c.m; r++) d.set(p.values(V, r % 2 ? c.scales[r] * amateurScale : c.scales[r]), r * V);
        return d;
      };
      // The amateur is peaky where the expert is (half the rows) or flatter (the others).
      const e = p.f32([c.m, c.Ve], rowsOfScaled(c.Ve, 1)),
        a = p.f32([c.m, c.Va], rowsOfScaled(c.Va, 0.5));
      const st = p.f32([c.m, 2], new Float32Array(c.m * 2).fill(NaN));
      const ids = p.i32([c.m, c.K], new Array(c.m * c.K).fill(7));
      const w = p.f32([c.m, c.K], new Float32Array(c.m * c.K).fill(NaN));
      p.gpu.contrast(e[0], a[0], c.n, c.alpha, st[0], ids[0], w[0]);
      p.ref.contrast(e[1], a[1], c.n, c.alpha, st[1], ids[1], w[1]);
      const [gs, rs] = [(await p.gpu.read(st[0])) as Float32Array, (await p.ref.read(st[1])) as Float32Array];
      const kl = compare(
        gs.filter((_, i) => i % 2 === 0),
        rs.filter((_, i) => i % 2 === 0),
        CONTRAST_TOL,
      );
      const gCount = gs.filter((_, i) => i % 2 === 1),
        rCount = rs.filter((_, i) => i % 2 === 1);
      const count = compare(gCount, rCount, { atol: 0, rtol: 0 });
      report(`${tag} kl`, kl.ok, kl.detail);
      report(`${tag} mask count`, count.ok, `${count.detail}; counts ${[...rCount].join(',')}`);
      await check(`${tag} label ids`, ids[0], ids[1], p, { atol: 0, rtol: 0 });
      await check(`${tag} label weights`, w[0], w[1], p, CONTRAST_TOL);
    });
  }

  // ---- execution model: ops queue up, write is ordered after them, views share storage.
  await guard('write ordering, views, one submit', async () => {
    const p = new Pair(be, 12);
    const x = p.f32([2, 33]),
      y = p.f32([2, 33]);
    const y2 = p.values(66);
    for (const [b, xs, ys] of [
      [p.gpu, x[0], y[0]],
      [p.ref, x[1], y[1]],
    ] as const) {
      b.addInPlace(xs, ys); // uses the old y …
      b.write(ys, y2); //      … then y changes …
      b.addInPlace(xs, ys); // … and this uses the new one
      b.addInPlace(b.view(xs, [33]), b.view(ys, [33])); // first row only, through views
    }
    const pending = (be as WebGPUBackend).pendingDispatches;
    await check('write ordering, views, one submit', x[0], x[1], p, TIGHT);
    report('ops after write stay queued until read', pending === 2, `${pending} dispatches pending before read`);
  });

  // ---- the 16-bit decode is exact: the GPU's unpack matches the CPU decoder bit for bit.
  for (const dtype of ['f16', 'bf16'] as const) {
    await guard(`${dtype} unpack exact`, async () => {
      const p = new Pair(be, 21);
      const vals = p.values(37 * 5, 70000); // includes f16 overflow to ±Inf and subnormals below
      vals[0] = 1e-7;
      vals[1] = -3e-6;
      const bytes = encodeFromF32(dtype, vals);
      const table = p.gpu.createWeight(dtype, [5, 37], bytes);
      const ids = p.gpu.createTensor('i32', [5], Int32Array.from([0, 1, 2, 3, 4]));
      const out = p.gpu.createTensor('f32', [5, 37]);
      p.gpu.embedding(ids, table, out);
      const got = (await p.gpu.read(out)) as Float32Array;
      const want = decodeToF32(dtype, bytes);
      const bad = want.findIndex((v, i) => !Object.is(v, got[i]));
      report(`${dtype} unpack exact`, bad < 0, bad < 0 ? '185 values incl. subnormals and infinities' : `element ${bad}: got ${got[bad]}, want ${want[bad]}`);
    });
  }

  await guard('split-K: a slice pass and a summing pass per weight chunk', async () => {
    const p = new Pair(split3, 3);
    const x = p.f32([5, 37]),
      w = p.weight('bf16', [29, 37]);
    const out = p.f32([5, 29], new Float32Array(5 * 29));
    await p.gpu.read(out[0]); // nothing pending
    p.gpu.matmul(x[0], w[0], null, out[0]);
    const pending = (split3 as WebGPUBackend).pendingDispatches;
    report('split-K: a slice pass and a summing pass per weight chunk', pending === 2, `${pending} dispatches for one split matmul`);
    await p.gpu.read(out[0]);
  });

  await guard('pipelines are cached', async () => {
    const p = new Pair(be, 13);
    const before = (be as WebGPUBackend).pipelineCount;
    const x = p.f32([2, 40]),
      w = p.weight('bf16', [9, 40]),
      out = p.f32([2, 9]);
    for (let i = 0; i < 3; i++) p.gpu.matmul(x[0], w[0], null, out[0]);
    await p.gpu.read(out[0]);
    const after = (be as WebGPUBackend).pipelineCount;
    report('pipelines are cached', before > 0 && after === before, `${before} pipelines before, ${after} after three more matmuls`);
  });

  be.destroy();
  chunked.destroy();
  for (const b of [forcedTiled, forcedLarge, split3, split3chunked]) b.destroy();
  return { ...counts, device: be.info.device, features: be.info.features };
}
