// A plain Vite app, as a user would write one: it installs the packed package (npm pack of this
// project's built dist/ — run `npm run build` first, as for test/browser-app.test.ts), copies the
// embedded default pair from the installed package into public/, runs the short loop in a worker
// (createWorkerEngine) and is served by `vite build` + `vite preview`, Vite's defaults plus the
// COOP/COEP headers. Vite's preview answers every unknown path with index.html and status 200
// (appType 'spa'), so the optional files the runtime probes (chat_template.jinja…) get a web page:
// the browser's counts must still equal Node's for the same job (before the fix: 1/32 against 13/32,
// with no error). Then Vite's dev server (the same fallback, modules unbundled) evaluates the expert.
// npm reads the packages from its cache when it has them (--prefer-offline).
import t, { type Test } from 'tap';
import { type ChildProcess, spawn } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { createEngine } from '../runtime/engine/engine.ts';
import { nodePlatform } from '../runtime/platform/node.ts';
import { defaultProblems } from '../runtime/run/pipeline.ts';
import { CHROMIUM_ARGS, chromiumPath } from './helpers/browser.ts';
import { ROOT } from './helpers/cli.ts';

// The short loop: small enough for 2 shared cores, large enough that a wrong template shows (13/32).
const LOOP = { train: 8, eval: 32, sample: { beta: 1 }, finetune: { lr: 5e-4, maxSteps: 4, saveSteps: 100 } };

const APP: Record<string, string> = {
  'index.html':
    '<!doctype html>\n<html lang="en">\n  <head><meta charset="UTF-8" /><title>lightreasoner-wasm in Vite</title></head>\n  <body><script type="module" src="/main.js"></script></body>\n</html>\n',
  'vite.config.js': [
    "// Vite's defaults plus the two headers that make the page cross-origin isolated (Wasm threads).",
    "const headers = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' };",
    'export default { server: { headers }, preview: { headers } };',
    '',
  ].join('\n'),
  'worker.js': "import { createBrowserPlatform, serveEngine } from 'lightreasoner-wasm';\n\nserveEngine(self, createBrowserPlatform());\n",
  'main.js': `import { createWorkerEngine, defaultProblems } from 'lightreasoner-wasm';

const engine = createWorkerEngine(new Worker(new URL('./worker.js', import.meta.url), { type: 'module' }));

// The loop on the embedded pair (public/models/default), its counts, and any warnings.
globalThis.runLoop = async (s) => {
  const models = new URL('models/default/', location.href).href;
  const { train, eval: evalSet } = defaultProblems(s.train, s.eval);
  const warnings = [];
  const report = await engine.run(
    { expert: models + 'expert', amateur: models + 'amateur', train, eval: evalSet, out: 'run', backend: 'wasm', threads: s.threads, sample: s.sample, finetune: s.finetune },
    { onEvent: (e) => e.status === 'warning' && warnings.push(e.message) },
  );
  const info = await engine.info({ backend: 'wasm', threads: s.threads });
  return { eval: report.eval, warnings, crossOriginIsolated, device: info.backend.device };
};

// The expert alone on the held-out problems (the loop's "expert_before").
globalThis.runEval = async (s) => {
  const warnings = [];
  const r = await engine.evaluate(
    { model: new URL('models/default/expert', location.href).href, problems: defaultProblems(s.train, s.eval).eval, backend: 'wasm', threads: s.threads },
    { onEvent: (e) => e.status === 'warning' && warnings.push(e.message) },
  );
  return { correct: r.summary.correct, total: r.summary.total, warnings };
};
`,
};

type Counts = Record<string, string>;
const counts = (ev: Record<string, { correct: number; total: number } | null | undefined>): Counts =>
  Object.fromEntries(
    Object.entries(ev)
      .filter(([, v]) => v)
      .map(([k, v]) => [k, `${v!.correct}/${v!.total}`]),
  );

/** Run a command to its end; npm's own settings from a `npm test` parent are left out. */
function run(cmd: string, args: string[], cwd: string): Promise<{ code: number | null; stdout: string; out: string }> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k)));
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '',
      out = '';
    p.stdout.on('data', (d) => ((stdout += d), (out += d)));
    p.stderr.on('data', (d) => (out += d));
    p.on('close', (code) => resolve({ code, stdout, out }));
  });
}

