// Choose the embedded default's fine-tuning settings on the generator's `dev` set — never on the
// held-out `eval` set that `run` reports — and keep the whole sweep, so a reader sees how sensitive
// the result is to each setting:
//
//   node --import @tapjs/typescript/import scripts/sweep-default.ts      # ~30 min on a 2-core machine
//
// Stage 1 runs once per β on the `sample` problems `run` trains on; each configuration then
// fine-tunes the expert (LoRA) and is scored on `dev` problems against the expert before, with the
// 95 % Wilson interval and the exact McNemar test. Writes models/default/sweep.json (every
// configuration, the pair diagnostics per β) and models/default/settings.json (the best
// configuration by dev accuracy, fewer steps on a tie), which `run` uses for the embedded pair; and
// prints a Markdown table for the README.
//
// Options: --pair DIR (default models/default), --train N (sample problems, default: run's),
// --dev N (dev problems, default 1000), --work DIR (scratch, default tmp/sweep), --grid quick|full.

import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createBackend } from '../runtime/backend/index.ts';
import { defaultMixJsonl } from '../runtime/data/default-mix.ts';
import { evaluate, parseEvalProblems } from '../runtime/eval/evaluate.ts';
import { formatAccuracy, formatP, formatPValue, pairedComparison, wilsonInterval } from '../runtime/eval/stats.ts';
import { loadModel } from '../runtime/model/model.ts';
import { nodePlatform } from '../runtime/platform/node.ts';
import { defaultProblems } from '../runtime/run/pipeline.ts';
import { summarizeDiagnostics } from '../runtime/stage/diagnostics.ts';
import { runSampling } from '../runtime/stage/sampling.ts';
import { DEFAULT_SETTINGS } from '../runtime/stage/sample.ts';
import { DEFAULT_FINETUNE, finetune } from '../runtime/train/finetune.ts';
import type { LoraTarget } from '../runtime/train/lora.ts';
import { loadAdapter } from '../runtime/train/peft.ts';
import { EMBEDDED_DEFAULTS } from '../cli/commands/run.ts';

const args = process.argv.slice(2);
const opt = (name: string, fallback: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : fallback);
const PAIR = opt('--pair', 'models/default');
const TRAIN_N = Number(opt('--train', String(EMBEDDED_DEFAULTS.trainQuestions)));
const DEV_N = Number(opt('--dev', '1000'));
const WORK = opt('--work', 'tmp/sweep');
const GRID = opt('--grid', 'full');
const EVAL_MAX_NEW = EMBEDDED_DEFAULTS.evalMaxNewTokens;

interface Config {
  problems: number;
  alpha: number;
  beta: number;
  lr: number;
  maxSteps: number;
  r: number;
  targets: LoraTarget[];
}
const QV: LoraTarget[] = ['q_proj', 'v_proj'];
const ALL: LoraTarget[] = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'];
const key = (c: Config) =>
  `${c.problems} problems, α ${c.alpha}, β ${c.beta}, lr ${c.lr}, ${c.maxSteps} steps, r ${c.r}, ${c.targets.length === 2 ? 'q/v' : 'all linear'}`;

/** Phase 1: learning rate × steps at the paper's LoRA (r 8, q/v), α 0.2 and β 0.4. */
function phase1(): Config[] {
  const base: Config = { problems: TRAIN_N, alpha: DEFAULT_SETTINGS.alpha, beta: 0.4, lr: 5e-5, maxSteps: 200, r: 8, targets: QV };
  if (GRID === 'quick') return [base, { ...base, lr: 2e-3 }];
  return [5e-5, 5e-4, 2e-3, 5e-3].flatMap((lr) => [200, 600].map((maxSteps) => ({ ...base, lr, maxSteps })));
}

/** Phase 2: one setting at a time around phase 1's best — α, β, rank, target modules, more problems. */
function phase2(best: Config): Config[] {
  if (GRID === 'quick') return [];
  return [
    { ...best, alpha: 0.5 },
    { ...best, beta: 0.2 },
    { ...best, beta: 1.0 },
    { ...best, r: 32 },
    { ...best, targets: ALL },
    { ...best, problems: 4 * TRAIN_N },
  ];
}

const fs = nodePlatform.fs;
const T0 = performance.now();
rmSync(WORK, { recursive: true, force: true });
mkdirSync(WORK, { recursive: true });
const dev = parseEvalProblems(defaultMixJsonl(DEV_N, 'dev'), { file: 'generated dev set' });
const backend = await createBackend('wasm', nodePlatform);
const expert = await loadModel(join(PAIR, 'expert'), { fs, backend });
const amateur = await loadModel(join(PAIR, 'amateur'), { fs, backend: await createBackend('wasm', nodePlatform) });
console.log(`sweep on ${PAIR}: ${dev.length} dev problems, ${backend.info.device}`);

const before = await evaluate(expert, dev, { maxNewTokens: EVAL_MAX_NEW, batchSize: 16 });
const amateurDev = await evaluate(amateur, dev, { maxNewTokens: EVAL_MAX_NEW, batchSize: 16 });
const acc = (s: { correct: number; total: number }) => ({ accuracy: s.correct / s.total, correct: s.correct, ci95: wilsonInterval(s.correct, s.total) });
console.log(
  `dev: expert ${formatAccuracy(before.summary.accuracy, wilsonInterval(before.summary.correct, before.summary.total))}, amateur ${formatAccuracy(amateurDev.summary.accuracy, wilsonInterval(amateurDev.summary.correct, amateurDev.summary.total))}`,
);

