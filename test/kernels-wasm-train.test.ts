// The Wasm backend's training ops (runtime/backend/training.ts) against the plain-TypeScript
// reference, on random data and odd shapes. Tolerance: |got − ref| ≤ atol + rtol·|ref| (the
// kernels accumulate in f32 in another order than the reference, which sums in f64); dropout
// masks and values must match exactly. The worst error of each op is printed at the end.
import t, { type Test } from 'tap';
import { ReferenceBackend } from '../runtime/backend/reference.ts';
import { dropoutHash } from '../runtime/backend/training.ts';
import type { AdamWStep } from '../runtime/backend/types.ts';
import type { Tensor, FloatDType } from '../runtime/backend/types.ts';
import { createWasmBackend } from '../runtime/backend/wasm/index.ts';
import { encodeFromF32 } from '../runtime/util/dtype.ts';
import { rng, uniform } from './portable/random.ts';

const ATOL = 1e-5,
  RTOL = 1e-4;
const DTYPES: FloatDType[] = ['f32', 'f16', 'bf16'];

const rand = rng(0x2545f491);
const randn = (n: number, scale = 1): Float32Array => uniform(rand, n, scale);

const wasm = await createWasmBackend();
const ref = new ReferenceBackend();

function both(dtype: 'f32' | 'i32', shape: number[], data?: Float32Array | Int32Array): [Tensor, Tensor] {
  return [wasm.createTensor(dtype, shape, data), ref.createTensor(dtype, shape, data)];
}
/** A weight in a file dtype, or 'tensor': an f32 tensor made by createTensor (LoRA A/B). */
function weights(kind: FloatDType | 'tensor', shape: number[], scale = 1): [Tensor, Tensor] {
  const data = randn(
    shape.reduce((a, b) => a * b, 1),
    scale,
  );
  if (kind === 'tensor') return both('f32', shape, data);
  const bytes = encodeFromF32(kind, data);
  return [wasm.createWeight(kind, shape, bytes), ref.createWeight(kind, shape, bytes)];
}

/** Worst |Δ| and worst |Δ| / (atol + rtol·|ref|) per op. */
const worst = new Map<string, { abs: number; ratio: number }>();

async function close(tt: Test, op: string, got: Tensor, want: Tensor, what: string, atol = ATOL, rtol = RTOL): Promise<void> {
  const g = await wasm.read(got),
    w = await ref.read(want);
  tt.equal(g.length, w.length, `${what}: length`);
  const rec = worst.get(op) ?? { abs: 0, ratio: 0 };
  let bad = -1;
  for (let i = 0; i < w.length; i++) {
    const d = Math.abs(g[i] - w[i]),
      lim = atol + rtol * Math.abs(w[i]);
    if (!(d <= lim)) {
      if (bad < 0) bad = i;
      continue;
    }
    rec.abs = Math.max(rec.abs, d);
    rec.ratio = Math.max(rec.ratio, lim > 0 ? d / lim : 0);
  }
  worst.set(op, rec);
  tt.ok(bad < 0, bad < 0 ? what : `${what}: element ${bad} got ${g[bad]}, want ${w[bad]}`);
}

t.test('fill and axpy', async (tt) => {
  for (const n of [1, 3, 17, 1001]) {
    const [xw, xr] = both('f32', [n], randn(n));
    wasm.fill(xw, 0.3);
    ref.fill(xr, 0.3);
    await close(tt, 'fill', xw, xr, `fill n=${n}`, 0, 0);
    const y = randn(n, 3);
    const [yw, yr] = both('f32', [n], y);
    wasm.axpy(xw, yw, -0.7);
    ref.axpy(xr, yr, -0.7);
    await close(tt, 'axpy', xw, xr, `axpy n=${n}`);
  }
  tt.throws(() => wasm.axpy(wasm.createTensor('f32', [3]), wasm.createTensor('f32', [4]), 1), RangeError, 'axpy sizes differ');
});

