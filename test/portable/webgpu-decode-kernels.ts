// The WebGPU backend's decode fusions (issue 19) against the ReferenceBackend running the plain ops
// they replace: RMSNorm folded into a matmul, a residual add, gate/up + SwiGLU, q/k/v in one pass,
// rope + KV write, and attention over a cache long enough to be split. Same framework-free style
// as webgpu-kernels.ts (Node and Deno run it); odd shapes reach every tail and alignment branch.

import type { Backend, Tensor, FloatDType } from '../../runtime/backend/types.ts';
import { createWebGPUBackend } from '../../runtime/backend/webgpu/index.ts';
import { checker, compare, type Log, Pair, type Tol } from './oracle.ts';

const DTYPES: readonly FloatDType[] = ['f32', 'f16', 'bf16'];
const MM: Tol = { atol: 2e-5, rtol: 1e-4 };

export async function checkWebGPUDecodeKernels(gpu: GPU, log: Log, options: { useShaderF16?: boolean } = {}): Promise<{ passed: number; failed: number }> {
  const { counts, report, guard } = checker(log);
  const be = await createWebGPUBackend(gpu, { useShaderF16: options.useShaderF16 });
  const chunked = await createWebGPUBackend(gpu, { useShaderF16: options.useShaderF16, maxBindingBytes: 1024 });
  const check = async (name: string, got: Tensor, ref: Tensor, p: Pair, tol: Tol) => {
    const r = compare(await p.gpu.read(got), await p.ref.read(ref), tol);
    report(name, r.ok, r.detail);
  };
  const fusedOrFail = (ok: boolean | undefined, what: string) => {
    if (!ok) throw new Error(`${what}: the backend did not fuse a decode shape`);
  };

  // ---- linearFused: norm prologue, residual epilogue, SwiGLU epilogue; K aligned or not, one
  // to eight rows, bias or none, chunked weights, and K long enough for split-K (norm only).
  const SHAPES = [
    [1, 37, 29],
    [3, 40, 70],
    [8, 64, 13],
    [2, 600, 37],
  ];
  for (const dtype of DTYPES) {
    for (const [n, K, N] of SHAPES) {
      for (const [target, label] of [
        [be, ''],
        [chunked, ' chunked'],
      ] as const) {
        if (target === chunked && K * 4 > 1024) continue; // rows wider than its 1024-byte bindings
        const tag = `linearFused ${dtype} n=${n} K=${K} N=${N}${label}`;
        await guard(`${tag} norm`, async () => {
          const p = new Pair(target, n * 131 + K + N);
          const x = p.f32([n, K]),
            g = p.weight(dtype, [K]),
            w = p.weight(dtype, [N, K]),
            b = p.weight(dtype, [N]);
          const out = p.zeros([n, N]),
            h = p.zeros([n, K]);
          fusedOrFail(p.gpu.linearFused?.(x[0], w[0], b[0], out[0], { norm: { weight: g[0], eps: 1e-6 } }), tag);
          p.ref.rmsNorm(x[1], g[1], 1e-6, h[1]);
          p.ref.matmul(h[1], w[1], b[1], out[1]);
          await check(`${tag} norm`, out[0], out[1], p, MM);
        });
        await guard(`${tag} residual`, async () => {
          const p = new Pair(target, n * 7 + K + N);
          const x = p.f32([n, K]),
            w = p.weight(dtype, [N, K]),
            acc = p.f32([n, N]),
            tmp = p.zeros([n, N]);
          fusedOrFail(p.gpu.linearFused?.(x[0], w[0], null, acc[0], { accumulate: true }), tag);
          p.ref.matmul(x[1], w[1], null, tmp[1]);
          p.ref.addInPlace(acc[1], tmp[1]);
          await check(`${tag} residual`, acc[0], acc[1], p, MM);
        });
        await guard(`${tag} norm + SwiGLU`, async () => {
          const p = new Pair(target, n * 3 + K * 5 + N);
          const x = p.f32([n, K]),
            g = p.weight(dtype, [K]),
            wg = p.weight(dtype, [N, K]),
            wu = p.weight(dtype, [N, K]);
          const out = p.zeros([n, N]),
            h = p.zeros([n, K]),
            gate = p.zeros([n, N]),
            up = p.zeros([n, N]);
          fusedOrFail(p.gpu.linearFused?.(x[0], wg[0], null, out[0], { norm: { weight: g[0], eps: 1e-5 }, up: wu[0] }), tag);
          p.ref.rmsNorm(x[1], g[1], 1e-5, h[1]);
          p.ref.matmul(h[1], wg[1], null, gate[1]);
          p.ref.matmul(h[1], wu[1], null, up[1]);
          p.ref.glu(gate[1], up[1], out[1], 'silu');
          await check(`${tag} norm + SwiGLU`, out[0], out[1], p, MM);
        });
      }
    }
  }
  await guard('linearFused refuses more than 8 rows', async () => {
    const p = new Pair(be, 5);
    const x = p.f32([9, 16]),
      w = p.weight('bf16', [5, 16]),
      out = p.zeros([9, 5]);
    report(
      'linearFused refuses more than 8 rows',
      p.gpu.linearFused?.(x[0], w[0], null, out[0], { accumulate: true }) === false && (be as Backend & { pendingDispatches: number }).pendingDispatches === 0,
      'false, nothing recorded',
    );
  });

  // ---- qkvFused: q, k, v of the normalised rows in one pass, with and without biases.
  for (const dtype of DTYPES) {
    for (const [n, H, nq, nk, bias] of [
      [1, 37, 24, 8, true],
      [5, 48, 48, 16, false],
      [8, 40, 12, 4, true],
    ] as const) {
      const tag = `qkvFused ${dtype} n=${n} H=${H} q=${nq} kv=${nk}${bias ? ' bias' : ''}`;
      await guard(tag, async () => {
        const p = new Pair(be, n + H + nq + nk);
        const x = p.f32([n, H]),
          g = p.weight(dtype, [H]);
        const w = { q: p.weight(dtype, [nq, H]), k: p.weight(dtype, [nk, H]), v: p.weight(dtype, [nk, H]) };
        const bs = bias ? { q: p.weight(dtype, [nq]), k: p.weight(dtype, [nk]), v: p.weight(dtype, [nk]) } : null;
        const q = p.zeros([n, nq]),
          k = p.zeros([n, nk]),
          v = p.zeros([n, nk]),
          h = p.zeros([n, H]);
        const side = (i: 0 | 1) => ({ q: w.q[i], k: w.k[i], v: w.v[i], qBias: bs ? bs.q[i] : null, kBias: bs ? bs.k[i] : null, vBias: bs ? bs.v[i] : null });
        fusedOrFail(p.gpu.qkvFused?.(x[0], { weight: g[0], eps: 1e-6 }, side(0), q[0], k[0], v[0]), tag);
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
          await check(`${tag} ${name}`, a[0], a[1], p, MM);
      });
    }
  }

  // ---- ropeKvWrite = rope(q), rope(k), kvWrite(k, v): three slots, a row outside the cache.
  for (const [headDim, heads, kvHeads] of [
    [16, 6, 2],
    [64, 3, 1],
  ]) {
    const tag = `ropeKvWrite headDim=${headDim} heads=${heads} kvHeads=${kvHeads}`;
    await guard(tag, async () => {
      const p = new Pair(be, headDim + heads);
      const slots = 3,
        maxT = 40,
        half = headDim / 2;
      const inv = new Float32Array(half).map((_, i) => Math.pow(1e6, (-2 * i) / headDim));
      const rows = [0, 5, 2, 39, 1, 0, 1, 20]; // the last position of slot 2's cache among them
      const n = rows.length / 2;
      const rowT = p.i32([n, 2], rows),
        f = p.f32([half], inv);
      const q = p.f32([n, heads * headDim]),
        k = p.f32([n, kvHeads * headDim]),
        v = p.f32([n, kvHeads * headDim]);
      const kc = p.zeros([slots, kvHeads, maxT, headDim]),
        vc = p.zeros([slots, kvHeads, maxT, headDim]);
      p.gpu.ropeKvWrite!(q[0], k[0], v[0], kc[0], vc[0], rowT[0], f[0], heads);
      p.ref.rope(q[1], rowT[1], f[1], heads, headDim);
      p.ref.rope(k[1], rowT[1], f[1], kvHeads, headDim);
      p.ref.kvWrite(k[1], v[1], kc[1], vc[1], rowT[1]);
      for (const [name, a] of [
        ['q', q],
        ['k', k],
        ['k cache', kc],
        ['v cache', vc],
      ] as const)
        await check(`${tag} ${name}`, a[0], a[1], p, { atol: 2e-5, rtol: 1e-4 });
    });
  }

  // ---- attention decode over a cache longer than one split (256 positions): the combine pass.
  for (const [headDim, heads, kvHeads] of [
    [16, 4, 2],
    [128, 2, 1],
  ]) {
    const tag = `attention decode split headDim=${headDim} heads=${heads} kvHeads=${kvHeads}`;
    await guard(tag, async () => {
      const p = new Pair(be, headDim * 3 + heads);
      const slots = 2,
        maxT = 600,
        n = 3;
      const kc = p.f32([slots, kvHeads, maxT, headDim]),
        vc = p.f32([slots, kvHeads, maxT, headDim]);
      const rowT = p.i32([n, 2], [0, 599, 1, 300, 1, 3]);
      const q = p.f32([n, heads * headDim], p.values(n * heads * headDim, 2)),
        out = p.zeros([n, heads * headDim]);
      p.gpu.attention(q[0], kc[0], vc[0], rowT[0], out[0], heads, 1 / Math.sqrt(headDim));
      p.ref.attention(q[1], kc[1], vc[1], rowT[1], out[1], heads, 1 / Math.sqrt(headDim));
      await check(tag, out[0], out[1], p, { atol: 1e-5, rtol: 1e-4 });
    });
  }

  be.destroy();
  chunked.destroy();
  return counts;
}
