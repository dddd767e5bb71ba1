// The same parity checks in the other two runtimes: Deno (WebGPU via wgpu on Mesa lavapipe, which
// has shader-f16) and headless Chromium (WebGPU via Dawn on SwiftShader, Wasm, fetch-based I/O).
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';
import { chromium } from 'playwright-core';
import type { Check } from './portable/model-parity.ts';
import { CHROMIUM_ARGS, chromiumPath, missingRuntime as missing, serve } from './helpers/browser.ts';
import { FIXTURES, ROOT } from './helpers/cli.ts';

const LAVAPIPE = '/usr/share/vulkan/icd.d/lvp_icd.x86_64.json';

t.test('Deno: parity on wasm and webgpu (lavapipe, shader-f16)', async (t) => {
  const deno = join(ROOT, 'node_modules', '.bin', 'deno');
  if (!existsSync(deno)) return missing(t, 'deno (npm ci installs it)');
  if (!existsSync(LAVAPIPE)) return missing(t, 'Mesa lavapipe (apt-get install mesa-vulkan-drivers)');
  const r = spawnSync(deno, ['run', '-A', 'test/deno/model-parity.ts', 'wasm', 'webgpu'], {
    cwd: ROOT,
    env: { ...process.env, VK_ICD_FILENAMES: LAVAPIPE, NO_COLOR: '1' },
    encoding: 'utf8',
    timeout: 300_000,
  });
  const checks: Check[] = r.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l));
  t.ok(checks.length > 0, 'deno produced results', { stderr: r.stderr.slice(-3000) });
  for (const c of checks) t.ok(c.ok, `deno: ${c.name}`, { diagnostic: !c.ok, detail: c.detail });
  t.equal(r.status, 0, 'deno exit code', { stderr: r.stderr.slice(-3000) });
});

t.test('Chromium: parity on wasm and webgpu (SwiftShader), fetch + Range I/O', async (t) => {
  const exe = chromiumPath();
  if (!exe) return missing(t, 'chromium (apt-get install chromium)');
  const bundle = await build({
    entryPoints: [join(ROOT, 'test/browser/entry.ts')],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    conditions: ['browser'],
    write: false,
    logLevel: 'silent',
  });
  const { url, server } = await serve(
    {
      '/': '<!doctype html><meta charset="utf-8"><title>parity</title><script type="module" src="/bundle.js"></script>',
      '/bundle.js': bundle.outputFiles[0].contents,
    },
    { '/fixtures': FIXTURES },
  );
  const browser = await chromium.launch({ executablePath: exe, args: CHROMIUM_ARGS });
  t.teardown(async () => {
    await browser.close();
    server.close();
  });
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  // The loader probes optional files (chat_template.jinja, the sharded index…): their 404s are
  // expected and the browser logs each one; anything else is an error.
  page.on('console', (m) => m.type() === 'error' && !/status of 404/.test(m.text()) && errors.push(m.text()));
  await page.goto(url);
  await page.waitForFunction(() => 'runParity' in globalThis);
  const hasGPU = await page.evaluate(async () => !!(await (navigator as Navigator & { gpu?: GPU }).gpu?.requestAdapter()));
  if (!hasGPU) missing(t, 'a WebGPU adapter in Chromium');
  const backends = hasGPU ? ['wasm', 'webgpu'] : ['wasm'];
  const checks = (await page.evaluate((b) => (globalThis as any).runParity(b), backends)) as Check[];
  t.ok(checks.length > 0, 'the page produced results');
  for (const c of checks) t.ok(c.ok, `chromium: ${c.name}`, { diagnostic: !c.ok, detail: c.detail });
  t.same(errors, [], 'no page errors');
});
