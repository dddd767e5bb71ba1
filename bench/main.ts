// `npm run bench [-- --json] [-- --only sampling|finetune|matmul|decode|memory|big|quant] [-- --backend wasm|webgpu] [-- --big-model DIR]
//                [-- --no-reference] [-- --ref-problems N] [-- --unpacked] [-- --no-ceilings] [-- --variants] [-- --no-agreement]`
// (`--variants`: the matmul section also times every Wasm matmul variant; LIGHTREASONER_WASM_VARIANT forces one)
// (`--no-agreement`: --only quant skips its stage-1 agreement part, three sample runs on the default pair)
//
// The five figures of issue 6, each beside its baseline measured in the same sitting (these
// machines are shared and noisy; only ratios from one run mean anything):
//   1. sampling  stage 1 wall time per problem (8 problems, SmolLM2-360M expert + 135M amateur, 150-token
//                prompts, 128 new tokens, batch 8) vs ../shared/bench/reference_sampling.py (PyTorch: `reference`
//                target ≥ 10×, `single_pass` target ≥ 2×)
//   2. finetune  one LoRA (r8, q/v) optimizer step over 16 samples of one trajectory vs
//                ../shared/bench/reference_finetune.py's reference_seconds_per_step (target ≥ 5×)
//   3. matmul    Wasm bf16 GFLOP/s on SmolLM2-360M and Qwen2.5-0.5B linear shapes, 128 rows, vs PyTorch
//                fp32 at the same thread count (bench/torch_matmul.py; target ≥ 30 %)
//   4. decode    batched greedy decoding: tokens/s of 8 sequences over tokens/s of one (target ≥ 4×), with
//                the ceiling this host allows: SIMD128 FMA peak (measured) over batch 1's weight GB/s
//   5. memory    peak RSS / (weight bytes + KV cache bytes) with both models loaded from BF16 files
//                (target ≤ 1.3)
// Ceilings (issue 18), measured first in the same run (bench/host.ts): the SIMD128 FMA peak (1 thread and
// all) and the streaming read bandwidth from Wasm (1 thread and all, 1 GiB); every Wasm figure then
// carries `ceiling`, `ceiling_unit`, `share` (and `share_target` where the issue sets one): matmul and
// batch-8 decode against the FMA peak, batch-1 decode against the read bandwidth, the sampling stage
// and the fine-tune step against the time their linear-layer flops need at the FMA peak.
// The PyTorch baselines are Python scripts run as child processes (.venv-ref/bin/python when present,
// else $LR_BENCH_PYTHON or python3); without Python + torch the figure is printed with a notice and no
// ratio. `--json` prints one JSON object per line: name, value, unit, and where there is a baseline
// baseline, baseline_unit, ratio, target, met; every line has load1 (the 1-minute load average when it
// was measured); notices go to stderr. `model` is accepted as an alias of `decode`. Never run by tests.

import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createBackend } from '../runtime/backend/index.ts';
import { WasmBackend } from '../runtime/backend/wasm/index.ts';
import { ALL_VARIANTS, formatVariant } from '../runtime/backend/wasm/variants.ts';
import type { Backend } from '../runtime/backend/types.ts';
import { generateGreedy } from '../runtime/model/generate.ts';
import { randomModel, randomValues, SHAPES } from '../tooling/random-model.ts';
import { nodePlatform } from '../runtime/platform/node.ts';
import { encodeFromF32 } from '../runtime/util/dtype.ts';
import { findPython, load1, median, Reporter, type Result, runPython as runPythonWith, runStage1, withCeiling, writeCheckpoint } from './common.ts';
import { type Ceilings, describeHost, hostLine, measureCeilings } from './host.ts';
import { benchBig } from './big.ts';
import { benchQuantAgreement, benchQuantDecode, SOFTWARE_RUN } from './quant.ts';
import type { ModelConfig } from '../runtime/model/config.ts';
import type { TrainSample } from '../runtime/train/data.ts';
import { DEFAULT_LORA } from '../runtime/train/lora.ts';
import { initLora } from '../runtime/train/optimizer.ts';
import { Trainer } from '../runtime/train/trainer.ts';
import { defaultMaxRows } from '../runtime/train/finetune.ts';

