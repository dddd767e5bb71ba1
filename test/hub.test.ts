// Models and data sets by name (runtime/hub/, cli/resolve.ts) against a Hub started here on
// 127.0.0.1 (test/helpers/hub-server.ts): download then load, no request on a second run, resume
// after a cut connection, offline mode, a cache laid out in huggingface_hub's layout used as is, a
// corrupt blob refused, a gated model's 401, and hf://datasets/… giving the JSONL's problems.
import t, { type Test } from 'tap';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import { LightReasonerError } from '../runtime/errors.ts';
import { parseEvalProblems } from '../runtime/eval/evaluate.ts';
import { datasetJsonl, parquetToJsonl } from '../runtime/hub/dataset.ts';
import { resolveModel } from '../runtime/hub/model.ts';
import type { HubOptions } from '../runtime/hub/types.ts';
import { nodeFileSystem, nodePlatform } from '../runtime/platform/node.ts';
import { hubEnvironment, nodeHubFileSystem } from '../runtime/platform/node-hub.ts';
import { parseProblems } from '../runtime/stage/sample.ts';
import { openModel } from '../runtime/session.ts';
import { generateGreedy } from '../runtime/model/generate.ts';
import { readDataOption } from '../cli/resolve.ts';
import { FIXTURES } from './helpers/cli.ts';
import { runInProcess } from './helpers/cli-in-process.ts';
import { commitOf, FakeHub, filesOf, sha256, TOKEN } from './helpers/hub-server.ts';

const TINY = join(FIXTURES, 'sampling', 'models', 'llama-pair', 'amateur');
const SHARDED = join(FIXTURES, 'models', 'llama-untied-bf16-llama3rope');
const GATED = join(FIXTURES, 'sampling', 'models', 'qwen-pair', 'amateur');
const DATA = join(FIXTURES, 'hub', 'gsm8k-tiny');
/** Files a repository has that a model does not need: never to be fetched. */
const EXTRAS: [string, Buffer][] = [
  ['README.md', Buffer.from('# tiny\n')],
  ['pytorch_model.bin', Buffer.alloc(4096, 7)],
  ['onnx/model.onnx', Buffer.alloc(64, 1)],
];

function withExtras(dir: string): Map<string, Buffer> {
  const files = filesOf(dir);
  for (const [k, v] of EXTRAS) files.set(k, v);
  return files;
}

/** A Hub serving the tiny models and the data set, and an empty HF_HOME; both gone after `t`. */
async function setup(t: Test) {
  const hub = new FakeHub();
  const tiny = hub.add({ type: 'model', id: 'org/tiny', sha: '', files: withExtras(TINY) });
  tiny.sha = commitOf(tiny.files);
  const sharded = hub.add({ type: 'model', id: 'org/sharded', sha: commitOf(filesOf(SHARDED), 's'), files: filesOf(SHARDED) });
  hub.add({ type: 'model', id: 'org/gated', sha: commitOf(filesOf(GATED), 'g'), files: filesOf(GATED), gated: true });
  const dataFiles = new Map([...filesOf(DATA)].filter(([k]) => k.endsWith('.parquet')));
  dataFiles.set('README.md', Buffer.from('---\nconfigs: [main, socratic]\n---\n'));
  const data = hub.add({ type: 'dataset', id: 'org/gsm8k-tiny', sha: commitOf(dataFiles, 'd'), files: dataFiles });
  await hub.start();
  const home = mkdtempSync(join(tmpdir(), 'lr-hub-'));
  t.teardown(async () => {
    await hub.close();
    rmSync(home, { recursive: true, force: true });
  });
  const cacheDir = join(home, 'hub');
  // the CLI's environment: this Hub, this cache, no token or offline setting from the machine
  const env = {
    HF_ENDPOINT: hub.url,
    HF_HOME: home,
    HF_HUB_CACHE: undefined,
    HF_TOKEN: undefined,
    HUGGING_FACE_HUB_TOKEN: undefined,
    HF_HUB_OFFLINE: undefined,
    HF_TOKEN_PATH: undefined,
  };
  const opts = (more: Partial<HubOptions> = {}): HubOptions => ({ fs: nodeHubFileSystem, cacheDir, endpoint: hub.url, retryDelayMs: 1, ...more });
  return { hub, home, cacheDir, env, opts, tiny, sharded, data };
}

