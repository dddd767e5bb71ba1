// Resume keeps finished work: a run interrupted in each of its stages (sampling, each evaluation,
// fine-tuning) and resumed ends with the uninterrupted run's bytes — samples, adapter, every
// eval/*.jsonl — without decoding or training again what had finished (counted from the events of
// the resumed run). Evaluations journal their finished batches (runtime/eval/journal.ts); the same
// journal serves `eval --out … --resume` (a SIGKILL mid-run here) and the Engine's evaluate job.
import t from 'tap';
import { spawn } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateProblems, problemsToJsonl } from '../runtime/data/problems.ts';
import { createEngine } from '../runtime/engine/engine.ts';
import { parseEvalProblems } from '../runtime/eval/evaluate.ts';
import type { EvaluateJobEvent } from '../runtime/engine/jobs.ts';
import { evalJournalPath } from '../runtime/eval/journal.ts';
import { nodePlatform } from '../runtime/platform/node.ts';
import { parseTrainProblems, type PipelineEvent, type PipelineOptions, runPipeline } from '../runtime/run/pipeline.ts';
import { FIXTURES, ROOT, runCli, TEST_CLI } from './helpers/cli.ts';

const tmp = mkdtempSync(join(tmpdir(), 'lr-resume-'));
t.teardown(() => rmSync(tmp, { recursive: true, force: true }));
const PAIR = join(FIXTURES, 'sampling', 'models', 'llama-pair');
const EXPERT = join(PAIR, 'expert'),
  AMATEUR = join(PAIR, 'amateur');
const questions = readFileSync(join(FIXTURES, 'sampling', 'questions.jsonl'), 'utf8');
const evalText = problemsToJsonl(generateProblems(0, 6, { set: 'eval' }));
const EVAL_FILE = join(tmp, 'eval.jsonl');
writeFileSync(EVAL_FILE, evalText);

// 4 training problems in 2 sampling batches, 4 fine-tuning steps with a checkpoint after each,
// 6 held-out problems in 3 evaluation batches per model.
const base = (out: string): PipelineOptions => ({
  platform: nodePlatform,
  expert: EXPERT,
  amateur: AMATEUR,
  train: parseTrainProblems(questions),
  eval: parseEvalProblems(evalText),
  out,
  backend: 'reference',
  sample: { maxNewTokens: 24, batchSize: 2 },
  finetune: { maxSteps: 4, saveSteps: 1, lr: 1e-3 },
  evalSettings: { maxNewTokens: 8, batchSize: 2 },
});

interface Counts {
  sampled: number;
  steps: number[];
  evaluated: Record<string, number>;
  resumedEval: Record<string, number>;
  warnings: string[];
}

/** Run the pipeline, aborting it at the first event `stopAt` accepts; what it did, counted from its events. */
async function runUntil(o: PipelineOptions, stopAt?: (e: PipelineEvent) => boolean): Promise<{ counts: Counts; error: unknown }> {
  const ac = new AbortController();
  const counts: Counts = { sampled: 0, steps: [], evaluated: {}, resumedEval: {}, warnings: [] };
  let error: unknown = null;
  try {
    await runPipeline({
      ...o,
      signal: ac.signal,
      onEvent: (e) => {
        if (e.status === 'sample' && e.event.status === 'problem') counts.sampled++;
        if (e.status === 'finetune' && e.event.status === 'step') counts.steps.push(e.event.step);
        if (e.status === 'eval' && e.event.status === 'problem') counts.evaluated[e.model] = (counts.evaluated[e.model] ?? 0) + 1;
        if (e.status === 'eval' && e.event.status === 'start' && e.event.resumed) counts.resumedEval[e.model] = e.event.resumed;
        if (e.status === 'warning') counts.warnings.push(e.message);
        if (stopAt?.(e)) ac.abort();
      },
    });
  } catch (err) {
    error = err;
  }
  return { counts, error };
}

const evalProblem = (model: string, done: number) => (e: PipelineEvent) =>
  e.status === 'eval' && e.model === model && e.event.status === 'problem' && e.event.done === done;
