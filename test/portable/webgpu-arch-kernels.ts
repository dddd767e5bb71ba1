// The WebGPU ops the architecture specs need (issue 26: Qwen3, Gemma 3) against the
// ReferenceBackend: scaled embeddings, per-head RMSNorm and its backward (q_norm / k_norm over a
// [n·heads, headDim] view), gelu_tanh GLU forward, backward and fused decode epilogue, sliding-window
// attention on the general, decode and split-decode paths and its backward, and headDim 256
// (Gemma 3). Framework-free like webgpu-kernels.ts; shapes are small (SwiftShader is slow) and odd.

import type { Tensor, FloatDType } from '../../runtime/backend/types.ts';
import { createWebGPUBackend } from '../../runtime/backend/webgpu/index.ts';
import { checker, compare, type Log, Pair, type Tol } from './oracle.ts';

const DTYPES: readonly FloatDType[] = ['f32', 'f16', 'bf16'];
const TOL: Tol = { atol: 1e-5, rtol: 1e-4 };
/** Gates where a tanh or exp could go wrong: 0, tiny, the tails up to where a³ overflows f32. */
const SPECIAL_GATES = [0, -0, 1e-7, -1e-7, 1e-3, -1e-3, 0.5, -0.5, 3, -3, 5, -5, 10, -10, 30, -30, 100, -100, 1e4, -1e4, 1e20, -1e20, 3e38, -3e38];

