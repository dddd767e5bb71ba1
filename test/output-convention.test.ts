// Issue 25, item 4: one output convention for every command, in Node and in Deno (cli/output.ts):
// the result on stdout — the human summary, or with --json exactly one JSON document and nothing
// else — and progress on stderr; `--json --quiet` leaves stderr empty. A usage error is two lines
// on stderr (the error and where the help is), exit 2; a missing model is bad input (exit 2) in
// both runtimes; Deno says nothing of XDG_RUNTIME_DIR, and a Wasm worker's uncaught error never
// leaves exit 0.
import t, { type Test } from 'tap';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FIXTURES, ROOT, runCli, SOURCE_CLI, type CliResult } from './helpers/cli.ts';
import { runInProcess } from './helpers/cli-in-process.ts';
import { DEFAULT_SETTINGS } from '../runtime/stage/sample.ts';
import { DEFAULT_FINETUNE } from '../runtime/train/finetune.ts';

const PAIR = join(FIXTURES, 'sampling', 'models', 'qwen-pair');
const E = join(PAIR, 'expert'),
  A = join(PAIR, 'amateur');
const DATA = join(FIXTURES, 'sampling', 'questions.jsonl'); // 4 problems with GSM8K answers
const DENO = join(ROOT, 'node_modules', '.bin', 'deno');
const tmp = mkdtempSync(join(tmpdir(), 'lr-output-'));
t.teardown(() => rmSync(tmp, { recursive: true, force: true }));
// No scheduler variables from the machine running the tests; fingerprints cached in the temp dir.
const ENV = {
  SLURM_ARRAY_TASK_ID: '',
  JOB_COMPLETION_INDEX: '',
  AWS_BATCH_JOB_ARRAY_INDEX: '',
  BATCH_TASK_INDEX: '',
  LIGHTREASONER_SHARD_COUNT: '',
  XDG_CACHE_HOME: join(tmp, 'cache'),
};
const SHARED = join(tmp, 'shared'); // samples and an adapter for finetune and merge
const REF = ['--backend', 'reference'];

interface Row {
  name: string;
  /** The command line; `dir` is this run's own folder for what it writes. */
  args: (dir: string) => string[];
  /** Work to do in `dir` first (in this process). */
  setup?: (dir: string) => Promise<void>;
  /** stdout without --json. */
  human: RegExp;
  /** The one JSON document with --json. */
  json: Record<string, unknown>;
  /** stderr without --quiet, where the command reports progress off a TTY. */
  progress?: RegExp;
}

async function ok(args: string[]): Promise<void> {
  const r = await runInProcess(args, ENV);
  if (r.code !== 0) throw new Error(`${args.join(' ')}: exit ${r.code}\n${r.stderr}`);
}

