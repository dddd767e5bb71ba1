// Hub models in Chromium: an id resolves to the Hub's URLs (hubModelUrl), the files come with Range
// requests and stay in the Cache API, so a reload in the same browser context sends no request for
// them; a gated model without a token fails naming the model, with the `token` option it loads.
// The Hub is test/helpers/hub-server.ts (on another origin than the page: CORS as the Hub's).
import t, { type Test } from 'tap';
import { join } from 'node:path';
import { build } from 'esbuild';
import { chromium, type Browser } from 'playwright-core';
import { CHROMIUM_ARGS, chromiumPath, serve } from './helpers/browser.ts';
import { FIXTURES, ROOT, runCli } from './helpers/cli.ts';
import { commitOf, FakeHub, filesOf, sha256, TOKEN } from './helpers/hub-server.ts';

const TINY = join(FIXTURES, 'sampling', 'models', 'llama-pair', 'amateur');
const GATED = join(FIXTURES, 'sampling', 'models', 'qwen-pair', 'amateur');
const exe = chromiumPath();

function missing(t: Test, what: string) {
  if (process.env.CI) t.fail(`${what} is missing in CI`);
  else t.pass(`${what} not found: Hub models in the browser are NOT tested here`, { skip: true });
}

let browser: Browser | null = null;
t.before(async () => {
  if (exe) browser = await chromium.launch({ executablePath: exe, args: CHROMIUM_ARGS });
});
t.teardown(async () => browser?.close());

type Result = { tokens?: number[]; url?: string; error?: string; code?: string };

t.test('a Hub id in Chromium: downloaded once with Range requests, a reload reads the Cache API; a gated model needs the token', async (t) => {
  if (!browser) return missing(t, 'chromium (apt-get install chromium)');
  const hub = new FakeHub();
  const tiny = hub.add({ type: 'model', id: 'org/tiny', sha: commitOf(filesOf(TINY)), files: filesOf(TINY) });
  hub.add({ type: 'model', id: 'org/gated', sha: commitOf(filesOf(GATED), 'g'), files: filesOf(GATED), gated: true });
  await hub.start();
  const bundle = await build({
    entryPoints: [join(ROOT, 'test/browser/hub-entry.ts')],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    write: false,
    logLevel: 'silent',
  });
  const { url, server } = await serve(
    { '/': '<!doctype html><meta charset="utf-8"><script type="module" src="/hub.js"></script>', '/hub.js': bundle.outputFiles[0].contents },
    {},
  );
  t.teardown(async () => {
    server.close();
    await hub.close();
  });
  const context = await browser.newContext();
  t.teardown(() => context.close());
  const page = await context.newPage();
  const load = async (name: string, token?: string): Promise<Result> => {
    await page.goto(url);
    await page.waitForFunction(() => 'runHub' in globalThis);
    return page.evaluate(([e, n, k]) => (globalThis as any).runHub(e, n, k ?? undefined), [hub.url, name, token ?? null] as const);
  };
  const oid = sha256(tiny.files.get('model.safetensors')!);
  const weightGets = () => hub.requests.filter((q) => q.method === 'GET' && (q.path === `/cdn/${oid}` || q.path.endsWith('/model.safetensors')));
  const fileGets = () => hub.requests.filter((q) => q.method === 'GET' && !q.path.startsWith('/api/'));

  const node = await runCli(['generate', '--model', TINY, '--prompt', 'Tom has 3 boxes', '--max-new-tokens', '4', '--backend', 'reference', '--json']);
  const first = await load('org/tiny');
  t.notOk(first.error, 'the first load works', { error: first.error });
  t.equal(first.url, `${hub.url}/org/tiny/resolve/${tiny.sha}`, 'the id resolved to the commit-pinned Hub URL');
  t.same(first.tokens, JSON.parse(node.stdout).token_ids, 'the same tokens as Node from the local folder');
  const cdn = hub.requests.filter((q) => q.path === `/cdn/${oid}` && q.method === 'GET');
  t.ok(cdn.length >= 1, `the weights were downloaded (${cdn.length} request)`);
  t.ok(
    cdn.every((q) => /^bytes=\d+-\d+$/.test(q.range ?? '')),
    'with Range requests',
  );
  t.ok(
    cdn.every((q) => q.auth === undefined),
    'no token to the CDN',
  );

  const weights = weightGets().length,
    files = fileGets().length;
  const second = await load('org/tiny');
  t.same(second.tokens, first.tokens, 'after a reload: the same tokens');
  t.equal(weightGets().length, weights, 'and no request for the weights');
  t.equal(fileGets().length, files, 'nor for any other file of the model (all from the Cache API)');

  const gated = await load('org/gated');
  t.equal(gated.code, 'ENVIRONMENT');
  t.match(
    gated.error,
    /^org\/gated@[0-9a-f]{40}: the Hub refused access \(HTTP 401\) — it is gated or private: accept its license on http:\/\/127\.0\.0\.1:\d+\/org\/gated, then set the `token` option to an access token/,
    'a gated model without a token: the 401 names the model and says to pass a token',
  );
  const withToken = await load('org/gated', TOKEN);
  t.notOk(withToken.error, 'with the token it loads', { error: withToken.error });
  t.equal(withToken.tokens?.length, 4);
  t.ok(
    hub.requests.some((q) => q.auth === `Bearer ${TOKEN}` && q.path.startsWith('/org/gated/resolve/')),
    'the token went to the Hub as Authorization: Bearer',
  );
});
