// SIGTERM and SIGINT end every long command promptly (under 2 s on the tiny models, measured from
// the signal) and leave state that --resume continues: sample resumes byte-identically, finetune
// from its last checkpoint with the uninterrupted run's log, run from its sampling stage. SIGTERM
// has no handler (the default: the process ends at once) — the outputs are crash-safe by design
// (fsynced appends, atomic state files, checkpoints renamed into place), so an immediate end
// leaves what a crash would, which --resume is built for. SIGINT (Ctrl-C) stops after the current
// step with exit 130 and a message saying how to resume.
import t from 'tap';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FIXTURES, ROOT, runCli, TEST_CLI } from './helpers/cli.ts';

const PAIR = join(FIXTURES, 'sampling', 'models', 'llama-pair');
const EXPERT = join(PAIR, 'expert'),
  AMATEUR = join(PAIR, 'amateur');
const SAMPLES = join(FIXTURES, 'sampling', 'expected', 'llama-pair.samples.jsonl');
const tmp = mkdtempSync(join(tmpdir(), 'lr-signals-'));
t.teardown(() => rmSync(tmp, { recursive: true, force: true }));

// 40 problems, so a run lasts long enough to be signalled in the middle.
const base = readFileSync(join(FIXTURES, 'sampling', 'questions.jsonl'), 'utf8')
  .trim()
  .split('\n')
  .map((l) => JSON.parse(l));
const DATA = join(tmp, 'problems.jsonl');
writeFileSync(
  DATA,
  Array.from({ length: 40 }, (_, i) => JSON.stringify({ id: `p${i}`, question: `${base[i % 4].question} (${i})`, answer: base[i % 4].answer })).join('\n') +
    '\n',
);
// eval writes nothing until it ends, so it is signalled by time: enough problems that it cannot
// finish first on a fast idle machine (it is stopped long before the end).
const EVAL_DATA = join(tmp, 'eval-problems.jsonl');
writeFileSync(
  EVAL_DATA,
  Array.from({ length: 2000 }, (_, i) => JSON.stringify({ id: `e${i}`, question: `${base[i % 4].question} (${i})`, answer: base[i % 4].answer })).join('\n') +
    '\n',
);

const sampleArgs = (out: string, extra: string[] = []) => [
  'sample',
  '--expert',
  EXPERT,
  '--amateur',
  AMATEUR,
  '--data',
  DATA,
  '--out',
  out,
  '--backend',
  'reference',
  '--batch-size',
  '2',
  '--max-new-tokens',
  '24',
  '--quiet',
  ...extra,
];
const ftArgs = (out: string, extra: string[] = []) => [
  'finetune',
  '--model',
  EXPERT,
  '--samples',
  SAMPLES,
  '--out',
  out,
  '--max-steps',
  '400',
  '--save-steps',
  '2',
  '--batch-size',
  '1',
  '--grad-accum',
  '1',
  '--backend',
  'wasm',
  '--quiet',
  ...extra,
];
const evalArgs = () => ['eval', '--model', EXPERT, '--data', EVAL_DATA, '--max-new-tokens', '64', '--batch-size', '2', '--backend', 'reference', '--quiet'];
const runArgs = (out: string, extra: string[] = []) => [
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
  out,
  '--max-steps',
  '2',
  '--max-new-tokens',
  '24',
  '--eval-max-new-tokens',
  '8',
  '--backend',
  'reference',
  '--quiet',
  ...extra,
];

interface Signalled {
  signalled: boolean;
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Milliseconds from the signal to the process's end. */
  ms: number;
  stderr: string;
}

