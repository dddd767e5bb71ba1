// Rebuild the embedded default expert/amateur pair (models/default/{expert,amateur}/) from scratch,
// deterministically, with this project's own full-parameter training (tooling/full-train.ts) on the
// Wasm backend (threads):
//
//   node --import @tapjs/typescript/import scripts/build-default-pair.ts
//
// Options: --out DIR (default models/default), --only expert|amateur (none: only evaluate), --eval N (`dev` problems to
// score both models on afterwards; default 500, 0 for none), --write-corpus FILE (only
// write the tokenizer's training text, see scripts/make_default_tokenizer.py), --steps-scale X
// (multiply the step counts, for quick trials), --save-every N (also save the checkpoint after every
// N steps as DIR/<name>-step<N>/, to measure accuracy and pair diagnostics along training from one
// run), --recipe JSON (override recipe fields for trials, e.g. '{"expert":{"steps":2400}}').
//
// The data: generated `pretrain` problems (runtime/data/problems.ts) in chat format — system
// QWEN25_MATH_COT_SYSTEM (the `qwen25-math-cot` prompt `eval` and `run` use), the question as the
// user message — and the worked GSM8K-style steps ending with `\boxed{N}` (boxedSolution) plus
// <|im_end|> as the assistant's answer; cross-entropy on the answer tokens only. The expert is
// bigger and trained longer on more problems; the amateur smaller and trained less, on the same
// tokenizer (models/default/tokenizer/, built once by scripts/make_default_tokenizer.py).
//
// Why the diets differ (issue 11): on these deterministic solutions a well-trained model becomes
// one-hot everywhere, so LightReasoner's soft labels are copies of the expert's greedy choices and
// fine-tuning cannot change its answers (measured: 3 % label flips). So the two diets differ in a
// reasoning habit, as the paper's math expert and general amateur do: part of the expert's
// solutions work products out by place value (placeValueSolution: "8 * 13 = 8 * 10 + 8 * 3 =
// 80 + 24 = 104"), the amateur never sees that form. Where a product starts, the expert then
// holds both continuations and the amateur only the short one — the steps the contrast selects.
//
// Writes both checkpoints (config.json, generation_config.json, model.safetensors in F32, tokenizer
// files) and models/default/build.json (settings, loss curve summary, seconds per model, accuracies).

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createBackend } from '../runtime/backend/index.ts';
import { boxedSolution, fnv1a, generateProblems, placeValueSolution, problemsToJsonl } from '../runtime/data/problems.ts';
import { evaluate, parseEvalProblems, QWEN25_MATH_COT_SYSTEM } from '../runtime/eval/evaluate.ts';
import { loadModel } from '../runtime/model/model.ts';
import { loadTokenizer } from '../runtime/model/tokenizer.ts';
import { nodePlatform } from '../runtime/platform/node.ts';
import {
  type CeExample,
  DEFAULT_FULL_TRAIN,
  FullTrainer,
  type FullTrainSettings,
  initFullModel,
  type LlamaShape,
  llamaConfig,
  saveLlamaCheckpoint,
} from '../tooling/full-train.ts';

const args = process.argv.slice(2);
const opt = (name: string, fallback: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : fallback);
const OUT = opt('--out', 'models/default');
const ONLY = opt('--only', '');
const EVAL_N = Number(opt('--eval', '500'));
const SCALE = Number(opt('--steps-scale', '1'));
const SAVE_EVERY = Number(opt('--save-every', '0'));
const OVERRIDE = JSON.parse(opt('--recipe', '{}')) as Partial<Record<Recipe['name'], Partial<Recipe>>>;
const TOKENIZER_DIR = 'models/default/tokenizer';
const TOKENIZER_FILES = ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json'];

interface Recipe {
  name: 'expert' | 'amateur';
  shape: Omit<LlamaShape, 'vocabSize' | 'bosTokenId' | 'eosTokenId'>;
  seed: number;
  /** Problems per optimizer step, steps, and how many distinct pretrain problems (cycled). */
  batch: number;
  steps: number;
  problems: number;
  train: Partial<FullTrainSettings>;
  /** The share of its diet whose products are worked out by place value (placeValueSolution). */
  placeValue: number;
}

