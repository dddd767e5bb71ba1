// `npm run bench:gpu [-- --json] [-- --only decode|matmul|sampling] [-- --no-reference] [-- --allow-software]`
//
// The GPU part of issue 6, for a machine with a real GPU (Node + Dawn: the `webgpu` package):
//   matmul    WGSL matmul GFLOP/s (x f32 · wᵀ, weights f32 and bf16) for the `tiled` and `large`
//             kernels (the latter without and with split-K), the figure being the backend's own choice at M = 512 … 4096 and on the sampling workload's linear shapes, against the
//             card's fp32 peak (SMs × FP32 lanes × 2 × max SM clock, from bench/torch_gpu.py) and
//             against PyTorch's fp32 matmul (TF32 off) on the same card. Target: ≥ 40 % of peak at M ≥ 512.
//   decode    greedy decoding, batch 1 (bench/gpu-decode.ts): ms/token, dispatches, submits and
//             readbacks a step, and the per-token profile (encode, submit, GPU wait). On a software
//             adapter: the 3-layer hidden-96 Qwen2 of issue 19 (target ≤ 15 ms/token).
//   sampling  stage 1 on the issue-6 workload (8 problems, SmolLM2-360M expert + 135M amateur, random
//             BF16, 150 + 128 tokens) on WebGPU, against ../shared/bench/reference_sampling.py run with
//             CUDA (bench/cuda_reference_sampling.py). Target: faster than the reference.
// A software adapter (SwiftShader, lavapipe) only proves the script runs: it is refused unless
// --allow-software, and then the shapes shrink. Never run by tests.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Backend } from '../runtime/backend/types.ts';
import { chooseMatmul, createWebGPUBackend, splitSlices } from '../runtime/backend/webgpu/index.ts';
import { randomValues, SHAPES } from '../tooling/random-model.ts';
import { nodePlatform } from '../runtime/platform/node.ts';
import { encodeFromF32 } from '../runtime/util/dtype.ts';
import { reportDecode } from './gpu-decode.ts';
import { findPython, median, Reporter, runPython, runStage1, writeCheckpoint } from './common.ts';

const args = process.argv.slice(2);
const flag = (f: string) => args.includes(f);
const opt = (f: string) => (args.includes(f) ? args[args.indexOf(f) + 1] : null);
const rep = new Reporter(flag('--json'));
const only = opt('--only');
const want = (s: string) => !only || only === s;
const useReference = !flag('--no-reference');
const python = useReference ? findPython() : null;

const gpu = await nodePlatform.getGPU();
if (!gpu) {
  console.error('no WebGPU in this Node (the `webgpu` package failed to load)');
  process.exit(2);
}
const probe = await createWebGPUBackend(gpu);
const software = /swiftshader|llvmpipe|lavapipe/i.test(probe.info.device);
probe.destroy();
if (software && !flag('--allow-software')) {
  console.error(`the WebGPU adapter is a software one (${probe.info.device}): its figures say nothing about GPUs. --allow-software runs a smoke test.`);
  process.exit(2);
}
const adapterFeatures = [...((await gpu.requestAdapter({ powerPreference: 'high-performance' }))?.features ?? [])].map(String).sort();
rep.notice(`WebGPU adapter: ${probe.info.device}; adapter features ${adapterFeatures.join(', ')}`);

if (want('decode')) await reportDecode(gpu, rep, software);

// ---- card facts and PyTorch's fp32 matmul on the same card ---------------------------------------

interface Shape {
  label: string;
  M: number;
  K: number;
  N: number;
}
const SHAPES_MM: Shape[] = software
  ? [{ label: 'smoke', M: 130, K: 96, N: 160 }]
  : [
      ...[256, 512, 1024, 2048, 4096].map((M) => ({ label: `square 4096→4096`, M, K: 4096, N: 4096 })),
      { label: 'SmolLM2-360M gate/up 960→2560 (prefill 8×150)', M: 1200, K: 960, N: 2560 },
      { label: 'SmolLM2-360M down 2560→960 (prefill 8×150)', M: 1200, K: 2560, N: 960 },
      { label: 'SmolLM2-360M q/o 960→960 (prefill 8×150)', M: 1200, K: 960, N: 960 },
    ];
const key = (s: Shape) => `${s.M}x${s.K}x${s.N}`;

const torch = want('matmul') && useReference ? runPython(python, rep, 'torch_gpu.py', ['--shapes', SHAPES_MM.map(key).join(',')], ['torch'], 16) : null;
const card = torch?.find((l) => l.card) as { card: string; sms: number; fp32_lanes_per_sm: number; max_sm_mhz: number; fp32_peak_gflops: number } | undefined;
const torchG = new Map((torch ?? []).filter((l) => l.shape).map((l) => [`${l.shape}:${l.precision}`, Number(l.gflops)]));
if (card)
  rep.notice(
    `CUDA card: ${card.card}, ${card.sms} SMs × ${card.fp32_lanes_per_sm} FP32 lanes × 2 × ${card.max_sm_mhz} MHz = ${(card.fp32_peak_gflops / 1000).toFixed(1)} TFLOP/s fp32 peak`,
  );

// ---- WGSL matmul ----------------------------------------------------------------------------------