const generateArgs = (model: string) => [
  'generate',
  '--model',
  model,
  '--prompt',
  'Tom has 3 boxes',
  '--max-new-tokens',
  '4',
  '--backend',
  'reference',
  '--json',
];

async function rejects(t: Test, p: Promise<unknown>, code: string, pattern: RegExp, what: string): Promise<LightReasonerError | null> {
  try {
    await p;
    t.fail(`${what}: resolved, expected a ${code} error`);
    return null;
  } catch (e) {
    t.type(e, LightReasonerError, `${what}: a LightReasonerError`);
    t.equal((e as LightReasonerError).code, code, `${what}: ${code}`);
    t.match((e as Error).message, pattern, `${what}: the message says so`);
    return e as LightReasonerError;
  }
}

t.test('CLI: a Hub id is downloaded into the Python layout, loads, and a second run makes no request', async (t) => {
  const { hub, cacheDir, env, tiny } = await setup(t);
  const local = await runInProcess(generateArgs(TINY));
  t.equal(local.code, 0, { stderr: local.stderr });
  const first = await runInProcess(generateArgs('org/tiny'), env);
  t.equal(first.code, 0, 'generate --model org/tiny exits 0', { stderr: first.stderr });
  t.same(JSON.parse(first.stdout).token_ids, JSON.parse(local.stdout).token_ids, 'the same tokens as from the local directory');
  t.match(
    first.stderr,
    new RegExp(`^org/tiny: downloaded 6 files, \\d+\\.\\d kB in \\d+\\.\\d s \\(\\d+\\.\\d [kM]B/s\\) — commit ${tiny.sha} in `, 'm'),
    'a line with bytes, speed and the commit',
  );

  const storage = join(cacheDir, 'models--org--tiny');
  t.equal(readFileSync(join(storage, 'refs', 'main'), 'utf8'), tiny.sha, 'refs/main holds the commit, as huggingface_hub writes it');
  const snap = join(storage, 'snapshots', tiny.sha);
  const weights = join(snap, 'model.safetensors');
  const oid = sha256(tiny.files.get('model.safetensors')!);
  t.ok(lstatSync(weights).isSymbolicLink(), 'snapshot files are symlinks');
  t.equal(readlinkSync(weights), `../../blobs/${oid}`, 'relative, to the blob named by its sha256');
  t.same(readdirSync(snap).sort(), [...filesOf(TINY).keys()].sort(), 'exactly the files a model needs (no README, .bin, onnx/)');
  const asked = new Set(hub.fileRequests().map((r) => r.path.split('/').slice(5).join('/')));
  for (const [extra] of EXTRAS) t.notOk(asked.has(extra), `${extra} was never requested`);
  t.notOk(
    readdirSync(join(storage, 'blobs')).some((f) => f.endsWith('.incomplete')),
    'no .incomplete left',
  );

  const before = hub.requests.length;
  t.ok(before > 0);
  const second = await runInProcess(generateArgs('org/tiny'), env);
  t.equal(second.code, 0, { stderr: second.stderr });
  t.equal(second.stdout, first.stdout, 'same output');
  t.equal(hub.requests.length, before, 'the second run made no request at all');
  t.notMatch(second.stderr, /downloaded/, 'and says nothing about downloads');

  const pinned = await resolveModel(`org/tiny@${tiny.sha}`, { fs: nodeHubFileSystem, cacheDir, endpoint: hub.url });
  t.equal(pinned.dir, snap);
  t.equal(hub.requests.length, before, 'a pinned commit in the cache needs no request either');
});