const args = process.argv.slice(2);
const flag = (f: string) => args.includes(f);
const opt = (f: string) => (args.includes(f) ? args[args.indexOf(f) + 1] : null);
const json = flag('--json');
const SECTIONS = ['matmul', 'decode', 'memory', 'sampling', 'finetune', 'big', 'quant'] as const;
type Section = (typeof SECTIONS)[number];
const onlyArg = opt('--only');
const only = onlyArg === 'model' ? 'decode' : onlyArg;
if (only && !SECTIONS.includes(only as Section)) {
  console.error(`--only takes one of ${SECTIONS.join(', ')} (or model), got ${onlyArg}`);
  process.exit(2);
}
const want = (s: Section) => !only || only === s;
const backendsWanted = opt('--backend') ? [opt('--backend')!] : ['wasm', 'webgpu'];
const useReference = !flag('--no-reference');
const refProblems = Number(opt('--ref-problems') ?? 2);
const THREADS = 2; // the issue's baselines run PyTorch on 2 threads; the Wasm pool takes the host's 2 cores

// ---- reporting and the PyTorch side (bench/common.ts) ---------------------------------------------

/** This host's ceilings, measured at the start of the run (bench/host.ts); null without the Wasm backend. */
let ceilings: Ceilings | null = null;
const FMA_NAME = `SIMD128 FMA peak × ${THREADS} threads`;

/** Multiply-add flops of one token's forward pass through the linear layers (attention excluded). */
function flopsPerToken(c: ModelConfig): number {
  const kv = c.kvHeads * c.headDim,
    H = c.hiddenSize;
  return 2 * (c.layers * (2 * H * H + 2 * H * kv + 3 * H * c.intermediateSize) + c.vocabSize * H);
}

const rep = new Reporter(json);
const report = (r: Result) => rep.report(r);
const notice = (msg: string) => rep.notice(msg);
const python = useReference ? findPython() : null;
const runPython = (script: string, scriptArgs: string[], needs: string[]) =>
  useReference ? runPythonWith(python, rep, script, scriptArgs, needs, THREADS) : null;

// ---- 3. matmul ------------------------------------------------------------------------------------

const MATMULS: [string, number, number][] = [
  ['SmolLM2-360M q/o 960→960', 960, 960],
  ['SmolLM2-360M k/v 960→320', 960, 320],
  ['SmolLM2-360M gate/up 960→2560', 960, 2560],
  ['SmolLM2-360M down 2560→960', 2560, 960],
  ['Qwen2.5-0.5B q/o 896→896', 896, 896],
  ['Qwen2.5-0.5B k/v 896→128', 896, 128],
  ['Qwen2.5-0.5B gate/up 896→4864', 896, 4864],
  ['Qwen2.5-0.5B down 4864→896', 4864, 896],
];

/** CPU-emulated GPUs (SwiftShader, lavapipe) run WGSL 100× slower than a real GPU. */
const isSoftware = (b: Backend) => b.info.kind === 'webgpu' && /swiftshader|llvmpipe|lavapipe/i.test(b.info.device);

async function matmulSeconds(b: Backend, rows: number, K: number, N: number, reps: number): Promise<number> {
  const x = b.createTensor('f32', [rows, K], randomValues(rows * K, 7, 1));
  const w = b.createWeight('bf16', [N, K], encodeFromF32('bf16', randomValues(N * K, 9, 0.05)));
  const out = b.createTensor('f32', [rows, N]);
  // Several matmuls per read so WebGPU's submit + readback latency is amortised as in a forward pass.
  const perRead = b.info.kind === 'webgpu' && !isSoftware(b) ? 8 : 1;
  const once = async () => {
    for (let i = 0; i < perRead; i++) b.matmul(x, w, null, out);
    await b.read(b.view(out, [1]));
  };
  await once();
  const ts: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await once();
    ts.push((performance.now() - t0) / 1000 / perRead);
  }
  for (const t of [x, w, out]) b.dispose(t);
  return median(ts);
}

