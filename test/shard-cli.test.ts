// `sample --shard` / `eval --shard` + `gather` end to end: four shards gathered give the unsharded
// run's data file byte for byte (and its totals), `--shard auto` reads each scheduler's variables,
// a killed shard resumes, a finished shard resubmitted is skipped, an empty shard is fine; and the
// Wasm backend's samples do not depend on the batch size.
import t from 'tap';
import { spawn } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FIXTURES, ROOT, TEST_CLI } from './helpers/cli.ts';
import { runInProcess } from './helpers/cli-in-process.ts';

const PAIR = join(FIXTURES, 'sampling', 'models', 'qwen-pair');
const EVAL_MODEL = join(FIXTURES, 'models', 'qwen2-tied-bf16');
const tmp = mkdtempSync(join(tmpdir(), 'lr-shard-'));
t.teardown(() => rmSync(tmp, { recursive: true, force: true }));
// No scheduler variables from the machine running the tests; fingerprints cached in the temp dir.
const NO_SCHEDULER = {
  SLURM_ARRAY_TASK_ID: '',
  JOB_COMPLETION_INDEX: '',
  AWS_BATCH_JOB_ARRAY_INDEX: '',
  BATCH_TASK_INDEX: '',
  LIGHTREASONER_SHARD_COUNT: '',
  XDG_CACHE_HOME: join(tmp, 'cache'),
};
// In this process (one CLI start costs seconds); only the SIGKILLed shard runs in a child.
const cli = (args: string[], env: Record<string, string> = {}) => runInProcess(args, { ...NO_SCHEDULER, ...env });

// 24 problems in batches of 2: 12 batches, 3 per shard of 4.
const base = readFileSync(join(FIXTURES, 'sampling', 'questions.jsonl'), 'utf8')
  .trim()
  .split('\n')
  .map((l) => JSON.parse(l).question as string);
const DATA = join(tmp, 'problems.jsonl');
writeFileSync(
  DATA,
  Array.from({ length: 24 }, (_, i) => JSON.stringify({ id: `p${i}`, question: `${base[i % 4]} (${i})`, answer: String(i) })).join('\n') + '\n',
);
const sample = (out: string, extra: string[] = []) => [
  'sample',
  '--expert',
  join(PAIR, 'expert'),
  '--amateur',
  join(PAIR, 'amateur'),
  '--data',
  DATA,
  '--out',
  out,
  '--backend',
  'reference',
  '--batch-size',
  '2',
  '--max-new-tokens',
  '16',
  '--quiet',
  ...extra,
];
const shardFile = (out: string, i: number, n = 4) => out.replace(/\.jsonl$/, `.shard-${String(i).padStart(5, '0')}-of-${String(n).padStart(5, '0')}.jsonl`);
const json = (file: string) => JSON.parse(readFileSync(file, 'utf8'));

/** Spawn the CLI and SIGKILL it once its state file shows a committed problem. */
function runAndKill(args: string[], state: string): Promise<{ killed: boolean }> {
  return new Promise((resolve, reject) => {
    const child = spawn(TEST_CLI[0], [...TEST_CLI.slice(1), ...args], {
      cwd: ROOT,
      stdio: 'ignore',
      env: { ...process.env, ...NO_SCHEDULER },
    });
    let killed = false;
    const poll = setInterval(() => {
      try {
        if (json(state).committed >= 1) {
          killed = child.kill('SIGKILL');
          clearInterval(poll);
        }
      } catch {
        // not written yet
      }
    }, 5);
    child.on('error', reject);
    child.on('close', () => {
      clearInterval(poll);
      resolve({ killed });
    });
  });
}