t.test('matmulNN: f32, f16, bf16 weights and f32 tensors, accumulate or not', async (tt) => {
  for (const kind of [...DTYPES, 'tensor'] as const) {
    for (const n of [1, 3, 17, 37]) {
      for (const N of [5, 29, 37, 64]) {
        for (const K of [5, 29, 37, 64]) {
          for (const accumulate of [false, true]) {
            const [xw, xr] = both('f32', [n, N], randn(n * N));
            const [ww, wr] = weights(kind, [N, K]);
            const [ow, or] = both('f32', [n, K], randn(n * K)); // old contents: kept or overwritten
            wasm.training!.matmulNN(xw, ww, ow, accumulate);
            ref.training!.matmulNN(xr, wr, or, accumulate);
            await close(tt, 'matmulNN', ow, or, `matmulNN ${kind} [${n},${N}]·[${N},${K}] accumulate=${accumulate}`);
            for (const z of [xw, ww, ow]) wasm.dispose(z);
          }
        }
      }
    }
  }
  // N past one 256-row packed panel of w (a partial last panel), strips of 16 and partial strips
  for (const kind of ['bf16', 'f16', 'tensor'] as const) {
    for (const [n, N, K] of [
      [5, 600, 37],
      [2, 257, 16],
      [3, 512, 33],
    ]) {
      for (const accumulate of [false, true]) {
        const [xw, xr] = both('f32', [n, N], randn(n * N));
        const [ww, wr] = weights(kind, [N, K]);
        const [ow, or] = both('f32', [n, K], randn(n * K));
        wasm.training!.matmulNN(xw, ww, ow, accumulate);
        ref.training!.matmulNN(xr, wr, or, accumulate);
        await close(tt, 'matmulNN', ow, or, `matmulNN ${kind} [${n},${N}]·[${N},${K}] accumulate=${accumulate}`);
        for (const z of [xw, ww, ow]) wasm.dispose(z);
      }
    }
  }
  const x = wasm.createTensor('f32', [3, 8]);
  tt.throws(() => wasm.training!.matmulNN(x, wasm.createTensor('f32', [7, 4]), wasm.createTensor('f32', [3, 4]), false), RangeError, 'w rows ≠ x columns');
  tt.throws(() => wasm.training!.matmulNN(x, wasm.createTensor('f32', [8, 4]), wasm.createTensor('f32', [3, 5]), false), RangeError, 'out columns ≠ w columns');
  tt.throws(() => wasm.training!.matmulNN(x, wasm.createTensor('f32', [8, 8]), x, false), RangeError, 'out aliasing x');
});

t.test('forward matmul takes an f32 createTensor tensor as its weight (LoRA A/B)', async (tt) => {
  for (const [n, K, N] of [
    [3, 37, 8],
    [17, 8, 29],
    [1, 64, 5],
  ]) {
    const [xw, xr] = both('f32', [n, K], randn(n * K));
    const [ww, wr] = weights('tensor', [N, K]);
    const [ow, or] = both('f32', [n, N]);
    wasm.matmul(xw, ww, null, ow);
    ref.matmul(xr, wr, null, or);
    await close(tt, 'matmul (f32 tensor weight)', ow, or, `matmul [${n},${K}]·[${N},${K}]ᵀ with a createTensor weight`);
  }
});

t.test('matmulTN (LoRA gradients)', async (tt) => {
  for (const n of [1, 3, 17, 37]) {
    for (const [M, N] of [
      [5, 8],
      [8, 29],
      [37, 8],
      [64, 8],
      [8, 64],
      [29, 37],
      [16, 5],
    ]) {
      for (const accumulate of [false, true]) {
        const [aw, ar] = both('f32', [n, M], randn(n * M));
        const [bw, br] = both('f32', [n, N], randn(n * N));
        const [ow, or] = both('f32', [M, N], randn(M * N));
        wasm.training!.matmulTN(aw, bw, ow, 0.375, accumulate);
        ref.training!.matmulTN(ar, br, or, 0.375, accumulate);
        await close(tt, 'matmulTN', ow, or, `matmulTN [${n},${M}]ᵀ·[${n},${N}] accumulate=${accumulate}`);
      }
    }
  }
  tt.throws(
    () => wasm.training!.matmulTN(wasm.createTensor('f32', [3, 4]), wasm.createTensor('f32', [2, 4]), wasm.createTensor('f32', [4, 4]), 1, false),
    RangeError,
    'row counts differ',
  );
});

t.test('rmsNormBackward, all weight dtypes (H 16…256: the per-head q/k norms of Qwen3 and Gemma 3 too)', async (tt) => {
  for (const kind of [...DTYPES, 'tensor'] as const) {
    for (const H of [5, 37, 64, 16, 24, 32, 128, 256]) {
      for (const n of [1, 3, 17]) {
        const [xw, xr] = both('f32', [n, H], randn(n * H, 3));
        const [gw, gr] = weights(kind, [H]);
        const [dyw, dyr] = both('f32', [n, H], randn(n * H));
        const [dxw, dxr] = both('f32', [n, H]);
        wasm.training!.rmsNormBackward(xw, gw, dyw, 1e-6, dxw);
        ref.training!.rmsNormBackward(xr, gr, dyr, 1e-6, dxr);
        await close(tt, 'rmsNormBackward', dxw, dxr, `rmsNormBackward ${kind} n=${n} H=${H}`);
      }
    }
  }
});