async function benchMatmul(backends: Backend[]): Promise<void> {
  const rows = 128;
  for (const b of backends.filter((x) => x.info.kind === 'wasm')) {
    const relaxed = b.info.features.includes('relaxed-simd');
    notice(
      `wasm kernels: ${relaxed ? 'relaxed SIMD (f32x4.relaxed_madd, fused multiply-add)' : 'plain SIMD128 (this runtime has no relaxed SIMD)'}, Node ${process.versions.node}`,
    );
    if (b instanceof WasmBackend)
      notice(
        `wasm matmul variant: ${formatVariant(b.matmulVariant)} (${process.env.LIGHTREASONER_WASM_VARIANT ? 'forced by LIGHTREASONER_WASM_VARIANT' : "this host's choice"})`,
      );
  }
  if (flag('--variants'))
    await benchVariants(
      backends.filter((b): b is WasmBackend => b instanceof WasmBackend),
      rows,
    );
  const ours = new Map<string, Map<string, number>>();
  for (const b of backends) {
    const m = new Map<string, number>();
    for (const [, K, N] of MATMULS) m.set(`${K}x${N}`, (2 * rows * K * N) / (await matmulSeconds(b, rows, K, N, isSoftware(b) ? 1 : 7)) / 1e9);
    ours.set(b.info.kind, m);
  }
  const torchLines = runPython(
    'torch_matmul.py',
    ['--threads', String(THREADS), '--rows', String(rows), '--shapes', MATMULS.map(([, K, N]) => `${K}x${N}`).join(',')],
    ['torch'],
  );
  const torch = new Map((torchLines ?? []).map((l) => [String(l.shape), Number(l.gflops)]));
  for (const b of backends) {
    const m = ours.get(b.info.kind)!;
    const ratios: number[] = [];
    for (const [name, K, N] of MATMULS) {
      const g = m.get(`${K}x${N}`)!,
        t = torch.get(`${K}x${N}`);
      const r: Result = { name: `matmul ${name} ×${rows} rows (bf16 weights)`, value: g, unit: 'GFLOP/s', backend: b.info.kind };
      if (t && !isSoftware(b)) {
        ratios.push(g / t);
        Object.assign(r, {
          baseline: t,
          baseline_unit: 'GFLOP/s',
          baseline_name: `PyTorch fp32, ${THREADS} threads`,
          ratio: g / t,
          target: '≥ 0.30',
          met: g / t >= 0.3,
        });
      }
      if (isSoftware(b)) r.note = `${b.info.device}: a software GPU, no ratio`;
      if (b.info.kind === 'wasm' && ceilings) withCeiling(r, ceilings.fmaPeakAll, 'GFLOP/s', FMA_NAME, 0.65);
      report(r);
    }
    if (ratios.length === MATMULS.length) {
      const geo = Math.exp(ratios.reduce((s, x) => s + Math.log(x), 0) / ratios.length);
      const gOurs = Math.exp([...m.values()].reduce((s, x) => s + Math.log(x), 0) / m.size);
      const r: Result = {
        name: 'matmul: geometric mean over the 8 shapes',
        value: gOurs,
        unit: 'GFLOP/s',
        backend: b.info.kind,
        baseline: gOurs / geo,
        baseline_unit: 'GFLOP/s',
        baseline_name: `PyTorch fp32, ${THREADS} threads`,
        ratio: geo,
        target: '≥ 0.30',
        met: geo >= 0.3,
        note: `${b.info.device}; worst shape ${Math.min(...ratios).toFixed(2)}×, best ${Math.max(...ratios).toFixed(2)}×`,
      };
      if (b.info.kind === 'wasm' && ceilings) withCeiling(r, ceilings.fmaPeakAll, 'GFLOP/s', FMA_NAME, 0.8);
      report(r);
    } else if (b.info.kind === 'wasm' && ceilings) {
      const gOurs = Math.exp([...m.values()].reduce((s, x) => s + Math.log(x), 0) / m.size);
      report(
        withCeiling(
          { name: 'matmul: geometric mean over the 8 shapes', value: gOurs, unit: 'GFLOP/s', backend: b.info.kind, note: 'no PyTorch baseline in this run' },
          ceilings.fmaPeakAll,
          'GFLOP/s',
          FMA_NAME,
          0.8,
        ),
      );
    }
  }
}

