// The README's paper command, run as written (names from the Hub: two models and GSM8K) against a
// Hub started here (test/helpers/hub-server.ts) through HF_ENDPOINT, with only its sizes made
// small; and the commits the server named pinned in what it writes: report.json, the sampling
// summary and adapter_config.json (`revision`, base_model_name_or_path = the Hub id).
import t from 'tap';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hubRevisionOf } from '../runtime/hub/ids.ts';
import { baseModelRevision, defaultBaseModelName } from '../runtime/train/peft.ts';
import type { RunReport } from '../runtime/run/report-types.ts';
import { FIXTURES, ROOT, runCli } from './helpers/cli.ts';
import { commitOf, FakeHub, filesOf } from './helpers/hub-server.ts';

const PAIR = join(FIXTURES, 'sampling', 'models', 'llama-pair');
const DATA = join(FIXTURES, 'hub', 'gsm8k-tiny');
const SHA = 'ab'.repeat(20);

/** The README's `npx lightreasoner-wasm run --expert Qwen/…` command, as arguments. */
function readmePaperCommand(): string[] {
  const lines = readFileSync(join(ROOT, 'README.md'), 'utf8').split('\n');
  const start = lines.findIndex((l) => l.startsWith('npx lightreasoner-wasm run --expert Qwen/'));
  if (start < 0) return [];
  let text = '';
  for (let i = start; i < lines.length; i++) {
    const line = lines[i].replace(/\s+#.*$/, '');
    text += ` ${line.replace(/\\$/, '')}`;
    if (!line.trimEnd().endsWith('\\')) break;
  }
  return text.trim().split(/\s+/).slice(2);
}

t.test('hubRevisionOf: a cache snapshot path or a pinned Hub URL names the id and commit; nothing else does', async (t) => {
  t.same(hubRevisionOf(`/home/u/.cache/huggingface/hub/models--Qwen--Qwen2.5-Math-1.5B/snapshots/${SHA}`), { id: 'Qwen/Qwen2.5-Math-1.5B', revision: SHA });
  t.same(hubRevisionOf(`C:\\hf\\hub\\models--org--m.v2\\snapshots\\${SHA}\\`), { id: 'org/m.v2', revision: SHA }, 'Windows separators, a trailing one');
  t.same(hubRevisionOf(`https://huggingface.co/org/m/resolve/${SHA}`), { id: 'org/m', revision: SHA }, 'the URL hubModelUrl gives');
  t.same(hubRevisionOf(`/c/datasets--openai--gsm8k/snapshots/${SHA}`, 'dataset'), { id: 'openai/gsm8k', revision: SHA });
  t.equal(hubRevisionOf(`/c/datasets--openai--gsm8k/snapshots/${SHA}`), null, 'a data set is not a model');
  t.equal(hubRevisionOf(`https://huggingface.co/datasets/openai/gsm8k/resolve/${SHA}`), null);
  t.equal(hubRevisionOf(`/c/models--org--m/snapshots/main`), null, 'a branch is not a commit');
  t.equal(hubRevisionOf(`/c/models--org/snapshots/${SHA}`), null, 'no name');
  t.equal(hubRevisionOf('/models/Qwen2.5-0.5B'), null);
  t.equal(hubRevisionOf(`/x/${SHA}`), null, 'a folder named like a sha alone is not a snapshot');
  t.equal(defaultBaseModelName(`/c/models--org--m/snapshots/${SHA}`), 'org/m', 'the base model of a snapshot is its Hub id');
  t.equal(defaultBaseModelName('/models/Qwen2.5-0.5B/'), 'Qwen2.5-0.5B', 'else the folder name, as before');
  t.equal(baseModelRevision(`/c/models--org--m/snapshots/${SHA}`, 'org/m'), SHA);
  t.equal(baseModelRevision(`/c/models--org--m/snapshots/${SHA}`, 'someone/else'), null, 'no revision for a base named otherwise');
  t.equal(baseModelRevision('/models/m', 'm'), null);
});

t.test("the README's paper command runs against a local Hub (HF_ENDPOINT), and every commit is pinned in its outputs", async (t) => {
  const args = readmePaperCommand();
  t.match(
    args.join(' '),
    /^run --expert Qwen\/Qwen2\.5-Math-1\.5B --amateur Qwen\/Qwen2\.5-0\.5B --train-data hf:\/\/datasets\/openai\/gsm8k\/main\/train --eval-data hf:\/\/datasets\/openai\/gsm8k\/main\/test\b/,
    "the README's paper command is the issue's",
  );
  const hub = new FakeHub();
  const expert = hub.add({
    type: 'model',
    id: 'Qwen/Qwen2.5-Math-1.5B',
    sha: commitOf(filesOf(join(PAIR, 'expert')), 'e'),
    files: filesOf(join(PAIR, 'expert')),
  });
  const amateur = hub.add({
    type: 'model',
    id: 'Qwen/Qwen2.5-0.5B',
    sha: commitOf(filesOf(join(PAIR, 'amateur')), 'a'),
    files: filesOf(join(PAIR, 'amateur')),
  });
  const dataFiles = new Map([...filesOf(DATA)].filter(([k]) => k.startsWith('main/') && k.endsWith('.parquet')));
  const data = hub.add({ type: 'dataset', id: 'openai/gsm8k', sha: commitOf(dataFiles, 'd'), files: dataFiles });
  await hub.start();
  const home = mkdtempSync(join(tmpdir(), 'lr-hub-paper-'));
  t.teardown(async () => {
    await hub.close();
    rmSync(home, { recursive: true, force: true });
  });
  const out = join(home, 'lightr-qwen');
  const env = {
    HF_ENDPOINT: hub.url,
    HF_HOME: home,
    HF_HUB_CACHE: undefined,
    HF_TOKEN: undefined,
    HUGGING_FACE_HUB_TOKEN: undefined,
    HF_HUB_OFFLINE: undefined,
    HF_TOKEN_PATH: undefined,
  };
  // the README's command as written; later options override its sizes (commander keeps the last)
  const small = [
    '--max-questions',
    '3',
    '--max-steps',
    '2',
    '--save-steps',
    '1',
    '--max-new-tokens',
    '12',
    '--eval-max-new-tokens',
    '12',
    '--backend',
    'wasm',
    '--quiet',
    '--out',
    out,
  ];
  const r = await runCli([...args, ...small], { env, timeoutMs: 300_000 });
  t.equal(r.code, 0, 'exit 0', { stderr: r.stderr });
  t.ok(
    hub.requests.some((q) => q.path.startsWith('/api/datasets/openai/gsm8k/')),
    'GSM8K came from the local Hub',
  );

  const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as RunReport;
  t.same(report.models.expert.hub, { id: 'Qwen/Qwen2.5-Math-1.5B', revision: expert.sha }, "report.json: the expert's commit, as the server gave it");
  t.same(report.models.amateur.hub, { id: 'Qwen/Qwen2.5-0.5B', revision: amateur.sha }, "and the amateur's");
  t.same(report.data.train.hub, { id: 'openai/gsm8k', revision: data.sha }, "and the training data's");
  t.same(report.data.eval.hub, { id: 'openai/gsm8k', revision: data.sha }, "and the held-out data's");
  t.equal(report.data.eval.problems, 3);
  const html = readFileSync(join(out, 'report.html'), 'utf8');
  t.match(html, `Qwen/Qwen2.5-Math-1.5B <span class="muted">at commit ${expert.sha}</span>`, 'report.html names the commit');

  const summary = JSON.parse(readFileSync(join(out, 'samples.jsonl.summary.json'), 'utf8'));
  t.same(summary.models.expert.hub, { id: 'Qwen/Qwen2.5-Math-1.5B', revision: expert.sha }, 'the sampling summary too');
  t.same(summary.models.amateur.hub, { id: 'Qwen/Qwen2.5-0.5B', revision: amateur.sha });

  const config = JSON.parse(readFileSync(join(out, 'adapter', 'adapter_config.json'), 'utf8'));
  t.equal(config.base_model_name_or_path, 'Qwen/Qwen2.5-Math-1.5B', 'adapter_config: the Hub id, so PEFT finds the base');
  t.equal(config.revision, expert.sha, "and PEFT's revision field pins its commit");
});