const OUTPUTS = [
  'samples.jsonl',
  'adapter/adapter_model.safetensors',
  'adapter/adapter_config.json',
  'eval/amateur.jsonl',
  'eval/expert_before.jsonl',
  'eval/expert_after.jsonl',
];

t.test('run: killed in each stage and resumed, the uninterrupted bytes without redoing finished work', async (t) => {
  const full = join(tmp, 'full');
  const ref = await runUntil(base(full));
  t.equal(ref.error, null, 'the uninterrupted run');
  t.same(ref.counts.evaluated, { amateur: 6, expert_before: 6, expert_after: 6 });
  t.same(
    readdirSync(join(full, 'eval')).sort(),
    [
      'amateur.jsonl',
      'amateur.jsonl.summary.json',
      'expert_after.jsonl',
      'expert_after.jsonl.summary.json',
      'expert_before.jsonl',
      'expert_before.jsonl.summary.json',
    ],
    'no journal left behind',
  );

  const out = join(tmp, 'killed');
  const resume = { ...base(out), resume: true };
  // 1. Sampling: stopped after its first batch (2 problems) is committed.
  let r = await runUntil(base(out), (e) => e.status === 'sample' && e.event.status === 'committed' && e.event.done === 2);
  t.match(r.error, { code: 'ABORTED' }, 'stopped in sampling');
  t.notOk(existsSync(join(out, 'eval', 'amateur.jsonl')));
  // 2. Resumed: sampling finishes its second batch only; stopped after the amateur's first eval batch.
  r = await runUntil(resume, evalProblem('amateur', 2));
  t.match(r.error, { code: 'ABORTED' }, "stopped in the amateur's evaluation");
  t.equal(r.counts.sampled, 2, 'sampling: only the 2 unfinished problems');
  t.ok(existsSync(evalJournalPath(join(out, 'eval', 'amateur.jsonl'))), 'the interrupted evaluation left its journal');
  t.notOk(existsSync(join(out, 'eval', 'amateur.jsonl')), 'and no results file');
  // 3. Resumed: the amateur decodes 4 problems, not 6; stopped in the expert's first evaluation.
  r = await runUntil(resume, evalProblem('expert_before', 4));
  t.match(r.error, { code: 'ABORTED' }, "stopped in the expert's evaluation before fine-tuning");
  t.same(
    r.counts,
    { sampled: 0, steps: [], evaluated: { amateur: 4, expert_before: 4 }, resumedEval: { amateur: 2 }, warnings: [] },
    'amateur: 2 problems kept, 4 decoded',
  );
  // 4. Resumed: the amateur is finished (nothing decoded), the expert decodes its last batch; stopped in fine-tuning.
  r = await runUntil(resume, (e) => e.status === 'finetune' && e.event.status === 'checkpoint' && e.event.step === 2);
  t.match(r.error, { code: 'ABORTED' }, 'stopped in fine-tuning');
  t.same(r.counts.evaluated, { expert_before: 2 }, 'the finished amateur evaluation is kept whole; expert before: its last batch');
  t.same(r.counts.resumedEval, { amateur: 6, expert_before: 4 });
  // 5. Resumed: fine-tuning continues after its checkpoint; stopped in the tuned expert's evaluation.
  r = await runUntil(resume, evalProblem('expert_after', 2));
  t.match(r.error, { code: 'ABORTED' }, "stopped in the tuned expert's evaluation");
  t.same(r.counts.steps, [3, 4], 'fine-tuning: steps 3 and 4 only');
  t.same(r.counts.evaluated, { expert_after: 2 }, 'no evaluation before fine-tuning runs again');
  // A crash while appending leaves a cut-short last line: dropped with a warning, that batch redone.
  appendFileSync(evalJournalPath(join(out, 'eval', 'expert_after.jsonl')), '{"seconds":1,"indices":[2,3],"records":[{"id":');
  // 6. Resumed (the torn line dropped, and cut off before the next append), stopped again one batch later.
  r = await runUntil(resume, evalProblem('expert_after', 4));
  t.match(r.error, { code: 'ABORTED' });
  t.same(r.counts.evaluated, { expert_after: 2 }, 'the tuned expert: its second batch');
  t.same(r.counts.steps, [], 'the finished fine-tuning is kept');
  t.match(r.counts.warnings, [/expert_after\.jsonl\.partial:3: the last line is cut short .* dropped/]);
  // 7. Resumed to the end.
  r = await runUntil(resume);
  t.equal(r.error, null, 'the resumed run completes');
  t.same(r.counts.evaluated, { expert_after: 2 }, "only the tuned expert's last batch is decoded");
  t.same([r.counts.sampled, r.counts.steps, r.counts.warnings], [0, [], []], 'nothing else runs again, the journal is whole');
  for (const f of OUTPUTS) t.ok(readFileSync(join(out, f)).equals(readFileSync(join(full, f))), `${f}: byte-identical to the uninterrupted run`);
  t.same(readdirSync(join(out, 'eval')).sort(), readdirSync(join(full, 'eval')).sort(), 'the same files, no journal left');
  const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')),
    refReport = JSON.parse(readFileSync(join(full, 'report.json'), 'utf8'));
  t.same(report.eval.expert_after.paired_vs_before, refReport.eval.expert_after.paired_vs_before, "the report's paired test");
  t.same(report.examples, refReport.examples, "the report's examples");

  // 8. A resume of the finished run decodes nothing; one with other evaluation settings is refused, naming them.
  r = await runUntil(resume);
  t.equal(r.error, null);
  t.same(r.counts.evaluated, {}, 'a finished run resumed: no evaluation runs again');
  r = await runUntil({ ...resume, evalSettings: { maxNewTokens: 6, batchSize: 2 } });
  t.match(r.error, { code: 'BAD_INPUT', message: /amateur\.jsonl is a finished evaluation with other settings.*settings\.maxNewTokens was 8, now 6/ });
});