type Sampled = { file: string; samples: number; diagnostics: ReturnType<typeof summarizeDiagnostics> };
const sampled = new Map<string, Sampled>();
/** Stage 1 for a (problem count, β), once. */
async function samplesFor(c: Config): Promise<Sampled> {
  const id = `n${c.problems}-alpha${c.alpha}-beta${c.beta}`;
  const have = sampled.get(id);
  if (have) return have;
  const file = join(WORK, `samples-${id}.jsonl`);
  const { train } = defaultProblems(c.problems, 0);
  const s = await runSampling({
    fs,
    expert,
    amateur,
    problems: train.map(({ id: pid, question }) => ({ id: pid, question })),
    settings: { ...DEFAULT_SETTINGS, alpha: c.alpha, beta: c.beta },
    out: file,
    identity: { expert: { source: PAIR, fingerprint: '' }, amateur: { source: PAIR, fingerprint: '' }, data: '', backend: 'wasm' },
  });
  const r = { file, samples: s.selected_steps, diagnostics: s.diagnostics };
  sampled.set(id, r);
  console.log(
    `${c.problems} problems, α ${c.alpha}, β ${c.beta}: ${s.selected_steps} samples; label flips ${(100 * (s.diagnostics.label_flip_rate ?? 0)).toFixed(1)}%, mean mask ${(s.diagnostics.mask.mean ?? 0).toFixed(2)}`,
  );
  return r;
}

const results: Record<string, unknown>[] = [];
const bestOf = () =>
  results.reduce((a, b) => {
    // The best by dev accuracy; on a tie the cheaper run (fewer steps), then the earlier (simpler) row.
    const da = (a.dev as { correct: number }).correct,
      db = (b.dev as { correct: number }).correct;
    return db > da || (db === da && (b.config as Config).maxSteps < (a.config as Config).maxSteps) ? b : a;
  });
async function tryConfig(c: Config): Promise<void> {
  const sam = await samplesFor(c);
  const dir = join(WORK, `adapter-${results.length}`);
  const t1 = performance.now();
  const ft = await finetune({
    fs,
    model: expert,
    samplesText: await fs.readText(sam.file),
    samplesFile: sam.file,
    out: dir,
    onWarning: () => {},
    settings: {
      ...DEFAULT_FINETUNE,
      saveSteps: 0,
      lr: c.lr,
      maxSteps: c.maxSteps,
      lora: { ...DEFAULT_FINETUNE.lora, r: c.r, alpha: 2 * c.r, targetModules: c.targets },
    },
  });
  expert.adapter = await loadAdapter(fs, dir, expert);
  const after = await evaluate(expert, dev, { maxNewTokens: EVAL_MAX_NEW, batchSize: 16 });
  expert.adapter = null;
  const paired = pairedComparison(before.records, after.records);
  const row = {
    config: c,
    label: key(c),
    samples: sam.samples,
    final_loss: ft.final_loss,
    seconds: +((performance.now() - t1) / 1000).toFixed(1),
    dev: acc(after.summary),
    paired_vs_before: paired,
  };
  results.push(row);
  console.log(
    `${key(c)}: ${formatAccuracy(after.summary.accuracy, row.dev.ci95)}, fixed ${paired.fixed}, broken ${paired.broken}, ${formatP(paired.p_value)} (${row.seconds} s)`,
  );
  rmSync(dir, { recursive: true, force: true });
}
for (const c of phase1()) await tryConfig(c);
for (const c of phase2(bestOf().config as Config)) await tryConfig(c);
amateur.dispose();

const best = bestOf();
const chosen = best.config as Config;
const sweep = {
  command: 'node --import @tapjs/typescript/import scripts/sweep-default.ts',
  pair: PAIR,
  date: new Date().toISOString(),
  device: backend.info.device,
  dev_problems: dev.length,
  eval_max_new_tokens: EVAL_MAX_NEW,
  dev_before: { expert: acc(before.summary), amateur: acc(amateurDev.summary) },
  diagnostics: Object.fromEntries([...sampled].map(([id, s]) => [id, s.diagnostics])),
  results,
  chosen: best.label,
  seconds: +((performance.now() - T0) / 1000).toFixed(0),
};
writeFileSync(join(PAIR, 'sweep.json'), `${JSON.stringify(sweep, null, 2)}\n`);
const settings = {
  chosen_on: `dev (${dev.length} problems); see sweep.json`,
  trainQuestions: chosen.problems,
  alpha: chosen.alpha,
  beta: chosen.beta,
  lr: chosen.lr,
  maxSteps: chosen.maxSteps,
  loraR: chosen.r,
  loraAlpha: 2 * chosen.r,
  targetModules: chosen.targets,
};
writeFileSync(join(PAIR, 'settings.json'), `${JSON.stringify(settings, null, 2)}\n`);

console.log(
  `\n| problems | α | β | lr | steps | r | targets | samples | dev accuracy [95% CI] | fixed | broken | McNemar p |\n|---|---|---|---|---|---|---|---|---|---|---|---|`,
);
for (const r of results) {
  const c = r.config as Config,
    d = r.dev as { accuracy: number; ci95: [number, number] },
    p = r.paired_vs_before as { fixed: number; broken: number; p_value: number };
  console.log(
    `| ${c.problems} | ${c.alpha} | ${c.beta} | ${c.lr} | ${c.maxSteps} | ${c.r} | ${c.targets.length === 2 ? 'q, v' : 'all linear'} | ${r.samples} | ${formatAccuracy(d.accuracy, d.ci95)} | ${p.fixed} | ${p.broken} | ${formatPValue(p.p_value)} |`,
  );
}
console.log(`\nchosen: ${best.label}; wrote ${join(PAIR, 'sweep.json')} and ${join(PAIR, 'settings.json')} (${sweep.seconds} s)`);
expert.dispose();
