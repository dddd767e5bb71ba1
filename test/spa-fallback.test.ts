// Models served by a host with a single-page-app fallback (Vite's dev and preview servers, Netlify
// or Vercel rewrites, `serve -s`): every unknown path is answered with index.html and status 200.
// The browser platform's URL reads must take that page for what it is — the file missing — and
// never for a chat template, a config or weights: optional files (chat_template.jinja,
// generation_config.json, tokenizer_config.json, a sharded model's absent model.safetensors) read
// as absent, so the model loads exactly as from local files; required ones fail with NOT_FOUND
// naming the URL and the likely cause. The real Vite app is test/vite-app.test.ts.
import t, { type Test } from 'tap';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ReferenceBackend } from '../runtime/backend/reference.ts';
import { createEngine } from '../runtime/engine/engine.ts';
import { HtmlFallbackError } from '../runtime/errors.ts';
import { readSafetensorsHeader } from '../runtime/io/safetensors.ts';
import { loadModel } from '../runtime/model/model.ts';
import { httpFileSystem, routedFileSystem } from '../runtime/platform/browser.ts';
import { MemoryFileSystem } from '../runtime/platform/memory-fs.ts';
import { nodePlatform } from '../runtime/platform/node.ts';
import type { Platform } from '../runtime/platform/types.ts';
import { defaultProblems } from '../runtime/run/pipeline.ts';
import { mergeAdapter } from '../runtime/train/merge.ts';
import { loadAdapter } from '../runtime/train/peft.ts';
import { modelFingerprint } from '../runtime/stage/fingerprint.ts';
import { serve, type SpaFallback } from './helpers/browser.ts';
import { FIXTURES, ROOT } from './helpers/cli.ts';

const INDEX_HTML =
  '<!doctype html>\n<html lang="en"><head><meta charset="UTF-8" /><title>Vite App</title><script type="module" src="/assets/index.js"></script></head><body><div id="app"></div></body></html>\n';
const MODELS = join(FIXTURES, 'models');
const SPA = /the server answered with an HTML page, not this file — a single-page-app fallback.*appType: 'mpa'/;
const OPTIONAL = ['generation_config.json', 'tokenizer_config.json', 'chat_template.jinja'];
const chat = [{ role: 'user' as const, content: 'What is 2 + 3?' }];

// Labelled text/html (what every SPA host sends), and unlabelled (only the body shows it).
const FALLBACKS: [string, SpaFallback][] = [
  ['text/html fallback', { body: INDEX_HTML }],
  ['unlabelled fallback', { body: INDEX_HTML, contentType: null }],
];