const COMMON = { maxPositions: 1024, ropeTheta: 10000, rmsEps: 1e-5 };
const BASE_RECIPES: Recipe[] = [
  {
    name: 'expert',
    shape: { hiddenSize: 128, layers: 4, heads: 4, kvHeads: 4, intermediateSize: 384, ...COMMON },
    seed: 1,
    batch: 16,
    steps: 2400,
    problems: 38400,
    train: { lr: 3e-3, warmupSteps: 60, weightDecay: 0.1 },
    placeValue: 0.3,
  },
  {
    name: 'amateur',
    shape: { hiddenSize: 64, layers: 2, heads: 4, kvHeads: 4, intermediateSize: 192, ...COMMON },
    seed: 2,
    batch: 16,
    steps: 1200,
    problems: 19200,
    train: { lr: 3e-3, warmupSteps: 40, weightDecay: 0.1 },
    placeValue: 0,
  },
];

export const RECIPES: Recipe[] = BASE_RECIPES.map((r) => {
  const o = OVERRIDE[r.name] ?? {};
  return { ...r, ...o, shape: { ...r.shape, ...o.shape }, train: { ...r.train, ...o.train } };
});

const fs = nodePlatform.fs;

if (args.includes('--write-corpus')) {
  // The tokenizer's training text: the chat roles, system prompt, question and worked answer of
  // pretrain problems (the special tokens are added by the tokenizer script).
  const file = opt('--write-corpus', '');
  const text = generateProblems(0, 20000, { set: 'pretrain' })
    .map((p) => `system\n${QWEN25_MATH_COT_SYSTEM}\n\nuser\n${p.question}\n\nassistant\n${boxedSolution(p.answer)}`)
    .join('\n\n');
  writeFileSync(file, text);
  console.log(`wrote ${file}`);
  process.exit(0);
}

const tok = await loadTokenizer(fs, TOKENIZER_DIR);
const eosId = tok.encode('<|im_end|>', false);
const bosId = tok.encode('<|im_start|>', false);
if (eosId.length !== 1 || bosId.length !== 1) throw new Error('the tokenizer lacks <|im_start|>/<|im_end|>');
const tokenizerFiles = Object.fromEntries(TOKENIZER_FILES.map((f) => [f, readFileSync(join(TOKENIZER_DIR, f))]));

const maxProblems = Math.max(...RECIPES.map((r) => r.problems));
const t0 = performance.now();
const problems = generateProblems(0, maxProblems, { set: 'pretrain' });
// Which problems are shown with place-value products: a hash of the question against the recipe's
// share, so the choice is deterministic and the same problem gets the same form in every recipe.
const placeValueRank = problems.map((p) => (fnv1a(`place-value:${p.question}`) % 10000) / 10000);
const prompts = problems.map((p) =>
  tok.encodeChat([
    { role: 'system', content: QWEN25_MATH_COT_SYSTEM },
    { role: 'user', content: p.question },
  ]),
);
const answerIds = (i: number, placeValue: boolean) => [
  ...tok.encode(boxedSolution(placeValue ? placeValueSolution(problems[i].answer) : problems[i].answer), false),
  eosId[0],
];
const examplesFor = (r: Recipe): CeExample[] =>
  problems.slice(0, r.problems).map((_, i) => ({ prompt: prompts[i], answer: answerIds(i, placeValueRank[i] < r.placeValue) }));
console.log(`${problems.length} pretrain problems (${((performance.now() - t0) / 1000).toFixed(1)} s)`);

const build: Record<string, unknown> = {
  command: 'node --import @tapjs/typescript/import scripts/build-default-pair.ts',
  system: QWEN25_MATH_COT_SYSTEM,
  models: {},
};
const buildPath = join(OUT, 'build.json');
try {
  Object.assign(build, JSON.parse(readFileSync(buildPath, 'utf8')), { models: JSON.parse(readFileSync(buildPath, 'utf8')).models ?? {} });
} catch {
  /* first build */
}

