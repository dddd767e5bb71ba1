// `lightreasoner-wasm run` end to end on the tiny fixture pairs (small settings), the SFT baseline
// (`--compare-sft`, `finetune --objective sft`), and the clear errors.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { problemsToJsonl, generateProblems } from '../runtime/data/problems.ts';
import { defaultMixJsonl } from '../runtime/data/default-mix.ts';
import { gradeOutput, parseGold } from '../runtime/eval/grade.ts';
import { nodePlatform } from '../runtime/platform/node.ts';
import { parseEvalProblems } from '../runtime/eval/evaluate.ts';
import { mcnemarExact, wilsonInterval } from '../runtime/eval/stats.ts';
import { parseTrainProblems, runPipeline } from '../runtime/run/pipeline.ts';
import type { EvalResult, RunReport } from '../runtime/run/report-types.ts';
import { openModel } from '../runtime/session.ts';
import { parseSftSamples } from '../runtime/train/data.ts';
import { finetune } from '../runtime/train/finetune.ts';
import { FIXTURES, ROOT } from './helpers/cli.ts';
import { runEachInProcess, runInProcess } from './helpers/cli-in-process.ts';

const dir = mkdtempSync(join(tmpdir(), 'lr-run-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const pair = (name: string) => ['--expert', join(FIXTURES, 'sampling/models', name, 'expert'), '--amateur', join(FIXTURES, 'sampling/models', name, 'amateur')];
const questions = readFileSync(join(FIXTURES, 'sampling/questions.jsonl'), 'utf8');
// Training problems without answers (the SFT baseline then keeps every trajectory: the fixture
// models cannot solve anything), and a held-out set with answers.
const trainNoAnswers = join(dir, 'train.jsonl');
writeFileSync(
  trainNoAnswers,
  questions
    .trim()
    .split('\n')
    .map((l) => {
      const { answer: _, ...o } = JSON.parse(l);
      return JSON.stringify(o);
    })
    .join('\n') + '\n',
);
const evalFile = join(dir, 'eval.jsonl');
writeFileSync(evalFile, problemsToJsonl(generateProblems(0, 6, { set: 'eval' })));
// The embedded pair's mix (each line names its kind): the report splits the results per kind.
const evalKinds = join(dir, 'eval-kinds.jsonl');
writeFileSync(evalKinds, defaultMixJsonl(6, 'eval'));
const SMALL = ['--max-steps', '3', '--max-new-tokens', '24', '--eval-max-new-tokens', '24', '--lr', '1e-3', '--backend', 'wasm', '--quiet'];

function checkAccuracy(t: Test, r: EvalResult | null | undefined, name: string) {
  t.ok(r, `${name} evaluated`);
  if (!r) return;
  t.ok(r.accuracy >= 0 && r.accuracy <= 1, `${name}: accuracy ${r.accuracy} in [0, 1]`);
  t.equal(r.total, 6, `${name}: 6 held-out problems`);
  t.equal(r.accuracy, r.correct / r.total, `${name}: accuracy = correct / total`);
  t.same(r.ci95, wilsonInterval(r.correct, r.total), `${name}: the 95% Wilson interval`);
  t.equal('paired_vs_before' in r, name === 'expert_after' || name === 'expert_sft', `${name}: a paired test only for tuned models`);
}

/** The paired counts recounted from the per-problem files. */
function checkPaired(t: Test, out: string, name: 'expert_after' | 'expert_sft', r: EvalResult, file: string = name) {
  const read = (n: string) =>
    readFileSync(join(out, 'eval', `${n}.jsonl`), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { id: string; correct: boolean });
  const before = new Map(read('expert_before').map((x) => [x.id, x.correct]));
  const after = read(file);
  const fixed = after.filter((x) => x.correct && !before.get(x.id)).length,
    broken = after.filter((x) => !x.correct && before.get(x.id)).length;
  t.same(r.paired_vs_before, { fixed, broken, p_value: mcnemarExact(fixed, broken) }, `${file}: paired counts from eval/*.jsonl`);
}

/** report.what_changed: the samples it read, and steps that are what it says they are. */
function checkWhatChanged(t: Test, out: string, report: RunReport) {
  const w = report.what_changed!;
  const multi = readFileSync(join(out, 'samples.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .filter((l) => (JSON.parse(l) as { token_ids: number[] }).token_ids.length >= 2).length;
  t.equal(w.examined, Math.min(256, multi), 'every sample whose label holds two or more tokens (at most 256)');
  t.ok(w.preferred_other <= w.examined && w.now_top <= w.preferred_other, `${w.now_top} ≤ ${w.preferred_other} ≤ ${w.examined}`);
  t.equal(w.top.length, Math.min(8, w.preferred_other));
  const rises = w.top.map((s) => s.p_after - s.p_before);
  t.same(
    rises,
    [...rises].sort((a, b) => b - a),
    'largest rise first',
  );
  for (const s of w.top) {
    t.not(s.preferred_id, s.expert_top_id, 'the preferred token is not the expert’s own');
    t.ok(
      [s.p_before, s.p_after, s.weight].every((x) => x >= 0 && x <= 1),
      'probabilities',
    );
  }
}

/** report.by_kind recounted from the per-problem files and the data's kinds. */
function checkKinds(t: Test, out: string, report: RunReport) {
  const kindOf = new Map(
    readFileSync(evalKinds, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { id: string; kind: string; variant?: string })
      .map((p) => [p.id, p.variant ? `${p.kind} (${p.variant})` : p.kind]),
  );
  const read = (n: string) =>
    readFileSync(join(out, 'eval', `${n}.jsonl`), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { id: string; correct: boolean });
  const kinds = [...new Set(kindOf.values())];
  t.same(
    report.by_kind?.map((k) => [k.kind, k.problems]),
    kinds.map((k) => [k, [...kindOf.values()].filter((x) => x === k).length]),
    'one row per kind, in data order',
  );
  for (const row of report.by_kind ?? []) {
    const mine = (n: string) => read(n).filter((x) => kindOf.get(x.id) === row.kind);
    for (const m of ['amateur', 'expert_before', 'expert_after', 'expert_sft'] as const)
      t.equal(row.correct[m], mine(m).filter((x) => x.correct).length, `${row.kind}: ${m} right answers`);
    for (const m of ['expert_after', 'expert_sft'] as const) {
      const before = new Map(mine('expert_before').map((x) => [x.id, x.correct]));
      const fixed = mine(m).filter((x) => x.correct && !before.get(x.id)).length,
        broken = mine(m).filter((x) => !x.correct && before.get(x.id)).length;
      t.same(row.paired[m], { fixed, broken, p_value: mcnemarExact(fixed, broken) }, `${row.kind}: ${m} paired`);
    }
  }
}

t.test('run: sample → finetune → eval ×3 → report.json + report.html', async (t) => {
  const out = join(dir, 'plain');
  const r = await runInProcess(['run', ...pair('llama-pair'), '--train-data', trainNoAnswers, '--eval-data', evalFile, '--out', out, ...SMALL, '--json']);
  t.equal(r.code, 0, r.stderr);
  for (const f of [
    'samples.jsonl',
    'adapter/adapter_config.json',
    'adapter/adapter_model.safetensors',
    'adapter/train_log.jsonl',
    'report.json',
    'report.html',
    'eval/amateur.jsonl',
    'eval/expert_before.jsonl',
    'eval/expert_after.jsonl',
  ]) {
    t.ok(existsSync(join(out, f)), `${f} written`);
  }
  t.notOk(existsSync(join(out, 'sft')), 'no SFT without --compare-sft');
  const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as RunReport;
  t.same(JSON.parse(r.stdout), report, '--json prints report.json');
  for (const m of ['amateur', 'expert_before', 'expert_after'] as const) checkAccuracy(t, report.eval[m], m);
  checkPaired(t, out, 'expert_after', report.eval.expert_after);
  t.notOk('expert_sft' in report.eval, 'no SFT column');
  t.notOk('seeds' in report, 'one seed: no seeds table');
  t.notOk('by_kind' in report, 'no kinds named in the data: no per-kind table');
  checkWhatChanged(t, out, report);
  const summary = JSON.parse(readFileSync(join(out, 'samples.jsonl.summary.json'), 'utf8'));
  t.same(report.diagnostics, summary.diagnostics, "the report carries the sampling stage's pair diagnostics");
  t.equal(report.diagnostics.selected_steps, report.stages.sample.samples);
  const s = report.stages;
  t.equal(s.sample.problems, 4);
  t.ok(s.sample.samples > 0 && s.sample.seconds > 0, `sample: ${s.sample.samples} samples in ${s.sample.seconds} s`);
  t.equal(s.sample.samples, readFileSync(join(out, 'samples.jsonl'), 'utf8').trim().split('\n').length, 'samples = lines of samples.jsonl');
  t.match(s.finetune, { steps: 3, tuned_tokens: 48, seconds: Number });
  t.ok(s.finetune.seconds > 0);
  t.equal(report.charts.loss.kl.length, 3, 'three loss points');
  const kl = report.charts.kl;
  t.equal(
    kl.all.reduce((a, b) => a + b, 0),
    s.sample.contrasted_steps,
    'the KL histogram counts every contrasted step',
  );
  t.equal(
    kl.selected.reduce((a, b) => a + b, 0),
    s.sample.samples,
    '… and the selected ones',
  );
  t.equal(
    report.charts.steps.selected.reduce((a, b) => a + b, 0),
    s.sample.samples,
  );
  const html = readFileSync(join(out, 'report.html'), 'utf8');
  t.match(html, /<svg/);
  t.notMatch(html, /<script|<link|@import|url\(/, 'self-contained: no scripts, links or external resources');
  t.notMatch(html, /NaN|undefined/, 'no NaN/undefined in the page');
});

t.test('run --compare-sft: the SFT baseline beside LightReasoner', async (t) => {
  const out = join(dir, 'sft');
  const r = await runInProcess([
    'run',
    ...pair('qwen-pair'),
    '--train-data',
    trainNoAnswers,
    '--eval-data',
    evalKinds,
    '--out',
    out,
    ...SMALL.filter((a) => a !== '--quiet'),
    '--compare-sft',
    '--sft-steps',
    '2',
    '--seeds',
    '2',
    '--seed',
    '7',
  ]);
  t.equal(r.code, 0, r.stderr);
  const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as RunReport;
  for (const m of ['amateur', 'expert_before', 'expert_after', 'expert_sft'] as const) checkAccuracy(t, report.eval[m], m);
  checkPaired(t, out, 'expert_sft', report.eval.expert_sft!);
  checkKinds(t, out, report);
  t.match(r.stdout, /per problem kind .*\n  plain +2 .*fixed \d+, broken \d+, p [=<] [\d.]+; SFT /);
  t.match(readFileSync(join(out, 'report.html'), 'utf8'), /Held-out accuracy per problem kind/);
  // --seeds 2: a second adapter of each kind, every seed's paired test, mean ± sd.
  t.same(report.seeds?.seeds, [7, 8]);
  for (const m of ['expert_after', 'expert_sft'] as const) {
    const s = report.seeds![m]!;
    t.same(
      s.runs.map((x) => x.seed),
      [7, 8],
      `${m}: both seeds`,
    );
    t.match(s.runs[0], { accuracy: report.eval[m]!.accuracy, ...report.eval[m]!.paired_vs_before }, `${m}: the first seed is the headline`);
    const accs = s.runs.map((x) => x.accuracy),
      mean = (accs[0] + accs[1]) / 2;
    t.ok(Math.abs(s.accuracy.mean - mean) < 1e-12 && Math.abs(s.accuracy.sd - Math.abs(accs[0] - accs[1]) / Math.SQRT2) < 1e-12, `${m}: mean ± sd`);
    checkPaired(t, out, m, { ...report.eval[m]!, paired_vs_before: (({ fixed, broken, p_value }) => ({ fixed, broken, p_value }))(s.runs[1]) }, `${m}-seed8`);
  }
  t.ok(
    existsSync(join(out, 'adapter-seed8/adapter_model.safetensors')) && existsSync(join(out, 'sft/adapter-seed8/adapter_model.safetensors')),
    'one adapter per seed',
  );
  // The summary: intervals, paired tests, seeds, and the diagnostics before training.
  t.match(r.stderr, /pair diagnostics: \d+\/\d+ steps selected/);
  t.match(r.stdout, /^held-out accuracy on \d+ problems/, 'the summary is the result, on stdout');
  t.match(r.stdout, /expert before +\d+\.\d% \[\d+\.\d, \d+\.\d\]/);
  t.match(r.stdout, /expert \+ LightReasoner .*fixed \d+, broken \d+, p [=<] [\d.]+; 2 seeds: /);
  t.match(r.stdout, /\nreport: .*report\.html\n$/);
  t.notMatch(r.stderr, /held-out accuracy/, 'progress only on stderr');
  const sft = report.stages.sft!;
  t.match(sft, { problems: 4, trajectories: 4, rejected: 0, steps: 2 });
  t.ok(sft.tuned_tokens > (report.stages.finetune.tuned_tokens / 3) * 2, `SFT tuned ${sft.tuned_tokens} tokens (every position of whole trajectories)`);
  t.equal(sft.seconds, sft.trajectory_seconds + sft.train_seconds);
  t.ok(existsSync(join(out, 'sft/adapter/adapter_model.safetensors')) && existsSync(join(out, 'sft/trajectories.jsonl')));
  t.equal(report.charts.loss.sft?.length, 2);
  const html = readFileSync(join(out, 'report.html'), 'utf8');
  t.match(html, /SFT baseline/);
  t.match(html, /Expert \+ SFT baseline/);

  // Rejection sampling: with gold answers the fixture expert gets none right, so nothing is trained
  // (through the API: a second CLI process would cost seconds of start-up).
  const out2 = join(dir, 'sft-rejected');
  const events: string[] = [];
  const rep2 = await runPipeline({
    platform: nodePlatform,
    ...(Object.fromEntries([
      ['expert', pair('llama-pair')[1]],
      ['amateur', pair('llama-pair')[3]],
    ]) as { expert: string; amateur: string }),
    train: parseTrainProblems(questions),
    eval: parseEvalProblems(readFileSync(evalFile, 'utf8')),
    out: out2,
    backend: 'wasm',
    compareSft: true,
    sftSteps: 2,
    sample: { maxNewTokens: 24 },
    finetune: { maxSteps: 2, lr: 1e-3 },
    evalSettings: { maxNewTokens: 24 },
    onEvent: (e) => events.push(e.status === 'stage' ? `${e.stage}:${e.state}` : e.status),
  });
  t.match(rep2.stages.sft, { trajectories: 0, rejected: 4, steps: 0, skipped: /no expert trajectory/ });
  t.equal(rep2.eval.expert_sft, null, 'SFT not evaluated when it could not train');
  t.match(readFileSync(join(out2, 'report.html'), 'utf8'), /not trained/);
  t.ok(events.includes('warning'), 'a warning event says why');
  t.same(
    [...new Set(events.filter((e) => e.includes(':start')))],
    ['load:start', 'sample:start', 'eval:start', 'finetune:start', 'sft-trajectories:start', 'report:start'],
    'stage events in order',
  );
  t.equal(events[events.length - 1], 'done');
  // An aborted run stops with ABORTED.
  const ac = new AbortController();
  ac.abort();
  await t.rejects(
    runPipeline({
      platform: nodePlatform,
      expert: pair('llama-pair')[1],
      amateur: pair('llama-pair')[3],
      train: parseTrainProblems(questions),
      eval: parseEvalProblems(readFileSync(evalFile, 'utf8')),
      out: join(dir, 'aborted'),
      backend: 'wasm',
      signal: ac.signal,
    }),
    { code: 'ABORTED' },
  );
});

t.test('parseSftSamples: one-hot samples over every position, rejection by the final answer', async (t) => {
  const model = await openModel(join(FIXTURES, 'sampling/models/llama-pair/expert'), { platform: nodePlatform, backend: 'reference' });
  t.teardown(() => model.dispose());
  const tok = model.tokenizer;
  const opts = {
    vocab: model.config.vocabSize,
    system: 'S',
    eosTokenId: 2,
    grade: (o: string, g: string | null) => gradeOutput(o, g).correct,
    goldOf: parseGold,
  };
  const right = tok.encode('so the answer is 14', false),
    wrong = tok.encode('so the answer is 15', false);
  const text = [
    { question: 'Q1', output_token_ids: right, answer: 'x\n#### 14' },
    { question: 'Q2', output_token_ids: wrong, answer: 'x\n#### 14' },
    { question: 'Q3', output: 'so the answer is 3', finish: 'eos', correct: true },
    { question: 'Q4', output: 'whatever', correct: false },
    { question: 'Q5', output_token_ids: [5, 6, 7] },
  ]
    .map((o) => JSON.stringify(o))
    .join('\n');
  const p = parseSftSamples(text, tok, opts);
  t.equal(p.trajectories, 3);
  t.equal(p.rejected, 2);
  const prompt1 = tok.encodeChat([
    { role: 'system', content: 'S' },
    { role: 'user', content: 'Q1' },
  ]);
  const q1 = p.samples.filter((s) => s.line === 1);
  t.equal(q1.length, right.length, 'one sample per trajectory position');
  for (const [j, s] of q1.entries()) {
    t.same(s.ids, [...prompt1, ...right.slice(0, j)]);
    t.same(s.labelIds, [right[j]]);
    t.same(s.labelWeights, [1]);
  }
  const q3 = p.samples.filter((s) => s.line === 3);
  t.equal(q3[q3.length - 1].labelIds[0], 2, 'text output ending in EOS: the EOS is a target');
  t.equal(p.samples.filter((s) => s.line === 5).length, 3, 'no gold: kept');
  t.throws(() => parseSftSamples(JSON.stringify({ question: 'Q' }), tok, opts), { code: 'BAD_INPUT', message: /:1: no trajectory/ });
  t.throws(() => parseSftSamples(JSON.stringify({ question: 'Q', output: 'x', correct: false }), tok, opts), {
    code: 'BAD_INPUT',
    message: /all 1 trajectories have a wrong final answer/,
  });

  // finetune --objective sft: a step covers batchSize × gradAccum trajectories' worth of positions.
  const out = join(dir, 'ft-sft');
  const summary = await finetune({
    fs: nodePlatform.fs,
    model,
    samplesText: text,
    out,
    settings: { objective: 'sft', maxSteps: 2, batchSize: 1, gradAccum: 1, saveSteps: 0, system: 'S', lr: 1e-3 },
  });
  t.match(summary.sft, { trajectories: 3, rejected: 2, positions: p.samples.length });
  t.equal(summary.settings.objective, 'sft');
  t.equal(summary.tuned_tokens, 2 * summary.sft!.positions_per_step);
  t.ok(Number.isFinite(summary.final_loss) && summary.final_loss > 0);
});

t.test('CLI: finetune --objective sft; clear errors', async (t) => {
  const traj = join(dir, 'traj.jsonl');
  writeFileSync(traj, JSON.stringify({ question: 'Q', output_token_ids: [5, 6, 7, 8, 9] }) + '\n');
  const out = join(dir, 'ft-sft-cli');
  const noDefault = !existsSync(join(ROOT, 'models/default/expert/config.json'));
  const [r, bad, half] = await runEachInProcess([
    [
      'finetune',
      '--model',
      join(FIXTURES, 'sampling/models/llama-pair/expert'),
      '--samples',
      traj,
      '--out',
      out,
      '--objective',
      'sft',
      '--max-steps',
      '2',
      '--backend',
      'wasm',
      '--quiet',
      '--json',
    ],
    ['finetune', '--model', 'x', '--samples', traj, '--out', out, '--objective', 'ce'],
    ['run', '--expert', join(FIXTURES, 'sampling/models/llama-pair/expert'), '--quiet'],
  ]);
  const none = noDefault ? await runInProcess(['run', '--out', join(dir, 'none'), '--quiet']) : null;
  t.equal(r.code, 0, r.stderr);
  t.match(JSON.parse(r.stdout), { steps: 2, settings: { objective: 'sft' }, sft: { trajectories: 1, positions: 5 } });
  t.equal(bad.code, 2);
  t.match(bad.stderr, /choose one of kl, sft/);
  t.equal(half.code, 2);
  t.match(half.stderr, /give both --expert and --amateur/);
  if (none) {
    t.equal(none.code, 1);
    t.match(none.stderr, /embedded default pair \(models\/default\/\{expert,amateur\}\) is not in this package yet/);
  }
});
