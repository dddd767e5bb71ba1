// Shards (runtime/shard/shard.ts): the split's properties, `--shard` parsing, every scheduler's
// environment and its errors, and the file names.
import t, { type Test } from 'tap';
import { LightReasonerError } from '../runtime/errors.ts';
import { parseShard, shardFromEnv, shardInfo, shardNameMatcher, shardPath, shardRange } from '../runtime/shard/shard.ts';

t.test('the split: contiguous, disjoint, covering, batch-aligned, balanced; empty shards allowed', async (t) => {
  let checked = 0;
  for (const total of [0, 1, 2, 7, 10, 24, 101]) {
    for (const batchSize of [1, 2, 3, 8]) {
      for (const count of [1, 2, 3, 4, 7, 16]) {
        const seen: number[] = [];
        let next = 0;
        const batches: number[] = [];
        for (let index = 0; index < count; index++) {
          const { first, end } = shardRange(total, batchSize, { index, count });
          if (first !== next || end < first || end > total) t.fail(`total ${total}, B ${batchSize}, shard ${index}/${count}: [${first}, ${end}) after ${next}`);
          if (first % batchSize !== 0 && first !== total) t.fail(`shard ${index}/${count} of ${total} starts inside a batch (${first}, B ${batchSize})`);
          for (let i = first; i < end; i++) seen.push(i);
          batches.push(Math.ceil((end - first) / batchSize));
          next = end;
          checked++;
        }
        t.same(
          seen,
          Array.from({ length: total }, (_, i) => i),
          `total ${total}, B ${batchSize}, N ${count}: the union is every problem once, in order`,
        );
        if (Math.max(...batches) - Math.min(...batches) > 1) t.fail(`total ${total}, B ${batchSize}, N ${count}: batches per shard ${batches}`);
      }
    }
  }
  t.ok(checked > 500, `${checked} shards checked`);
  t.same(shardRange(10, 3, { index: 0, count: 16 }), { first: 0, end: 0 }, 'more shards than batches: some are empty');
  t.same(shardInfo(10, 3, { index: 3, count: 4 }), { index: 3, count: 4, first: 9, problems: 1, total: 10 }, 'the last shard holds the short batch');
});

const bad = (t: Test, f: () => unknown, re: RegExp, what: string) => {
  try {
    f();
    t.fail(`${what}: expected an error`);
  } catch (e) {
    t.ok(e instanceof LightReasonerError && e.exitCode === 2, `${what}: a bad-input error (exit 2)`);
    t.match((e as Error).message, re, what);
  }
};

t.test('--shard I/N, auto, auto/N', async (t) => {
  t.same(parseShard('2/4', {}), { index: 2, count: 4 });
  t.same(parseShard(' 0/1 ', {}), { index: 0, count: 1 });
  bad(t, () => parseShard('4/4', {}), /index 4 is not below the count 4.*0-based/, 'index = count');
  bad(t, () => parseShard('1/0', {}), /count must be in \[1, 99999\]/, 'zero shards');
  bad(t, () => parseShard('0/100000', {}), /count must be in \[1, 99999\]/, 'too many shards for five digits');
  bad(t, () => parseShard('1-4', {}), /--shard must be I\/N.*auto or auto\/N, got "1-4"/, 'bad form');
  bad(t, () => parseShard('-1/4', {}), /--shard must be I\/N/, 'negative');
  bad(
    t,
    () => parseShard('auto', {}),
    /no job-array index in the environment.*Slurm.*Kubernetes.*AWS Batch.*Google Batch.*--shard I\/N/,
    'auto with no scheduler',
  );
  bad(t, () => parseShard('auto/0', { JOB_COMPLETION_INDEX: '0' }), /count must be in/, 'auto/0');
});

