// The benchmark grader (runtime/eval/benchmarks.ts, its compute-engine step included) in the other
// two runtimes: Deno and headless Chromium run the golden cases of test/portable/benchmark-cases.ts.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';
import { chromium } from 'playwright-core';
import type { Check } from './portable/model-parity.ts';
import { BENCHMARK_CASES } from './portable/benchmark-cases.ts';
import { CHROMIUM_ARGS, chromiumPath, missingRuntime as missing, serve } from './helpers/browser.ts';
import { ROOT } from './helpers/cli.ts';

t.test('Deno: the golden grading cases', async (t) => {
  const deno = join(ROOT, 'node_modules', '.bin', 'deno');
  if (!existsSync(deno)) return missing(t, 'deno (npm ci installs it)');
  const r = spawnSync(deno, ['run', '-A', 'test/deno/benchmark-grading.ts'], {
    cwd: ROOT,
    env: { ...process.env, NO_COLOR: '1' },
    encoding: 'utf8',
    timeout: 300_000,
  });
  const checks: Check[] = r.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l));
  t.equal(checks.length, BENCHMARK_CASES.length, 'every case ran', { stderr: r.stderr.slice(-3000) });
  for (const c of checks) if (!c.ok) t.fail(`deno: ${c.name}`, { detail: c.detail });
  t.equal(checks.filter((c) => c.ok).length, BENCHMARK_CASES.length, 'all agree');
  t.equal(r.status, 0, 'deno exit code', { stderr: r.stderr.slice(-3000) });
});

t.test('Chromium: the golden grading cases', async (t) => {
  const exe = chromiumPath();
  if (!exe) return missing(t, 'chromium (apt-get install chromium)');
  const bundle = await build({
    entryPoints: [join(ROOT, 'test/browser/grading-entry.ts')],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    conditions: ['browser'],
    write: false,
    logLevel: 'silent',
    splitting: false,
  });
  const { url, server } = await serve(
    {
      '/': '<!doctype html><meta charset="utf-8"><title>grading</title><script type="module" src="/bundle.js"></script>',
      '/bundle.js': bundle.outputFiles[0].contents,
    },
    {},
  );
  const browser = await chromium.launch({ executablePath: exe, args: CHROMIUM_ARGS });
  t.teardown(async () => {
    await browser.close();
    server.close();
  });
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(url);
  await page.waitForFunction(() => 'runGrading' in globalThis);
  const checks = (await page.evaluate(() => (globalThis as any).runGrading())) as Check[];
  t.equal(checks.length, BENCHMARK_CASES.length, 'every case ran');
  for (const c of checks) if (!c.ok) t.fail(`chromium: ${c.name}`, { detail: c.detail });
  t.equal(checks.filter((c) => c.ok).length, BENCHMARK_CASES.length, 'all agree');
  t.same(errors, [], 'no page errors');
});