t.test('resume: a connection cut mid-body continues with Range from the .incomplete size', async (t) => {
  const { hub, opts, tiny, cacheDir } = await setup(t);
  const oid = sha256(tiny.files.get('model.safetensors')!);
  const cdn = () => hub.requests.filter((r) => r.path === `/cdn/${oid}`);
  const CUT = 60_000;

  // within one call: the retry resumes
  hub.cutOnce.set(oid, CUT);
  const r = await resolveModel('org/tiny', opts());
  const ranges = cdn().map((q) => q.range);
  t.equal(ranges.length, 2, 'one cut, one retry');
  t.equal(ranges[0], undefined, 'the first request is for the whole file');
  const resumedAt = Number(/^bytes=(\d+)-$/.exec(ranges[1] ?? '')?.[1]);
  t.ok(resumedAt > 0 && resumedAt <= CUT, `the retry asks for the rest only (from byte ${resumedAt} of the ${CUT} sent)`);
  t.equal(sha256(readFileSync(join(r.dir, 'model.safetensors'))), oid, 'and the file is whole');

  // across runs: with no retries the call fails, keeps what it got, and the next call resumes
  rmSync(cacheDir, { recursive: true, force: true });
  hub.requests.length = 0;
  hub.cutOnce.set(oid, CUT);
  const err = await rejects(
    t,
    resolveModel('org/tiny', opts({ retries: 0 })),
    'ENVIRONMENT',
    /org\/tiny: the download of model\.safetensors was interrupted \(.+\) after 1 try — run the same command again to resume from the \d+ bytes kept in .*\.incomplete$/,
    'a cut with no retry',
  );
  const partial = join(cacheDir, 'models--org--tiny', 'blobs', `${oid}.incomplete`);
  const kept = statSync(partial).size;
  t.ok(kept > 0 && kept <= CUT, `the .incomplete file holds what arrived (${kept} bytes)`);
  t.match(err?.message, ` ${kept} bytes kept`, 'and the message says how much');
  const again = await resolveModel('org/tiny', opts({ retries: 0 }));
  t.same(
    cdn().map((q) => q.range),
    [undefined, `bytes=${kept}-`],
    'the next run resumes with Range from the .incomplete size',
  );
  t.notOk(existsSync(partial), 'renamed into place once verified');
  t.equal(sha256(readFileSync(join(again.dir, 'model.safetensors'))), oid);
  const after = ['generation_config.json', 'tokenizer_config.json', 'special_tokens_map.json'].reduce((n, f) => n + tiny.files.get(f)!.length, 0);
  t.equal(
    again.fetched,
    tiny.files.get('model.safetensors')!.length - kept + after,
    'the second run fetched the rest of the weights and the files after them, nothing twice',
  );

  // the CDN refuses an expired signed link (403 off the Hub): the retry asks the Hub for a fresh one
  rmSync(cacheDir, { recursive: true, force: true });
  hub.requests.length = 0;
  hub.refuseOnce.add(oid);
  await resolveModel('org/tiny', opts());
  t.equal(
    hub.requests.filter((q) => q.method === 'HEAD' && q.path.endsWith('/model.safetensors')).length,
    2,
    'an expired CDN link: HEAD again for a fresh one, then it downloads',
  );
});

t.test('offline: HF_HUB_OFFLINE=1 uses the cache, and says clearly when the model is not in it', async (t) => {
  const { hub, env, opts } = await setup(t);
  const missing = await runInProcess(generateArgs('org/tiny'), { ...env, HF_HUB_OFFLINE: '1' });
  t.equal(missing.code, 1, 'exit 1', { stderr: missing.stderr });
  t.match(missing.stderr, /^error: org\/tiny: not in the Hugging Face cache .*HF_HUB_OFFLINE/m, 'names the model and the setting');
  t.notMatch(missing.stderr, /internal error|\n\s+at /, 'no stack trace');
  t.equal(hub.requests.length, 0, 'offline: no request');

  await resolveModel('org/tiny', opts());
  const count = hub.requests.length;
  const cached = await runInProcess(generateArgs('org/tiny'), { ...env, HF_HUB_OFFLINE: '1' });
  t.equal(cached.code, 0, { stderr: cached.stderr });
  t.equal(hub.requests.length, count, 'offline with the model cached: works, no request');
  await rejects(t, resolveModel('org/sharded', opts({ offline: true })), 'NOT_FOUND', /org\/sharded: not in the Hugging Face cache/, 'API, offline');
});

