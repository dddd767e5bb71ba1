// `npm run bench [-- --json] [-- --only matmul|model|sampling|finetune] [-- --backend wasm|webgpu]`
// Throughput figures, each with a baseline measured in the same process (the plain-TypeScript
// reference backend), so the ratio means something on a noisy shared machine. Never run by tests.

import { createBackend } from '../runtime/backend/index.ts';
import { ReferenceBackend } from '../runtime/backend/reference.ts';
import type { Backend } from '../runtime/backend/types.ts';
import { generateGreedy } from '../runtime/model/generate.ts';
import { randomModel, randomValues, SHAPES } from '../runtime/model/random.ts';
import { nodePlatform } from '../runtime/platform/node.ts';
import { contrastPrompts } from '../runtime/stage/contrast.ts';
import { encodeFromF32 } from '../runtime/util/dtype.ts';
import type { TrainSample } from '../runtime/train/data.ts';
import { DEFAULT_LORA } from '../runtime/train/lora.ts';
import { initLora } from '../runtime/train/optimizer.ts';
import { Trainer } from '../runtime/train/trainer.ts';
import { defaultMaxRows } from '../runtime/train/finetune.ts';

const args = process.argv.slice(2);
const json = args.includes('--json');
const only = args.includes('--only') ? args[args.indexOf('--only') + 1] : null;
const backendsWanted = args.includes('--backend') ? [args[args.indexOf('--backend') + 1]] : ['wasm', 'webgpu'];

interface Result { name: string; value: number; unit: string; backend?: string; baseline?: number; ratio?: number; note?: string }
function report(r: Result): void {
  if (json) console.log(JSON.stringify(r));
  else {
    const ratio = r.ratio !== undefined ? `  (${r.ratio.toFixed(1)}× the ${r.note ?? 'baseline'})` : r.note ? `  (${r.note})` : '';
    console.log(`${r.name.padEnd(46)} ${r.value.toFixed(2).padStart(9)} ${r.unit}${ratio}`);
  }
}

async function median(times: number, fn: () => Promise<void>): Promise<number> {
  await fn(); // warm-up: pipeline compilation, JIT
  const ts: number[] = [];
  for (let i = 0; i < times; i++) {
    const t0 = performance.now();
    await fn();
    ts.push(performance.now() - t0);
  }
  ts.sort((a, b) => a - b);
  return ts[ts.length >> 1] / 1000;
}

const MATMULS: [string, number, number][] = [
  ['SmolLM2-135M q/o 576→576', 576, 576],
  ['SmolLM2-135M k/v 576→192', 576, 192],
  ['SmolLM2-135M gate/up 576→1536', 576, 1536],
  ['Qwen2.5-0.5B gate/up 896→4864', 896, 4864],
  ['Qwen2.5-0.5B k/v 896→128', 896, 128],
];

/** CPU-emulated GPUs (SwiftShader, lavapipe) run WGSL 100× slower than a real GPU: measure once. */
const isSoftware = (b: Backend) => b.info.kind === 'webgpu' && /swiftshader|llvmpipe|lavapipe/i.test(b.info.device);

async function matmulSeconds(b: Backend, rows: number, K: number, N: number, reps: number): Promise<number> {
  const x = b.createTensor('f32', [rows, K], randomValues(rows * K, 7, 1));
  const w = b.createWeight('bf16', [N, K], encodeFromF32('bf16', randomValues(N * K, 9, 0.05)));
  const out = b.createTensor('f32', [rows, N]);
  // Several matmuls per read so WebGPU's submit + readback latency is amortised as in a forward pass.
  const perRead = b.info.kind === 'webgpu' && !isSoftware(b) ? 8 : 1;
  const s = await median(reps, async () => {
    for (let i = 0; i < perRead; i++) b.matmul(x, w, null, out);
    await b.read(b.view(out, [1]));
  });
  for (const t of [x, w, out]) b.dispose(t);
  return s / perRead;
}

