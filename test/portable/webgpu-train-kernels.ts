// Every WebGPU training op (TrainingOps) checked against the ReferenceBackend, portable like
// webgpu-kernels.ts: no node: imports and no test framework, so the same checks run under tap in
// Node (Dawn on SwiftShader: packed-f16 path) and under Deno (wgpu on lavapipe: native f16).
// Random data, odd shapes (n = 1, 3, 17, 37; N/K = 5, 29, 37, 64), weights in every dtype and
// as f32 tensors made by createTensor (LoRA A/B), weights split into row-chunks, and the
// accumulate / padding / multi-slot cases each op has. Dropout masks must match exactly.

import type { AdamWStep } from '../../runtime/backend/types.ts';
import type { Backend, Tensor, FloatDType } from '../../runtime/backend/types.ts';
import { createWebGPUBackend } from '../../runtime/backend/webgpu/index.ts';
import type { GPUTensor } from '../../runtime/backend/webgpu/tensor.ts';
import { encodeFromF32 } from '../../runtime/util/dtype.ts';
import { checker, compare, type Log, Pair, type Tol, type WeightKind } from './oracle.ts';
import type { KernelCheckOptions, KernelCheckResult } from './webgpu-kernels.ts';

const WEIGHT_KINDS: readonly WeightKind[] = ['f32', 'f16', 'bf16', 'tensor'];
const TOL: Tol = { atol: 1e-5, rtol: 1e-4 };
const EXACT: Tol = { atol: 0, rtol: 0 };

