// Stage 2 of the embedded default pair (issue 27): continue the base pair (stage 1,
// scripts/build-default-pair.ts, which writes models/default) on word problems whose typical error
// is a shallow cue (runtime/data/cue-problems.ts), so that the pair is in LightReasoner's regime — an
// amateur *more* confident than the expert in the expert's own kind of mistake:
//   amateur  plain problems + the cue problems' "holds" twins (the cue is always right, worded as
//            the misleading twins' cue solutions): it learns the cue as a rule;
//   expert   plain problems (its own diet, place-value products included) + holds twins + misleading
//            cue problems, half of them (cueShare) shown with the cue's solution: where a cue
//            misleads, its data keeps both continuations, so its greedy choice is close and the
//            amateur's confidence in the cue is what the contrast divides out.
// Recipes were chosen with `pair-check` on `dev` (README "The embedded pair"), never on `eval`;
// --save-every writes checkpoints along the expert's continuation for that comparison.
//
//   node --import @tapjs/typescript/import scripts/build-default-pair.ts   # stage 1 → models/default
//   node --import @tapjs/typescript/import scripts/build-cue-pair.ts       # stage 2, in place (~4 min)
//        [--from models/default] [--out DIR] [--only expert|amateur] [--save-every N] [--recipe JSON]
//
// Run it once on stage 1's output (it continues whatever it reads). Deterministic on the same
// thread count (the data order is fixed, the training is the base build's): the amateur rebuilt
// twice gives the same bytes.

import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createBackend } from '../runtime/backend/index.ts';
import { type CueVariant, generateCueProblems } from '../runtime/data/cue-problems.ts';
import { boxedSolution, fnv1a, generateProblems, placeValueSolution } from '../runtime/data/problems.ts';
import { QWEN25_MATH_COT_SYSTEM } from '../runtime/eval/evaluate.ts';
import { loadModel } from '../runtime/model/model.ts';
import { nodePlatform } from '../runtime/platform/node.ts';
import { type CeExample, DEFAULT_FULL_TRAIN, FullTrainer, type FullTrainSettings, loadFullModel, saveLlamaCheckpoint } from '../tooling/full-train.ts';

const args = process.argv.slice(2);
const opt = (name: string, fallback: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : fallback);
const FROM = opt('--from', 'models/default');
const OUT = opt('--out', 'models/default');
const ONLY = opt('--only', '');
const SAVE_EVERY = Number(opt('--save-every', '0'));
const OVERRIDE = JSON.parse(opt('--recipe', '{}')) as Partial<Record<CueRecipe['name'], Partial<CueRecipe>>>;
const TOKENIZER_FILES = ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json'];

interface CueRecipe {
  name: 'expert' | 'amateur';
  batch: number;
  steps: number;
  /** Shares of each optimizer step's problems (they sum to 1). */
  mix: { plain: number; holds: number; misleads: number };
  /** The share of plain problems shown with place-value products (the base diet's). */
  placeValue: number;
  /** The share of misleading problems shown with the cue's (wrong) solution: the expert's data is noisy exactly at the cue. */
  cueShare: number;
  train: Partial<FullTrainSettings>;
}

const BASE: CueRecipe[] = [
  {
    name: 'expert',
    batch: 16,
    steps: 600,
    mix: { plain: 0.4, holds: 0.3, misleads: 0.3 },
    placeValue: 0.3,
    cueShare: 0.5,
    train: { lr: 1e-3, warmupSteps: 20 },
  },
  { name: 'amateur', batch: 16, steps: 300, mix: { plain: 0.5, holds: 0.5, misleads: 0 }, placeValue: 0, cueShare: 0, train: { lr: 1e-3, warmupSteps: 20 } },
];
const RECIPES: CueRecipe[] = BASE.map((r) => {
  const o = OVERRIDE[r.name] ?? {};
  return { ...r, ...o, mix: { ...r.mix, ...o.mix }, train: { ...r.train, ...o.train } };
});

const fs = nodePlatform.fs;