async function benchMatmul(backends: Backend[]): Promise<void> {
  const ref = new ReferenceBackend();
  const rows = 128;
  for (const [name, K, N] of MATMULS) {
    const flop = 2 * rows * K * N;
    const base = flop / (await matmulSeconds(ref, rows, K, N, 1)) / 1e9;
    report({ name: `matmul ${name} ×${rows} rows`, value: base, unit: 'GFLOP/s', backend: 'reference', note: 'plain-JS baseline' });
    for (const b of backends) {
      const g = flop / (await matmulSeconds(b, rows, K, N, isSoftware(b) ? 1 : 5)) / 1e9;
      report({ name: `matmul ${name} ×${rows} rows`, value: g, unit: 'GFLOP/s', backend: b.info.kind, baseline: base, ratio: g / base, note: `plain-JS baseline, ${b.info.kind}` });
    }
  }
}

async function benchModel(backends: Backend[]): Promise<void> {
  const config = SHAPES['SmolLM2-135M'];
  const promptLen = 128, newTokens = 16;
  const prompt = Array.from({ length: promptLen }, (_, i) => (i * 7919) % config.vocabSize);
  for (const b of backends) {
    if (isSoftware(b)) {
      if (!json) console.log(`# model bench skipped on ${b.info.device}: a software GPU says nothing about WebGPU speed`);
      continue;
    }
    const model = randomModel(config, b, 'bf16');
    const prefill = await median(2, async () => {
      await generateGreedy(model, [prompt], { maxNewTokens: 1, eosTokenIds: [] });
    });
    report({ name: 'SmolLM2-135M (random bf16) prefill 128 tokens', value: promptLen / prefill, unit: 'tokens/s', backend: b.info.kind });
    for (const batch of [1, 8]) {
      const total = await median(1, async () => {
        await generateGreedy(model, Array(batch).fill(prompt), { maxNewTokens: newTokens + 1, eosTokenIds: [] });
      });
      const decode = (batch * newTokens) / Math.max(1e-9, total - prefill * batch);
      report({ name: `SmolLM2-135M (random bf16) decode, batch ${batch}`, value: decode, unit: 'tokens/s', backend: b.info.kind, note: 'prefill time subtracted' });
    }
  }
}

// Stage 1 (expert–amateur contrastive sampling) with the paper's shape of pair scaled down to
// SmolLM2: expert 360M, amateur 135M, random bf16 weights (never EOS, so every trajectory is the
// full 128 tokens), 150-token prompts of random ids, batch 8. Each model gets its own backend as in
// the CLI on Wasm (separate linear memories; the amateur's logits rows are copied per step).
async function benchSampling(kinds: string[]): Promise<void> {
  const problems = 8, promptLen = 150, newTokens = 128;
  const prompts = Array.from({ length: problems }, (_, p) => Array.from(randomValues(promptLen, 1000 + p, 0.5), (x) => Math.floor((x + 0.5) * 49152) % 49152));
  for (const kind of kinds) {
    let eb: Backend, ab: Backend;
    try {
      eb = await createBackend(kind as 'wasm' | 'webgpu', nodePlatform);
      ab = kind === 'wasm' ? await createBackend('wasm', nodePlatform) : eb;
    } catch {
      continue;
    }
    const expert = randomModel(SHAPES['SmolLM2-360M'], eb, 'bf16', 1);
    const amateur = randomModel(SHAPES['SmolLM2-135M'], ab, 'bf16', 2);
    const t0 = performance.now();
    let tokens = 0, amateurTokens = 0, selected = 0, steps = 0;
    for await (const e of contrastPrompts(expert, amateur, prompts, { alpha: 0.2, beta: 0.4, maxNewTokens: newTokens, batchSize: 8, eosTokenIds: [] })) {
      if (e.status !== 'problem') continue;
      tokens += e.result.trajectory.length;
      amateurTokens += e.result.amateurTokens;
      steps += e.result.steps.length;
      selected += e.result.steps.filter((s) => s.selected).length;
    }
    const s = (performance.now() - t0) / 1000;
    const note = `expert 360M + amateur 135M, ${problems} problems × (${promptLen} prompt + ${tokens / problems} new), batch 8, ${selected}/${steps} steps kept, amateur read ${amateurTokens} tokens, ${s.toFixed(1)} s`;
    report({ name: 'sampling stage: problems/s', value: problems / s, unit: 'problems/s', backend: kind, note });
    report({ name: 'sampling stage: trajectory tokens/s', value: tokens / s, unit: 'tokens/s', backend: kind, note: 'expert tokens generated; prefill included' });
    eb.destroy();
    if (ab !== eb) ab.destroy();
  }
}

