// The browser as a real target, in headless Chromium: the file-system contract on the in-memory
// storage and the Origin Private File System, and the example web app (examples/web, built from
// the package entry as a user's app would be) running the whole loop in a worker on Wasm with 2
// threads — reloaded in the middle of sampling, resumed, and finished with samples and adapter
// bytes identical to the Node CLI's for the same settings, no console errors, and a screenshot.
import t, { type Test } from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { chromium, type Browser } from 'playwright-core';
import { unzipSync } from 'fflate';
import type { Check } from './portable/model-parity.ts';
import { CHROMIUM_ARGS, chromiumPath, serve } from './helpers/browser.ts';
import { ROOT, runCli } from './helpers/cli.ts';

const exe = chromiumPath();
const tmp = mkdtempSync(join(tmpdir(), 'lr-browser-app-'));
t.teardown(() => rmSync(tmp, { recursive: true, force: true }));

function missing(t: Test, what: string) {
  if (process.env.CI) t.fail(`${what} is missing in CI`);
  else t.pass(`${what} not found: the browser target is NOT tested here`, { skip: true });
}

let browser: Browser | null = null;
t.before(async () => {
  if (exe) browser = await chromium.launch({ executablePath: exe, args: CHROMIUM_ARGS });
});
t.teardown(async () => browser?.close());

t.test('file-system contract in Chromium: in-memory and OPFS storage', async (t) => {
  if (!browser) return missing(t, 'chromium (apt-get install chromium)');
  const bundle = await build({
    entryPoints: [join(ROOT, 'test/browser/fs-entry.ts')],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    write: false,
    logLevel: 'silent',
  });
  const { url, server } = await serve(
    { '/': '<!doctype html><meta charset="utf-8"><script type="module" src="/fs.js"></script>', '/fs.js': bundle.outputFiles[0].contents },
    {},
  );
  t.teardown(() => server.close());
  const page = await browser.newPage();
  await page.goto(url);
  await page.waitForFunction(() => 'runFsContract' in globalThis);
  const checks = (await page.evaluate(() => (globalThis as any).runFsContract())) as Check[];
  t.ok(checks.length >= 34, `${checks.length} checks ran (memory, OPFS, OPFS in a worker, a broken worker)`);
  for (const c of checks) t.ok(c.ok, `chromium: ${c.name}`, { detail: c.detail });
  await page.close();
});

// Small enough for 2 cores, large enough that sampling commits several batches to reload between.
const SETTINGS = { train: 32, eval: 12, steps: 6, save: 2, sampleBatch: 2, evalTokens: 48 };

