// Sharded runs on a real single-node Slurm cluster (scripts/slurm-cluster.sh: Debian's slurm-wlm and
// munge, root): a job array of `sample --shard auto` gathers to the unsharded bytes, a cancelled
// task resubmitted gives the same result, and `run --executor slurm --wait` leaves the files of a
// local `run`. Skipped, with the reason, where slurm-wlm is not installed (CI installs it).
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { DIST_FRESH, FIXTURES, ROOT, runCli as runShared, TEST_CLI } from './helpers/cli.ts';

// Some 25 CLI processes run here, as jobs too: test/helpers/cli.ts's TEST_CLI (the compiled CLI when
// dist/ is up to date, else the sources).
const fresh = DIST_FRESH;
const cli = TEST_CLI;

const runCli = (args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}) => runShared(args, { ...opts, cli });

const missing = ['sbatch', 'slurmctld', 'slurmd', 'munged'].filter((b) => spawnSync('sh', ['-c', `command -v ${b}`]).status !== 0);
const why = missing.length
  ? `slurm-wlm/munge not installed (no ${missing.join(', ')}): apt-get install -y slurm-wlm munge`
  : process.getuid?.() !== 0
    ? 'the test cluster runs as root (SlurmUser=root)'
    : null;

if (why) t.pass(`skipped: ${why}`, { skip: true });
else {
  const dir = mkdtempSync(join(tmpdir(), 'lr-slurm-'));
  chmodSync(dir, 0o711); // munged runs as user munge and must reach its files below
  const script = join(ROOT, 'scripts', 'slurm-cluster.sh');
  const started = spawnSync(script, ['start', join(dir, 'cluster')], { encoding: 'utf8' });
  if (started.status !== 0) throw new Error(`slurm-cluster.sh start failed: ${started.stderr}`);
  const env: NodeJS.ProcessEnv = {};
  for (const m of started.stdout.matchAll(/^export (\w+)=(.*)$/gm)) env[m[1]] = m[2];
  // Daemons stopped by their recorded pids, then the files removed.
  t.teardown(() => {
    spawnSync(script, ['stop', join(dir, 'cluster')]);
    rmSync(dir, { recursive: true, force: true });
  });
  const slurm = (cmd: string, args: string[]) => {
    const p = spawnSync(cmd, args, { encoding: 'utf8', env: { ...process.env, ...env } });
    if (p.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${p.stderr}`);
    return p.stdout.trim();
  };
  t.comment(`the CLI: ${fresh ? 'dist/ (compiled, up to date)' : 'the sources (dist/ missing or older than them)'}`);
  const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const waitGone = async (id: string) => {
    while (slurm('squeue', ['-h', '-o', '%F']).split('\n').includes(id)) await new Promise((r) => setTimeout(r, 500));
  };
  const expert = join(FIXTURES, 'sampling/models/llama-pair/expert'),
    amateur = join(FIXTURES, 'sampling/models/llama-pair/amateur');
  const data = join(FIXTURES, 'sampling/questions.jsonl');
  // Batch size 1: each of the 4 problems is its own batch, so each of 4 shards gets one.
  const sampleArgs = (out: string) => [
    'sample',
    '--expert',
    expert,
    '--amateur',
    amateur,
    '--data',
    data,
    '--max-new-tokens',
    '16',
    '--batch-size',
    '1',
    '--backend',
    'wasm',
    '--quiet',
    '--out',
    out,
  ];
  const submitArray = (out: string, extra: string[] = []) =>
    slurm('sbatch', [
      '--parsable',
      '--array=0-3',
      ...extra,
      '-o',
      join(dir, 'task-%A_%a.log'),
      '--wrap',
      [...cli, ...sampleArgs(out), '--shard', 'auto'].map(quote).join(' '),
    ]).split(';')[0];

  const whole = join(dir, 'whole.jsonl');
  t.before(async () => {
    const r = await runCli(sampleArgs(whole));
    if (r.code !== 0) throw new Error(r.stderr);
  });

  t.test('an array of 4 `sample --shard auto` gathers to the unsharded bytes', async (t) => {
    const out = join(dir, 'array.jsonl');
    const id = submitArray(out);
    await waitGone(id);
    const g = await runCli(['gather', out, '--quiet']);
    t.equal(g.code, 0, g.stderr);
    t.ok(readFileSync(whole).length > 0, 'the unsharded run has samples');
    t.ok(readFileSync(out).equals(readFileSync(whole)), 'gathered file = unsharded file, byte for byte');
  });

  t.test('a task cancelled with scancel, the array resubmitted: the same bytes', async (t) => {
    const out = join(dir, 'cancelled.jsonl');
    const id = submitArray(out, ['--hold']);
    slurm('scancel', [`${id}_2`]);
    slurm('scontrol', ['release', id]);
    await waitGone(id);
    const g = await runCli(['gather', out, '--quiet']);
    t.equal(g.code, 2, 'gather refuses while shard 2 is missing');
    t.match(g.stderr, /shard-00002-of-00004/, '… naming it');
    const again = submitArray(out);
    await waitGone(again);
    const log = readFileSync(join(dir, `task-${again}_0.log`), 'utf8');
    t.match(log, /already finished|skipped/, 'a finished shard is skipped when resubmitted');
    const g2 = await runCli(['gather', out, '--quiet']);
    t.equal(g2.code, 0, g2.stderr);
    t.ok(readFileSync(out).equals(readFileSync(whole)), 'gathered file = unsharded file, byte for byte');
  });

  t.test('run --executor slurm --shards 2 --wait gives the files of a local run', async (t) => {
    const evalFile = join(FIXTURES, 'sampling/questions.jsonl');
    const common = [
      '--expert',
      expert,
      '--amateur',
      amateur,
      '--train-data',
      data,
      '--eval-data',
      evalFile,
      '--max-steps',
      '2',
      '--max-new-tokens',
      '16',
      '--eval-max-new-tokens',
      '12',
      '--sample-batch-size',
      '2',
      '--eval-batch-size',
      '2',
      '--lr',
      '1e-3',
      '--backend',
      'wasm',
      '--quiet',
    ];
    const local = join(dir, 'local'),
      cluster = join(dir, 'on-slurm');
    const l = await runCli(['run', ...common, '--out', local], { timeoutMs: 300_000 });
    t.equal(l.code, 0, l.stderr);
    const c = await runCli(['run', ...common, '--out', cluster, '--executor', 'slurm', '--shards', '2', '--wait'], { env, timeoutMs: 480_000 });
    t.equal(c.code, 0, c.stderr);
    t.match(c.stdout, /^sample \d+$/m, 'prints the job ids');
    for (const f of [
      'samples.jsonl',
      'adapter/adapter_model.safetensors',
      'adapter/adapter_config.json',
      'eval/amateur.jsonl',
      'eval/expert_before.jsonl',
      'eval/expert_after.jsonl',
    ]) {
      t.ok(existsSync(join(cluster, f)) && readFileSync(join(cluster, f)).equals(readFileSync(join(local, f))), `${f}: byte-identical`);
    }
    const a = JSON.parse(readFileSync(join(local, 'report.json'), 'utf8')),
      b = JSON.parse(readFileSync(join(cluster, 'report.json'), 'utf8'));
    t.same(b.eval.expert_after.paired_vs_before, a.eval.expert_after.paired_vs_before, 'report.json: the same paired test');
    t.same(
      [b.eval.amateur.correct, b.eval.expert_before.correct, b.stages.sample.samples],
      [a.eval.amateur.correct, a.eval.expert_before.correct, a.stages.sample.samples],
      'report.json: the same counts',
    );
    t.ok(existsSync(join(cluster, 'report.html')), 'report.html written');
    // A shard and the stages after it lost (a node died): the same command resubmits only those.
    const evalAfter = join(cluster, 'eval', 'expert_after.jsonl');
    for (const f of [
      `${evalAfter.replace(/\.jsonl$/, '')}.shard-00001-of-00002.jsonl.summary.json`,
      evalAfter,
      `${evalAfter}.summary.json`,
      join(cluster, 'report.json'),
    ])
      rmSync(f);
    const dry = await runCli(['run', ...common, '--out', cluster, '--executor', 'slurm', '--shards', '2', '--dry-run'], { env });
    t.equal(dry.code, 0, dry.stderr);
    t.same(
      [...dry.stdout.matchAll(/^# sbatch (.*)$/gm)].map((m) => m[1].replace(/ \S+\.sbatch$/, '')),
      ['--parsable --array=1', "--parsable '--dependency=afterok:<eval-expert-after>'"],
      '--dry-run: shard 1 of expert_after, then the report',
    );
    const resub = await runCli(['run', ...common, '--out', cluster, '--executor', 'slurm', '--shards', '2', '--wait'], { env, timeoutMs: 300_000 });
    t.equal(resub.code, 0, resub.stderr);
    t.same(
      resub.stdout
        .trim()
        .split('\n')
        .map((l) => l.split(' ')[0]),
      ['eval-expert-after', 'report'],
      'only those jobs submitted',
    );
    t.ok(readFileSync(evalAfter).equals(readFileSync(join(local, 'eval', 'expert_after.jsonl'))), 'eval/expert_after.jsonl: byte-identical again');
    t.ok(existsSync(join(cluster, 'report.json')), 'report.json written again');
    // Everything is done: the same command submits nothing.
    const again = await runCli(['run', ...common.filter((x) => x !== '--quiet'), '--out', cluster, '--executor', 'slurm', '--shards', '2', '--wait'], { env });
    t.equal(again.code, 0, again.stderr);
    t.equal(again.stdout, '', 'no job submitted');
    t.match(again.stderr, /report: done/);
  });
}