/** `--variants`: the 128-row geomean and an 8-row pass under every matmul variant (variants.ts), in turns. */
async function benchVariants(backends: WasmBackend[], rows: number): Promise<void> {
  for (const b of backends) {
    const own = b.matmulVariant;
    // shapes outer, variants inner: each shape's variants are timed in turns, so a colder or
    // busier minute does not fall on one variant (timed one after another, the first looked 10 % slow)
    for (const n of [rows, 8]) {
      const logs = ALL_VARIANTS.map(() => 0);
      for (const [, K, N] of MATMULS) {
        for (let i = 0; i < ALL_VARIANTS.length; i++) {
          b.matmulVariant = ALL_VARIANTS[i];
          logs[i] += Math.log((2 * n * K * N) / (await matmulSeconds(b, n, K, N, 7)) / 1e9);
        }
      }
      ALL_VARIANTS.forEach((v, i) => {
        const r: Result = {
          name: `matmul variant ${formatVariant(v)}, geomean ×${n} rows`,
          value: Math.exp(logs[i] / MATMULS.length),
          unit: 'GFLOP/s',
          backend: 'wasm',
          note: own === v ? "this host's choice" : undefined,
        };
        report(ceilings ? withCeiling(r, ceilings.fmaPeakAll, 'GFLOP/s', FMA_NAME) : r);
      });
    }
    b.matmulVariant = own;
  }
}

// ---- 4. decode ------------------------------------------------------------------------------------

/**
 * Greedy decoding timed step by step: generateGreedy's onStep fires after each step's readback, so
 * the gaps between consecutive calls are decode steps alone (prefill excluded). Median per step.
 */
async function decodeStep(model: ReturnType<typeof randomModel>, batch: number, promptLen: number, steps: number): Promise<number> {
  const V = model.config.vocabSize;
  const prompts = Array.from({ length: batch }, (_, s) => Array.from(randomValues(promptLen, 77 + s, 0.5), (x) => Math.floor((x + 0.5) * V) % V));
  const marks: number[] = [];
  await generateGreedy(model, prompts, { maxNewTokens: steps + 1, eosTokenIds: [], onStep: () => marks.push(performance.now()) });
  const gaps = marks.slice(1).map((t, i) => (t - marks[i]) / 1000);
  return median(gaps);
}