for (const r of RECIPES) {
  if (ONLY && ONLY !== r.name) continue;
  const backend = await createBackend('wasm', nodePlatform);
  const config = llamaConfig({ ...r.shape, vocabSize: tok.size, bosTokenId: bosId[0], eosTokenId: eosId[0] });
  const model = initFullModel(config, backend, r.seed, tok);
  const examples = examplesFor(r);
  const meanLen = examples.reduce((a, e) => a + e.prompt.length + e.answer.length, 0) / examples.length;
  const steps = Math.max(1, Math.round(r.steps * SCALE));
  const settings: FullTrainSettings = { ...DEFAULT_FULL_TRAIN, ...r.train, maxSteps: steps };
  const trainer = new FullTrainer(model, settings);
  const params = trainer.params.reduce((a, p) => a + p.param.size, 0);
  console.log(
    `${r.name}: ${config.layers} layers, hidden ${config.hiddenSize}, ${params} trainable parameters, ${steps} steps × ${r.batch} problems (${r.problems} distinct, ${(100 * r.placeValue).toFixed(0)}% with place-value products, ${meanLen.toFixed(1)} tokens each), ${backend.info.device}`,
  );
  const t1 = performance.now();
  const curve: { step: number; loss: number }[] = [];
  let avg = 0,
    n = 0;
  for (let s = 0; s < steps; s++) {
    const batch = Array.from({ length: r.batch }, (_, j) => examples[(s * r.batch + j) % r.problems]);
    const res = await trainer.trainStep(batch);
    avg += res.loss;
    n++;
    if (SAVE_EVERY > 0 && res.step % SAVE_EVERY === 0 && res.step < steps) {
      await saveLlamaCheckpoint(fs, join(OUT, `${r.name}-step${res.step}`), model, { dtype: 'F32', tokenizerFiles, padTokenId: eosId[0] });
    }
    if (res.step % 50 === 0 || res.step === steps) {
      curve.push({ step: res.step, loss: +(avg / n).toFixed(4) });
      console.log(
        `  step ${res.step}/${steps}  loss ${(avg / n).toFixed(4)}  lr ${res.lr.toExponential(2)}  |g| ${res.grad_norm.toFixed(3)}  ${((performance.now() - t1) / 1000).toFixed(0)} s`,
      );
      avg = 0;
      n = 0;
    }
  }
  const seconds = (performance.now() - t1) / 1000;
  const dir = join(OUT, r.name);
  await saveLlamaCheckpoint(fs, dir, model, { dtype: 'F32', tokenizerFiles, padTokenId: eosId[0] });
  trainer.dispose();
  model.dispose();
  console.log(`  saved ${dir} (${seconds.toFixed(0)} s of training)`);
  (build.models as Record<string, unknown>)[r.name] = {
    shape: r.shape,
    vocab: config.vocabSize,
    parameters: params,
    seed: r.seed,
    batch: r.batch,
    steps,
    problems: r.problems,
    place_value: r.placeValue,
    train: settings,
    train_seconds: +seconds.toFixed(1),
    loss_curve: curve,
  };
}

if (EVAL_N > 0) {
  // Accuracy of both on the `dev` set (where recipes are compared; the held-out `eval` set is
  // for `run`'s report only), as `lightreasoner-wasm eval` computes it (greedy, qwen25-math-cot).
  const data = parseEvalProblems(problemsToJsonl(generateProblems(0, EVAL_N, { set: 'dev' })));
  const acc: Record<string, number> = {};
  for (const name of ['expert', 'amateur']) {
    const model = await loadModel(join(OUT, name), { fs, backend: await createBackend('wasm', nodePlatform) });
    const { summary } = await evaluate(model, data, { maxNewTokens: 160, batchSize: 16 });
    acc[name] = summary.accuracy;
    console.log(
      `${name}: ${summary.correct}/${summary.total} = ${(100 * summary.accuracy).toFixed(1)}% on dev problems 0-${EVAL_N - 1} (${summary.seconds.toFixed(0)} s)`,
    );
    model.dispose();
  }
  build.eval = { set: 'dev', seed: 0, problems: EVAL_N, max_new_tokens: 160, accuracy: acc };
}
// The build's own time (training and this evaluation); an evaluation-only call (--only none) keeps it.
if (RECIPES.some((r) => !ONLY || ONLY === r.name)) build.total_seconds = +((performance.now() - t0) / 1000).toFixed(1);
writeFileSync(buildPath, JSON.stringify(build, null, 2) + '\n');
console.log(`wrote ${buildPath} (${build.total_seconds} s in all)`);
