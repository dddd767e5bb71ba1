// `gather` refusals: a missing shard, an unfinished one, shards of another count, another model
// (same headers, one weight changed: only the weight fingerprint tells), other settings, no shards —
// each exit 2, naming the file, writing nothing.
import t, { type Test } from 'tap';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FIXTURES, runCli } from './helpers/cli.ts';
import { runInProcess } from './helpers/cli-in-process.ts';
import { setValue } from './helpers/model-dir.ts';

const PAIR = join(FIXTURES, 'sampling', 'models', 'qwen-pair');
const tmp = mkdtempSync(join(tmpdir(), 'lr-gather-'));
t.teardown(() => rmSync(tmp, { recursive: true, force: true }));
const NO_SCHEDULER = {
  SLURM_ARRAY_TASK_ID: '',
  JOB_COMPLETION_INDEX: '',
  AWS_BATCH_JOB_ARRAY_INDEX: '',
  BATCH_TASK_INDEX: '',
  LIGHTREASONER_SHARD_COUNT: '',
  XDG_CACHE_HOME: join(tmp, 'cache'),
};
const cli = (args: string[]) => runInProcess(args, NO_SCHEDULER);

const AMATEUR = join(tmp, 'amateur'); // a copy, changed below
cpSync(join(PAIR, 'amateur'), AMATEUR, { recursive: true });
const base = readFileSync(join(FIXTURES, 'sampling', 'questions.jsonl'), 'utf8')
  .trim()
  .split('\n')
  .map((l) => JSON.parse(l).question as string);
const DATA = join(tmp, 'problems.jsonl');
writeFileSync(DATA, Array.from({ length: 8 }, (_, i) => JSON.stringify({ id: `p${i}`, question: `${base[i % 4]} (${i})` })).join('\n') + '\n');
const sample = (out: string, shard: string, extra: string[] = []) => [
  'sample',
  '--expert',
  join(PAIR, 'expert'),
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
  '8',
  '--quiet',
  '--shard',
  shard,
  ...extra,
];
const shardName = (i: number, n = 4) => `S.shard-${String(i).padStart(5, '0')}-of-${String(n).padStart(5, '0')}.jsonl`;

/** A copy of the four finished shards in a folder of its own; returns its S.jsonl. */
function scenario(name: string): string {
  const dir = join(tmp, name);
  cpSync(join(tmp, 'base'), dir, { recursive: true });
  return join(dir, 'S.jsonl');
}

async function refused(t: Test, out: string, re: RegExp, what: string) {
  const r = await cli(['gather', out]);
  t.equal(r.code, 2, `${what}: exit 2`, { stderr: r.stderr });
  t.match(r.stderr, re, `${what}: named`);
  t.notOk(existsSync(out), `${what}: nothing written`);
  t.notOk(
    readdirSync(join(out, '..')).some((n) => n.includes('gather-tmp')),
    `${what}: no temp file`,
  );
}

t.before(async () => {
  mkdirSync(join(tmp, 'base'));
  for (let i = 0; i < 4; i++) {
    const r = await cli(sample(join(tmp, 'base', 'S.jsonl'), `${i}/4`));
    if (r.code !== 0) throw new Error(r.stderr);
  }
});

t.test('a missing shard (through the real CLI: exit 2, no stack)', async (t) => {
  const out = scenario('missing');
  for (const n of readdirSync(join(out, '..'))) if (n.startsWith(shardName(2))) rmSync(join(out, '..', n));
  const r = await runCli(['gather', out], { env: NO_SCHEDULER });
  t.equal(r.code, 2, 'exit 2');
  t.match(r.stderr, new RegExp(`^error: gather .*S\\.jsonl: 1 of 4 shards are missing: .*${shardName(2).replace(/\./g, '\\.')}; run those shards`));
  t.notMatch(r.stderr, /at .*\.ts:\d+/, 'no stack trace');
  t.notOk(existsSync(out), 'nothing written');
});

t.test('an unfinished shard', async (t) => {
  const out = scenario('unfinished');
  const state = join(out, '..', `${shardName(1)}.state.json`);
  const s = JSON.parse(readFileSync(state, 'utf8'));
  writeFileSync(state, JSON.stringify({ ...s, committed: s.committed - 1 }));
  await refused(t, out, new RegExp(`1 of 4 shards are unfinished: .*${shardName(1).replace(/\./g, '\\.')}; let them finish`), 'unfinished');
});

t.test('shards of another count', async (t) => {
  const out = scenario('count');
  cpSync(join(out, '..', shardName(0)), join(out, '..', shardName(0, 3)));
  await refused(t, out, /shard files of different shard counts: 1 of 3 \(S\.shard-00000-of-00003\.jsonl\); 4 of 4/, 'mixed counts');
});

t.test('other settings', async (t) => {
  const out = scenario('settings');
  for (const n of readdirSync(join(out, '..'))) if (n.startsWith(shardName(3))) rmSync(join(out, '..', n));
  t.equal((await cli(sample(out, '3/4', ['--beta', '0.5']))).code, 0, 'shard 3 rerun with --beta 0.5');
  await refused(
    t,
    out,
    new RegExp(
      `${shardName(3).replace(/\./g, '\\.')} does not belong with .*${shardName(0).replace(/\./g, '\\.')}: other settings.*settings\\.beta is 0\\.4 in shard 0 but 0\\.5 here`,
    ),
    'settings',
  );
});

t.test('another model with the same headers (one weight changed)', async (t) => {
  const out = scenario('model');
  for (const n of readdirSync(join(out, '..'))) if (n.startsWith(shardName(2))) rmSync(join(out, '..', n));
  setValue(join(AMATEUR, 'model.safetensors'), 'model.layers.0.input_layernorm.weight', 0, 0.5);
  t.equal((await cli(sample(out, '2/4'))).code, 0, 'shard 2 rerun with the changed amateur');
  await refused(
    t,
    out,
    new RegExp(`${shardName(2).replace(/\./g, '\\.')} does not belong .*identity\\.amateur\\.fingerprint is "[0-9a-f]{64}" in shard 0 but "[0-9a-f]{64}" here`),
    'fingerprint',
  );
});

t.test('no shards, and a bad --shard', async (t) => {
  await refused(t, join(tmp, 'nothing', '..', 'T.jsonl'), /no shard files \(.*T\.shard-\*-of-\*\.jsonl\)/, 'no shards');
  const r = await cli(sample(join(tmp, 'x.jsonl'), '4/4'));
  t.equal(r.code, 2, '--shard 4/4: exit 2');
  t.match(r.stderr, /--shard: index 4 is not below the count 4/);
  const auto = await cli(sample(join(tmp, 'x.jsonl'), 'auto'));
  t.equal(auto.code, 2, '--shard auto outside a job array: exit 2');
  t.match(auto.stderr, /no job-array index in the environment/);
});
