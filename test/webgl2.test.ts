// The WebGL2 (gpu.js) backend in headless Chromium, where WebGL2 runs on ANGLE over SwiftShader:
// launched without the WebGPU flags, so the page is a browser without WebGPU. Every op against
// the reference backend, model parity with the transformers fixtures (logits and greedy ids), and
// stage 1 against the PyTorch sampling fixtures; gpu.js is resolved from node_modules and reaches
// the page through an import map, which is how the backend's lazy import finds it.
import t, { type Test } from 'tap';
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { build } from 'esbuild';
import { chromium, type Page } from 'playwright-core';
import { createBackend } from '../runtime/backend/index.ts';
import { nodePlatform } from '../runtime/platform/node.ts';
import type { Check } from './portable/model-parity.ts';
import { CHROMIUM_ARGS, chromiumPath, serve } from './helpers/browser.ts';
import { FIXTURES, ROOT } from './helpers/cli.ts';

function missing(t: Test, what: string) {
  if (process.env.CI) t.fail(`${what} is missing in CI`);
  else t.pass(`${what} not found: the webgl2 backend is NOT tested here`, { skip: true });
}

function gpujsBrowserFile(): string | null {
  try {
    const pkg = createRequire(import.meta.url).resolve('gpu.js/package.json');
    const file = join(dirname(pkg), 'dist', 'gpu-browser.js');
    return existsSync(file) ? file : null;
  } catch {
    return null;
  }
}

t.test('Node refuses webgl2 and names wasm', async (t) => {
  await t.rejects(createBackend('webgl2', nodePlatform), {
    code: 'BACKEND_UNAVAILABLE',
    message: /webgl2 needs a browser \(gpu\.js needs headless-gl in Node\); use wasm/,
  });
});

t.test('webgl2 in headless Chromium (SwiftShader, no WebGPU)', async (t) => {
  const exe = chromiumPath();
  if (!exe) return missing(t, 'chromium (apt-get install chromium)');
  const gpujs = gpujsBrowserFile();
  if (!gpujs) return missing(t, 'gpu.js (npm ci installs it as a devDependency)');
  const bundle = await build({
    entryPoints: [join(ROOT, 'test/browser/webgl2-entry.ts')],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    conditions: ['browser'],
    write: false,
    logLevel: 'silent',
  });
  const html =
    '<!doctype html><meta charset="utf-8"><title>webgl2</title>' +
    '<script type="importmap">{"imports": {"gpu.js": "/vendor/gpu-browser.js"}}</script>' +
    '<script type="module" src="/bundle.js"></script>';
  const { url, server } = await serve({ '/': html, '/bundle.js': bundle.outputFiles[0].contents }, { '/fixtures': FIXTURES, '/vendor': dirname(gpujs) });
  // CHROMIUM_ARGS without the WebGPU switches: this page is a browser that has WebGL2 only
  const args = CHROMIUM_ARGS.filter((a) => !/webgpu|vulkan/i.test(a));
  const browser = await chromium.launch({ executablePath: exe, args });
  t.teardown(async () => {
    await browser.close();
    server.close();
  });
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => m.type() === 'error' && !/status of 404/.test(m.text()) && errors.push(m.text()));
  await page.goto(url);
  await page.waitForFunction(() => 'webgl2Tests' in globalThis);

  await t.test('backend choice', async (t) => {
    const c = (await page.evaluate(() => (globalThis as any).webgl2Tests.choice())) as {
      webgl2: Record<string, any>;
      auto: Record<string, any>;
      autoQuantized: Record<string, any>;
      webgpuAdapter: boolean;
      quantized: string;
    };
    t.equal(c.webgl2.kind, 'webgl2', 'asked for webgl2: got webgl2');
    t.match(c.webgl2.device, /^WebGL2 .+ \(gpu\.js\)$/, `info.device names the renderer: ${c.webgl2.device}`);
    t.ok(c.webgl2.features.includes('packed-16-bit-weights'));
    t.notOk(c.webgl2.features.includes('quantized'), 'webgl2 does not list quantized weights');
    t.match(
      c.quantized,
      /webgl2 backend has no kernels for q8_0 weights \(issue 30: WebGPU, Wasm and reference only\)/,
      'a q8_0 weight is refused, naming the backends that read it',
    );
    if (!c.webgpuAdapter) {
      t.equal(c.autoQuantized.kind, 'wasm', 'auto for quantized weights: Wasm, never WebGL2');
      t.match(c.autoQuantized.note, /WebGL2 has no kernels for quantized weights/, `and says why: ${c.autoQuantized.note}`);
    }
    const software = /swiftshader|llvmpipe|software/i.test(c.webgl2.device);
    if (software) {
      t.match(c.webgl2.note, /renderer is software .*slower than wasm: asked for explicitly/, 'an explicit webgl2 on a software renderer says so');
      t.equal(c.auto.kind, c.webgpuAdapter ? c.auto.kind : 'wasm', 'auto passes over a software WebGL2 renderer');
      if (!c.webgpuAdapter) t.match(c.auto.note, /WebGL2 renderer is software .*ask for webgl2/, `auto says why: ${c.auto.note}`);
    } else if (!c.webgpuAdapter) {
      t.equal(c.auto.kind, 'webgl2', 'auto takes WebGL2 on a hardware renderer when WebGPU is out');
    }
  });

  await t.test('gpu.js on its CPU fallback is refused', async (t) => {
    const r = (await page.evaluate(() => (globalThis as any).webgl2Tests.cpuFallback())) as { code: string; message: string };
    t.equal(r.code, 'BACKEND_UNAVAILABLE', r.message);
    t.match(r.message, /not as a single-precision WebGL2 kernel.*use --backend wasm/);
  });
  await t.test('every op against the reference', async (t) => {
    report(t, await evaluate(page, 'runOps'));
  });
  await t.test('model parity with the transformers fixtures', async (t) => {
    report(t, await evaluate(page, 'runParity'));
  });
  await t.test('stage 1 against the PyTorch sampling fixtures', async (t) => {
    report(t, await evaluate(page, 'runSampling', { pairs: ['qwen-pair', 'llama-pair'] }));
  });
  t.same(errors, [], 'no page errors');
});

async function evaluate(page: Page, fn: string, arg?: unknown): Promise<Check[]> {
  return (await page.evaluate(([f, a]) => (globalThis as any).webgl2Tests[f as string](a), [fn, arg] as const)) as Check[];
}

function report(t: Test, checks: Check[]): void {
  t.ok(checks.length > 0, 'the page produced results');
  for (const c of checks) t.ok(c.ok, c.name, { diagnostic: !c.ok, detail: c.detail });
}