/** A cache written the way huggingface_hub writes one: blobs by ETag, relative symlinks, refs/main. */
function pythonLayoutCache(cacheDir: string, id: string, dir: string, sha: string): void {
  const storage = join(cacheDir, `models--${id.replace('/', '--')}`);
  const snap = join(storage, 'snapshots', sha);
  mkdirSync(join(storage, 'blobs'), { recursive: true });
  mkdirSync(snap, { recursive: true });
  mkdirSync(join(storage, 'refs'), { recursive: true });
  writeFileSync(join(storage, 'refs', 'main'), sha);
  for (const [name, bytes] of filesOf(dir)) {
    const etag = name.endsWith('.safetensors') ? sha256(bytes) : createHash('sha1').update(`blob ${bytes.length}\0`).update(bytes).digest('hex');
    writeFileSync(join(storage, 'blobs', etag), bytes);
    symlinkSync(`../../blobs/${etag}`, join(snap, name));
  }
}

t.test("a cache in huggingface_hub's layout is used without any request, and loads", async (t) => {
  const { hub, opts, cacheDir } = await setup(t);
  const sha = 'c0ffee'.padEnd(40, '0');
  pythonLayoutCache(cacheDir, 'python/made', GATED, sha); // a repository this Hub does not even have
  const r = await resolveModel('python/made', opts());
  t.equal(r.dir, join(cacheDir, 'models--python--made', 'snapshots', sha));
  t.equal(r.sha, sha);
  t.ok(r.fromCache);
  t.equal(hub.requests.length, 0, 'no request');
  const model = await openModel(r.dir, { platform: nodePlatform, backend: 'reference' });
  try {
    const { tokens } = await generateGreedy(model, [model.tokenizer.encode('Sam has 12 marbles')], { maxNewTokens: 2 });
    t.equal(tokens[0].length, 2, 'the cached model generates');
  } finally {
    model.dispose();
  }
  // a snapshot missing its weights is not taken for complete: the Hub is asked (and has no such repo)
  rmSync(join(r.dir, 'model.safetensors'));
  await rejects(
    t,
    resolveModel('python/made', opts()),
    'NOT_FOUND',
    /python\/made: not a local path, and http:\/\/127\.0\.0\.1:\d+ says it has no model python\/made/,
    'incomplete snapshot',
  );
});