/** The `n`-th event that `match` accepts (a model's evaluations share a name across seeds). */
function nth(n: number, match: (e: PipelineEvent) => boolean): (e: PipelineEvent) => boolean {
  let seen = 0;
  return (e) => match(e) && ++seen === n;
}

t.test("run --compare-sft --seeds 2: killed in a second seed's evaluation and SFT fine-tuning, resumed to the same bytes", async (t) => {
  // No gold answers: every trajectory is kept (the fixture expert solves nothing).
  const sftRun = (out: string): PipelineOptions => ({
    ...base(out),
    train: base(out).train.map((p) => ({ ...p, gold: null })),
    compareSft: true,
    sftSteps: 2,
    seeds: [0, 1],
    finetune: { maxSteps: 2, saveSteps: 1, lr: 1e-3 },
  });
  const full = join(tmp, 'sft-full');
  t.equal((await runUntil(sftRun(full))).error, null, 'the uninterrupted run');
  const out = join(tmp, 'sft-killed');
  const resume = { ...sftRun(out), resume: true };
  let trajectories = 0;
  const countTrajectories = (e: PipelineEvent) => (e.status === 'trajectories' && trajectories++, false);
  // 1. Stopped in the evaluation of the second LightReasoner seed's adapter.
  let r = await runUntil(sftRun(out), nth(2, evalProblem('expert_after', 2)));
  t.match(r.error, { code: 'ABORTED' });
  // 2. Resumed: only that evaluation's last 4 problems; stopped in the second seed's SFT fine-tuning.
  r = await runUntil(
    resume,
    nth(2, (e) => e.status === 'finetune' && e.event.status === 'checkpoint' && e.event.step === 1 && e.objective === 'sft'),
  );
  t.match(r.error, { code: 'ABORTED' });
  t.same(r.counts.evaluated, { expert_after: 4, expert_sft: 6 }, "the first seed's evaluation and the three before fine-tuning are kept");
  t.same(r.counts.steps, [1, 2, 1], 'no LightReasoner step; SFT seed 0 (2 steps), seed 1 up to its checkpoint');
  // 3. Resumed: the trajectories and the first SFT adapter are kept, the second continues from its
  //    checkpoint; stopped in its evaluation.
  r = await runUntil(resume, (e) => countTrajectories(e) || evalProblem('expert_sft', 2)(e));
  t.match(r.error, { code: 'ABORTED' });
  t.equal(trajectories, 0, 'the trajectories are not generated again');
  t.same(r.counts.steps, [2], 'SFT seed 1: step 2 only');
  t.same(r.counts.evaluated, { expert_sft: 2 }, "the first SFT seed's evaluation is kept");
  // 4. Resumed to the end.
  r = await runUntil(resume);
  t.equal(r.error, null);
  t.same(r.counts.evaluated, { expert_sft: 4 });
  t.same(r.counts.steps, []);
  const files = [
    'samples.jsonl',
    'adapter/adapter_model.safetensors',
    'adapter-seed1/adapter_model.safetensors',
    'sft/trajectories.jsonl',
    'sft/adapter/adapter_model.safetensors',
    'sft/adapter-seed1/adapter_model.safetensors',
  ];
  const evals = readdirSync(join(full, 'eval'))
    .filter((n) => n.endsWith('.jsonl'))
    .map((n) => `eval/${n}`);
  t.equal(evals.length, 6, 'six evaluations (amateur, before, 2 × after, 2 × SFT)');
  for (const f of [...files, ...evals]) t.ok(readFileSync(join(out, f)).equals(readFileSync(join(full, f))), `${f}: byte-identical`);
  const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')),
    refReport = JSON.parse(readFileSync(join(full, 'report.json'), 'utf8'));
  t.same(report.seeds, refReport.seeds, "the report's seeds table");
  t.same([report.stages.sft.trajectories, report.stages.sft.steps], [refReport.stages.sft.trajectories, refReport.stages.sft.steps]);
});

