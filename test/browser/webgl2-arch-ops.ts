// The WebGL2 forward ops the architecture specs need (issue 26: Qwen3, Gemma 3) against the
// ReferenceBackend: scaled embeddings, per-head RMSNorm over a [n·heads, headDim] view, the
// gelu_tanh GLU and sliding-window attention. Called by webgl2-ops.ts; small, odd shapes.

import type { Backend, Tensor, FloatDType } from '../../runtime/backend/types.ts';
import { Pair, type Tol } from '../portable/oracle.ts';

type Guard = (name: string, body: () => Promise<void>) => Promise<void>;
type Check = (name: string, got: Tensor, ref: Tensor, p: Pair, tol: Tol) => Promise<void>;

const DTYPES: readonly FloatDType[] = ['f32', 'f16', 'bf16'];
const TOL: Tol = { atol: 1e-5, rtol: 1e-4 };
/** Gates where a tanh or exp could go wrong: 0, tiny, the tails up to where a³ overflows f32. */
const SPECIAL_GATES = [0, -0, 1e-7, -1e-7, 1e-3, -1e-3, 0.5, -0.5, 3, -3, 5, -5, 10, -10, 30, -30, 100, -100, 1e4, -1e4, 1e20, -1e20, 3e38, -3e38];

export async function checkWebGL2ArchOps(be: Backend, guard: Guard, check: Check): Promise<void> {
  for (const dtype of DTYPES) {
    const tag = `embedding ${dtype} × √2304`;
    await guard(tag, async () => {
      const p = new Pair(be, 17);
      const table = p.weight(dtype, [101, 37]),
        ids = p.i32([5], [0, 100, 6, 7, 6]),
        out = p.zeros([5, 37]);
      p.both((b, t) => b.embedding(t(ids), t(table), t(out), Math.sqrt(2304)));
      await check(tag, out[0], out[1], p, { atol: 0, rtol: 2.4e-7 }); // one f32 multiply (GLSL may round it once more loosely)
    });
  }

  for (const hd of [16, 24, 32, 64, 128, 256]) {
    const tag = `rmsNorm per head headDim=${hd}`;
    await guard(tag, async () => {
      const p = new Pair(be, hd);
      const n = 3,
        heads = 5;
      const x = p.f32([n, heads * hd], p.values(n * heads * hd, 3)),
        w = p.weight('bf16', [hd]),
        out = p.zeros([n, heads * hd]);
      p.both((b, t) => b.rmsNorm(b.view(t(x), [n * heads, hd]), t(w), 1e-6, b.view(t(out), [n * heads, hd])));
      await check(tag, out[0], out[1], p, { atol: 1e-6, rtol: 1e-5 });
    });
  }

  await guard('glu gelu_tanh', async () => {
    const p = new Pair(be, 23);
    const v = p.values(303, 8);
    v.set(SPECIAL_GATES, 4);
    const g = p.f32([3, 101], v),
      u = p.f32([3, 101]),
      out = p.zeros([3, 101]);
    p.both((b, t) => b.glu(t(g), t(u), t(out), 'gelu_tanh'));
    await check('glu gelu_tanh', out[0], out[1], p, TOL);
  });

  // prefill of 70 rows (slot 0) and 5 (slot 2), then a decode step; windows 1, 4, 30 (shorter
  // than the positions) and 100 (longer than all of them); GQA 3; headDim 16, and Gemma 3's 256
  for (const [window, headDim] of [
    [1, 16],
    [4, 16],
    [30, 16],
    [100, 16],
    [5, 256],
  ]) {
    const heads = 6,
      kvHeads = 2,
      slots = 3,
      maxT = 80;
    const tag = `attention window=${window} headDim=${headDim} heads=${heads}/${kvHeads}`;
    await guard(tag, async () => {
      const p = new Pair(be, window + headDim);
      const kc = p.f32([slots, kvHeads, maxT, headDim]),
        vc = p.f32([slots, kvHeads, maxT, headDim]);
      const step = async (rows: number[], label: string) => {
        const n = rows.length / 2,
          rowT = p.i32([n, 2], rows);
        const q = p.f32([n, heads * headDim], p.values(n * heads * headDim, 2)),
          out = p.zeros([n, heads * headDim]);
        p.both((b, t) => b.attention(t(q), t(kc), t(vc), t(rowT), t(out), heads, 1 / Math.sqrt(headDim), window));
        await check(`${tag} ${label}`, out[0], out[1], p, TOL);
      };
      const prefill: number[] = [];
      for (let t = 0; t < 70; t++) prefill.push(0, t);
      for (let t = 0; t < 5; t++) prefill.push(2, t);
      await step(prefill, 'prefill slots 0+2');
      await step([0, 79, 2, 5, 1, 0], 'decode 3 slots');
    });
  }
}