/** `vite preview` (or the dev server: `vite`) on a free port (port 0): its URL once it listens. */
function viteServer(t: Test, app: string, command: 'preview' | 'dev'): Promise<string> {
  const args = [
    join(app, 'node_modules/vite/bin/vite.js'),
    ...(command === 'preview' ? ['preview'] : []),
    '--host',
    '127.0.0.1',
    '--port',
    '0',
    '--strictPort',
  ];
  const srv: ChildProcess = spawn(process.execPath, args, { cwd: app, stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => void srv.kill());
  return new Promise((resolve, reject) => {
    let out = '';
    const seen = (d: Buffer) => {
      out += d;
      // Vite colours the port; drop the escapes before matching.
      // biome-ignore lint/suspicious/noControlCharactersInRegex: Vite's colour codes (ESC [ … m) are what is stripped
      const m = /(http:\/\/127\.0\.0\.1:\d+\/)/.exec(out.replace(/\x1b\[[0-9;]*m/g, ''));
      if (m) resolve(m[1]);
    };
    srv.stdout!.on('data', seen);
    srv.stderr!.on('data', seen);
    srv.on('exit', (code) => reject(new Error(`vite ${command} exited (${code}): ${out}`)));
  });
}

t.test("a plain Vite app (SPA fallback, COOP/COEP) installs the package and runs the loop in a worker with Node's counts", async (t) => {
  const exe = chromiumPath();
  if (!exe) {
    if (process.env.CI) t.fail('chromium is missing in CI');
    else t.pass('chromium not found (apt-get install chromium): the Vite app is NOT tested here', { skip: true });
    return;
  }
  const app = mkdtempSync(join(tmpdir(), 'lr-vite-app-'));
  t.teardown(() => rmSync(app, { recursive: true, force: true }));

  // The package as npm publishes it (no prepare script: dist/ as built).
  const packed = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', app], ROOT);
  t.equal(packed.code, 0, 'npm pack', { out: packed.out.slice(-2000) });
  const tarball = (JSON.parse(packed.stdout) as { filename: string }[])[0].filename;
  const vite = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { devDependencies: Record<string, string> }).devDependencies.vite;
  writeFileSync(
    join(app, 'package.json'),
    JSON.stringify(
      { name: 'lr-vite-app', private: true, type: 'module', dependencies: { 'lightreasoner-wasm': `file:./${tarball}` }, devDependencies: { vite } },
      null,
      2,
    ),
  );
  for (const [name, text] of Object.entries(APP)) writeFileSync(join(app, name), text);

  // Node's counts for the same job (this thread), while npm installs the app.
  const { train, eval: evalSet } = defaultProblems(LOOP.train, LOOP.eval);
  const models = join(ROOT, 'models', 'default');
  const install = run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts'], app);
  const nodeReport = await createEngine(nodePlatform).run({
    ...LOOP,
    expert: join(models, 'expert'),
    amateur: join(models, 'amateur'),
    train,
    eval: evalSet,
    out: join(app, 'node-run'),
    backend: 'wasm',
    threads: 1,
  });
  const installed = await install;
  t.equal(installed.code, 0, 'npm install of the packed tarball and vite', { out: installed.out.slice(-2000) });

  mkdirSync(join(app, 'public', 'models'), { recursive: true });
  cpSync(join(app, 'node_modules', 'lightreasoner-wasm', 'models', 'default'), join(app, 'public', 'models', 'default'), { recursive: true });
  const built = await run(process.execPath, [join(app, 'node_modules/vite/bin/vite.js'), 'build'], app);
  t.equal(built.code, 0, 'vite build', { out: built.out.slice(-3000) });
  const url = await viteServer(t, app, 'preview');
  const probe = await fetch(new URL('models/default/expert/chat_template.jinja', url));
  t.match(
    { status: probe.status, type: probe.headers.get('content-type') },
    { status: 200, type: /^text\/html/ },
    'vite preview answers a missing file with its index.html (the SPA fallback)',
  );

  const browser = await chromium.launch({ executablePath: exe, args: CHROMIUM_ARGS });
  t.teardown(() => browser.close());
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => m.type() === 'error' && !/status of 404/.test(m.text()) && errors.push(m.text()));
  await page.goto(url);
  await page.waitForFunction(() => 'runLoop' in globalThis, null, { timeout: 60_000 });
  const got = (await page.evaluate((s) => (globalThis as any).runLoop(s), { ...LOOP, threads: 2 })) as {
    eval: RunEval;
    warnings: string[];
    crossOriginIsolated: boolean;
    device: string;
  };
  t.equal(got.crossOriginIsolated, true, 'the page is cross-origin isolated (the COOP/COEP headers)');
  t.match(got.device, /\(2 threads\)/, 'the Wasm backend runs on 2 threads in the worker');
  const want = counts(nodeReport.eval as unknown as RunEval);
  t.same(
    counts(got.eval),
    want,
    `the browser's counts = Node's (${Object.entries(want)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')})`,
  );
  t.same(got.warnings, [], 'no warnings');

  // Vite's dev server (its own SPA fallback, modules served unbundled): the expert's count alone.
  const dev = await viteServer(t, app, 'dev');
  await page.goto(dev);
  await page.waitForFunction(() => 'runEval' in globalThis, null, { timeout: 60_000 });
  const devEval = (await page.evaluate((s) => (globalThis as any).runEval(s), { ...LOOP, threads: 2 })) as {
    correct: number;
    total: number;
    warnings: string[];
  };
  const before = nodeReport.eval.expert_before;
  t.same(
    devEval,
    { correct: before.correct, total: before.total, warnings: [] },
    `vite dev: the expert's count = Node's (${before.correct}/${before.total}), no warnings`,
  );
  t.same(errors, [], 'no page errors');
});

type RunEval = Record<string, { correct: number; total: number } | null | undefined>;