/** Start the CLI and SIGKILL it once `ready()` holds (polled). */
function killWhen(args: string[], ready: () => boolean): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const child = spawn(TEST_CLI[0], [...TEST_CLI.slice(1), ...args], {
      cwd: ROOT,
      stdio: 'ignore',
    });
    let killed = false;
    const poll = setInterval(() => {
      if (!ready()) return;
      clearInterval(poll);
      killed = child.kill('SIGKILL');
    }, 5);
    child.on('error', reject);
    child.on('close', () => {
      clearInterval(poll);
      resolve(killed);
    });
  });
}

t.test('eval --out: SIGKILL mid-run, --resume keeps the finished batches and gives the uninterrupted bytes', async (t) => {
  // 40 problems in batches of 2, so the kill lands in the middle. Two CLI processes (each takes
  // seconds to start): the killed one and the resume; the uninterrupted bytes come from the
  // Engine's evaluate job (the same runtime function).
  const many = join(tmp, 'many.jsonl');
  const lines = evalText
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  writeFileSync(many, Array.from({ length: 40 }, (_, i) => JSON.stringify({ ...lines[i % 6], id: `q${i}` })).join('\n') + '\n');
  const args = (out: string, extra: string[] = []) => [
    'eval',
    '--model',
    EXPERT,
    '--data',
    many,
    '--out',
    out,
    '--max-new-tokens',
    '16',
    '--batch-size',
    '2',
    '--backend',
    'reference',
    ...extra,
  ];
  const full = join(tmp, 'eval-full.jsonl'),
    out = join(tmp, 'eval-killed.jsonl');
  const journalLines = () => (existsSync(evalJournalPath(out)) ? readFileSync(evalJournalPath(out), 'utf8').split('\n').length - 1 : 0);
  const [, killed] = await Promise.all([
    createEngine(nodePlatform).evaluate({
      model: EXPERT,
      problems: parseEvalProblems(readFileSync(many, 'utf8')),
      settings: { maxNewTokens: 16, batchSize: 2 },
      backend: 'reference',
      out: full,
    }),
    killWhen(args(out, ['--quiet']), () => journalLines() >= 4),
  ]);
  t.ok(killed, 'killed after 3 finished batches');
  const kept = journalLines() - 1;
  t.ok(kept >= 3 && kept < 20, `${kept} of 20 batches journaled`);
  t.notOk(existsSync(out), 'no results file yet');
  const again = await runCli(args(out, ['--resume']));
  t.equal(again.code, 0, again.stderr);
  t.match(again.stderr, new RegExp(`resumed: ${2 * kept} of 40 problems were finished before`));
  t.ok(readFileSync(out).equals(readFileSync(full)), 'byte-identical to the uninterrupted run');
  t.notOk(existsSync(evalJournalPath(out)), 'the journal is removed');
  t.same(JSON.parse(readFileSync(`${out}.summary.json`, 'utf8')).correct, JSON.parse(readFileSync(`${full}.summary.json`, 'utf8')).correct);
});

