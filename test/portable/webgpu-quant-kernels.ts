// Issue 30 on WebGPU: the matmul kernels reading Q8_0 / Q4_0 blocks (kernels/load-q8-0.wgsl,
// load-q4-0.wgsl) against the ReferenceBackend, which dequantizes the same bytes to f32 (the
// oracle). Every kernel a quantized weight reaches: matmul at decode (matmul-vec, 1–8 rows, split-K
// at K ≥ 512), tiled and large (batches, and forced at any row count), a weight split into row
// chunks, the decode fusions (norm prologue, residual add, SwiGLU, q/k/v in one pass), and
// matmulNN (QLoRA's dX = dY · W), plain and accumulating. Odd shapes: rows 1, 3, 17; K = 32 · k
// with k odd (32, 96, 352, 544); N odd. Same framework-free style as webgpu-kernels.ts (Node and
// Deno run it). The one-value accessor, which no matmul reaches (K is whole blocks, so 4-aligned),
// is checked through embedding rows of a block table.

import type { Backend, QuantDType, Tensor } from '../../runtime/backend/types.ts';
import { createWebGPUBackend } from '../../runtime/backend/webgpu/index.ts';
import { dequantize, quantize } from '../../runtime/quant/index.ts';
import { checker, compare, type Log, Pair, type Tol } from './oracle.ts';

const TYPES: readonly QuantDType[] = ['q8_0', 'q4_0'];
// The sums are f32 in both, in different orders: |err| grows like √K · ε · |terms|.
const tolFor = (K: number): Tol => ({ atol: 2e-6 * Math.sqrt(K) + 1e-6, rtol: 1e-4 });

/** A quantized [N, K] weight on both sides: the GPU reads the blocks, the reference their f32 values. */
function qweight(p: Pair, type: QuantDType, N: number, K: number): [Tensor, Tensor] {
  const v = p.values(N * K);
  const bytes = quantize(type, 'f32', new Uint8Array(v.buffer), K);
  return [p.gpu.createWeight(type, [N, K], bytes), p.ref.createWeight(type, [N, K], bytes)];
}