t.test('Slurm arrays', async (t) => {
  t.same(
    shardFromEnv({ SLURM_ARRAY_TASK_ID: '5', SLURM_ARRAY_TASK_MIN: '2', SLURM_ARRAY_TASK_MAX: '5', SLURM_ARRAY_TASK_COUNT: '4' }),
    { index: 3, count: 4 },
    'id − min',
  );
  t.same(parseShard('auto', { SLURM_ARRAY_TASK_ID: '0', SLURM_ARRAY_TASK_COUNT: '3' }), { index: 0, count: 3 }, 'min defaults to 0');
  t.same(
    parseShard('auto/3', { SLURM_ARRAY_TASK_ID: '1', SLURM_ARRAY_TASK_MIN: '0', SLURM_ARRAY_TASK_COUNT: '3' }),
    { index: 1, count: 3 },
    'auto/N agreeing with Slurm',
  );
  bad(
    t,
    () => parseShard('auto/4', { SLURM_ARRAY_TASK_ID: '1', SLURM_ARRAY_TASK_COUNT: '3' }),
    /auto\/4: the Slurm array has 3 tasks/,
    'auto/N disagreeing with Slurm',
  );
  bad(t, () => shardFromEnv({ SLURM_ARRAY_TASK_ID: '1' }), /SLURM_ARRAY_TASK_COUNT is not/, 'no count');
  bad(
    t,
    () => shardFromEnv({ SLURM_ARRAY_TASK_ID: '1', SLURM_ARRAY_TASK_MIN: '2', SLURM_ARRAY_TASK_COUNT: '3' }),
    /below SLURM_ARRAY_TASK_MIN/,
    'id below min',
  );
  bad(
    t,
    () => shardFromEnv({ SLURM_ARRAY_TASK_ID: '4', SLURM_ARRAY_TASK_MIN: '0', SLURM_ARRAY_TASK_MAX: '8', SLURM_ARRAY_TASK_COUNT: '5' }),
    /0-8 has 5 tasks, not 9: submit a contiguous array/,
    'a stepped array',
  );
  bad(t, () => shardFromEnv({ SLURM_ARRAY_TASK_ID: '3', SLURM_ARRAY_TASK_COUNT: '3' }), /index 3 is not below the count 3/, 'id past the count');
  bad(
    t,
    () => shardFromEnv({ SLURM_ARRAY_TASK_ID: 'x', SLURM_ARRAY_TASK_COUNT: '3' }),
    /SLURM_ARRAY_TASK_ID must be a non-negative integer, got "x"/,
    'not a number',
  );
});

t.test('Kubernetes Indexed Jobs and AWS Batch: the count from auto/N or LIGHTREASONER_SHARD_COUNT', async (t) => {
  for (const v of ['JOB_COMPLETION_INDEX', 'AWS_BATCH_JOB_ARRAY_INDEX']) {
    t.same(parseShard('auto/4', { [v]: '2' }), { index: 2, count: 4 }, `${v} with auto/N`);
    t.same(parseShard('auto', { [v]: '2', LIGHTREASONER_SHARD_COUNT: '3' }), { index: 2, count: 3 }, `${v} with LIGHTREASONER_SHARD_COUNT`);
    t.same(parseShard('auto/5', { [v]: '2', LIGHTREASONER_SHARD_COUNT: '3' }), { index: 2, count: 5 }, `${v}: auto/N wins over the variable`);
    bad(
      t,
      () => parseShard('auto', { [v]: '2' }),
      new RegExp(`${v} is set but the scheduler gives no shard count: pass --shard auto/N, or set LIGHTREASONER_SHARD_COUNT`),
      `${v} without a count`,
    );
    bad(t, () => parseShard('auto/2', { [v]: '2' }), /index 2 is not below the count 2/, `${v} past the count`);
    bad(
      t,
      () => parseShard('auto', { [v]: '0', LIGHTREASONER_SHARD_COUNT: 'four' }),
      /LIGHTREASONER_SHARD_COUNT must be a non-negative integer/,
      `${v}: a bad count variable`,
    );
  }
});

t.test('Google Batch', async (t) => {
  t.same(parseShard('auto', { BATCH_TASK_INDEX: '1', BATCH_TASK_COUNT: '2' }), { index: 1, count: 2 });
  bad(t, () => parseShard('auto', { BATCH_TASK_INDEX: '1' }), /BATCH_TASK_COUNT is not/, 'no count');
  bad(t, () => parseShard('auto/3', { BATCH_TASK_INDEX: '1', BATCH_TASK_COUNT: '2' }), /auto\/3: the Google Batch job has 2 tasks/, 'auto/N disagreeing');
  t.same(
    parseShard('auto', { SLURM_ARRAY_TASK_ID: '', BATCH_TASK_INDEX: '1', BATCH_TASK_COUNT: '2' }),
    { index: 1, count: 2 },
    'an empty variable counts as unset',
  );
});

t.test('file names: five digits each, before the extension', async (t) => {
  t.equal(shardPath('out/S.jsonl', { index: 2, count: 4 }), 'out/S.shard-00002-of-00004.jsonl');
  t.equal(shardPath('S', { index: 0, count: 1 }), 'S.shard-00000-of-00001', 'no extension');
  t.equal(shardPath('a.b/S', { index: 0, count: 1 }), 'a.b/S.shard-00000-of-00001', 'a dot in the folder is not an extension');
  t.equal(shardPath('dir/.hidden', { index: 0, count: 1 }), 'dir/.hidden.shard-00000-of-00001', 'a leading dot is not an extension');
  const m = shardNameMatcher('out/S.jsonl');
  t.equal(m.folder, 'out');
  t.same(m.match('S.shard-00002-of-00004.jsonl'), { index: 2, count: 4 });
  t.equal(m.match('S.shard-00002-of-00004.jsonl.state.json'), null, 'side files are not shards');
  t.equal(m.match('SxS.shard-00002-of-00004.jsonl'), null, 'another output');
  t.equal(m.match('S.shard-2-of-4.jsonl'), null, 'five digits');
  t.equal(shardNameMatcher('S.jsonl').folder, '', 'a bare name: the current folder');
});