t.test('a corrupt download (sha256 differs from the ETag) is refused, deleted and not used', async (t) => {
  const { hub, opts, tiny, cacheDir } = await setup(t);
  const oid = sha256(tiny.files.get('model.safetensors')!);
  hub.corrupt.add(oid);
  await rejects(
    t,
    resolveModel('org/tiny', opts()),
    'MODEL_FORMAT',
    /org\/tiny: the downloaded model\.safetensors is corrupt \(its sha256 is [0-9a-f]{64}, the Hub's ETag says [0-9a-f]{64}\); it was deleted, not used/,
    'corrupt blob',
  );
  const storage = join(cacheDir, 'models--org--tiny');
  t.same(
    readdirSync(join(storage, 'blobs')).filter((f) => f.startsWith(oid)),
    [],
    'neither the blob nor an .incomplete is kept',
  );
  t.notOk(existsSync(join(storage, 'snapshots', tiny.sha, 'model.safetensors')), 'the snapshot does not link it');
  hub.corrupt.clear();
  const r = await resolveModel('org/tiny', opts());
  t.equal(sha256(readFileSync(join(r.dir, 'model.safetensors'))), oid, 'the next run downloads it afresh');
});

t.test('a gated model: 401 names the model and says to set HF_TOKEN; with the token it downloads', async (t) => {
  const { hub, env, opts } = await setup(t);
  const r = await runInProcess(generateArgs('org/gated'), env);
  t.equal(r.code, 1, { stderr: r.stderr });
  t.match(
    r.stderr,
    /^error: org\/gated: the Hub refused access \(HTTP 401\) — it is gated or private: accept its license on http:\/\/127\.0\.0\.1:\d+\/org\/gated, then set HF_TOKEN/m,
  );
  t.notMatch(r.stderr, /internal error|\n\s+at /, 'no stack trace');
  await rejects(t, resolveModel('org/gated', opts({ token: 'hf_wrong' })), 'ENVIRONMENT', /the token in HF_TOKEN is not allowed to read it/, 'a wrong token');
  hub.requests.length = 0;
  const ok = await resolveModel('org/gated', opts({ token: TOKEN }));
  t.ok(existsSync(join(ok.dir, 'model.safetensors')));
  const resolves = hub.requests.filter((q) => q.path.includes('/resolve/'));
  t.ok(resolves.length > 0 && resolves.every((q) => q.auth === `Bearer ${TOKEN}`), 'the token is sent as Authorization: Bearer');
  const cdn = hub.requests.filter((q) => q.path.startsWith('/cdn/'));
  t.ok(cdn.length > 0 && cdn.every((q) => q.auth === undefined), 'but not to the CDN the Hub redirects to (its URL is signed)');
});

t.test('a sharded model: the index and its shards, nothing else', async (t) => {
  const { hub, opts, sharded } = await setup(t);
  const r = await resolveModel('org/sharded', opts());
  t.same(readdirSync(r.dir).sort(), [...sharded.files.keys()].sort(), 'index, shards and the model files');
  t.equal(
    r.fetched,
    [...sharded.files.values()].reduce((s, b) => s + b.length, 0),
    'fetched counts every byte once',
  );
  await rejects(
    t,
    resolveModel('org/sharded@v9', opts()),
    'NOT_FOUND',
    /org\/sharded@v9: not a local path, and .* says it has no revision "v9"/,
    'unknown revision',
  );
  await rejects(t, resolveModel('org/nothing', opts()), 'NOT_FOUND', /org\/nothing: not a local path/, 'unknown model');
  t.ok(hub.requests.length > 0);
});

t.test('an AbortSignal stops a download between requests; an unreachable Hub is a clear error', async (t) => {
  const { hub, opts, cacheDir, tiny } = await setup(t);
  const early = new AbortController();
  early.abort();
  await rejects(t, resolveModel('org/tiny', opts({ signal: early.signal })), 'ABORTED', /aborted/, 'aborted before it starts');
  t.equal(hub.requests.length, 0, 'no request then');
  const mid = new AbortController();
  const seen: string[] = [];
  const onProgress = (p: { file: string; done: boolean }) => {
    if (p.done) seen.push(p.file);
    if (p.done && p.file === 'tokenizer.json') mid.abort();
  };
  await rejects(t, resolveModel('org/tiny', opts({ signal: mid.signal, onProgress })), 'ABORTED', /aborted/, 'aborted after a file');
  t.same(seen, ['config.json', 'tokenizer.json'], 'nothing was fetched after the abort');
  t.notOk(existsSync(join(cacheDir, 'models--org--tiny', 'snapshots', tiny.sha, 'model.safetensors')), 'the weights are not there');
  const closed = await new Promise<number>((done) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => done(port));
    });
  });
  await rejects(
    t,
    resolveModel('org/tiny', opts({ endpoint: `http://127.0.0.1:${closed}` })),
    'ENVIRONMENT',
    new RegExp(`^org/tiny: cannot reach http://127\\.0\\.0\\.1:${closed} \\(.*ECONNREFUSED.*\\) — check the network .*HF_HUB_OFFLINE=1`),
    'a Hub that does not answer',
  );
});