t.test('Engine evaluate job with out: aborted, then resumed from its finished batches', async (t) => {
  const engine = createEngine(nodePlatform);
  const job = { model: EXPERT, problems: parseEvalProblems(evalText), settings: { maxNewTokens: 8, batchSize: 2 }, backend: 'reference' as const };
  const full = await engine.evaluate({ ...job, out: join(tmp, 'engine-full.jsonl') });
  const out = join(tmp, 'engine.jsonl');
  const ac = new AbortController();
  await t.rejects(
    engine.evaluate({ ...job, out }, { signal: ac.signal, onEvent: (e: EvaluateJobEvent) => e.status === 'problem' && e.done === 4 && ac.abort() }),
    { code: 'ABORTED' },
  );
  let decoded = 0;
  const r = await engine.evaluate({ ...job, out, resume: true }, { onEvent: (e: EvaluateJobEvent) => e.status === 'problem' && decoded++ });
  t.equal(decoded, 2, 'only the last batch is decoded');
  t.same(r.records, full.records);
  t.ok(readFileSync(out).equals(readFileSync(join(tmp, 'engine-full.jsonl'))), 'byte-identical file');
  await t.rejects(
    engine.evaluate({ ...job, out }),
    { code: 'BAD_INPUT', message: /already exists: pass --overwrite/ },
    'a finished out is refused without resume or overwrite',
  );
  await t.rejects(engine.evaluate({ ...job, out, resume: true, settings: { maxNewTokens: 6, batchSize: 2 } }), {
    code: 'BAD_INPUT',
    message: /finished evaluation with other settings.*settings\.maxNewTokens was 8, now 6/,
  });

  // An interrupted one: refused without resume (naming its journal), refused with other settings.
  const cut = join(tmp, 'engine-cut.jsonl');
  const ac2 = new AbortController();
  await t.rejects(
    engine.evaluate({ ...job, out: cut }, { signal: ac2.signal, onEvent: (e: EvaluateJobEvent) => e.status === 'problem' && e.done === 2 && ac2.abort() }),
    { code: 'ABORTED' },
  );
  await t.rejects(engine.evaluate({ ...job, out: cut }), {
    code: 'BAD_INPUT',
    message: /an interrupted evaluation left .*engine-cut\.jsonl\.partial: pass --resume/,
  });
  await t.rejects(engine.evaluate({ ...job, out: cut, resume: true, settings: { maxNewTokens: 8, batchSize: 3 } }), {
    code: 'BAD_INPUT',
    message: /cannot resume .*: the evaluation was started with other settings.*settings\.batchSize was 2, now 3/,
  });
  await t.rejects(engine.evaluate({ ...job, problems: job.problems.slice(0, 5), out: cut, resume: true }), {
    code: 'BAD_INPUT',
    message: /problems was 6, now 5/,
  });
  // A journal damaged from outside (not by a crash) is refused, naming the line.
  const journal = readFileSync(evalJournalPath(cut), 'utf8').split('\n');
  writeFileSync(evalJournalPath(cut), ['{}', ...journal.slice(1)].join('\n'));
  await t.rejects(engine.evaluate({ ...job, out: cut, resume: true }), {
    code: 'BAD_INPUT',
    message: /engine-cut\.jsonl\.partial:1: not an evaluation journal of this version/,
  });
  writeFileSync(evalJournalPath(cut), [journal[0], journal[1].replace(/"id":"[^"]*"/, '"id":"elsewhere"'), ...journal.slice(2)].join('\n'));
  await t.rejects(engine.evaluate({ ...job, out: cut, resume: true }), {
    code: 'BAD_INPUT',
    message: /engine-cut\.jsonl\.partial:2: record 0 \(index 0\) is not a record of this run's problem at that index/,
  });
  const over = await engine.evaluate({ ...job, out: cut, overwrite: true });
  t.same(over.records, full.records, 'overwrite starts afresh');
});