export async function checkWebGPUQuantKernels(gpu: GPU, log: Log): Promise<{ passed: number; failed: number; device: string }> {
  const { counts, report, guard } = checker(log);
  const auto = await createWebGPUBackend(gpu);
  const device = auto.info.device;
  const kinds: [string, Backend][] = [
    ['auto', auto],
    ['tiled', await createWebGPUBackend(gpu, { matmulKernel: 'tiled' })],
    ['large', await createWebGPUBackend(gpu, { matmulKernel: 'large' })],
    // 256-byte bindings: a q8_0 [N, 96] weight (102 bytes a row) is split every 2 rows
    ['chunked', await createWebGPUBackend(gpu, { maxBindingBytes: 256 })],
  ];
  const check = async (name: string, got: Tensor, ref: Tensor, p: Pair, tol: Tol) => {
    const r = compare(await p.gpu.read(got), await p.ref.read(ref), tol);
    report(name, r.ok, r.detail);
  };
  report('features', auto.info.features.includes('quantized'), `webgpu lists 'quantized' (${auto.info.features.join(', ')})`);

  // ---- matmul: every kernel, odd shapes; a bias on every other shape (rotated, as webgpu-kernels.ts).
  const SHAPES = [
    [1, 32, 7],
    [3, 96, 37],
    [17, 352, 33],
    [1, 544, 9],
    [17, 96, 5],
  ];
  for (const type of TYPES) {
    for (const [kind, be] of kinds) {
      for (const [i, [n, K, N]] of SHAPES.entries()) {
        if (kind === 'chunked' && K > 96) continue; // one row must fit a 256-byte binding
        const bias = i % 2 === 1;
        const tag = `matmul ${type} ${kind} [${n},${K}]·[${N},${K}]ᵀ${bias ? ' + bias' : ''}`;
        await guard(tag, async () => {
          const p = new Pair(be, n * 1009 + K * 7 + N);
          const x = p.f32([n, K]),
            w = qweight(p, type, N, K),
            b = bias ? p.weight('bf16', [N]) : null,
            out = p.zeros([n, N]);
          p.both((be, s) => be.matmul(s(x), s(w), b ? s(b) : null, s(out)));
          await check(tag, out[0], out[1], p, tolFor(K));
        });
      }
    }
  }

  // ---- exactness: the accessors give each weight the f32 value the reference dequantizes to (an
  // int8 or int4 times an f16 scale is exact in f32), and the kernels' arithmetic does not depend
  // on the accessor, so a quantized weight gives the bits of the same kernel on its dequantized
  // f32 copy: the forward is the dequantized model's on this device.
  // (each shape on one of the three kernels in turn: every kernel meets every type, a third of the matmuls)
  for (const type of TYPES) {
    for (const [i, [n, K, N]] of SHAPES.entries()) {
      for (const [kind, be] of [kinds[i % 3]]) {
        const tag = `matmul ${type} ${kind} [${n},${K}]·[${N},${K}]ᵀ = the same kernel on the dequantized f32 weight, bit for bit`;
        await guard(tag, async () => {
          const p = new Pair(be, n * 13 + K + N);
          const v = p.values(N * K);
          const bytes = quantize(type, 'f32', new Uint8Array(v.buffer), K);
          const wq = be.createWeight(type, [N, K], bytes),
            wf = be.createWeight('f32', [N, K], new Uint8Array(dequantize(type, bytes, N * K).buffer));
          const x = be.createTensor('f32', [n, K], p.values(n * K)),
            oq = be.createTensor('f32', [n, N]),
            of = be.createTensor('f32', [n, N]);
          be.matmul(x, wq, null, oq);
          be.matmul(x, wf, null, of);
          const got = (await be.read(oq)) as Float32Array,
            want = (await be.read(of)) as Float32Array;
          const differ = got.findIndex((g, i) => !Object.is(g, want[i]));
          report(tag, differ < 0, differ < 0 ? `${got.length} values identical` : `differs at ${differ}: ${got[differ]} vs ${want[differ]}`);
          for (const t of [wq, wf, x, oq, of]) be.dispose(t);
        });
      }
    }
  }

  // ---- the decode fusions over quantized weights (what a quantized model's decode step runs).
  for (const type of TYPES) {
    for (const [n, K, N] of [
      [1, 96, 37],
      [3, 352, 17],
    ]) {
      const tag = `linearFused ${type} n=${n} K=${K} N=${N}`;
      await guard(tag, async () => {
        const p = new Pair(auto, n * 31 + K + N);
        const x = p.f32([n, K]),
          g = p.weight('bf16', [K]),
          wg = qweight(p, type, N, K),
          wu = qweight(p, type, N, K);
        const acc = p.f32([n, N]),
          out = p.zeros([n, N]),
          h = p.zeros([n, K]),
          gate = p.zeros([n, N]),
          up = p.zeros([n, N]);
        const fused =
          p.gpu.linearFused?.(x[0], wg[0], null, acc[0], { accumulate: true }) &&
          p.gpu.linearFused?.(x[0], wg[0], null, out[0], { norm: { weight: g[0], eps: 1e-6 }, up: wu[0] });
        if (!fused) throw new Error(`${tag}: the backend did not fuse a decode shape`);
        p.ref.matmul(x[1], wg[1], null, gate[1]);
        p.ref.addInPlace(acc[1], gate[1]);
        await check(`${tag} residual`, acc[0], acc[1], p, tolFor(K));
        p.ref.rmsNorm(x[1], g[1], 1e-6, h[1]);
        p.ref.matmul(h[1], wg[1], null, gate[1]);
        p.ref.matmul(h[1], wu[1], null, up[1]);
        p.ref.glu(gate[1], up[1], out[1], 'silu');
        await check(`${tag} norm + SwiGLU`, out[0], out[1], p, tolFor(K));
      });
    }
    const tag = `qkvFused ${type} n=3 H=96 q=64 kv=32 bias`;
    await guard(tag, async () => {
      const p = new Pair(auto, 77);
      const x = p.f32([3, 96]),
        g = p.weight('bf16', [96]);
      const w = { q: qweight(p, type, 64, 96), k: qweight(p, type, 32, 96), v: qweight(p, type, 32, 96) };
      const bs = { q: p.weight('bf16', [64]), k: p.weight('bf16', [32]), v: p.weight('bf16', [32]) };
      const q = p.zeros([3, 64]),
        k = p.zeros([3, 32]),
        v = p.zeros([3, 32]),
        h = p.zeros([3, 96]);
      const side = (i: 0 | 1) => ({ q: w.q[i], k: w.k[i], v: w.v[i], qBias: bs.q[i], kBias: bs.k[i], vBias: bs.v[i] });
      // false where the device has fewer than 11 storage bindings: then the model runs plain matmuls
      if (!p.gpu.qkvFused?.(x[0], { weight: g[0], eps: 1e-6 }, side(0), q[0], k[0], v[0])) return report(tag, true, 'not fused on this device');
      p.ref.rmsNorm(x[1], g[1], 1e-6, h[1]);
      const r = side(1);
      p.ref.matmul(h[1], r.q, r.qBias, q[1]);
      p.ref.matmul(h[1], r.k, r.kBias, k[1]);
      p.ref.matmul(h[1], r.v, r.vBias, v[1]);
      for (const [name, a] of [
        ['q', q],
        ['k', k],
        ['v', v],
      ] as const)
        await check(`${tag} ${name}`, a[0], a[1], p, tolFor(96));
    });
  }

  // ---- matmulNN (dX = dY · W, W [N, K] quantized along K): plain and accumulating, whole and chunked.
  for (const type of TYPES) {
    for (const [label, be] of [kinds[0], kinds[3]]) {
      for (const [n, N, K] of [
        [1, 37, 96],
        [3, 9, 32],
        [17, 33, 352],
      ]) {
        if (label === 'chunked' && K > 96) continue;
        for (const accumulate of [false, true]) {
          const tag = `matmulNN ${type} ${label} [${n},${N}]·[${N},${K}]${accumulate ? ' accumulate' : ''}`;
          await guard(tag, async () => {
            const p = new Pair(be, n * 13 + N * 5 + K + (accumulate ? 1 : 0));
            const x = p.f32([n, N]),
              w = qweight(p, type, N, K),
              out = p.f32([n, K]);
            p.both((be, s) => be.training!.matmulNN(s(x), s(w), s(out), accumulate));
            await check(tag, out[0], out[1], p, tolFor(N));
          });
        }
      }
    }
  }

  // ---- the one-value accessor (the matmuls read 4 values at a time): embedding rows of a block table.
  for (const type of TYPES) {
    for (const [label, be] of [kinds[0], kinds[3]]) {
      const tag = `embedding ${type} ${label} (one value at a time) [11, 96]`;
      await guard(tag, async () => {
        const p = new Pair(be, 5);
        const table = qweight(p, type, 11, 96),
          ids = p.i32([6], [10, 0, 3, 3, 7, 1]),
          out = p.zeros([6, 96]);
        p.both((be, s) => be.embedding(s(ids), s(table), s(out)));
        await check(tag, out[0], out[1], p, { atol: 0, rtol: 0 });
      });
    }
  }

  await guard('a block weight with rows not a multiple of 32 is refused', async () => {
    let message = '';
    try {
      auto.createWeight('q8_0', [2, 48], new Uint8Array(2 * 48 * (34 / 32)));
    } catch (e) {
      message = (e as Error).message;
    }
    report('a block weight with rows not a multiple of 32 is refused', /multiple of 32/.test(message), message || 'accepted');
  });

  for (const [, be] of kinds) be.destroy();
  return { ...counts, device };
}