async function benchDecode(backends: Backend[]): Promise<void> {
  const promptLen = 64,
    steps = 24;
  const peak = ceilings?.fmaPeakAll ?? 0;
  for (const b of backends) {
    if (isSoftware(b)) {
      notice(`decode bench skipped on ${b.info.device}: a software GPU says nothing about WebGPU speed`);
      continue;
    }
    for (const shape of ['SmolLM2-360M', 'SmolLM2-135M']) {
      const model = randomModel(SHAPES[shape], b, 'bf16');
      await decodeStep(model, 1, 8, 3); // warm-up (JIT, scratch growth)
      const s1 = await decodeStep(model, 1, promptLen, steps);
      const s8 = await decodeStep(model, 8, promptLen, steps);
      const t1 = 1 / s1,
        t8 = 8 / s8;
      // The ratio cannot beat (batch-8 arithmetic rate) / (batch-1 weight bandwidth): a batch-1 step
      // reads every weight once (2 bytes each), a batch-8 step does 16 flops per weight. Both are
      // printed so the bound is visible (bench/RESULTS.md).
      const bytes = model.weights.bytes; // bf16: 2 bytes, and 16 flops at batch 8, per weight
      const gbs = bytes / s1 / 1e9,
        gflops = (bytes * 8) / s8 / 1e9;
      const ceiling =
        b.info.kind === 'wasm' && peak
          ? `; ceiling at ${peak.toFixed(0)} GFLOP/s (${THREADS} threads at the SIMD128 FMA peak, measured now) over batch 1's ${gbs.toFixed(1)} GB/s: ${(peak / gbs).toFixed(2)}×`
          : '';
      // Shares in tokens/s: the bandwidth ceiling is the rate at which all weights can be read once
      // (batch 1), the FMA ceiling the rate at which 8 rows' 2 flops per weight can be done (batch 8).
      const r1: Result = {
        name: `decode ${shape} (random bf16), batch 1`,
        value: t1,
        unit: 'tokens/s',
        backend: b.info.kind,
        note: `${(s1 * 1000).toFixed(1)} ms per step (median of ${steps}), ${promptLen}-token prompt; ${gbs.toFixed(1)} GB/s of weights`,
      };
      if (b.info.kind === 'wasm' && ceilings) {
        withCeiling(
          r1,
          (ceilings.readAll * 1e9) / bytes,
          'tokens/s',
          `read bandwidth (${ceilings.readAll.toFixed(1)} GB/s, all threads) over ${(bytes / 2 ** 20).toFixed(0)} MiB of weights`,
          0.8,
        );
      }
      report(r1);
      const r8: Result = {
        name: `decode ${shape} (random bf16), batch 8`,
        value: t8,
        unit: 'tokens/s',
        backend: b.info.kind,
        baseline: t1,
        baseline_unit: 'tokens/s',
        baseline_name: 'batch 1',
        ratio: t8 / t1,
        target: '≥ 4',
        met: t8 / t1 >= 4,
        note: `${(s8 * 1000).toFixed(1)} ms per step of 8 rows (median of ${steps}), ${gflops.toFixed(1)} GFLOP/s over the weights${ceiling}; ${b.info.device}`,
      };
      if (b.info.kind === 'wasm' && ceilings) withCeiling(r8, (ceilings.fmaPeakAll * 1e9) / bytes, 'tokens/s', `${FMA_NAME}, 2 flops per weight per row`, 0.7);
      report(r8);
      disposeModel(b, model);
    }
  }
}

function disposeModel(b: Backend, m: ReturnType<typeof randomModel>): void {
  const w = m.weights;
  const tensors = new Set([w.embed, w.norm, w.lmHead, ...w.layers.flatMap((l) => Object.values(l))]);
  for (const t of tensors) if (t) b.dispose(t);
}

// ---- 1. sampling and 5. memory (a child process over BF16 checkpoints) ---------------------------