t.test('sample: 4 shards (explicit and auto, one killed and resumed) + gather = the unsharded run', async (t) => {
  const full = join(tmp, 'full.jsonl'),
    S = join(tmp, 'S.jsonl');
  // The child (the shard to kill) starts first; the in-process runs go one after another meanwhile.
  const killing = runAndKill(sample(S, ['--shard', '1/4']), `${shardFile(S, 1)}.state.json`);
  const fullR = await cli(sample(full));
  const s0 = await cli(sample(S, ['--shard', '0/4']));
  const s2 = await cli(sample(S, ['--shard', 'auto']), { JOB_COMPLETION_INDEX: '2', LIGHTREASONER_SHARD_COUNT: '4' });
  const s3 = await cli(sample(S, ['--shard', 'auto']), {
    SLURM_ARRAY_TASK_ID: '13',
    SLURM_ARRAY_TASK_MIN: '10',
    SLURM_ARRAY_TASK_MAX: '13',
    SLURM_ARRAY_TASK_COUNT: '4',
  });
  const k1 = await killing;
  for (const [name, r] of [
    ['unsharded', fullR],
    ['shard 0', s0],
    ['shard 2 (Kubernetes)', s2],
    ['shard 3 (Slurm)', s3],
  ] as const)
    t.equal(r.code, 0, `${name} exits 0`, { stderr: r.stderr });
  t.ok(k1.killed, 'shard 1 was killed mid-run');
  const state1 = json(`${shardFile(S, 1)}.state.json`);
  t.ok(state1.committed >= 1 && state1.committed < 6, `killed after ${state1.committed} of its 6 problems`);
  appendFileSync(shardFile(S, 1), '{"prompt_id":"p3","step":1,"pre'); // a torn write the resume must cut

  const early = await cli(['gather', S]);
  t.equal(early.code, 2, 'gather refuses while shard 1 is unfinished');
  t.match(early.stderr, /1 of 4 shards are unfinished: .*S\.shard-00001-of-00004\.jsonl/);
  const noResume = await cli(sample(S, ['--shard', '1/4']));
  t.equal(noResume.code, 2, 'the killed shard without --resume is refused');
  t.match(noResume.stderr, /already exists: pass --resume/);
  const resumed = await cli(sample(S, ['--shard', '1/4', '--resume']));
  t.equal(resumed.code, 0, 'the killed shard resumes', { stderr: resumed.stderr });

  const bytes0 = readFileSync(shardFile(S, 0)),
    mtime0 = statSync(`${shardFile(S, 0)}.summary.json`).mtimeMs;
  const again = await cli(sample(S, ['--shard', '0/4']));
  t.equal(again.code, 0, 'a finished shard resubmitted exits 0', { stderr: again.stderr });
  t.match(again.stdout, /shard 0\/4: .*S\.shard-00000-of-00004\.jsonl is already finished \(6 problems, \d+ samples\); skipped/);
  t.ok(readFileSync(shardFile(S, 0)).equals(bytes0) && statSync(`${shardFile(S, 0)}.summary.json`).mtimeMs === mtime0, 'and left untouched');
  const otherBeta = await cli(sample(S, ['--shard', '0/4', '--beta', '0.5']));
  t.equal(otherBeta.code, 2, 'a finished shard resubmitted with other settings is refused');
  t.match(otherBeta.stderr, /finished run with other settings.*beta was 0.4, now 0.5/);

  const g = await cli(['gather', S]);
  t.equal(g.code, 0, 'gather exits 0', { stderr: g.stderr });
  t.match(g.stdout, /gathered 4 shards into .*S\.jsonl/);
  t.ok(readFileSync(S).length > 0 && readFileSync(S).equals(readFileSync(full)), 'gathered data file = unsharded data file, byte for byte');
  const a = json(`${S}.summary.json`),
    b = json(`${full}.summary.json`);
  for (const k of [
    'problems',
    'trajectory_tokens',
    'amateur_tokens',
    'contrasted_steps',
    'selected_steps',
    'selection_rate',
    'kl_selected_mean',
    'kl_selected_median',
    'settings',
    'backend',
    'models',
    'data_sha256',
  ])
    t.same(a[k], b[k], `summary ${k} equal`);
  t.ok(Math.abs(a.kl_mean - b.kl_mean) < 1e-12, 'kl_mean equal (up to summation order)');
  for (const k of ['problems', 'contrasted_steps', 'selected_steps', 'label_flips', 'mask'])
    t.same(a.diagnostics[k], b.diagnostics[k], `diagnostics ${k} equal`);
  t.same(a.diagnostics.kl.median, b.diagnostics.kl.median, 'the merged KL histogram gives the same median');
  t.same(a.diagnostics.verdict.ok, b.diagnostics.verdict.ok, 'the same verdict');
  t.same(
    a.shards.map((s: { problems: number }) => s.problems),
    [6, 6, 6, 6],
    'the shards are listed',
  );
  t.ok(Math.abs(a.wall_seconds - a.shards.reduce((x: number, s: { wall_seconds: number }) => x + s.wall_seconds, 0)) < 1e-9, 'timings summed');
  t.match(json(`${S}.state.json`), { committed: 24, problems: 24, bytes: readFileSync(full).length }, 'a finished state, as an unsharded run leaves');
  t.notOk('shard' in json(`${S}.state.json`), 'the gathered state is not a shard');

  const twice = await cli(['gather', S]);
  t.equal(twice.code, 2, 'gather refuses to overwrite');
  t.match(twice.stderr, /S\.jsonl already exists: pass --overwrite/);
  const over = await cli(['gather', S, '--overwrite']);
  t.equal(over.code, 0, '--overwrite replaces it', { stderr: over.stderr });
  t.ok(readFileSync(S).equals(readFileSync(full)), 'the same bytes again');
});