t.test('gluBackward, silu and gelu_tanh (with its tails and special values)', async (tt) => {
  const special = [0, -0, 1e-7, -1e-7, 1e-3, -1e-3, 0.5, -0.5, 1, -1, 3, -3, 5, -5, 10, -10, 30, -30, 100, -100, 1e4, -1e4, 1e20, -1e20, 3e38, -3e38];
  for (const act of ['silu', 'gelu_tanh'] as const) {
    const op = act === 'silu' ? 'swigluBackward' : 'gegluBackward';
    for (const n of [1, 3, 17]) {
      const I = 1001,
        g = randn(n * I, 8);
      if (act === 'gelu_tanh') g.set(special, 7);
      const [gw, gr] = both('f32', [n, I], g);
      const [uw, ur] = both('f32', [n, I], randn(n * I));
      const [dw, dr] = both('f32', [n, I], randn(n * I));
      const [dgw, dgr] = both('f32', [n, I]),
        [duw, dur] = both('f32', [n, I]);
      wasm.training!.gluBackward(gw, uw, dw, dgw, duw, act);
      ref.training!.gluBackward(gr, ur, dr, dgr, dur, act);
      await close(tt, op, dgw, dgr, `gluBackward ${act} dgate n=${n}`);
      await close(tt, op, duw, dur, `gluBackward ${act} dup n=${n}`);
    }
  }
});

t.test('ropeBackward, and rope then ropeBackward is the identity', async (tt) => {
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
    const x = randn(n * heads * headDim);
    const [xw, xr] = both('f32', [n, heads * headDim], x);
    const [rw, rr] = both('i32', [n, 2], rows);
    const [fw, fr] = both('f32', [half], inv);
    wasm.training!.ropeBackward(xw, rw, fw, heads, headDim);
    ref.training!.ropeBackward(xr, rr, fr, heads, headDim);
    await close(tt, 'ropeBackward', xw, xr, `ropeBackward heads=${heads} headDim=${headDim}`);
    wasm.rope(xw, rw, fw, heads, headDim);
    const back = await wasm.read(xw);
    tt.ok(
      back.every((v, i) => Math.abs(v - x[i]) <= 1e-5 + 1e-5 * Math.abs(x[i])),
      `rope ∘ ropeBackward = id, heads=${heads} headDim=${headDim}`,
    );
  }
});

t.test('attentionBackward: two sequences in one call, GQA 1 and 3, headDim 16 and 64, sliding windows', async (tt) => {
  // window 0 (full causal), 1, 3 (shorter than both sequences) and 6 (between them), 40 (≥ every position)
  for (const [heads, kvHeads, window] of [
    [2, 2, 0],
    [6, 2, 0],
    [2, 2, 1],
    [6, 2, 3],
    [3, 1, 6],
    [6, 2, 40],
  ]) {
    for (const d of window ? [16, 12] : [16, 64, 12]) {
      const slots = 3,
        maxT = 24,
        scale = 1 / Math.sqrt(d);
      // slot 2 holds 7 tokens, slot 0 holds 5, interleaved so rows and positions do not line up
      const rowsData: number[] = [];
      for (let p = 0; p < 7; p++) {
        rowsData.push(2, p);
        if (p < 5) rowsData.push(0, p);
      }
      const n = rowsData.length / 2;
      const [rw, rr] = both('i32', [n, 2], new Int32Array(rowsData));
      const [kcw, kcr] = both('f32', [slots, kvHeads, maxT, d]),
        [vcw, vcr] = both('f32', [slots, kvHeads, maxT, d]);
      const [kw, kr] = both('f32', [n, kvHeads * d], randn(n * kvHeads * d, 2));
      const [vw, vr] = both('f32', [n, kvHeads * d], randn(n * kvHeads * d));
      wasm.kvWrite(kw, vw, kcw, vcw, rw);
      ref.kvWrite(kr, vr, kcr, vcr, rr);
      const [qw, qr] = both('f32', [n, heads * d], randn(n * heads * d, 2));
      const [ow, or] = both('f32', [n, heads * d]);
      wasm.attention(qw, kcw, vcw, rw, ow, heads, scale, window);
      ref.attention(qr, kcr, vcr, rr, or, heads, scale, window);
      const [gow, gor] = both('f32', [n, heads * d], randn(n * heads * d));
      const [dqw, dqr] = both('f32', [n, heads * d]);
      const [dkw, dkr] = both('f32', [n, kvHeads * d], randn(n * kvHeads * d)); // overwritten, not accumulated
      const [dvw, dvr] = both('f32', [n, kvHeads * d], randn(n * kvHeads * d));
      wasm.training!.attentionBackward(qw, kcw, vcw, rw, ow, gow, dqw, dkw, dvw, heads, scale, window);
      ref.training!.attentionBackward(qr, kcr, vcr, rr, or, gor, dqr, dkr, dvr, heads, scale, window);
      const label = `heads=${heads}/${kvHeads} d=${d} window=${window}`;
      await close(tt, 'attentionBackward', ow, or, `attention ${label}`);
      await close(tt, 'attentionBackward', dqw, dqr, `attentionBackward dq ${label}`);
      await close(tt, 'attentionBackward', dkw, dkr, `attentionBackward dk ${label}`);
      await close(tt, 'attentionBackward', dvw, dvr, `attentionBackward dv ${label}`);
    }
  }
  const kc = wasm.createTensor('f32', [1, 1, 4, 4]);
  const q = wasm.createTensor('f32', [2, 4]),
    kv = wasm.createTensor('f32', [2, 4]);
  const dup = wasm.createTensor('i32', [2, 2], new Int32Array([0, 1, 0, 1]));
  tt.throws(() => wasm.training!.attentionBackward(q, kc, kc, dup, q, q, kv, kv, kv, 1, 0.5), RangeError, 'two rows writing one cache position');
});