/** Start the CLI, send `signal` once `ready()` holds (polled), and time how long it takes to end. */
function signalWhen(args: string[], signal: NodeJS.Signals, ready: () => boolean): Promise<Signalled> {
  return new Promise((resolve, reject) => {
    const child = spawn(TEST_CLI[0], [...TEST_CLI.slice(1), ...args], {
      cwd: ROOT,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '',
      sentAt = 0;
    child.stderr.on('data', (d) => (stderr += d));
    const poll = setInterval(() => {
      let go = false;
      try {
        go = ready();
      } catch {
        // not there yet
      }
      if (go) {
        clearInterval(poll);
        sentAt = performance.now();
        child.kill(signal);
      }
    }, 5);
    const guard = setTimeout(() => child.kill('SIGKILL'), 300_000);
    child.on('error', reject);
    child.on('close', (code, sig) => {
      clearInterval(poll);
      clearTimeout(guard);
      resolve({ signalled: sentAt > 0, code, signal: sig, ms: sentAt ? performance.now() - sentAt : NaN, stderr });
    });
  });
}

const committed = (out: string) => () => JSON.parse(readFileSync(`${out}.state.json`, 'utf8')).committed >= 1;
const PROMPT_MS = 2000;

t.test('sample: SIGTERM and SIGINT end it at once; --resume gives the uninterrupted bytes', async (t) => {
  const full = join(tmp, 'full.jsonl');
  const r = await runCli(sampleArgs(full));
  t.equal(r.code, 0, 'the uninterrupted run', { stderr: r.stderr });
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    const out = join(tmp, `sample-${signal}.jsonl`);
    const s = await signalWhen(sampleArgs(out), signal, committed(out));
    t.ok(s.signalled, `${signal} sent mid-run`);
    t.ok(s.ms < PROMPT_MS, `${signal}: ended ${s.ms.toFixed(0)} ms after the signal`);
    if (signal === 'SIGTERM') t.equal(s.signal, 'SIGTERM', 'ended by the signal');
    else {
      t.equal(s.code, 130, 'SIGINT: exit 130');
      t.match(s.stderr, /interrupted: committed problems are kept in .* run the same command with --resume/);
    }
    const state = JSON.parse(readFileSync(`${out}.state.json`, 'utf8'));
    t.ok(state.committed < 40, `stopped after ${state.committed} of 40 problems`);
    const again = await runCli(sampleArgs(out, ['--resume']));
    t.equal(again.code, 0, `${signal}: --resume completes`, { stderr: again.stderr });
    t.ok(readFileSync(out).equals(readFileSync(full)), `${signal}: resumed output is byte-identical`);
  }
});

t.test('finetune: SIGTERM and SIGINT end it at once; --resume continues from the last checkpoint', async (t) => {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    const out = join(tmp, `ft-${signal}`);
    const s = await signalWhen(ftArgs(out), signal, () => existsSync(join(out, 'checkpoint-2')));
    t.ok(s.signalled, `${signal} sent after checkpoint-2`);
    t.ok(s.ms < PROMPT_MS, `${signal}: ended ${s.ms.toFixed(0)} ms after the signal`);
    if (signal === 'SIGINT') t.equal(s.code, 130, 'SIGINT: exit 130');
    const steps = readFileSync(join(out, 'train_log.jsonl'), 'utf8').trim().split('\n').length;
    t.ok(steps < 400, `stopped after ${steps} of 400 steps`);
    // Resume to a nearer end: the settings must match, so the resumed run keeps --max-steps 400
    // but is itself stopped by SIGINT after a few more checkpoints; it must continue the log.
    const more = await signalWhen(
      ftArgs(out, ['--resume']),
      'SIGINT',
      () => readFileSync(join(out, 'train_log.jsonl'), 'utf8').trim().split('\n').length >= steps + 4,
    );
    t.equal(more.code, 130, `${signal}: the resumed run ran (and was stopped again)`, { stderr: more.stderr });
    const log = readFileSync(join(out, 'train_log.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l).step);
    t.same(
      log,
      log.map((_, i) => i + 1),
      'the log continues step by step, no gap or repeat',
    );
  }
});

t.test('eval: SIGTERM and SIGINT end it at once', async (t) => {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    let started = 0;
    const s = await signalWhen(evalArgs(), signal, () => (started ||= performance.now()) > 0 && performance.now() - started > 12_000);
    t.ok(s.signalled, `${signal} sent`);
    t.ok(s.ms < PROMPT_MS, `${signal}: ended ${s.ms.toFixed(0)} ms after the signal`);
    if (signal === 'SIGINT' && s.code !== null) t.equal(s.code, 130, 'SIGINT: exit 130');
  }
});

t.test('run: SIGTERM during sampling ends it at once; --resume completes the run', async (t) => {
  const out = join(tmp, 'run');
  const s = await signalWhen(runArgs(out), 'SIGTERM', committed(join(out, 'samples.jsonl')));
  t.ok(s.signalled, 'SIGTERM sent during sampling');
  t.ok(s.ms < PROMPT_MS, `ended ${s.ms.toFixed(0)} ms after the signal`);
  const again = await runCli(runArgs(out, ['--resume']));
  t.equal(again.code, 0, '--resume completes the run', { stderr: again.stderr });
  t.ok(existsSync(join(out, 'report.json')), 'report.json written');
});
