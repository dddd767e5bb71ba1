// The CLI is a shell over the jobs an app's Engine runs (issue 26): every job-running command —
// `sample`, `finetune`, `eval`, `eval --benchmark`, `pair-check` and `run` (with --eval-benchmarks) —
// driven through the CLI (in this process) and through createEngine on the same tiny pair and data
// writes the same bytes — samples, adapter weights and config, evaluation records, benchmark
// tables, the pair-check report, the run's report — and the same run identity (the CLI's data
// digest is its file's; the job is given it as dataDigest). Settings are tiny: seconds per command.
import t from 'tap';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createEngine } from '../runtime/engine/engine.ts';
import { createWorkerEngine, serveEngine } from '../runtime/engine/worker.ts';
import { parseBenchmarkProblems } from '../runtime/eval/benchmarks.ts';
import { parseEvalProblems } from '../runtime/eval/evaluate.ts';
import { DEFAULT_PAIR_CHECK } from '../runtime/eval/pair-check.ts';
import { parseTrainProblems } from '../runtime/run/pipeline.ts';
import { evalSummaryPath } from '../runtime/eval/results.ts';
import { nodePlatform } from '../runtime/platform/node.ts';
import { sha256Hex } from '../runtime/stage/fingerprint.ts';
import { parseProblems } from '../runtime/stage/sample.ts';
import { FIXTURES } from './helpers/cli.ts';
import { runInProcess } from './helpers/cli-in-process.ts';

const PAIR = join(FIXTURES, 'sampling', 'models', 'qwen-pair');
const EXPERT = join(PAIR, 'expert'),
  AMATEUR = join(PAIR, 'amateur');
const DATA = join(FIXTURES, 'sampling', 'questions.jsonl');
const text = readFileSync(DATA, 'utf8');

const digest = () => sha256Hex(new TextEncoder().encode(text));

/** A JSON value without what differs between two runs: times and speeds, and the output folder's own path (as OUT). */
function timeless(value: unknown, out: string): unknown {
  if (typeof value === 'string') return value.split(out).join('OUT');
  if (Array.isArray(value)) return value.map((v) => timeless(v, out));
  if (!value || typeof value !== 'object') return value;
  const kept = Object.entries(value).filter(([k]) => !/seconds|per_s|per_second|^created|_at$/.test(k));
  return Object.fromEntries(kept.map(([k, v]) => [k, timeless(v, out)]));
}

const json = (path: string) => JSON.parse(readFileSync(path, 'utf8'));
const same = (a: string, b: string) => readFileSync(a).equals(readFileSync(b));

/** A run summary without what differs between any two runs (times, the output's own path). */
function stable(path: string): Record<string, unknown> {
  const { seconds: _s, wall_seconds: _w, tokens_per_second: _t, output: _o, ...rest } = JSON.parse(readFileSync(path, 'utf8'));
  return rest;
}