export async function checkWebGPUTrainKernels(gpu: GPU, log: Log, options: KernelCheckOptions = {}): Promise<KernelCheckResult> {
  const { counts, report, guard } = checker(log);
  const check = async (name: string, pair: [Tensor, Tensor], p: Pair, tol: Tol) => {
    const r = compare(await p.gpu.read(pair[0]), await p.ref.read(pair[1]), tol);
    report(name, r.ok, r.detail);
  };

  const be = await createWebGPUBackend(gpu, { useShaderF16: options.useShaderF16 });
  // A tiny storage-binding cap: weights are split into row-chunks (matmulNN sums over them).
  const chunked = await createWebGPUBackend(gpu, { useShaderF16: options.useShaderF16, maxBindingBytes: 1024 });

  // ---- fill, axpy
  for (const n of [1, 37, 1001]) {
    await guard(`fill+axpy n=${n}`, async () => {
      const p = new Pair(be, n);
      const x = p.f32([n]),
        y = p.f32([n]),
        z = p.f32([n]);
      p.both((b, t) => {
        b.fill(t(z), -0.375);
        b.axpy(t(x), t(y), -1.7);
        b.axpy(t(z), t(y), 0.5);
      });
      await check(`fill n=${n}`, z, p, TOL);
      await check(`axpy n=${n}`, x, p, TOL);
    });
  }

  // ---- matmulNN: dX = dY·W for every weight kind, both accumulate modes, chunked weights.
  const nnShapes: [number, number, number][] = [
    [1, 37, 5],
    [3, 29, 64],
    [17, 64, 37],
    [37, 5, 29],
    [37, 64, 64],
    [17, 8, 37],
  ];
  for (const kind of WEIGHT_KINDS) {
    for (const [n, N, Kd] of nnShapes) {
      // Chunked: only weights over the 1024-byte cap (f32 rows of 64 give chunks of 4 rows, bf16
      // rows of 37 give chunks of 13, so both the vec4 and the unaligned x path are hit).
      const bytes = N * Kd * (kind === 'f16' || kind === 'bf16' ? 2 : 4);
      for (const target of kind === 'tensor' || bytes <= 1024 ? [be] : [be, chunked]) {
        const tag = `matmulNN ${kind} n=${n} N=${N} K=${Kd}${target === chunked ? ' chunked' : ''}`;
        await guard(tag, async () => {
          const p = new Pair(target, n * 7 + N * 131 + Kd);
          const x = p.f32([n, N]),
            w = p.weight(kind, [N, Kd]);
          const set = p.f32([n, Kd], new Float32Array(n * Kd).fill(NaN)),
            acc = p.f32([n, Kd]);
          if (target === chunked && (w[0] as GPUTensor).chunks.length < 2) throw new Error('weight was not chunked');
          p.both((b, t) => {
            b.training!.matmulNN(t(x), t(w), t(set), false);
            b.training!.matmulNN(t(x), t(w), t(acc), true);
          });
          await check(tag, set, p, TOL);
          await check(`${tag} accumulate`, acc, p, TOL);
        });
      }
    }
  }

  // ---- forward matmul with LoRA A/B as f32 createTensor weights (rows kernel and tiled kernel).
  for (const n of [3, 17]) {
    const tag = `matmul LoRA tensors n=${n} (x·Aᵀ then ·Bᵀ)`;
    await guard(tag, async () => {
      const p = new Pair(be, 900 + n);
      const x = p.f32([n, 37]),
        a = p.f32([8, 37]),
        bm = p.f32([29, 8]);
      const u = p.zeros([n, 8]),
        y = p.zeros([n, 29]);
      p.both((b, t) => {
        b.matmul(t(x), t(a), null, t(u));
        b.matmul(t(u), t(bm), null, t(y));
      });
      await check(`${tag} u`, u, p, TOL);
      await check(`${tag} y`, y, p, TOL);
    });
  }

  // ---- LoRA A/B as views of larger f32 tensors (the first rows of a [16, ·] buffer).
  await guard('matmul/matmulNN on a view as the weight', async () => {
    const p = new Pair(be, 77);
    const x = p.f32([17, 37]),
      dy = p.f32([17, 8]),
      big = p.f32([16, 37]);
    const u = p.zeros([17, 8]),
      dx = p.f32([17, 37], new Float32Array(17 * 37).fill(NaN));
    p.both((b, t) => {
      const a = b.view(t(big), [8, 37]);
      b.matmul(t(x), a, null, t(u));
      b.training!.matmulNN(t(dy), a, t(dx), false);
    });
    await check('matmul on a view as the weight', u, p, TOL);
    await check('matmulNN on a view as the weight', dx, p, TOL);
  });

  // ---- matmulTN: LoRA weight gradients dB = s·dYᵀ·U [N, r], dA = dUᵀ·X [r, in].
  for (const [n, M, N, alpha] of [
    [1, 8, 37, 1],
    [3, 29, 8, 2],
    [17, 8, 64, 0.5],
    [37, 64, 8, 2],
    [37, 5, 29, -1.25],
  ]) {
    for (const accumulate of [false, true]) {
      const tag = `matmulTN n=${n} M=${M} N=${N} alpha=${alpha}${accumulate ? ' accumulate' : ''}`;
      await guard(tag, async () => {
        const p = new Pair(be, n * 3 + M * 17 + N);
        const a = p.f32([n, M]),
          bb = p.f32([n, N]);
        const out = accumulate ? p.f32([M, N]) : p.f32([M, N], new Float32Array(M * N).fill(NaN));
        p.both((b, t) => b.training!.matmulTN(t(a), t(bb), t(out), alpha, accumulate));
        await check(tag, out, p, TOL);
      });
    }
  }

  // ---- rmsNormBackward: rows shorter and longer than the workgroup, every weight kind.
  for (const kind of WEIGHT_KINDS) {
    for (const [n, H] of [
      [1, 37],
      [17, 64],
      [3, 600],
    ]) {
      const tag = `rmsNormBackward ${kind} n=${n} H=${H}`;
      await guard(tag, async () => {
        const p = new Pair(be, n * H + 5);
        const x = p.f32([n, H], p.values(n * H, 3)),
          w = p.weight(kind, [H]),
          dy = p.f32([n, H]),
          dx = p.zeros([n, H]);
        p.both((b, t) => b.training!.rmsNormBackward(t(x), t(w), t(dy), 1e-6, t(dx)));
        await check(tag, dx, p, TOL);
      });
    }
  }

  await guard('swigluBackward', async () => {
    const p = new Pair(be, 31);
    const gt = p.f32([3, 101], p.values(303, 6)),
      up = p.f32([3, 101]),
      dy = p.f32([3, 101]);
    const dg = p.zeros([3, 101]),
      du = p.zeros([3, 101]);
    p.both((b, t) => b.training!.gluBackward(t(gt), t(up), t(dy), t(dg), t(du), 'silu'));
    await check('swigluBackward dgate', dg, p, TOL);
    await check('swigluBackward dup', du, p, TOL);
  });

  // ---- ropeBackward: small and large positions; rope then ropeBackward is the identity.
  for (const headDim of [16, 64]) {
    const tag = `ropeBackward heads=3 headDim=${headDim}`;
    await guard(tag, async () => {
      const p = new Pair(be, headDim + 1);
      const half = headDim / 2;
      const inv = new Float32Array(half).map((_, i) => Math.pow(1e6, (-2 * i) / headDim));
      const rows = p.i32([5, 2], [0, 0, 0, 1, 1, 7, 2, 4999, 0, 31999]);
      const x = p.f32([5, 3 * headDim]),
        f = p.f32([half], inv);
      const orig = await p.ref.read(x[1]);
      p.both((b, t) => b.training!.ropeBackward(t(x), t(rows), t(f), 3, headDim));
      await check(tag, x, p, { atol: 2e-5, rtol: 1e-4 });
      p.gpu.rope(x[0], rows[0], f[0], 3, headDim);
      const back = await p.gpu.read(x[0]);
      p.ref.rope(x[1], rows[1], f[1], 3, headDim);
      const r = compare(back, orig, { atol: 2e-5, rtol: 1e-4 });
      report(`${tag} inverts rope`, r.ok, r.detail);
    });
  }

  // ---- attentionBackward: one call over two sequences (slots 0 and 2, interleaved rows), GQA
  // ratios 1 and 3, headDim 16 and 64; a 70-row sequence crosses the 64-wide blocks.
  const attnCases: { headDim: number; kvHeads: number; ratio: number; lens: [number, number][] }[] = [
    {
      headDim: 16,
      kvHeads: 2,
      ratio: 3,
      lens: [
        [0, 7],
        [2, 5],
      ],
    },
    {
      headDim: 64,
      kvHeads: 2,
      ratio: 1,
      lens: [
        [0, 7],
        [2, 5],
      ],
    },
    {
      headDim: 64,
      kvHeads: 1,
      ratio: 3,
      lens: [
        [2, 5],
        [0, 7],
      ],
    },
    {
      headDim: 16,
      kvHeads: 2,
      ratio: 1,
      lens: [
        [1, 70],
        [0, 3],
      ],
    },
  ];
  for (const c of attnCases) {
    const heads = c.kvHeads * c.ratio,
      d = c.headDim,
      slots = 3,
      maxT = 80;
    const tag = `attentionBackward headDim=${d} heads=${heads} kvHeads=${c.kvHeads} lens=${c.lens.map(([s, l]) => `${s}:${l}`).join(',')}`;
    await guard(tag, async () => {
      const p = new Pair(be, d * 10 + c.ratio + c.lens[0][1]);
      // Rows of the two sequences interleaved, so a row's neighbours belong to the other slot.
      const rowList: number[] = [];
      const [[s0, l0], [s1, l1]] = c.lens;
      for (let t = 0; t < Math.max(l0, l1); t++) {
        if (t < l0) rowList.push(s0, t);
        if (t < l1) rowList.push(s1, t);
      }
      const n = rowList.length / 2;
      const rows = p.i32([n, 2], rowList);
      const kc = p.zeros([slots, c.kvHeads, maxT, d]),
        vc = p.zeros([slots, c.kvHeads, maxT, d]);
      // Stale cache contents past each sequence must not leak into the gradients.
      p.both((b, t) => {
        b.fill(t(kc), 0.25);
        b.fill(t(vc), -0.5);
      });
      const k = p.f32([n, c.kvHeads * d]),
        v = p.f32([n, c.kvHeads * d]),
        q = p.f32([n, heads * d], p.values(n * heads * d, 2));
      const out = p.zeros([n, heads * d]),
        dOut = p.f32([n, heads * d]);
      const dq = p.f32([n, heads * d]),
        dk = p.f32([n, c.kvHeads * d]),
        dv = p.f32([n, c.kvHeads * d]);
      const scale = 1 / Math.sqrt(d);
      p.both((b, t) => {
        b.kvWrite(t(k), t(v), t(kc), t(vc), t(rows));
        b.attention(t(q), t(kc), t(vc), t(rows), t(out), heads, scale);
        b.training!.attentionBackward(t(q), t(kc), t(vc), t(rows), t(out), t(dOut), t(dq), t(dk), t(dv), heads, scale);
      });
      await check(`${tag} dq`, dq, p, TOL);
      await check(`${tag} dk`, dk, p, TOL);
      await check(`${tag} dv`, dv, p, TOL);
    });
  }

  await guard('scatterAddRows', async () => {
    const p = new Pair(be, 41);
    const x = p.f32([4, 37]),
      idx = p.i32([4], [6, 0, 3, 2]),
      out = p.f32([7, 37]);
    p.both((b, t) => b.training!.scatterAddRows(t(x), t(idx), t(out)));
    await check('scatterAddRows', out, p, TOL);
  });

  // ---- softLabelLoss: one-hot SFT labels (K = 1) and soft labels padded with (-1, 0) (K = 6).
  for (const [m, V, Kl] of [
    [3, 1001, 1],
    [5, 1001, 6],
    [1, 151936, 6],
  ]) {
    const tag = `softLabelLoss m=${m} V=${V} K=${Kl}`;
    await guard(tag, async () => {
      const p = new Pair(be, m * V + Kl);
      const ids: number[] = [],
        ws: number[] = [];
      for (let r = 0; r < m; r++) {
        const used = Kl === 1 ? 1 : 1 + (r % Kl); // row r has r % K + 1 labels, the rest padding
        const raw = Array.from({ length: used }, () => 0.05 + p.rand());
        const total = raw.reduce((a, b) => a + b, 0);
        for (let k = 0; k < Kl; k++) {
          ids.push(k < used ? Math.floor((p.rand() * V) / Kl) * Kl + k : -1); // distinct within a row
          ws.push(k < used ? (Kl === 1 ? 1 : raw[k] / total) : 0);
        }
      }
      const logits = p.f32([m, V], p.values(m * V, 5)),
        idT = p.i32([m, Kl], ids),
        wT = p.f32([m, Kl], Float32Array.from(ws));
      const loss = p.f32([m], new Float32Array(m).fill(NaN)),
        dl = p.f32([m, V], new Float32Array(m * V).fill(NaN));
      p.both((b, t) => b.training!.softLabelLoss(t(logits), t(idT), t(wT), 1 / 3, t(loss), t(dl)));
      await check(`${tag} loss`, loss, p, TOL);
      await check(`${tag} dLogits`, dl, p, TOL);
    });
  }

  // ---- dropout: the mask equals the reference's bit for bit; the backward (same seed/stream on
  // the gradient) regenerates it; another stream gives another mask.
  for (const [size, prob, seed, stream] of [
    [1001, 0.1, 1234, 7],
    [3 * 37, 0.5, 0xfffffffe, 0x80000001],
    [1, 0.05, 0, 0],
    [4096, 0, 99, 3],
  ]) {
    const tag = `dropout n=${size} p=${prob} seed=${seed} stream=${stream}`;
    await guard(tag, async () => {
      const p = new Pair(be, size + seed);
      const x = p.f32(
          [size],
          p.values(size).map((v) => v + Math.sign(v) * 0.01 || 0.5),
        ),
        out = p.zeros([size]);
      const gy = p.f32(
          [size],
          p.values(size).map((v) => v + Math.sign(v) * 0.01 || 0.5),
        ),
        gx = p.zeros([size]);
      p.both((b, t) => {
        b.training!.dropout(t(x), t(out), prob, seed, stream);
        b.training!.dropout(t(gy), t(gx), prob, seed, stream);
      });
      const [go, ro, gg] = [await p.gpu.read(out[0]), await p.ref.read(out[1]), await p.gpu.read(gx[0])];
      const kept = (a: Float32Array | Int32Array) => Array.from(a, (v) => (v === 0 ? 0 : 1));
      const gm = kept(go),
        rm = kept(ro),
        bm = kept(gg);
      const diff = gm.findIndex((v, i) => v !== rm[i]);
      const back = gm.findIndex((v, i) => v !== bm[i]);
      const nKept = gm.reduce((a: number, b) => a + b, 0);
      report(
        `${tag} mask`,
        diff < 0 && back < 0,
        diff < 0 && back < 0 ? `${nKept}/${size} kept, forward and backward masks identical to the reference` : `mask differs at ${diff >= 0 ? diff : back}`,
      );
      const r = compare(go, ro, { atol: 0, rtol: 1e-6 });
      report(`${tag} values`, r.ok, r.detail);
      await check(`${tag} backward values`, gx, p, { atol: 0, rtol: 1e-6 });
    });
  }
  await guard('dropout streams differ', async () => {
    const x = be.createTensor('f32', [512], new Float32Array(512).fill(1)),
      a = be.createTensor('f32', [512]),
      b2 = be.createTensor('f32', [512]);
    be.training!.dropout(x, a, 0.5, 42, 1);
    be.training!.dropout(x, b2, 0.5, 42, 2);
    const [ga, gb] = [await be.read(a), await be.read(b2)];
    const same = ga.every((v, i) => v === gb[i]);
    report('dropout streams differ', !same, same ? 'streams 1 and 2 gave the same mask' : 'streams 1 and 2 give different masks');
  });

  // ---- sumSquares accumulates across calls.
  await guard('sumSquares', async () => {
    const p = new Pair(be, 51);
    const xs = [p.f32([1]), p.f32([37]), p.f32([3, 1001]), p.f32([29, 8])];
    const out = p.f32([1], new Float32Array([0.5]));
    p.both((b, t) => {
      for (const x of xs) b.sumSquares(t(x), t(out));
    });
    await check('sumSquares over 4 calls', out, p, TOL);
  });

  // ---- adamw: three steps, gradScale ≠ 1, with and without weight decay.
  for (const weightDecay of [0, 0.01]) {
    for (const size of [37, 1001]) {
      const tag = `adamw n=${size} weightDecay=${weightDecay}`;
      await guard(tag, async () => {
        const p = new Pair(be, size * 3 + weightDecay * 1000);
        const param = p.f32([size]),
          m = p.zeros([size]),
          v = p.zeros([size]);
        for (let step = 1; step <= 3; step++) {
          const grad = p.f32([size], p.values(size, 0.1 * step));
          const o: AdamWStep = { lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay, step, gradScale: 0.6 };
          p.both((b, t) => b.training!.adamw(t(param), t(grad), t(m), t(v), o));
        }
        await check(`${tag} param after 3 steps`, param, p, TOL);
        await check(`${tag} m`, m, p, TOL);
        await check(`${tag} v`, v, p, TOL);
      });
    }
  }

  be.destroy();
  chunked.destroy();
  return { ...counts, device: be.info.device, features: be.info.features };
}