t.test('scatterAddRows', async (tt) => {
  for (const H of [1, 5, 37, 64]) {
    const [xw, xr] = both('f32', [4, H], randn(4 * H));
    const [iw, ir] = both('i32', [4], new Int32Array([2, 0, 5, 3]));
    const [ow, or] = both('f32', [6, H], randn(6 * H));
    wasm.training!.scatterAddRows(xw, iw, ow);
    ref.training!.scatterAddRows(xr, ir, or);
    await close(tt, 'scatterAddRows', ow, or, `scatterAddRows H=${H}`);
  }
  const bad = wasm.createTensor('i32', [1], new Int32Array([6]));
  tt.throws(() => wasm.training!.scatterAddRows(wasm.createTensor('f32', [1, 4]), bad, wasm.createTensor('f32', [6, 4])), RangeError, 'index out of range');
});

t.test('softLabelLoss: one-hot (K = 1) and soft labels with padding (K = 6), V = 1001', async (tt) => {
  const V = 1001,
    m = 5;
  for (const K of [1, 6]) {
    for (const sd of [1, 10]) {
      const ids = new Int32Array(m * K).fill(-1),
        w = new Float32Array(m * K);
      for (let r = 0; r < m; r++) {
        const used = K === 1 ? 1 : [6, 3, 1, 6, 2][r]; // rows padded with (-1, 0)
        const raw = Array.from({ length: used }, () => rand() + 0.05),
          sum = raw.reduce((a, b) => a + b, 0);
        for (let k = 0; k < used; k++) {
          ids[r * K + k] = Math.floor(rand() * V);
          w[r * K + k] = raw[k] / sum;
        }
      }
      ids[0] = V - 1;
      ids[K * 2] = 0; // first and last vocabulary entries
      const [zw, zr] = both('f32', [m, V], randn(m * V, sd));
      const [iw, ir] = both('i32', [m, K], ids),
        [lw, lr] = both('f32', [m, K], w);
      const [sw, sr] = both('f32', [m]),
        [gw, gr] = both('f32', [m, V]);
      wasm.training!.softLabelLoss(zw, iw, lw, 1 / m, sw, gw);
      ref.training!.softLabelLoss(zr, ir, lr, 1 / m, sr, gr);
      await close(tt, 'softLabelLoss (loss)', sw, sr, `softLabelLoss loss K=${K} sd=${sd}`);
      await close(tt, 'softLabelLoss (dLogits)', gw, gr, `softLabelLoss dLogits K=${K} sd=${sd}`);
    }
  }
  const ids = wasm.createTensor('i32', [1, 1], new Int32Array([V]));
  tt.throws(
    () =>
      wasm.training!.softLabelLoss(
        wasm.createTensor('f32', [1, V]),
        ids,
        wasm.createTensor('f32', [1, 1], new Float32Array([1])),
        1,
        wasm.createTensor('f32', [1]),
        wasm.createTensor('f32', [1, V]),
      ),
    RangeError,
    'label id ≥ V',
  );
});