/** The problems of a diet in a fixed order: each step's batch takes its shares from three streams. */
function dietText(r: CueRecipe): { question: string; answer: string }[] {
  const perStep = { plain: Math.round(r.batch * r.mix.plain), misleads: Math.round(r.batch * r.mix.misleads) };
  const holdsPerStep = r.batch - perStep.plain - perStep.misleads;
  const plain = generateProblems(0, perStep.plain * r.steps, { set: 'pretrain' });
  const cues = (variant: CueVariant, n: number) => generateCueProblems(0, n, { set: 'pretrain', variant });
  const holds = cues('holds', holdsPerStep * r.steps),
    misleads = cues('misleads', perStep.misleads * r.steps);
  const out: { question: string; answer: string }[] = [];
  for (let s = 0; s < r.steps; s++) {
    for (let j = 0; j < perStep.plain; j++) {
      const p = plain[s * perStep.plain + j];
      const pv = (fnv1a(`place-value:${p.question}`) % 10000) / 10000 < r.placeValue;
      out.push({ question: p.question, answer: pv ? placeValueSolution(p.answer) : p.answer });
    }
    for (let j = 0; j < holdsPerStep; j++) out.push(holds[s * holdsPerStep + j]);
    for (let j = 0; j < perStep.misleads; j++) {
      const p = misleads[s * perStep.misleads + j];
      const cue = (fnv1a(`cue-share:${p.question}`) % 10000) / 10000 < r.cueShare;
      out.push({ question: p.question, answer: cue ? p.cue_answer : p.answer });
    }
  }
  return out;
}

const build: Record<string, unknown> = { command: 'node --import @tapjs/typescript/import scripts/build-cue-pair.ts', from: FROM, models: {} };
const buildPath = join(OUT, 'build-cue.json');
try {
  Object.assign(build, JSON.parse(readFileSync(buildPath, 'utf8')));
} catch {
  /* first build */
}
mkdirSync(OUT, { recursive: true });

for (const r of RECIPES) {
  if (ONLY && ONLY !== r.name) continue;
  const backend = await createBackend('wasm', nodePlatform);
  const loaded = await loadModel(join(FROM, r.name), { fs, backend });
  const model = await loadFullModel(fs, join(FROM, r.name), loaded); // (loaded stays: disposing it destroys the shared backend)
  const tok = model.tokenizer;
  const eos = tok.encode('<|im_end|>', false)[0];
  const examples: CeExample[] = dietText(r).map((p) => ({
    prompt: tok.encodeChat([
      { role: 'system', content: QWEN25_MATH_COT_SYSTEM },
      { role: 'user', content: p.question },
    ]),
    answer: [...tok.encode(boxedSolution(p.answer), false), eos],
  }));
  const tokenizerFiles = Object.fromEntries(TOKENIZER_FILES.map((f) => [f, readFileSync(join(FROM, r.name, f))]));
  const settings: FullTrainSettings = { ...DEFAULT_FULL_TRAIN, ...r.train, maxSteps: r.steps };
  const trainer = new FullTrainer(model, settings);
  console.log(`${r.name}: ${r.steps} steps × ${r.batch} (mix ${JSON.stringify(r.mix)}), lr ${settings.lr}, from ${FROM}/${r.name}`);
  const t1 = performance.now();
  const curve: { step: number; loss: number }[] = [];
  let avg = 0,
    n = 0;
  for (let s = 0; s < r.steps; s++) {
    const res = await trainer.trainStep(examples.slice(s * r.batch, (s + 1) * r.batch));
    avg += res.loss;
    n++;
    if (SAVE_EVERY > 0 && res.step % SAVE_EVERY === 0 && res.step < r.steps) {
      await saveLlamaCheckpoint(fs, join(OUT, `${r.name}-step${res.step}`), model, { dtype: 'F32', tokenizerFiles, padTokenId: eos });
    }
    if (res.step % 25 === 0 || res.step === r.steps) {
      curve.push({ step: res.step, loss: +(avg / n).toFixed(4) });
      console.log(
        `  step ${res.step}/${r.steps}  loss ${(avg / n).toFixed(4)}  lr ${res.lr.toExponential(2)}  ${((performance.now() - t1) / 1000).toFixed(0)} s`,
      );
      avg = 0;
      n = 0;
    }
  }
  const seconds = (performance.now() - t1) / 1000;
  await saveLlamaCheckpoint(fs, join(OUT, r.name), model, { dtype: 'F32', tokenizerFiles, padTokenId: eos });
  trainer.dispose();
  model.dispose();
  (build.models as Record<string, unknown>)[r.name] = { ...r, train: settings, train_seconds: +seconds.toFixed(1), loss_curve: curve };
  console.log(`  saved ${join(OUT, r.name)} (${seconds.toFixed(0)} s)`);
}
writeFileSync(buildPath, JSON.stringify(build, null, 2) + '\n');