const ROWS: Row[] = [
  {
    name: 'info',
    args: () => ['info', ...REF],
    human: /^runtime: +(node|deno) [^\n]*\nbackend: +reference\n/,
    json: { kind: 'reference', runtime: /^(node|deno) / },
  },
  {
    name: 'generate',
    args: () => ['generate', '--model', E, '--prompt', 'Hello', '--max-new-tokens', '2', ...REF],
    human: /^(?!\{"text")[^]*\n$/,
    json: { token_ids: [Number, Number], text: String },
  },
  {
    name: 'problems',
    args: (d) => ['problems', '--count', '2', '--out', join(d, 'p.jsonl')],
    human: /^wrote 2 eval problems \(seed 0\) to \S+p\.jsonl\n$/,
    json: { count: 2, set: 'eval', out: /p\.jsonl$/ },
  },
  {
    name: 'sample',
    args: (d) => [
      'sample',
      '--expert',
      E,
      '--amateur',
      A,
      '--data',
      DATA,
      '--max-questions',
      '2',
      '--max-new-tokens',
      '6',
      ...REF,
      '--out',
      join(d, 's.jsonl'),
    ],
    human: /^wrote \d+ samples from 2 problems to \S+s\.jsonl [^\n]*\npair diagnostics: /,
    json: { problems: 2, diagnostics: Object },
    progress: /^2\/2 problems · /m,
  },
  {
    name: 'finetune',
    args: (d) => ['finetune', '--model', E, '--samples', join(SHARED, 's.jsonl'), '--max-steps', '1', ...REF, '--out', join(d, 'ft')],
    human: /^wrote the adapter to \S+ft \(1 steps, final loss [\d.]+, /,
    json: { steps: 1, final_loss: Number },
    progress: /^step 1\/1 · loss /m,
  },
  {
    name: 'merge',
    args: (d) => ['merge', '--model', E, '--adapter', join(SHARED, 'ft'), '--out', join(d, 'merged')],
    human: /^merged \d+ weights \(\d+ copied\) into \S+merged\n$/,
    json: { mergedTensors: Number },
  },
  {
    name: 'export-gguf',
    args: (d) => ['export-gguf', '--model', E, '--type', 'q8_0', '--out', join(d, 'e.gguf')],
    human: /^wrote \S+e\.gguf: qwen2 q8_0, \d+ tensors \(\d+ quantized\), \d+ bytes\n$/,
    json: { type: 'q8_0', out: /e\.gguf$/ },
  },
  {
    name: 'eval',
    args: () => ['eval', '--model', E, '--data', DATA, '--max-questions', '2', '--max-new-tokens', '3', ...REF],
    human: /^accuracy \d+\.\d% \[[\d.]+, [\d.]+\] \(\d\/2; 95% Wilson interval\) in [\d.]+ s\n$/,
    json: { total: 2, accuracy: Number, model: E },
    progress: /^2\/2 problems · \d+ correct$/m,
  },
  {
    name: 'gather',
    setup: (d) =>
      ok([
        'sample',
        '--expert',
        E,
        '--amateur',
        A,
        '--data',
        DATA,
        '--max-questions',
        '2',
        '--max-new-tokens',
        '6',
        ...REF,
        '--quiet',
        '--shard',
        '0/1',
        '--out',
        join(d, 'g.jsonl'),
      ]),
    args: (d) => ['gather', join(d, 'g.jsonl')],
    human: /^gathered 1 shards into \S+g\.jsonl: \d+ samples from 2 problems\n$/,
    json: { problems: 2 },
  },
  {
    name: 'run',
    args: (d) => [
      'run',
      '--expert',
      E,
      '--amateur',
      A,
      '--train-data',
      DATA,
      '--eval-data',
      DATA,
      '--max-questions',
      '2',
      '--eval-questions',
      '2',
      '--max-steps',
      '1',
      '--max-new-tokens',
      '6',
      '--eval-max-new-tokens',
      '3',
      ...REF,
      '--out',
      join(d, 'run'),
    ],
    human: /^held-out accuracy on 2 problems [^]*\n {2}expert \+ LightReasoner [^]*\nreport: \S+report\.html\n$/,
    json: { eval: { expert_before: { total: 2 } }, total_seconds: Number },
    progress: /^stage 1: sampling…$/m,
  },
  {
    name: 'run --pair-check --eval-benchmarks',
    args: (d) => [
      'run',
      '--expert',
      E,
      '--amateur',
      A,
      '--train-data',
      DATA,
      '--eval-data',
      DATA,
      '--max-questions',
      '2',
      '--eval-questions',
      '2',
      '--max-steps',
      '1',
      '--max-new-tokens',
      '6',
      '--eval-max-new-tokens',
      '3',
      '--pair-check',
      '2',
      '--pair-check-data',
      DATA,
      '--eval-benchmarks',
      `gsm8k=${DATA}`,
      ...REF,
      '--out',
      join(d, 'run'),
    ],
    // the pair check's table and the benchmark table are part of the result; --json: report.json's content with the table under `benchmarks`
    human:
      /^pair-check on 2 problems [^]*\nverdict \(CD α [^]*\n\nheld-out accuracy on 2 problems [^]*\nreport: \S+report\.html\n\n\| model \| GSM8K \| Avg\. \|[^]*\| McNemar p \|/,
    json: {
      pair_check: { data: { problems: 2 } },
      eval: { expert_before: { total: 2 } },
      benchmarks: { benchmarks: [{ name: 'gsm8k', total: 4 }], paired_with: /expert$/ },
    },
    progress: /^pair-check: greedy vs contrastive decoding…$/m,
  },
  {
    name: 'pair-check',
    args: () => ['pair-check', '--expert', E, '--amateur', A, '--data', DATA, '--count', '2', '--max-new-tokens', '4', ...REF],
    human: /^pair-check on 2 problems [^]*\nverdict \(CD α [^\n]*\n$/,
    json: { variants: Array, verdict: Object, data: { problems: 2 } },
    progress: /^pair-check: expert /m,
  },
  {
    name: 'grade',
    setup: async (d) =>
      writeFileSync(join(d, 'e.jsonl'), '{"output":"so #### 14","gold":"14","correct":false}\n{"output":"the answer is 3","gold":"17","correct":false}\n'),
    args: (d) => ['grade', join(d, 'e.jsonl'), '--benchmark', 'gsm8k', '--out', join(d, 'g.jsonl')],
    human: /^GSM8K: accuracy \d+\.\d% [^\n]*\(1\/2; 95% Wilson interval\); 1 verdict\(s\) differ from the input's\n$/,
    json: { benchmark: 'gsm8k', correct: 1, total: 2, changed: 1, out: /g\.jsonl$/ },
    progress: /^wrote 2 graded rows to \S+g\.jsonl$/m,
  },
  {
    name: 'eval --benchmark',
    args: () => ['eval', '--model', E, '--benchmark', 'gsm8k', '--data', DATA, '--max-questions', '2', '--max-new-tokens', '3', ...REF],
    human: /^\| model \| GSM8K \| Avg\. \|\n/,
    json: { benchmarks: [{ name: 'gsm8k', total: 2 }], model: E },
  },
  {
    name: 'eval --benchmark (several)',
    setup: async (d) => writeFileSync(join(d, 'math.jsonl'), '{"problem":"What is 1 + 1?","answer":"2","unique_id":"test/a.json"}\n'),
    args: (d) => [
      'eval',
      '--model',
      E,
      '--benchmark',
      `gsm8k=${DATA},math_oai=${join(d, 'math.jsonl')}`,
      '--max-questions',
      '2',
      '--max-new-tokens',
      '3',
      ...REF,
      '--out',
      join(d, 'b'),
    ],
    human: /^\| model \| GSM8K \| MATH-500 \| Avg\. \|\n/,
    json: {
      benchmarks: [
        { name: 'gsm8k', total: 2 },
        { name: 'math_oai', total: 1 },
      ],
    },
    progress: /^wrote the table to \S+table\.md/m,
  },
];
// copy-models needs the embedded pair (models/default), which a checkout may lack.
if (existsSync(join(ROOT, 'models', 'default', 'settings.json'))) {
  ROWS.push({
    name: 'copy-models',
    args: (d) => ['copy-models', join(d, 'pair')],
    human: /^copied \d+ files of the embedded default pair into \S+pair\n$/,
    json: { dir: /pair$/, files: Array },
  });
}

/** The convention, for one run of `row` with (json) or without --json --quiet. */
function check(t: Test, row: Row, json: boolean, r: CliResult) {
  t.equal(r.code, 0, `${row.name}: exit 0`, { stderr: r.stderr });
  if (json) {
    t.match(r.stdout, /^[^\n]+\n$/, `${row.name} --json: one line on stdout`);
    let doc: unknown;
    t.doesNotThrow(() => (doc = JSON.parse(r.stdout)), `${row.name} --json: stdout is one JSON document`);
    t.match(doc, row.json, `${row.name} --json: the document`);
    t.equal(r.stderr, '', `${row.name} --json --quiet: nothing on stderr`);
  } else {
    t.match(r.stdout, row.human, `${row.name}: the human result on stdout`);
    t.throws(() => JSON.parse(r.stdout), `${row.name}: stdout is not JSON without --json`);
    if (row.progress) t.match(r.stderr, row.progress, `${row.name}: progress on stderr`);
    t.notMatch(r.stderr, /^error|internal error/m, `${row.name}: no error on stderr`);
  }
}

/** The CLI under Deno, as a user runs it; XDG_RUNTIME_DIR unset (Mesa complained about that). */
function deno(args: string[]): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(DENO, ['run', '-A', 'cli/main.ts', ...args], {
      cwd: ROOT,
      env: { ...process.env, ...ENV, NO_COLOR: '1', XDG_RUNTIME_DIR: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '',
      stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

t.before(async () => {
  mkdirSync(SHARED);
  await ok([
    'sample',
    '--expert',
    E,
    '--amateur',
    A,
    '--data',
    DATA,
    '--max-questions',
    '2',
    '--max-new-tokens',
    '6',
    ...REF,
    '--quiet',
    '--out',
    join(SHARED, 's.jsonl'),
  ]);
  await ok(['finetune', '--model', E, '--samples', join(SHARED, 's.jsonl'), '--max-steps', '1', ...REF, '--quiet', '--out', join(SHARED, 'ft')]);
});

/** Every row, with and without --json, through `run` (one runtime). */
async function table(t: Test, runtime: string, run: (args: string[]) => Promise<CliResult>) {
  for (const row of ROWS) {
    for (const json of [false, true]) {
      const dir = join(tmp, runtime, `${row.name.replace(/[^\w-]+/g, '-')}-${json ? 'json' : 'human'}`);
      mkdirSync(dir, { recursive: true });
      await row.setup?.(dir);
      check(t, row, json, await run([...row.args(dir), ...(json ? ['--json', '--quiet'] : [])]));
    }
  }
}

t.test('Node: every command follows the convention', (t) => table(t, 'node', (args) => runInProcess(args, ENV)));

// Usage errors and a missing model: in this process for Node (runInProcess maps errors to exit codes
// as cli/main.ts does; one real process checks main.ts itself), in real processes for Deno.
const USAGE: [string, string[], RegExp][] = [
  ['a missing required option', ['eval', '--data', DATA], /^error: required option '--model <dir>' not specified\nsee `lightreasoner-wasm eval --help`\n$/],
  ['an unknown option', ['info', '--bogus'], /^error: unknown option '--bogus'\nsee `lightreasoner-wasm info --help`\n$/],
  ['an unknown command', ['bogus'], /^error: unknown command 'bogus'\nsee `lightreasoner-wasm --help`\n$/],
];
const MISSING_MODEL = (dir: string): [string, string[]][] => [
  ['generate', ['generate', '--model', join(dir, 'no-model'), '--prompt', 'x']],
  ['eval', ['eval', '--model', join(dir, 'no-model'), '--data', DATA]],
  ['sample', ['sample', '--expert', join(dir, 'no-model'), '--amateur', A, '--data', DATA, '--out', join(dir, 'x.jsonl')]],
  ['run', ['run', '--expert', join(dir, 'no-model'), '--amateur', A, '--out', join(dir, 'r')]],
];

async function exits(t: Test, runtime: string, run: (args: string[]) => Promise<CliResult>) {
  const results: CliResult[] = [];
  for (const args of [...USAGE.map(([, a]) => a), ...MISSING_MODEL(tmp).map(([, a]) => a)]) results.push(await run(args)); // in-process runs must not overlap
  USAGE.forEach(([what, , re], i) => {
    const r = results[i];
    t.equal(r.code, 2, `${runtime}: ${what}: exit 2`);
    t.match(r.stderr, re, `${runtime}: ${what}: the error and a pointer to --help, nothing more`);
    t.equal(r.stdout, '', `${runtime}: ${what}: nothing on stdout`);
  });
  MISSING_MODEL(tmp).forEach(([name], i) => {
    const r = results[USAGE.length + i];
    t.equal(r.code, 2, `${runtime}: ${name} with a missing model: exit 2 (bad input)`);
    t.match(r.stderr, /^error: --(model|expert) \S+no-model: not a model directory \(no config\.json\)\n$/, `${runtime}: ${name}: one error line`);
  });
}

t.test('Node: usage errors and a missing model', async (t) => {
  await exits(t, 'node', (args) => runInProcess(args, ENV));
  // once through cli/main.ts in a process of its own (a Node start with the TypeScript loader is slow)
  const r = await runCli(USAGE[0][1], { env: ENV, timeoutMs: 300_000 });
  t.equal(r.code, 2, 'the process: exit 2');
  t.match(r.stderr, USAGE[0][2], 'the process: two lines on stderr');
  t.equal(r.stdout, '', 'the process: nothing on stdout');
});

/** test/helpers/pool-exit.ts in a runtime: [cli prefix]. */
function poolExit(cmd: string[], mode: 'clean' | 'throw', env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return runCli([join(ROOT, 'test', 'helpers', 'pool-exit.ts'), mode], { cli: cmd, env: { NO_COLOR: '1', ...env }, timeoutMs: 300_000 });
}

t.test('Node: a Wasm worker that fails on its way out ends the process with an error', async (t) => {
  const node = SOURCE_CLI.slice(0, -1); // node and the loader flags, without cli/main.ts
  const [clean, thrown] = await Promise.all([poolExit(node, 'clean'), poolExit(node, 'throw')]);
  t.equal(clean.code, 0, 'a worker that leaves cleanly: exit 0', { stderr: clean.stderr });
  t.equal(clean.stderr, '', 'and nothing on stderr');
  t.not(thrown.code, 0, 'a worker error: not exit 0');
  t.match(thrown.stderr, /wasm worker 1 failed: worker failed on its way out/);
});

t.test('Deno', async (t) => {
  if (!existsSync(DENO)) {
    if (process.env.CI) t.fail('deno is missing in CI');
    else t.pass('deno not found (npm ci installs it): Deno is NOT tested here', { skip: true });
    return;
  }
  await t.test('every command follows the convention', (t) => table(t, 'deno', deno));
  await t.test('usage errors and a missing model: the same exit codes as Node', (t) => exits(t, 'deno', deno));
  await t.test('no XDG_RUNTIME_DIR message when looking for a GPU', async (t) => {
    const r = await deno(['info', '--backend', 'auto', '--json']);
    t.equal(r.code, 0, { stderr: r.stderr });
    t.notMatch(r.stderr, /XDG_RUNTIME_DIR/, 'Mesa finds its runtime folder');
    t.equal(r.stderr, '', 'nothing on stderr at all');
    t.match(JSON.parse(r.stdout), { runtime: /^deno / });
  });
  await t.test('Wasm workers: a clean exit is silent, an error is not exit 0', async (t) => {
    const cmd = [DENO, 'run', '-A'];
    const [clean, thrown] = await Promise.all([poolExit(cmd, 'clean'), poolExit(cmd, 'throw')]);
    t.equal(clean.code, 0, { stderr: clean.stderr });
    t.equal(clean.stderr, '', 'no "port.close is not a function"');
    t.not(thrown.code, 0, 'a worker error: not exit 0');
    t.match(thrown.stderr, /wasm worker 1 failed: worker failed on its way out/);
  });
});

t.test("run --help shows the defaults the run uses: the embedded pair's settings.json beside yours", async (t) => {
  const settingsFile = join(ROOT, 'models', 'default', 'settings.json');
  if (!existsSync(settingsFile)) return t.pass('no embedded pair here', { skip: true });
  const chosen = JSON.parse(readFileSync(settingsFile, 'utf8'));
  const r = await runInProcess(['run', '--help'], ENV);
  t.equal(r.code, 0);
  const help = r.stdout.replace(/\s+/g, ' '); // commander wraps the descriptions
  const both = (flag: string, embedded: unknown, own: unknown) => {
    if (String(embedded) === String(own)) t.match(help, `${flag} `, `${flag}: one default`);
    else t.match(help, `(default: ${embedded} for the embedded pair (models/default/settings.json), ${own} with your models)`, `${flag}: both defaults`);
  };
  both('--lr', chosen.lr, DEFAULT_FINETUNE.lr);
  both('--beta', chosen.beta, DEFAULT_SETTINGS.beta);
  if (chosen.alpha !== undefined) both('--alpha', chosen.alpha, DEFAULT_SETTINGS.alpha);
  both('--max-steps', chosen.maxSteps, DEFAULT_FINETUNE.maxSteps);
  both('--lora-r', chosen.loraR, DEFAULT_FINETUNE.lora.r);
  t.notMatch(help, `--lr <x> fine-tuning: peak learning rate (default: ${DEFAULT_FINETUNE.lr})`, 'never the library default alone');
});