t.test('dropout: masks and values match the reference exactly', async (tt) => {
  for (const n of [1, 3, 17, 1001]) {
    for (const p of [0, 0.1, 0.5, 0.9, 1]) {
      for (const [sd, st] of [
        [0, 0],
        [1234, 7],
        [0xdeadbeef, 0xffffffff],
      ]) {
        const x = randn(n, 4);
        x[0] = -0;
        const [xw, xr] = both('f32', [n], x);
        const [ow, or] = both('f32', [n]);
        wasm.training!.dropout(xw, ow, p, sd, st);
        ref.training!.dropout(xr, or, p, sd, st);
        const g = await wasm.read(ow),
          r = await ref.read(or);
        let same = true;
        for (let i = 0; i < n; i++) if (!Object.is(g[i], r[i])) same = false;
        tt.ok(same, `dropout n=${n} p=${p} seed=${sd} stream=${st}`);
      }
    }
  }
  // the keep rule at its boundary: p exactly k/2^24 keeps elements whose hash has h >>> 8 = k
  const n = 4096,
    s = 99,
    st = 3;
  const k = dropoutHash(s, st, 17) >>> 8;
  for (const p of [k / 16777216, (k + 0.5) / 16777216]) {
    const [xw] = both('f32', [n], new Float32Array(n).fill(1));
    const ow = wasm.createTensor('f32', [n]);
    wasm.training!.dropout(xw, ow, p, s, st);
    tt.equal((await wasm.read(ow))[17] !== 0, p === k / 16777216, `boundary p = ${p * 16777216}/2^24`);
  }
  // the kept fraction is 1 − p, and applying dropout to a gradient is its backward (same mask)
  const big = 1 << 16;
  const [xw] = both('f32', [big], new Float32Array(big).fill(1));
  const ow = wasm.createTensor('f32', [big]),
    bw = wasm.createTensor('f32', [big]);
  wasm.training!.dropout(xw, ow, 0.3, 42, 5);
  wasm.training!.dropout(ow, bw, 0.3, 42, 5);
  const o = await wasm.read(ow),
    b = await wasm.read(bw);
  const kept = o.filter((v) => v !== 0).length / big;
  tt.ok(Math.abs(kept - 0.7) < 0.01, `kept fraction ${kept.toFixed(4)} ≈ 0.7`);
  tt.ok(
    o.every((v, i) => (v === 0) === (b[i] === 0)),
    'same mask on the second application',
  );
  tt.throws(() => wasm.training!.dropout(xw, ow, 1.5, 0, 0), RangeError, 'p outside [0, 1]');
});

t.test('sumSquares accumulates across calls', async (tt) => {
  const [sw, sr] = both('f32', [1]);
  for (const n of [1001, 3, 17, 1 << 16]) {
    const [xw, xr] = both('f32', [n], randn(n, 2));
    wasm.sumSquares(xw, sw);
    ref.sumSquares(xr, sr);
    await close(tt, 'sumSquares', sw, sr, `sumSquares after n=${n}`);
  }
});

t.test('adamw: 3 steps, gradScale ≠ 1, weightDecay 0 and 0.01', async (tt) => {
  for (const weightDecay of [0, 0.01]) {
    for (const n of [1, 37, 1001]) {
      const p0 = randn(n);
      const [pw, pr] = both('f32', [n], p0),
        [mw, mr] = both('f32', [n]),
        [vw, vr] = both('f32', [n]);
      for (let step = 1; step <= 3; step++) {
        const [gw, gr] = both('f32', [n], randn(n, 0.5));
        const o: AdamWStep = { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay, step, gradScale: 0.37 };
        wasm.training!.adamw(pw, gw, mw, vw, o);
        ref.training!.adamw(pr, gr, mr, vr, o);
        const label = `n=${n} wd=${weightDecay} step ${step}`;
        await close(tt, 'adamw', pw, pr, `adamw param ${label}`);
        await close(tt, 'adamw', mw, mr, `adamw m ${label}`);
        await close(tt, 'adamw', vw, vr, `adamw v ${label}`);
      }
      const moved = (await wasm.read(pw)).some((v, i) => v !== p0[i]);
      tt.ok(moved, `adamw moved the parameters (n=${n})`);
    }
  }
});

t.teardown(() => {
  const lines = [...worst].map(([op, r]) => `${op}: max |Δ| ${r.abs.toExponential(2)}, max |Δ|/(atol+rtol·|ref|) ${r.ratio.toFixed(3)}`);
  console.log(`# worst errors (atol ${ATOL}, rtol ${RTOL}):\n# ${lines.join('\n# ')}`);
});