t.test("hubEnvironment reads huggingface_hub's variables", async (t) => {
  const home = mkdtempSync(join(tmpdir(), 'lr-hf-home-'));
  t.teardown(() => rmSync(home, { recursive: true, force: true }));
  t.same(hubEnvironment({ HF_HOME: home }), { cacheDir: join(home, 'hub'), endpoint: 'https://huggingface.co', token: undefined, offline: false });
  t.equal(hubEnvironment({ HF_HOME: home, HF_HUB_CACHE: '/c' }).cacheDir, '/c', 'HF_HUB_CACHE wins');
  t.equal(hubEnvironment({ XDG_CACHE_HOME: '/x' }).cacheDir, join('/x', 'huggingface', 'hub'), 'XDG_CACHE_HOME when HF_HOME is unset');
  t.equal(hubEnvironment({ HF_HOME: home, HF_ENDPOINT: 'http://mirror/' }).endpoint, 'http://mirror', 'HF_ENDPOINT, trailing slash dropped');
  for (const v of ['1', 'true', 'ON', 'yes']) t.ok(hubEnvironment({ HF_HOME: home, HF_HUB_OFFLINE: v }).offline, `HF_HUB_OFFLINE=${v}`);
  t.notOk(hubEnvironment({ HF_HOME: home, HF_HUB_OFFLINE: '0' }).offline);
  writeFileSync(join(home, 'token'), 'hf_saved\n');
  t.equal(hubEnvironment({ HF_HOME: home }).token, 'hf_saved', 'the token file huggingface-cli login writes');
  t.equal(hubEnvironment({ HF_HOME: home, HF_TOKEN: 'hf_env' }).token, 'hf_env', 'HF_TOKEN wins');
});

const problems = (text: string) => parseEvalProblems(text, { file: 'x' });