/** A copy of a fixture model without `drop` (files the model may lack), served beside the fixtures. */
function fixtureWithout(t: Test, name: string, drop: string[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'lr-spa-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  cpSync(join(MODELS, name), dir, { recursive: true, filter: (src) => !drop.some((f) => src.endsWith(`/${f}`)) });
  return dir;
}

async function spaServer(t: Test, fallback: SpaFallback, mounts: Record<string, string> = {}): Promise<string> {
  const { url, server } = await serve({}, { '/models': MODELS, ...mounts }, fallback);
  t.teardown(() => server.close());
  return url;
}

const browserFs = () => routedFileSystem(new MemoryFileSystem());

/** What a load gives that a stray HTML page would change: config, template, its rendering, token ids. */
async function loaded(fs: Platform['fs'], dir: string, warnings: string[] = []) {
  const m = await loadModel(dir, { fs, backend: new ReferenceBackend(), onWarning: (w) => warnings.push(w) });
  const { config } = m;
  const template = m.tokenizer.chatTemplate;
  const out = {
    config,
    template,
    rendered: template === null ? null : m.tokenizer.renderChat(chat),
    ids: m.tokenizer.encode(chat[0].content),
    weights: [m.weights.bytes, m.weights.dtype, m.weights.layers.length],
  };
  m.dispose();
  return out;
}

for (const [kind, fallback] of FALLBACKS) {
  t.test(`${kind}: optional files read as absent, the model loads as from local files`, async (t) => {
    const noGen = fixtureWithout(t, 'llama-gqa-tied-f32', ['generation_config.json', 'tokenizer_config.json']);
    const url = await spaServer(t, fallback, { '/nogen': noGen });
    const fs = browserFs();
    const cases: [string, string, string][] = [
      ['chat_template.jinja present', join(MODELS, 'qwen2-tied-bf16'), `${url}/models/qwen2-tied-bf16`],
      ['template in tokenizer_config.json, no .jinja', join(MODELS, 'llama-gqa-tied-f32'), `${url}/models/llama-gqa-tied-f32`],
      ['no generation_config.json, no tokenizer_config.json', noGen, `${url}/nogen`],
    ];
    // Sharded (an index, no model.safetensors): only a labelled page shows on the HEAD request that
    // model.safetensors is missing; an unlabelled one fails with the fallback named.
    const sharded = 'llama-untied-bf16-llama3rope';
    if (fallback.contentType !== null) cases.push(['sharded: no model.safetensors, an index', join(MODELS, sharded), `${url}/models/${sharded}`]);
    else {
      const e = await loadModel(`${url}/models/${sharded}`, { fs, backend: new ReferenceBackend() }).then(
        () => null,
        (x) => x,
      );
      t.match(
        e,
        { code: 'NOT_FOUND', file: `${url}/models/${sharded}/model.safetensors`, message: SPA },
        'sharded behind an unlabelled fallback: refused, the fallback named',
      );
    }
    for (const [name, local, remote] of cases) {
      const warnings: string[] = [];
      const want = await loaded(nodePlatform.fs, local);
      const got = await loaded(fs, remote, warnings);
      t.same(got, want, `${name}: the same config, chat template, rendering, ids and weights over HTTP as from disk`);
      t.notMatch(String(got.template), /<html|<!doctype/i, `${name}: no HTML page taken for the chat template`);
      if (fallback.contentType === null) {
        // The HEAD request could not tell: each missing optional file's page is refused with one warning line.
        const absent = OPTIONAL.filter((f) => !existsSync(join(local, f)));
        const want = absent.map(
          (f) => `${remote}/${f}: the server answered with an HTML page (a single-page-app fallback?), not this optional file; treated as absent`,
        );
        t.same(warnings.sort(), want.sort(), `${name}: one warning line per missing optional file (${absent.join(', ') || 'none'})`);
      } else t.same(warnings, [], `${name}: a fallback labelled text/html reads as a 404 (no warning)`);
    }
  });

  t.test(`${kind}: required files fail with NOT_FOUND naming the URL and the cause`, async (t) => {
    const noTok = fixtureWithout(t, 'llama-gqa-tied-f32', ['tokenizer.json']);
    const noWeights = fixtureWithout(t, 'llama-gqa-tied-f32', ['model.safetensors']);
    const noShard = fixtureWithout(t, 'llama-untied-bf16-llama3rope', ['model-00002-of-00003.safetensors']);
    const url = await spaServer(t, fallback, { '/notok': noTok, '/noweights': noWeights, '/noshard': noShard });
    const fs = browserFs();
    const fails = async (what: string, p: Promise<unknown>, file: string, message: RegExp = SPA) => {
      const e = await p.then(
        () => null,
        (x) => x,
      );
      t.match(e, { name: 'LightReasonerError', code: 'NOT_FOUND', file, message }, what);
      t.ok(String(e?.message).startsWith(`${file}: `), `${what}: the message starts with the URL`);
    };
    const load = (dir: string) => loadModel(dir, { fs, backend: new ReferenceBackend() });
    await fails('config.json (a wrong model URL)', load(`${url}/models/no-such-model`), `${url}/models/no-such-model/config.json`);
    await fails('tokenizer.json', load(`${url}/notok`), `${url}/notok/tokenizer.json`);
    // A labelled page reads as a 404 on the HEAD request, so these say "not found" as for a 404;
    // behind an unlabelled one a sharded model fails at model.safetensors (see above).
    const labelled = fallback.contentType !== null;
    await fails('a shard the index names', load(`${url}/noshard`), `${url}/noshard/${labelled ? 'model-00002-of-00003.safetensors' : 'model.safetensors'}`);
    await fails(
      'no weights at all',
      load(`${url}/noweights`),
      `${url}/noweights/model.safetensors`,
      labelled ? /needs model\.safetensors or model\.safetensors\.index\.json/ : SPA,
    );
    await fails('a safetensors header', readSafetensorsHeader(fs, `${url}/nothing.safetensors`), `${url}/nothing.safetensors`);
    const model = await loadModel(join(MODELS, 'llama-gqa-tied-f32'), { fs: nodePlatform.fs, backend: new ReferenceBackend() });
    t.teardown(() => model.dispose());
    await fails('an adapter directory', loadAdapter(fs, `${url}/no-adapter`, model), `${url}/no-adapter/adapter_config.json`, labelled ? /not found/ : SPA);
  });

  t.test(`${kind}: the HTTP file system on its own`, async (t) => {
    const url = await spaServer(t, fallback);
    const missing = `${url}/models/llama-gqa-tied-f32/chat_template.jinja`;
    t.equal(await httpFileSystem.exists(`${url}/models/llama-gqa-tied-f32/config.json`), true, 'a real file exists');
    t.equal(
      await httpFileSystem.exists(missing),
      fallback.contentType === null,
      fallback.contentType === null ? 'unlabelled: HEAD cannot tell' : 'a text/html fallback does not exist',
    );
    const refuses = async (p: Promise<unknown>, what: string) =>
      t.ok(
        (await p.then(
          () => null,
          (x) => x,
        )) instanceof HtmlFallbackError,
        what,
      );
    await refuses(httpFileSystem.readText(missing), 'readText refuses the page');
    await refuses(httpFileSystem.readBytes(missing), 'readBytes (whole) refuses the page');
    await refuses(httpFileSystem.readBytes(`${url}/x.safetensors`, 0, 8), 'a ranged read of 8 bytes from 0 refuses the page');
    if (fallback.contentType !== null) {
      await refuses(httpFileSystem.readBytes(`${url}/x.safetensors`, 8, 16), 'a ranged read inside the page: the content type tells');
      await refuses(httpFileSystem.size(`${url}/x.safetensors`), 'size refuses the page');
    }
    const head = await httpFileSystem.readBytes(`${url}/models/llama-gqa-tied-f32/model.safetensors`, 0, 8);
    t.equal(head.byteLength, 8, 'a real file: 8 bytes from 0 are 8 bytes');
    t.equal(await httpFileSystem.readText(`${url}/index.html`), INDEX_HTML, 'a path that is HTML is read as it is');
  });

  t.test(`${kind}: a merge and a fingerprint read the model over HTTP as from disk`, async (t) => {
    const base = join(FIXTURES, 'sampling', 'models', 'llama-pair');
    const adapter = join(FIXTURES, 'finetune', 'llama-pair');
    const url = await spaServer(t, fallback, { '/base': base, '/adapters': adapter });
    const fs = browserFs();
    const local = mkdtempSync(join(tmpdir(), 'lr-spa-merge-'));
    t.teardown(() => rmSync(local, { recursive: true, force: true }));
    const want = await mergeAdapter(nodePlatform.fs, join(base, 'expert'), join(adapter, 'ours-adapter'), join(local, 'merged'));
    const got = await mergeAdapter(fs, `${url}/base/expert`, `${url}/adapters/ours-adapter`, 'merged');
    t.same(got.files, want.files, `the merged model has the files the local merge has (${want.files.join(', ')}), no fallback page among them`);
    for (const f of want.files)
      t.ok(Buffer.from(await fs.readBytes(`merged/${f}`)).equals(readFileSync(join(local, 'merged', f))), `merged ${f}: the same bytes`);
    t.equal(
      await modelFingerprint(fs, `${url}/base/expert`),
      await modelFingerprint(nodePlatform.fs, join(base, 'expert')),
      'the same model fingerprint over HTTP as from disk',
    );
  });
}

t.test('an engine evaluating the embedded default over a text/html fallback = the same job on Node files', async (t) => {
  const url = await spaServer(t, { body: INDEX_HTML }, { '/default': join(ROOT, 'models', 'default') });
  const problems = defaultProblems(0, 6).eval;
  const job = { backend: 'wasm' as const, threads: 1, problems, settings: { maxNewTokens: 48 } };
  const warnings: string[] = [];
  const onEvent = (e: { status: string; message?: string }) => e.status === 'warning' && warnings.push(e.message!);
  const node = await createEngine(nodePlatform).evaluate({ ...job, model: join(ROOT, 'models', 'default', 'expert') });
  const browser = await createEngine({ name: 'browser', fs: browserFs(), getGPU: async () => null }).evaluate(
    { ...job, model: `${url}/default/expert` },
    { onEvent },
  );
  t.same(
    browser.records.map((r) => r.output),
    node.records.map((r) => r.output),
    'the same completions',
  );
  t.equal(browser.summary.correct, node.summary.correct, `the same count correct (${node.summary.correct} / ${problems.length})`);
  t.same(warnings, [], 'no warnings');
});