t.test('sample, finetune, eval: the CLI and the Engine write the same files', async (t) => {
  const tmp = mkdtempSync(join(tmpdir(), 'lr-parity-'));
  t.teardown(() => rmSync(tmp, { recursive: true, force: true }));
  const cli = join(tmp, 'cli'),
    eng = join(tmp, 'engine');
  mkdirSync(cli);
  mkdirSync(eng);
  const engine = createEngine(nodePlatform);

  // stage 1: sampling
  const sampleFlags = ['--alpha', '0.2', '--beta', '0.4', '--max-new-tokens', '12', '--batch-size', '3'];
  const s = await runInProcess([
    'sample',
    '--expert',
    EXPERT,
    '--amateur',
    AMATEUR,
    '--data',
    DATA,
    '--out',
    join(cli, 'samples.jsonl'),
    '--backend',
    'wasm',
    '--quiet',
    ...sampleFlags,
  ]);
  t.equal(s.code, 0, 'sample CLI', { stderr: s.stderr });
  await engine.sample({
    expert: EXPERT,
    amateur: AMATEUR,
    problems: parseProblems(text, { file: DATA }),
    out: join(eng, 'samples.jsonl'),
    backend: 'wasm',
    settings: { alpha: 0.2, beta: 0.4, maxNewTokens: 12, batchSize: 3 },
    source: DATA,
    dataDigest: await sha256Hex(new TextEncoder().encode(text)),
  });
  const samples = readFileSync(join(cli, 'samples.jsonl'));
  t.ok(samples.length > 0, 'some samples');
  t.ok(samples.equals(readFileSync(join(eng, 'samples.jsonl'))), 'samples.jsonl: the same bytes');
  t.same(
    stable(join(eng, 'samples.jsonl.summary.json')),
    stable(join(cli, 'samples.jsonl.summary.json')),
    'the same sampling summary (identity, settings, diagnostics)',
  );

  // stage 2: fine-tuning, each on its own samples
  const ft = { maxSteps: 3, batchSize: 4, lr: 1e-3, seed: 1, saveSteps: 2 };
  const f = await runInProcess([
    'finetune',
    '--model',
    EXPERT,
    '--samples',
    join(cli, 'samples.jsonl'),
    '--out',
    join(cli, 'adapter'),
    '--backend',
    'wasm',
    '--quiet',
    '--max-steps',
    '3',
    '--batch-size',
    '4',
    '--lr',
    '1e-3',
    '--seed',
    '1',
    '--save-steps',
    '2',
  ]);
  t.equal(f.code, 0, 'finetune CLI', { stderr: f.stderr });
  await engine.finetune({ model: EXPERT, samples: join(eng, 'samples.jsonl'), out: join(eng, 'adapter'), backend: 'wasm', settings: ft });
  for (const file of ['adapter_model.safetensors', 'adapter_config.json']) {
    t.ok(readFileSync(join(cli, 'adapter', file)).equals(readFileSync(join(eng, 'adapter', file))), `adapter/${file}: the same bytes`);
  }

  // evaluation of the tuned expert
  const e = await runInProcess([
    'eval',
    '--model',
    EXPERT,
    '--adapter',
    join(cli, 'adapter'),
    '--data',
    DATA,
    '--out',
    join(cli, 'results.jsonl'),
    '--backend',
    'wasm',
    '--max-new-tokens',
    '12',
    '--quiet',
  ]);
  t.equal(e.code, 0, 'eval CLI', { stderr: e.stderr });
  await engine.evaluate({
    model: EXPERT,
    adapter: join(eng, 'adapter'),
    problems: parseEvalProblems(text, { file: DATA }),
    out: join(eng, 'results.jsonl'),
    backend: 'wasm',
    settings: { maxNewTokens: 12 },
    source: DATA,
    dataDigest: await sha256Hex(new TextEncoder().encode(text)),
  });
  t.ok(readFileSync(join(cli, 'results.jsonl')).equals(readFileSync(join(eng, 'results.jsonl'))), 'results.jsonl: the same bytes');
  // The adapters are the same bytes but in different folders: their sources differ, nothing else.
  const summary = (dir: string) => {
    const s = stable(evalSummaryPath(join(dir, 'results.jsonl'))) as { identity: { adapter: { fingerprint: string } } };
    return { ...s, identity: { ...s.identity, adapter: s.identity.adapter.fingerprint } };
  };
  t.same(summary(eng), summary(cli), 'the same evaluation summary (identity, settings, accuracy)');
  await engine.dispose();
});

t.test('eval --benchmark and pair-check: the CLI and the Engine (across the worker protocol) write the same files', async (t) => {
  const tmp = mkdtempSync(join(tmpdir(), 'lr-parity-'));
  t.teardown(() => rmSync(tmp, { recursive: true, force: true }));
  // The worker engine's protocol over a message channel in this thread: the jobs' options and
  // results cross a structured clone, as they do to a Web Worker.
  const { port1, port2 } = new MessageChannel();
  serveEngine(port2 as unknown as Parameters<typeof serveEngine>[0], nodePlatform);
  const engine = createWorkerEngine(port1 as unknown as Parameters<typeof createWorkerEngine>[0]);
  t.teardown(() => {
    port1.close();
    port2.close();
  });

  const b = await runInProcess([
    'eval',
    '--model',
    EXPERT,
    '--benchmark',
    'gsm8k',
    '--data',
    DATA,
    '--out',
    join(tmp, 'cli-gsm8k.jsonl'),
    '--max-new-tokens',
    '8',
    '--backend',
    'wasm',
    '--threads',
    '1',
    '--quiet',
  ]);
  t.equal(b.code, 0, 'eval --benchmark CLI', { stderr: b.stderr });
  const result = await engine.benchmark({
    model: EXPERT,
    benchmarks: [{ name: 'gsm8k', problems: parseBenchmarkProblems(text, 'gsm8k', DATA), dataDigest: await digest() }],
    out: join(tmp, 'engine-gsm8k.jsonl'),
    settings: { maxNewTokens: 8 },
    backend: 'wasm',
    threads: 1,
  });
  t.equal(result.table.benchmarks[0].total, 4, 'the four problems');
  t.ok(same(join(tmp, 'cli-gsm8k.jsonl'), join(tmp, 'engine-gsm8k.jsonl')), 'benchmark records: the same bytes');
  t.same(
    stable(evalSummaryPath(join(tmp, 'engine-gsm8k.jsonl'))),
    stable(evalSummaryPath(join(tmp, 'cli-gsm8k.jsonl'))),
    'the same benchmark summary (identity, settings, accuracy)',
  );

  const pc = await runInProcess([
    'pair-check',
    '--expert',
    EXPERT,
    '--amateur',
    AMATEUR,
    '--data',
    DATA,
    '--max-new-tokens',
    '8',
    '--backend',
    'wasm',
    '--threads',
    '1',
    '--out',
    join(tmp, 'cli-pc.json'),
    '--quiet',
  ]);
  t.equal(pc.code, 0, 'pair-check CLI', { stderr: pc.stderr });
  const settings = { ...DEFAULT_PAIR_CHECK, maxNewTokens: 8 };
  const { report, records } = await engine.pairCheck({
    expert: EXPERT,
    amateur: AMATEUR,
    problems: parseEvalProblems(text, { file: DATA }),
    settings,
    backend: 'wasm',
    threads: 1,
  });
  const cli = json(join(tmp, 'cli-pc.json'));
  t.same(cli.records, records, 'pair-check: the same per-problem records');
  const { records: _r, data: _d, ...cliReport } = cli;
  t.same(timeless(cliReport, tmp), timeless(report, tmp), 'pair-check: the same report');
  await engine.dispose();
});