t.test('the example app: the whole loop in a worker, reload + resume, bytes = the Node CLI', async (t) => {
  if (!browser) return missing(t, 'chromium (apt-get install chromium)');
  const built = spawnSync(process.execPath, [join(ROOT, 'examples/web/build.mjs')], { cwd: ROOT, encoding: 'utf8' });
  t.equal(built.status, 0, 'examples/web builds from the package entry', { stderr: built.stderr });
  const srv = spawn(process.execPath, [join(ROOT, 'examples/web/serve.mjs')], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => srv.kill());
  const base = await new Promise<string>((resolve, reject) => {
    srv.stdout!.on('data', (d: Buffer) => {
      const m = /(http:\/\/127\.0\.0\.1:\d+\/)/.exec(String(d));
      if (m) resolve(m[1]);
    });
    srv.on('exit', (code) => reject(new Error(`serve.mjs exited (${code})`)));
  });

  // The Node CLI with the same settings (1 thread: results do not depend on the thread count).
  const cliOut = join(tmp, 'cli');
  const cli = await runCli([
    'run',
    '--out',
    cliOut,
    '--backend',
    'wasm',
    '--threads',
    '1',
    '--max-questions',
    String(SETTINGS.train),
    '--eval-questions',
    String(SETTINGS.eval),
    '--max-steps',
    String(SETTINGS.steps),
    '--save-steps',
    String(SETTINGS.save),
    '--sample-batch-size',
    String(SETTINGS.sampleBatch),
    '--eval-max-new-tokens',
    String(SETTINGS.evalTokens),
    '--quiet',
  ]);
  t.equal(cli.code, 0, 'the CLI run succeeds', { stderr: cli.stderr });

  const context = await browser.newContext({ acceptDownloads: true });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => m.type() === 'error' && !/status of 404/.test(m.text()) && errors.push(m.text()));
  const query = new URLSearchParams({ auto: '1', threads: '2', ...Object.fromEntries(Object.entries(SETTINGS).map(([k, v]) => [k, String(v)])) });
  await page.goto(`${base}?${query}`);
  // Reload once sampling has committed a batch but not all of them.
  await page.waitForFunction(() => Number((document.getElementById('sample-bar') as HTMLProgressElement).value) >= 2, null, { timeout: 120_000 });
  await page.reload();
  await page.waitForFunction(() => ['done', 'error'].includes(document.body.dataset.state ?? ''), null, { timeout: 300_000, polling: 500 });
  const state: Record<string, string | undefined> = await page.evaluate(() => ({
    ...document.body.dataset,
    error: document.getElementById('error')!.textContent ?? '',
    info: document.getElementById('info')!.textContent ?? '',
  }));
  t.equal(state.state, 'done', 'the loop finished', { error: state.error });
  t.ok(
    Number(state.resumedAt) >= 2 && Number(state.resumedAt) < SETTINGS.train,
    `after the reload, sampling resumed after ${state.resumedAt} of ${SETTINGS.train} problems`,
  );
  t.match(state.info, /\(2 threads\)/, 'the Wasm backend runs on 2 threads in the worker');
  const report = JSON.parse(readFileSync(join(cliOut, 'report.json'), 'utf8'));
  t.equal(Number(state.accuracyBefore), report.eval.expert_before.accuracy, "accuracy before = the CLI's");
  t.equal(Number(state.accuracyAfter), report.eval.expert_after.accuracy, "accuracy after = the CLI's");

  const samples = await page.evaluate(async () => {
    let d = await navigator.storage.getDirectory();
    for (const s of ['lightreasoner-example', 'run']) d = await d.getDirectoryHandle(s);
    return (await (await d.getFileHandle('samples.jsonl')).getFile()).text();
  });
  t.ok(samples === readFileSync(join(cliOut, 'samples.jsonl'), 'utf8'), "reloaded + resumed samples = the CLI's samples.jsonl, byte for byte");

  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
  t.equal(download.suggestedFilename(), 'lightreasoner-adapter.zip');
  const zipPath = join(tmp, 'adapter.zip');
  await download.saveAs(zipPath);
  const files = unzipSync(new Uint8Array(readFileSync(zipPath)));
  for (const name of ['adapter_config.json', 'adapter_model.safetensors']) {
    t.ok(files[name] && Buffer.from(files[name]).equals(readFileSync(join(cliOut, 'adapter', name))), `downloaded ${name} = the CLI's, byte for byte`);
  }
  t.ok(
    await page
      .frameLocator('#report')
      .locator('text=held-out')
      .first()
      .isVisible()
      .catch(() => false),
    'the report is shown in the page',
  );
  // Backend choice inside the worker: `auto` passes over the software adapter (SwiftShader) for
  // Wasm and says why; `webgpu` asked for explicitly runs there (tiny sizes: SwiftShader is slow).
  const gpu = await page.evaluate(async () => {
    const e = (globalThis as any).lightreasonerEngine;
    const auto = await e.info({ backend: 'auto' });
    const webgpu = await e.info({ backend: 'webgpu' }).catch((x: Error) => ({ error: x.message }));
    const models = new URL('models/default/', location.href).href;
    const ev =
      webgpu.backend?.kind === 'webgpu'
        ? await e.evaluate({
            model: `${models}expert`,
            backend: 'webgpu',
            problems: [{ id: 'p', question: 'What is 2 + 3?', gold: '5' }],
            settings: { maxNewTokens: 4 },
          })
        : null;
    return { auto: auto.backend, webgpu, total: ev?.summary.total ?? null };
  });
  t.equal(gpu.auto.kind, 'wasm', 'auto in the worker: Wasm');
  if (gpu.webgpu.backend?.kind === 'webgpu') {
    t.match(gpu.auto.note, /software GPU/, 'auto says it passed over the software adapter', { device: gpu.webgpu.backend.device });
    t.equal(gpu.total, 1, 'an evaluation on WebGPU runs in the worker');
  } else missing(t, `a WebGPU adapter in Chromium's worker (${gpu.webgpu.error ?? 'none'})`);

  const shot = join(process.env.LR_SCREENSHOT_DIR ?? tmp, 'example-web.png');
  await page.screenshot({ path: shot, fullPage: true });
  t.pass(`screenshot: ${shot}`);
  t.same(errors, [], 'no console errors');
  writeFileSync(join(tmp, 'state.json'), JSON.stringify(state));
  await context.close();
});