// Stage 2 (LoRA fine-tuning) on a random-weight SmolLM2-360M: one optimizer step over 16 samples
// (batch 8 × grad-accum 2) taken from one trajectory of 150 prompt + 128 generated tokens, at steps
// 8, 16, …, 128 — packed (one forward/backward over the 278 tokens serves all 16) against one
// forward per sample (the reference scripts' way). Paper LoRA settings (r 8, q_proj/v_proj).
async function benchFinetune(kinds: string[]): Promise<void> {
  const config = SHAPES['SmolLM2-360M'];
  const promptLen = 150, newTokens = 128, n = 16;
  const ids = Array.from(randomValues(promptLen + newTokens, 4242, 0.5), (x) => Math.floor((x + 0.5) * config.vocabSize) % config.vocabSize);
  const samples: TrainSample[] = Array.from({ length: n }, (_, j) => ({
    line: j + 1, key: 'q', ids: ids.slice(0, promptLen + (j + 1) * (newTokens / n)),
    labelIds: [(j * 31) % config.vocabSize, (j * 31 + 7) % config.vocabSize, (j * 31 + 19) % config.vocabSize], labelWeights: [0.5, 0.3, 0.2],
  }));
  for (const kind of kinds) {
    let b: Backend;
    try {
      b = await createBackend(kind as 'wasm' | 'webgpu', nodePlatform);
    } catch {
      continue;
    }
    if (isSoftware(b)) {
      if (!json) console.log(`# finetune bench skipped on ${b.info.device}: a software GPU says nothing about WebGPU speed`);
      b.destroy();
      continue;
    }
    const model = randomModel(config, b, 'bf16', 1);
    const rates: Record<string, number> = {};
    for (const packed of [true, false]) {
      const adapter = initLora(model, DEFAULT_LORA, 42);
      const trainer = new Trainer(model, adapter, samples, { batchSize: 8, gradAccum: 2, maxSteps: 100, lr: 5e-5, seed: 42, shuffle: false, packed, maxRowsPerPass: defaultMaxRows(model), maxGradNorm: 1 });
      if (packed) {
        // Warm-up (allocation, pipelines, JIT) once; the unpacked step (minutes on Wasm) runs cold.
        await trainer.step();
        trainer.position = { step: 0, epoch: 0, offset: 0 };
      }
      const t0 = performance.now();
      const r = await trainer.step();
      const sec = (performance.now() - t0) / 1000;
      trainer.dispose();
      const mode = packed ? 'packed' : 'unpacked';
      rates[mode] = n / sec;
      const note = `${r.tokens} tokens in ${r.passes} pass${r.passes > 1 ? 'es' : ''} (unpacked would be ${r.unpacked_tokens}), ${sec.toFixed(1)} s/step`;
      report({ name: `finetune SmolLM2-360M ${mode}: samples/s`, value: n / sec, unit: 'samples/s', backend: kind, note });
      report({ name: `finetune SmolLM2-360M ${mode}: tokens/s`, value: r.tokens / sec, unit: 'tokens/s', backend: kind, note: 'tokens run through forward + backward' });
    }
    report({ name: 'finetune SmolLM2-360M packed vs unpacked', value: rates.packed / rates.unpacked, unit: '×', backend: kind, note: 'samples/s ratio' });
    b.destroy();
  }
}

const backends: Backend[] = [];
for (const kind of backendsWanted) {
  try {
    const b = await createBackend(kind as 'wasm' | 'webgpu', nodePlatform);
    backends.push(b);
    if (!json) console.log(`# ${b.info.kind}: ${b.info.device}`);
  } catch (e) {
    if (!json) console.log(`# ${kind}: unavailable (${(e as Error).message})`);
  }
}
if (!only || only === 'matmul') await benchMatmul(backends);
if (!only || only === 'model') await benchModel(backends);
if (!only || only === 'sampling') await benchSampling(backends.map((b) => b.info.kind));
if (!only || only === 'finetune') await benchFinetune(backends.map((b) => b.info.kind));
for (const b of backends) b.destroy();
