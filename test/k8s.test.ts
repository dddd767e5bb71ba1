// `run --executor k8s`: the manifests (valid against the Kubernetes API schema, through
// kubernetes-models' validators, offline), their shape, the JOB_COMPLETION_INDEX path of an Indexed
// Job's command through the environment, and the clear error without kubectl.
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Job } from 'kubernetes-models/batch/v1/Job';
import t from 'tap';
import { parseAllDocuments } from 'yaml';
import { FIXTURES } from './helpers/cli.ts';
import { runInProcess } from './helpers/cli-in-process.ts';

const dir = mkdtempSync(join(tmpdir(), 'lr-k8s-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const expert = join(FIXTURES, 'sampling/models/llama-pair/expert'),
  amateur = join(FIXTURES, 'sampling/models/llama-pair/amateur');
const data = join(FIXTURES, 'sampling/questions.jsonl');
const out = join(dir, 'run');
const RUN = [
  'run',
  '--expert',
  expert,
  '--amateur',
  amateur,
  '--train-data',
  data,
  '--eval-data',
  data,
  '--out',
  out,
  '--max-new-tokens',
  '16',
  '--sample-batch-size',
  '1',
  '--eval-batch-size',
  '1',
  '--max-steps',
  '2',
  '--backend',
  'wasm',
  '--quiet',
  '--executor',
  'k8s',
  '--shards',
  '2',
  '--image',
  'registry.example/lightreasoner-wasm:0.1.0',
  '--pvc',
  'shared-data',
];

interface JobDoc {
  kind: string;
  metadata: { name: string };
  spec: {
    completionMode?: string;
    completions?: number;
    parallelism?: number;
    template: {
      spec: {
        containers: { args: string[]; command?: string[]; env?: { name: string; value: string }[]; volumeMounts: { mountPath: string }[] }[];
        volumes: { persistentVolumeClaim: { claimName: string } }[];
      };
    };
  };
}

let jobs: JobDoc[] = [];
t.before(async () => {
  const r = await runInProcess([...RUN, '--dry-run']);
  if (r.code !== 0) throw new Error(r.stderr);
  jobs = parseAllDocuments(r.stdout).map((d) => d.toJS() as JobDoc);
});

t.test('--dry-run: multi-document YAML, every Job valid against the Kubernetes API schema', async (t) => {
  t.ok(jobs.length >= 8, `${jobs.length} manifests`);
  for (const j of jobs) t.doesNotThrow(() => new Job(j as never).validate(), `${j.metadata.name}: a valid batch/v1 Job`);
  t.equal(new Set(jobs.map((j) => j.metadata.name)).size, jobs.length, 'unique names');
  // The validator can fail: a count that is not an integer, a Job without containers.
  t.throws(() => new Job({ ...jobs[1], spec: { ...jobs[1].spec, completions: 'two' } } as never).validate(), 'completions: "two" is refused');
  t.throws(
    () => new Job({ metadata: { name: 'x' }, spec: { template: { spec: { containers: [{ name: 'c', image: 3 }] } } } } as never).validate(),
    'a number as image is refused',
  );
});

t.test('shape: an Indexed Job per sharded stage, a Job per single stage, all on the PVC', async (t) => {
  const indexed = jobs.filter((j) => j.spec.completionMode === 'Indexed');
  t.same(
    indexed.map((j) => j.spec.template.spec.containers[0].args[0]),
    ['sample', 'eval', 'eval', 'eval'],
    'sampling and the three evaluations are Indexed Jobs',
  );
  for (const j of indexed) {
    const c = j.spec.template.spec.containers[0];
    t.match(j.spec, { completions: 2, parallelism: 2 }, `${j.metadata.name}: 2 completions`);
    t.same(c.env, [{ name: 'LIGHTREASONER_SHARD_COUNT', value: '2' }], `${j.metadata.name}: the shard count in the environment`);
    t.equal(c.args[c.args.indexOf('--shard') + 1], 'auto', `${j.metadata.name}: --shard auto`);
  }
  const single = jobs.filter((j) => j.spec.completionMode === undefined).map((j) => j.spec.template.spec.containers[0].args[0]);
  t.same(single, ['-p', 'gather', 'finetune', 'gather', 'gather', 'gather', 'run'], 'mkdir, gather + fine-tune, gathers + the report, one Job each');
  t.same(jobs.at(-1)!.spec.template.spec.containers[0].args.slice(0, 2), ['run', '--from-stage-outputs'], 'the report last');
  for (const j of jobs) {
    const s = j.spec.template.spec;
    t.equal(s.volumes[0].persistentVolumeClaim.claimName, 'shared-data');
    t.equal(s.containers[0].volumeMounts[0].mountPath, '/data');
  }
  const names = jobs.map((j) => j.metadata.name);
  t.ok(
    names.indexOf('lr-run-sample') < names.indexOf('lr-run-finetune-2-finetune') &&
      names.indexOf('lr-run-finetune-2-finetune') < names.indexOf('lr-run-eval-expert-after'),
    'in dependency order',
  );
});

t.test("an Indexed Job's command through the environment (JOB_COMPLETION_INDEX) gathers to the unsharded bytes", async (t) => {
  const whole = join(dir, 'whole.jsonl');
  const args = jobs.find((j) => j.metadata.name === 'lr-run-sample')!.spec.template.spec.containers[0].args;
  const samples = args[args.indexOf('--out') + 1];
  t.equal(samples, join(out, 'samples.jsonl'), 'absolute paths are kept');
  const unsharded = args.map((a, k) => (args[k - 1] === '--out' ? whole : a)).filter((a, k) => a !== '--shard' && args[k - 1] !== '--shard');
  const r = await runInProcess(unsharded);
  t.equal(r.code, 0, r.stderr);
  mkdirSync(out, { recursive: true });
  const noCount = await runInProcess(args, { JOB_COMPLETION_INDEX: '0' });
  t.equal(noCount.code, 2, 'an index without a count is bad input');
  t.match(noCount.stderr, /LIGHTREASONER_SHARD_COUNT/, '… naming the variable');
  for (const index of ['0', '1']) {
    const p = await runInProcess(args, { JOB_COMPLETION_INDEX: index, LIGHTREASONER_SHARD_COUNT: '2' });
    t.equal(p.code, 0, `pod ${index}: ${p.stderr}`);
  }
  const g = await runInProcess(['gather', samples, '--quiet']);
  t.equal(g.code, 0, g.stderr);
  t.ok(readFileSync(samples).equals(readFileSync(whole)), 'gathered file = unsharded file, byte for byte');
});

t.test('without --dry-run and without kubectl: a clear error, exit 1', async (t) => {
  const empty = join(dir, 'no-kubectl');
  mkdirSync(empty);
  const r = await runInProcess([...RUN.map((a) => (a === out ? join(dir, 'applied') : a))], { PATH: empty });
  t.equal(r.code, 1);
  t.match(r.stderr, /kubectl not found/);
  t.notMatch(r.stderr, /\n\s+at /, 'no stack trace');
});

t.test('bad options: exit 2 with what to give', async (t) => {
  const noImage = await runInProcess(RUN.filter((a, k) => a !== '--image' && RUN[k - 1] !== '--image'));
  t.equal(noImage.code, 2);
  t.match(noImage.stderr, /--image/);
  const noShards = await runInProcess(RUN.filter((a, k) => a !== '--shards' && RUN[k - 1] !== '--shards'));
  t.equal(noShards.code, 2);
  t.match(noShards.stderr, /--shards/);
  const sft = await runInProcess([...RUN, '--compare-sft', '--dry-run']);
  t.equal(sft.code, 2);
  t.match(sft.stderr, /--compare-sft/);
});