t.test('run (with --eval-benchmarks): the CLI and the Engine write the same files', async (t) => {
  const tmp = mkdtempSync(join(tmpdir(), 'lr-parity-'));
  t.teardown(() => rmSync(tmp, { recursive: true, force: true }));
  const cli = join(tmp, 'cli'),
    eng = join(tmp, 'engine');
  const r = await runInProcess([
    'run',
    '--expert',
    EXPERT,
    '--amateur',
    AMATEUR,
    '--train-data',
    DATA,
    '--eval-data',
    DATA,
    '--out',
    cli,
    '--backend',
    'wasm',
    '--threads',
    '1',
    '--quiet',
    '--max-new-tokens',
    '12',
    '--beta',
    '0.4',
    '--max-steps',
    '2',
    '--lr',
    '1e-3',
    '--batch-size',
    '4',
    '--seed',
    '1',
    '--eval-max-new-tokens',
    '8',
    '--eval-benchmarks',
    `gsm8k=${DATA}`,
  ]);
  t.equal(r.code, 0, 'run CLI', { stderr: r.stderr });
  const engine = createEngine(nodePlatform);
  const report = await engine.run({
    expert: EXPERT,
    amateur: AMATEUR,
    train: parseTrainProblems(text, { file: DATA }),
    eval: parseEvalProblems(text, { file: DATA }),
    trainSource: DATA,
    evalSource: DATA,
    out: eng,
    backend: 'wasm',
    threads: 1,
    sample: { maxNewTokens: 12, beta: 0.4 },
    finetune: { maxSteps: 2, lr: 1e-3, batchSize: 4, seed: 1 },
    seeds: [1],
    evalSettings: { maxNewTokens: 8 },
    benchmarks: [{ name: 'gsm8k', problems: parseBenchmarkProblems(text, 'gsm8k', DATA), dataDigest: await digest() }],
  });
  const files = [
    'samples.jsonl',
    'adapter/adapter_model.safetensors',
    'adapter/adapter_config.json',
    'eval/amateur.jsonl',
    'eval/expert_before.jsonl',
    'eval/expert_after.jsonl',
    'benchmarks/expert/gsm8k.jsonl',
    'benchmarks/expert-lightreasoner/gsm8k.jsonl',
    'benchmarks/expert-lightreasoner/table.json',
  ];
  for (const f of files) t.ok(same(join(cli, f), join(eng, f)), `${f}: the same bytes`);
  const table = (dir: string) => readFileSync(join(dir, 'benchmarks/expert-lightreasoner/table.md'), 'utf8').split(dir).join('OUT');
  t.equal(table(eng), table(cli), 'table.md: the same table (it names the adapter by its path)');
  t.same(timeless(json(join(eng, 'report.json')), eng), timeless(json(join(cli, 'report.json')), cli), 'report.json: the same report (but for times)');
  t.equal(report.benchmarks?.table.benchmarks[0].baseline?.total, 4, 'the tuned expert is paired against the expert on the benchmark');
  await engine.dispose();
});