async function benchStage1(doSampling: boolean, doMemory: boolean): Promise<void> {
  const problems = 8,
    promptLen = 150,
    newTokens = 128;
  const tmp = mkdtempSync(join(tmpdir(), 'lr-bench-'));
  try {
    const dirs: [string, string] = [join(tmp, 'expert'), join(tmp, 'amateur')];
    writeCheckpoint(dirs[0], SHAPES['SmolLM2-360M'], 1);
    writeCheckpoint(dirs[1], SHAPES['SmolLM2-135M'], 2);
    // The memory figure alone: the same workload stopped after 4 decode steps (peak RSS is reached
    // by then: weights, both KV caches, prefill activations). With sampling, the full run gives both.
    const l0 = load1();
    const s = runStage1(dirs, problems, promptLen, newTokens, doSampling ? 0 : 4);
    const lRun = +((l0 + load1()) / 2).toFixed(2);
    if (doSampling) {
      const perProblem = s.seconds / problems;
      const bd = Object.entries(s.breakdown).map(([k, v]) => `${k} ${v.toFixed(1)} s`);
      const other = s.seconds - Object.values(s.breakdown).reduce((a, b) => a + b, 0);
      const note =
        `${s.threads}; ${problems} problems × (${promptLen} prompt + ${s.tokens / problems} new), batch 8, ${s.selected}/${s.steps} steps kept, ` +
        `amateur read ${s.amateurTokens} tokens; ${s.seconds.toFixed(1)} s = ${bd.join(', ')}, other ${other.toFixed(1)} s`;
      const ref = runPython(
        'reference_sampling.py',
        ['--problems', String(refProblems), '--prompt-tokens', String(promptLen), '--new-tokens', String(newTokens), '--threads', String(THREADS)],
        ['torch', 'transformers'],
      );
      const lRef = load1();
      const byAlg = new Map((ref ?? []).map((l) => [String(l.algorithm), l]));
      const r = byAlg.get('reference'),
        sp = byAlg.get('single_pass');
      const result: Result = { name: 'sampling stage: seconds per problem', value: perProblem, unit: 's/problem', backend: 'wasm', load1: lRun, note };
      if (ceilings) {
        // The stage's time cannot fall below its linear-layer flops at the FMA peak: the expert's
        // prompt + generated tokens and the amateur's tokens. Seconds are "smaller is better", so the
        // share is the bound over the time; `value / ceiling` is kept in problems/s terms.
        const flops =
          problems * (promptLen + s.tokens / problems) * flopsPerToken(SHAPES['SmolLM2-360M']) + s.amateurTokens * flopsPerToken(SHAPES['SmolLM2-135M']);
        const bound = flops / (ceilings.fmaPeakAll * 1e9) / problems;
        Object.assign(result, {
          ceiling: bound,
          ceiling_unit: 's/problem',
          ceiling_name: `its linear-layer flops at the ${FMA_NAME}`,
          share: bound / perProblem,
        });
      }
      if (r) {
        const base = Number(r.seconds_per_problem);
        Object.assign(result, {
          baseline: base,
          baseline_unit: 's/problem',
          baseline_name: 'PyTorch reference',
          ratio: base / perProblem,
          target: '≥ 10',
          met: base / perProblem >= 10,
        });
      }
      report(result);
      if (sp) {
        const base = Number(sp.seconds_per_problem);
        report({
          name: 'sampling stage: seconds per problem',
          value: perProblem,
          unit: 's/problem',
          backend: 'wasm',
          load1: lRun,
          baseline: base,
          baseline_unit: 's/problem',
          baseline_name: 'PyTorch single_pass',
          ratio: base / perProblem,
          target: '≥ 2',
          met: base / perProblem >= 2,
          note: `PyTorch runs (${refProblems} problems, load ${lRef} after them): ${[...byAlg.values()].map((l) => `${l.algorithm} ${l.seconds_per_problem} s/problem (expert generate ${l.expert_seconds_per_problem} s)`).join('; ')}`,
        });
      }
    }
    if (doMemory) {
      const denom = s.weightBytes + s.kvBytes;
      const mib = (x: number) => `${(x / 2 ** 20).toFixed(0)} MiB`;
      const ratio = s.peakRss / denom;
      report({
        name: 'memory: peak RSS / (weights + KV cache)',
        value: ratio,
        unit: '×',
        backend: 'wasm',
        load1: lRun,
        target: '≤ 1.3',
        met: ratio <= 1.3,
        note:
          `peak RSS ${mib(s.peakRss)} (Node alone ${mib(s.rssStart)}, after loading ${mib(s.rssLoaded)}); BF16 weights ${mib(s.weightBytes)} (360M + 135M, from safetensors), ` +
          `f32 KV caches ${mib(s.kvBytes)} (8 slots × ${promptLen + newTokens} positions, both models); ${s.aborted ? 'stopped after 4 decode steps' : 'over the full sampling run'}`,
      });
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

// ---- 2. finetune ----------------------------------------------------------------------------------

// Stage 2 (LoRA fine-tuning) on a random-weight SmolLM2-360M: one optimizer step over 16 samples
// (batch 8 × grad-accum 2) taken from one trajectory of 150 prompt + 128 generated tokens, at steps
// 8, 16, …, 128, packed (one forward/backward over the 278 tokens serves all 16). `--unpacked` also
// times one forward per sample (the reference scripts' way; minutes on Wasm).
async function benchFinetune(kinds: string[]): Promise<void> {
  const config = SHAPES['SmolLM2-360M'];
  const promptLen = 150,
    newTokens = 128,
    n = 16;
  const ids = Array.from(randomValues(promptLen + newTokens, 4242, 0.5), (x) => Math.floor((x + 0.5) * config.vocabSize) % config.vocabSize);
  const samples: TrainSample[] = Array.from({ length: n }, (_, j) => ({
    line: j + 1,
    key: 'q',
    ids: ids.slice(0, promptLen + (j + 1) * (newTokens / n)),
    labelIds: [(j * 31) % config.vocabSize, (j * 31 + 7) % config.vocabSize, (j * 31 + 19) % config.vocabSize],
    labelWeights: [0.5, 0.3, 0.2],
  }));
  const modes = flag('--unpacked') ? [true, false] : [true];
  const ours: { kind: string; mode: string; sec: number; load: number; tokens: number; note: string }[] = [];
  for (const kind of kinds) {
    let b: Backend;
    try {
      b = await createBackend(kind as 'wasm' | 'webgpu', nodePlatform);
    } catch {
      continue;
    }
    if (isSoftware(b)) {
      notice(`finetune bench skipped on ${b.info.device}: a software GPU says nothing about WebGPU speed`);
      b.destroy();
      continue;
    }
    const model = randomModel(config, b, 'bf16', 1);
    for (const packed of modes) {
      const adapter = initLora(model, DEFAULT_LORA, 42);
      const trainer = new Trainer(model, adapter, samples, {
        batchSize: 8,
        gradAccum: 2,
        maxSteps: 100,
        lr: 5e-5,
        seed: 42,
        shuffle: false,
        packed,
        maxRowsPerPass: defaultMaxRows(model),
        maxGradNorm: 1,
      });
      const times: number[] = [];
      let r = null;
      for (let i = 0; i < (packed ? 4 : 1); i++) {
        // packed: one warm-up step (allocation, JIT), then the median of 3
        trainer.position = { step: 0, epoch: 0, offset: 0 };
        const t0 = performance.now();
        r = await trainer.step();
        if (!packed || i > 0) times.push((performance.now() - t0) / 1000);
      }
      trainer.dispose();
      const sec = median(times);
      ours.push({
        kind,
        mode: packed ? 'packed' : 'unpacked',
        sec,
        load: load1(),
        tokens: r!.tokens,
        note: `${b.info.device}; ${r!.tokens} tokens in ${r!.passes} pass${r!.passes > 1 ? 'es' : ''} (one forward per sample would be ${r!.unpacked_tokens})`,
      });
    }
    b.destroy();
  }
  const ref = runPython(
    'reference_finetune.py',
    ['--prompt-tokens', String(promptLen), '--new-tokens', String(newTokens), '--threads', String(THREADS)],
    ['torch', 'transformers', 'peft'],
  );
  const base = ref?.[0];
  for (const o of ours) {
    const r: Result = {
      name: `finetune SmolLM2-360M LoRA r8 q/v, 16 samples (${o.mode})`,
      value: o.sec,
      unit: 's/step',
      backend: o.kind,
      load1: o.load,
      note: o.note,
    };
    if (o.kind === 'wasm' && ceilings) {
      // forward + the input-gradient half of backward (the base weights are frozen): 2 × the
      // forward's linear-layer flops over the tokens of the pass(es)
      const bound = (2 * o.tokens * flopsPerToken(config)) / (ceilings.fmaPeakAll * 1e9);
      Object.assign(r, { ceiling: bound, ceiling_unit: 's/step', ceiling_name: `2 × its forward flops at the ${FMA_NAME}`, share: bound / o.sec });
    }
    if (base) {
      const b = Number(base.reference_seconds_per_step);
      Object.assign(r, { baseline: b, baseline_unit: 's/step', baseline_name: 'PyTorch reference', ratio: b / o.sec, target: '≥ 5', met: b / o.sec >= 5 });
      r.note += `; PyTorch packed step ${base.packed_seconds_per_step} s (${(Number(base.packed_seconds_per_step) / o.sec).toFixed(2)}× ours), reference ${base.reference_tokens_per_step} tokens, load ${load1()} after it`;
    }
    report(r);
  }
}

// ---- main -----------------------------------------------------------------------------------------

const host = await describeHost();
if (!json) {
  console.log(
    `# ${hostLine(host)}; Node ${process.versions.node}, load ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}`,
  );
  console.log(
    `# baselines: ${python ? `${python.py} (torch${python.mods.transformers ? ', transformers' : ''}${python.mods.peft ? ', peft' : ''})` : useReference ? 'no Python with torch: ratios skipped' : '--no-reference'}`,
  );
}
const backends: Backend[] = [];
for (const kind of backendsWanted) {
  try {
    const b = await createBackend(kind as 'wasm' | 'webgpu', nodePlatform);
    backends.push(b);
    if (!json) console.log(`# ${b.info.kind}: ${b.info.device}`);
  } catch (e) {
    notice(`${kind}: unavailable (${(e as Error).message})`);
  }
}
if (backendsWanted.includes('wasm') && !flag('--no-ceilings')) {
  ceilings = await measureCeilings(THREADS);
  const c = ceilings;
  const hostNote = hostLine(host);
  report({
    name: 'ceiling: SIMD128 multiply-add peak, 1 thread',
    value: c.fmaPeak1,
    unit: 'GFLOP/s',
    backend: 'wasm',
    note: `${c.relaxed ? 'relaxed SIMD (fused)' : 'plain SIMD128'}; registers only (wasm/probe.ts); ${hostNote}`,
  });
  report({ name: `ceiling: SIMD128 multiply-add peak, ${THREADS} threads`, value: c.fmaPeakAll, unit: 'GFLOP/s', backend: 'wasm' });
  report({
    name: 'ceiling: streaming read bandwidth, 1 thread',
    value: c.read1,
    unit: 'GB/s',
    backend: 'wasm',
    note: `${(c.readBytes / 2 ** 30).toFixed(0)} GiB of Wasm linear memory summed as f32x4, best of 5 passes`,
  });
  report({ name: `ceiling: streaming read bandwidth, ${THREADS} threads`, value: c.readAll, unit: 'GB/s', backend: 'wasm' });
}
/** A section that fails says so and the others still run. */
async function section(name: string, fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (e) {
    process.exitCode = 1;
    notice(`${name} failed: ${(e as Error).stack ?? e}`);
  }
}
if (want('matmul')) await section('matmul', () => benchMatmul(backends));
if (want('decode')) await section('decode', () => benchDecode(backends));
// issue 30: only on request (--only quant), a run of its own
if (only === 'quant') {
  for (const b of backends)
    await section(`quant ${b.info.kind}`, () =>
      benchQuantDecode(b, b.info.kind === 'wasm' ? ceilings : null, report, isSoftware(b) ? SOFTWARE_RUN : undefined),
    );
  // a Wasm figure (the sample job on the default pair), like 'big'
  if (backendsWanted.includes('wasm') && !flag('--no-agreement')) await section('quant agreement', () => benchQuantAgreement(report, notice));
}
const kinds = backends.map((b) => b.info.kind);
for (const b of backends) b.destroy();
// Figures 1 and 5 are Wasm figures (the memory one is about Wasm linear memory; stage 1 on WebGPU
// needs a real GPU to mean anything, see bench/RESULTS.md).
if ((want('sampling') || want('memory')) && kinds.includes('wasm')) await section('sampling/memory', () => benchStage1(want('sampling'), want('memory')));
if (want('finetune')) await section('finetune', () => benchFinetune(kinds));
if (want('big') && backendsWanted.includes('wasm')) await section('big', () => benchBig(opt('--big-model'), ceilings, report, notice));