async function matmulSeconds(b: Backend, s: Shape, dtype: 'f32' | 'bf16'): Promise<number> {
  const x = b.createTensor('f32', [s.M, s.K], randomValues(s.M * s.K, 7, 1));
  const wv = randomValues(s.N * s.K, 9, 0.05);
  const w = dtype === 'f32' ? b.createWeight('f32', [s.N, s.K], new Uint8Array(wv.buffer)) : b.createWeight('bf16', [s.N, s.K], encodeFromF32('bf16', wv));
  const out = b.createTensor('f32', [s.M, s.N]);
  // Many dispatches per submit (a forward pass is one submit too): aim for ≥ 50 ms of GPU work.
  const run = async (reps: number) => {
    const t0 = performance.now();
    for (let i = 0; i < reps; i++) b.matmul(x, w, null, out);
    await b.flush();
    return (performance.now() - t0) / 1000;
  };
  await run(2);
  const once = await run(1);
  const reps = Math.max(1, Math.min(200, Math.ceil(0.05 / once)));
  const ts: number[] = [];
  for (let i = 0; i < 7; i++) ts.push((await run(reps)) / reps);
  for (const t of [x, w, out]) b.dispose(t);
  return median(ts);
}

if (want('matmul')) {
  // Each kernel forced in turn (the large one without and with its split-K); the figure is the
  // variant the backend picks by itself (chooseMatmul, splitSlices).
  const variants = { tiled: { matmulKernel: 'tiled' }, large: { matmulKernel: 'large', matmulSplitK: 1 }, 'large+split-K': { matmulKernel: 'large' } } as const;
  type Variant = keyof typeof variants;
  const bs = new Map<Variant, Backend>();
  for (const [k, o] of Object.entries(variants)) bs.set(k as Variant, await createWebGPUBackend(gpu, o));
  for (const dtype of ['f32', 'bf16'] as const) {
    for (const s of SHAPES_MM) {
      const g = new Map<Variant, number>();
      for (const k of bs.keys()) g.set(k, (2 * s.M * s.K * s.N) / (await matmulSeconds(bs.get(k)!, s, dtype)) / 1e9);
      const slices = splitSlices(s.M, s.N, s.K);
      const auto: Variant = chooseMatmul(s.M, s.N) === 'tiled' ? 'tiled' : slices > 1 ? 'large+split-K' : 'large';
      const v = g.get(auto)!;
      const notes = [
        `M=${s.M} K=${s.K} N=${s.N}; auto = ${auto}${auto === 'large+split-K' ? ` (${slices} slices)` : ''}; ` +
          [...g].map(([k, x]) => `${k} ${x.toPrecision(4)}`).join(', ') +
          ' GFLOP/s',
      ];
      const t = torchG.get(`${key(s)}:fp32`);
      if (card) notes.push(`${((100 * v) / card.fp32_peak_gflops).toFixed(1)} % of fp32 peak (target ≥ 40 % at M ≥ 512)`);
      const tf = torchG.get(`${key(s)}:tf32`);
      if (tf) notes.push(`PyTorch TF32 ${tf.toFixed(0)} GFLOP/s`);
      rep.report({
        name: `WGSL matmul ${dtype} weights, ${s.label}${s.label.startsWith('square') ? ` M=${s.M}` : ''}`,
        value: v,
        unit: 'GFLOP/s',
        backend: 'webgpu',
        ...(t ? { baseline: t, baseline_unit: 'GFLOP/s', baseline_name: 'PyTorch fp32 (TF32 off)', ratio: v / t } : {}),
        ...(card ? { target: '≥ 0.40 of peak', met: v / card.fp32_peak_gflops >= 0.4 } : {}),
        note: notes.join('; '),
      });
    }
  }
  for (const b of bs.values()) b.destroy();
}

// ---- sampling stage ---------------------------------------------------------------------------------

if (want('sampling')) {
  const problems = software ? 1 : 8,
    promptLen = software ? 8 : 150,
    newTokens = software ? 4 : 128;
  const tmp = mkdtempSync(join(tmpdir(), 'lr-gpu-bench-'));
  try {
    const dirs: [string, string] = [join(tmp, 'expert'), join(tmp, 'amateur')];
    writeCheckpoint(dirs[0], SHAPES['SmolLM2-360M'], 1);
    writeCheckpoint(dirs[1], SHAPES['SmolLM2-135M'], 2);
    const s = runStage1(dirs, problems, promptLen, newTokens, 0, 'webgpu');
    const perProblem = s.seconds / problems;
    const bd = Object.entries(s.breakdown)
      .map(([k, v]) => `${k} ${v.toFixed(2)} s`)
      .join(', ');
    const ref =
      software || !useReference
        ? null
        : runPython(
            python,
            rep,
            'cuda_reference_sampling.py',
            ['--problems', '2', '--prompt-tokens', String(promptLen), '--new-tokens', String(newTokens)],
            ['torch', 'transformers'],
            16,
          );
    const byAlg = new Map((ref ?? []).map((l) => [String(l.algorithm), l]));
    const note =
      `${s.threads}; ${problems} problems × (${promptLen} + ${s.tokens / problems}), batch 8, load ${s.loadSeconds.toFixed(1)} s; ${s.seconds.toFixed(1)} s = ${bd}` +
      (byAlg.size
        ? `; CUDA: ${[...byAlg.values()].map((l) => `${l.algorithm} ${l.seconds_per_problem} s/problem (expert generate ${l.expert_seconds_per_problem} s)`).join('; ')}`
        : '');
    for (const alg of ['reference', 'single_pass']) {
      const base = byAlg.get(alg);
      rep.report({
        name: `sampling stage on WebGPU: seconds per problem`,
        value: perProblem,
        unit: 's/problem',
        backend: 'webgpu',
        ...(base
          ? {
              baseline: Number(base.seconds_per_problem),
              baseline_unit: 's/problem',
              baseline_name: `PyTorch ${alg} on CUDA`,
              ratio: Number(base.seconds_per_problem) / perProblem,
              target: alg === 'reference' ? '> 1' : undefined,
              met: alg === 'reference' ? Number(base.seconds_per_problem) > perProblem : undefined,
            }
          : {}),
        note: alg === 'reference' ? note : undefined,
      });
      if (!base) break;
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