t.test('hf://datasets/org/name/config/split gives the same problems as the equivalent JSONL', async (t) => {
  const { hub, opts, data, cacheDir } = await setup(t);
  const jsonl = (config: string, split: string) => readFileSync(join(DATA, config, `${split}.jsonl`), 'utf8');
  const test = await datasetJsonl('hf://datasets/org/gsm8k-tiny/main/test', { ...opts(), defaultSplit: 'train' });
  t.same(problems(test.text), problems(jsonl('main', 'test')), 'main/test');
  t.equal(test.dataset.sha, data.sha);
  const link = join(cacheDir, 'datasets--org--gsm8k-tiny', 'snapshots', data.sha, 'main', 'test-00000-of-00001.parquet');
  t.equal(
    readlinkSync(link),
    `../../../blobs/${sha256(data.files.get('main/test-00000-of-00001.parquet')!)}`,
    'cached as datasets--org--name in the Python layout',
  );
  const train = await datasetJsonl('hf://datasets/org/gsm8k-tiny/main', { ...opts(), defaultSplit: 'train' });
  t.same(parseProblems(train.text), parseProblems(jsonl('main', 'train')), 'main with the default split (train)');
  const socratic = await datasetJsonl('hf://datasets/org/gsm8k-tiny/socratic/test', { ...opts(), defaultSplit: 'test' });
  t.same(problems(socratic.text), problems(jsonl('socratic', 'test')), 'int64 ids kept');
  t.same(
    problems(socratic.text).map((p) => p.id),
    ['101', '102'],
  );

  const count = hub.requests.length;
  const again = await datasetJsonl('hf://datasets/org/gsm8k-tiny/main/test', { ...opts(), defaultSplit: 'test' });
  t.equal(again.text, test.text);
  t.ok(again.dataset.fromCache);
  t.equal(hub.requests.length, count, 'cached: no request');
  const offline = await datasetJsonl('hf://datasets/org/gsm8k-tiny/main/test', { ...opts({ offline: true }), defaultSplit: 'test' });
  t.equal(offline.text, test.text, 'offline from the cache');

  await rejects(
    t,
    datasetJsonl('hf://datasets/org/gsm8k-tiny', { ...opts(), defaultSplit: 'test' }),
    'BAD_INPUT',
    /several configs \(main, socratic\) — name one, e\.g\. hf:\/\/datasets\/org\/gsm8k-tiny\/main\/test/,
    'ambiguous config',
  );
  await rejects(
    t,
    datasetJsonl('hf://datasets/org/gsm8k-tiny/main/validation', { ...opts(), defaultSplit: 'test' }),
    'BAD_INPUT',
    /no split "validation" in config "main"; it has test, train/,
    'unknown split',
  );
  await rejects(
    t,
    datasetJsonl('hf://datasets/org/gsm8k-tiny/other/test', { ...opts(), defaultSplit: 'test' }),
    'BAD_INPUT',
    /no config "other"; it has main, socratic/,
    'unknown config',
  );
  await rejects(
    t,
    datasetJsonl('hf://datasets/org/gsm8k-tiny/main/test', { ...opts({ offline: true, cacheDir: join(cacheDir, 'empty') }), defaultSplit: 'test' }),
    'NOT_FOUND',
    /HF_HUB_OFFLINE/,
    'offline, not cached',
  );

  const local = await parquetToJsonl(nodeFileSystem, [join(DATA, 'main', 'test-00000-of-00001.parquet')], 'local');
  t.equal(local, test.text, 'a local .parquet file reads the same');
  t.equal(
    (await readDataOption('--data', join(DATA, 'main', 'test-00000-of-00001.parquet'), 'test')).text,
    test.text,
    'and so does the CLI helper for a .parquet path',
  );
  t.equal((await readDataOption('--data', join(DATA, 'main', 'test.jsonl'), 'test')).text, jsonl('main', 'test'), 'a JSONL path is read as is');
  await rejects(t, readDataOption('--data', join(DATA, 'nope.jsonl'), 'test'), 'BAD_INPUT', /^--data .*nope\.jsonl: no such file$/, 'a missing file');
});

t.test('CLI: eval --data hf://datasets/… scores the same problems as --data file.jsonl', async (t) => {
  const { env, tiny, data } = await setup(t);
  const args = (data: string) => ['eval', '--model', 'org/tiny', '--data', data, '--backend', 'reference', '--max-new-tokens', '3', '--quiet', '--json'];
  const fromHub = await runInProcess(args('hf://datasets/org/gsm8k-tiny/main/test'), env);
  t.equal(fromHub.code, 0, { stderr: fromHub.stderr });
  const fromFile = await runInProcess(args(join(DATA, 'main', 'test.jsonl')), env);
  t.equal(fromFile.code, 0, { stderr: fromFile.stderr });
  const pick = (s: string) => {
    const j = JSON.parse(s);
    return { total: j.total, correct: j.correct, accuracy: j.accuracy };
  };
  t.same(pick(fromHub.stdout), pick(fromFile.stdout), 'same total and score');
  t.match(
    JSON.parse(fromHub.stdout),
    { model_hub: { id: 'org/tiny', revision: tiny.sha }, data_hub: { id: 'org/gsm8k-tiny', revision: data.sha } },
    'the summary names the commits the server gave',
  );
  t.match(JSON.parse(fromFile.stdout), { model_hub: { id: 'org/tiny', revision: tiny.sha }, data_hub: null }, 'a local file has no commit');
  t.equal(pick(fromHub.stdout).total, 3);
  const bad = await runInProcess(args('hf://datasets/org/gsm8k-tiny/main/dev'), env);
  t.equal(bad.code, 2, "an unknown split is the user's to fix (exit 2)");
  t.match(bad.stderr, /^error: hf:\/\/datasets\/org\/gsm8k-tiny\/main\/dev: no split "dev"/m);
});