t.test('an empty shard (more shards than batches) writes empty files and exits 0', async (t) => {
  const S = join(tmp, 'empty.jsonl');
  const r = await cli(sample(S, ['--shard', '0/16']));
  t.equal(r.code, 0, 'exits 0', { stderr: r.stderr });
  const file = S.replace(/\.jsonl$/, '.shard-00000-of-00016.jsonl');
  t.equal(readFileSync(file, 'utf8'), '', 'an empty data file');
  t.match(json(`${file}.summary.json`), { problems: 0, shard: { index: 0, count: 16, first: 0, problems: 0, total: 24 } });
  t.match(json(`${file}.state.json`), { committed: 0, problems: 0 }, 'finished: nothing to do');
});

t.test('eval: 4 shards + gather = the unsharded run', async (t) => {
  const full = join(tmp, 'eval-full.jsonl'),
    S = join(tmp, 'eval.jsonl');
  const evalArgs = (out: string, extra: string[] = []) => [
    'eval',
    '--model',
    EVAL_MODEL,
    '--data',
    DATA,
    '--max-questions',
    '7',
    '--backend',
    'reference',
    '--batch-size',
    '2',
    '--max-new-tokens',
    '6',
    '--quiet',
    '--out',
    out,
    ...extra,
  ];
  const runs = [await cli(evalArgs(full, ['--json']))];
  for (const i of [0, 1, 2]) runs.push(await cli(evalArgs(S, ['--shard', `${i}/4`])));
  runs.push(await cli(evalArgs(S, ['--shard', 'auto']), { BATCH_TASK_INDEX: '3', BATCH_TASK_COUNT: '4' }));
  for (const r of runs) t.equal(r.code, 0, 'exits 0', { stderr: r.stderr });
  const again = await cli(evalArgs(S, ['--shard', '3/4']));
  t.equal(again.code, 0, 'a finished shard resubmitted exits 0');
  t.match(again.stdout, /shard 3\/4: .*eval\.shard-00003-of-00004\.jsonl is already finished \(\d+\/1 correct\); skipped/);
  const noOut = await cli(evalArgs(S, ['--shard', '0/4']).filter((a, i, all) => a !== '--out' && all[i - 1] !== '--out'));
  t.equal(noOut.code, 2, '--shard without --out is refused');
  t.match(noOut.stderr, /--shard needs --out/);
  const g = await cli(['gather', S]);
  t.equal(g.code, 0, 'gather exits 0', { stderr: g.stderr });
  t.ok(readFileSync(S).equals(readFileSync(full)), 'gathered results = unsharded results, byte for byte');
  t.equal(readFileSync(S, 'utf8').trim().split('\n').length, 7);
  const a = json(`${S}.summary.json`),
    b = json(`${full}.summary.json`);
  for (const k of ['kind', 'total', 'correct', 'accuracy', 'ci95', 'generated_tokens', 'prompt', 'max_new_tokens', 'settings', 'identity'])
    t.same(a[k], b[k], `summary ${k} equal`);
  t.same(
    a.shards.map((s: { problems: number }) => s.problems),
    [2, 2, 2, 1],
    'the shards are listed',
  );
  t.same(JSON.parse(runs[0].stdout).total, 7, 'the unsharded --json summary');
  t.notOk(existsSync(`${S}.gather-tmp`), 'no temp file left');
});

t.test('Wasm: samples do not depend on the batch size (so any batch alignment gives the same bytes)', async (t) => {
  const outs = [1, 3, 8].map((b) => join(tmp, `wasm-b${b}.jsonl`));
  const runs = [];
  for (const [i, out] of outs.entries())
    runs.push(await cli([...sample(out, ['--max-questions', '8']).map((a) => (a === 'reference' ? 'wasm' : a)), '--batch-size', String([1, 3, 8][i])]));
  for (const r of runs) t.equal(r.code, 0, 'exits 0', { stderr: r.stderr });
  t.ok(readFileSync(outs[0]).length > 0, 'samples were written');
  t.ok(readFileSync(outs[0]).equals(readFileSync(outs[1])) && readFileSync(outs[0]).equals(readFileSync(outs[2])), 'batch sizes 1, 3 and 8: byte-identical');
});