export async function checkWebGPUArchKernels(gpu: GPU, log: Log, options: { useShaderF16?: boolean } = {}): Promise<{ passed: number; failed: number }> {
  const { counts, report, guard } = checker(log);
  const be = await createWebGPUBackend(gpu, { useShaderF16: options.useShaderF16 });
  const chunked = await createWebGPUBackend(gpu, { useShaderF16: options.useShaderF16, maxBindingBytes: 1024 });
  const check = async (name: string, pair: [Tensor, Tensor], p: Pair, tol: Tol) => {
    const r = compare(await p.gpu.read(pair[0]), await p.ref.read(pair[1]), tol);
    report(name, r.ok, r.detail);
  };

  // ---- embedding × scale (Gemma: √hidden): one f32 multiply, so the reference's bits exactly.
  for (const dtype of DTYPES) {
    for (const [target, label] of [
      [be, ''],
      [chunked, ' chunked'],
    ] as const) {
      const tag = `embedding ${dtype} × √2304${label}`;
      await guard(tag, async () => {
        const p = new Pair(target, 7);
        const table = p.weight(dtype, [40, 37]),
          ids = p.i32([5], [3, 39, 0, 3, 20]),
          out = p.zeros([5, 37]);
        p.both((b, t) => b.embedding(t(ids), t(table), t(out), Math.sqrt(2304)));
        await check(tag, out, p, { atol: 0, rtol: 0 });
      });
    }
  }

  // ---- per-head RMSNorm (q_norm / k_norm): 4 rows (the decode kernel) and 15 (the general one).
  for (const hd of [16, 24, 32, 64, 128, 256]) {
    for (const [n, heads] of [
      [1, 4],
      [3, 5],
    ]) {
      const tag = `rmsNorm per head headDim=${hd} rows=${n * heads}`;
      await guard(tag, async () => {
        const p = new Pair(be, hd + n);
        const x = p.f32([n, heads * hd], p.values(n * heads * hd, 3)),
          w = p.weight('bf16', [hd]),
          out = p.zeros([n, heads * hd]);
        const dy = p.f32([n, heads * hd]),
          dx = p.zeros([n, heads * hd]);
        p.both((b, t) => {
          const rowsOf = (v: [Tensor, Tensor]) => b.view(t(v), [n * heads, hd]);
          b.rmsNorm(rowsOf(x), t(w), 1e-6, rowsOf(out));
          b.training!.rmsNormBackward(rowsOf(x), t(w), rowsOf(dy), 1e-6, rowsOf(dx));
        });
        await check(tag, out, p, TOL);
        await check(`${tag} backward`, dx, p, TOL);
      });
    }
  }

  // ---- gelu_tanh GLU, forward and backward: random gates and the special values.
  for (const I of [101, 3]) {
    const tag = `glu gelu_tanh [3, ${I}]`;
    await guard(tag, async () => {
      const p = new Pair(be, I);
      const g = p.values(3 * I, 8);
      if (I > SPECIAL_GATES.length) g.set(SPECIAL_GATES, 4);
      const gt = p.f32([3, I], g),
        up = p.f32([3, I]),
        dy = p.f32([3, I]);
      const out = p.zeros([3, I]),
        dg = p.zeros([3, I]),
        du = p.zeros([3, I]);
      p.both((b, t) => {
        b.glu(t(gt), t(up), t(out), 'gelu_tanh');
        b.training!.gluBackward(t(gt), t(up), t(dy), t(dg), t(du), 'gelu_tanh');
      });
      await check(tag, out, p, TOL);
      await check(`${tag} backward dgate`, dg, p, TOL);
      await check(`${tag} backward dup`, du, p, TOL);
    });
  }

  // ---- the fused decode GeGLU: norm, gate and up projections and gelu_tanh in one pass.
  for (const [n, K, N] of [
    [1, 37, 29],
    [3, 40, 70],
  ]) {
    const tag = `linearFused bf16 n=${n} K=${K} N=${N} norm + GeGLU`;
    await guard(tag, async () => {
      const p = new Pair(be, n + K + N);
      const x = p.f32([n, K]),
        g = p.weight('bf16', [K]),
        wg = p.weight('bf16', [N, K], 3),
        wu = p.weight('bf16', [N, K]);
      const out = p.zeros([n, N]),
        h = p.zeros([n, K]),
        gate = p.zeros([n, N]),
        up = p.zeros([n, N]);
      const fused = p.gpu.linearFused?.(x[0], wg[0], null, out[0], { norm: { weight: g[0], eps: 1e-6 }, up: wu[0], activation: 'gelu_tanh' });
      if (!fused) throw new Error(`${tag}: the backend did not fuse a decode shape`);
      p.ref.rmsNorm(x[1], g[1], 1e-6, h[1]);
      p.ref.matmul(h[1], wg[1], null, gate[1]);
      p.ref.matmul(h[1], wu[1], null, up[1]);
      p.ref.glu(gate[1], up[1], out[1], 'gelu_tanh');
      await check(tag, out, p, { atol: 2e-5, rtol: 1e-4 });
    });
  }

  // ---- attention with a sliding window (and headDim 256): prefill of 70 rows (the general
  // kernel, more than one 64-position block), a decode step of 3 rows (one split), and a decode
  // step past position 256 (several splits where the window, 270 or 400, spans more than 256
  // positions; splits start at the window's first position). Windows 1, shorter than the
  // positions, and longer than all of them.
  for (const [hd, kvHeads, ratio] of [
    [16, 2, 3],
    [256, 1, 2],
  ]) {
    for (const window of [1, 5, 40, 270, 400]) {
      const heads = kvHeads * ratio,
        slots = 3,
        maxT = 300,
        scale = 1 / Math.sqrt(hd);
      const tag = `attention window=${window} headDim=${hd} heads=${heads}/${kvHeads}`;
      await guard(tag, async () => {
        const p = new Pair(be, hd + window);
        const kc = p.f32([slots, kvHeads, maxT, hd], p.values(slots * kvHeads * maxT * hd)),
          vc = p.f32([slots, kvHeads, maxT, hd], p.values(slots * kvHeads * maxT * hd));
        const step = async (rowList: number[], label: string) => {
          const n = rowList.length / 2,
            rows = p.i32([n, 2], rowList);
          const q = p.f32([n, heads * hd], p.values(n * heads * hd, 2)),
            out = p.zeros([n, heads * hd]);
          p.both((b, t) => b.attention(t(q), t(kc), t(vc), t(rows), t(out), heads, scale, window));
          await check(`${tag} ${label}`, out, p, TOL);
        };
        await step(
          Array.from({ length: 140 }, (_, i) => (i & 1 ? i >> 1 : 0)),
          'prefill 70 rows',
        );
        await step([0, 70, 2, 5, 1, 0], 'decode 3 rows');
        await step([1, 299, 2, 260], 'decode past 256 (split)');
      });
    }
  }

  // ---- attentionBackward with a window: two interleaved sequences (slots 0 and 2) of 70 and 9
  // rows, headDim 16 (GQA 3) and 256.
  for (const [hd, kvHeads, ratio, window] of [
    [16, 2, 3, 1],
    [16, 2, 3, 6],
    [256, 1, 2, 5],
    [256, 1, 2, 0],
  ]) {
    const heads = kvHeads * ratio,
      slots = 3,
      maxT = 80,
      d = hd,
      scale = 1 / Math.sqrt(d);
    const tag = `attentionBackward window=${window} headDim=${hd} heads=${heads}/${kvHeads}`;
    await guard(tag, async () => {
      const p = new Pair(be, hd * 3 + window);
      const rowList: number[] = [];
      for (let t = 0; t < 70; t++) {
        rowList.push(0, t);
        if (t < 9) rowList.push(2, t);
      }
      const n = rowList.length / 2,
        rows = p.i32([n, 2], rowList);
      const kc = p.zeros([slots, kvHeads, maxT, d]),
        vc = p.zeros([slots, kvHeads, maxT, d]);
      const k = p.f32([n, kvHeads * d]),
        v = p.f32([n, kvHeads * d]),
        q = p.f32([n, heads * d], p.values(n * heads * d, 2));
      const out = p.zeros([n, heads * d]),
        dOut = p.f32([n, heads * d]);
      const dq = p.zeros([n, heads * d]),
        dk = p.zeros([n, kvHeads * d]),
        dv = p.zeros([n, kvHeads * d]);
      p.both((b, t) => {
        b.kvWrite(t(k), t(v), t(kc), t(vc), t(rows));
        b.attention(t(q), t(kc), t(vc), t(rows), t(out), heads, scale, window);
        b.training!.attentionBackward(t(q), t(kc), t(vc), t(rows), t(out), t(dOut), t(dq), t(dk), t(dv), heads, scale, window);
      });
      await check(`${tag} out`, out, p, TOL);
      await check(`${tag} dq`, dq, p, TOL);
      await check(`${tag} dk`, dk, p, TOL);
      await check(`${tag} dv`, dv, p, TOL);
    });
  }

  be.destroy();
  chunked.destroy();
  return counts;
}
