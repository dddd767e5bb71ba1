// `npm run bench:webgl2 [-- --json] [-- --webgpu] [-- --reps N] [-- --tokens N]`
//
// The WebGL2 (gpu.js) backend against Wasm and WebGPU in one headless-Chromium page, on the
// shapes of SmolLM2-135M (random bf16 weights: only shapes matter for time):
//   matmul  GFLOP/s of x · wᵀ (x f32 [n, K], w bf16 [N, K]) for every linear layer of the model
//           at n = 1 (decode) and n = 64 (prefill; the LM head at n = 8, a batch's last rows),
//           each backend through the Backend interface (the op, then one read; median of --reps
//           samples after a warm-up)
//   decode  greedy tokens/s of the whole model after a 16-token prompt (--tokens new tokens)
//   launch  the cost of one kernel launch on WebGL2 (a 1-element fill, then one read), which
//           bounds decode on a fast GPU: a SmolLM2-135M step is ~600 launches
// WebGPU joins when the browser has an adapter; --webgpu starts Chromium with SwiftShader's WebGPU
// (slow: minutes). The renderer and the adapter are named: on a GPU-less machine both are
// SwiftShader, whose figures say how the kernels run on a CPU emulator, not on a GPU. Wasm runs on
// the page's main thread (one thread: the pool needs a Web Worker). The page is cross-origin
// isolated so its timers are precise. Never run by tests.

import { execSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { chromium } from 'playwright-core';
import { Reporter } from './common.ts';

// dist/bench/webgl2.js (npm run bench:webgl2) or bench/webgl2.ts run from source
const ROOT = fileURLToPath(new URL(import.meta.url.includes('/dist/bench/') ? '../..' : '..', import.meta.url));
const args = process.argv.slice(2);
const opt = (f: string, d: string) => (args.includes(f) ? args[args.indexOf(f) + 1] : d);
const rep = new Reporter(args.includes('--json'));
const reps = Number(opt('--reps', '3'));
const tokens = Number(opt('--tokens', '4'));

/** The page: runs in Chromium, bundled from this string (it imports the runtime's sources). */
const PAGE = `
import { createBackend } from './runtime/backend/index.ts';
import { browserPlatform } from './runtime/platform/browser.ts';
import { randomModel, randomValues, SHAPES } from './tooling/random-model.ts';
import { generateGreedy } from './runtime/model/generate.ts';
import { encodeFromF32 } from './runtime/util/dtype.ts';

const cfg = SHAPES['SmolLM2-135M'];
const H = cfg.hiddenSize, D = cfg.headDim;
export const LAYERS = [
  ['q/o ' + H + '→' + H, H, cfg.heads * D], ['k/v ' + H + '→' + cfg.kvHeads * D, H, cfg.kvHeads * D],
  ['gate/up ' + H + '→' + cfg.intermediateSize, H, cfg.intermediateSize], ['down ' + cfg.intermediateSize + '→' + H, cfg.intermediateSize, H],
  ['lm_head ' + H + '→' + cfg.vocabSize, H, cfg.vocabSize],
];
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

/** ms per call of f: the median of reps samples, each repeating f for at least 20 ms. */
async function time(f, reps) {
  await f();
  const samples = [];
  for (let r = 0; r < reps; r++) {
    let calls = 0;
    const t0 = performance.now();
    do { await f(); calls++; } while (performance.now() - t0 < 20);
    samples.push((performance.now() - t0) / calls);
  }
  return median(samples);
}

async function matmul(b, n, K, N, reps) {
  const x = b.createTensor('f32', [n, K], randomValues(n * K, 7, 1));
  const w = b.createWeight('bf16', [N, K], encodeFromF32('bf16', randomValues(N * K, 9, 0.05)));
  const out = b.createTensor('f32', [n, N]);
  const ms = await time(async () => { b.matmul(x, w, null, out); await b.read(out); }, reps);
  for (const t of [x, w, out]) b.dispose(t);
  return (2 * n * K * N) / (ms / 1000) / 1e9;
}

/** µs per kernel launch: 200 one-element fills and one read, minus a read alone. */
async function launch(b, reps) {
  const t = b.createTensor('f32', [1]);
  const many = await time(async () => { for (let i = 0; i < 200; i++) b.fill(t, i); await b.read(t); }, reps);
  const one = await time(async () => { b.fill(t, 1); await b.read(t); }, reps);
  b.dispose(t);
  return ((many - one) / 199) * 1000;
}

async function decode(b, newTokens) {
  const model = randomModel(cfg, b, 'bf16');
  const prompt = Array.from({ length: 16 }, (_, i) => 100 + i);
  const stamps = [];
  await generateGreedy(model, [prompt], { maxNewTokens: newTokens, eosTokenIds: [], onStep: () => stamps.push(performance.now()) });
  b.destroy();
  // step 0 ends the prefill; the rest are decode steps
  return (stamps.length - 1) / ((stamps[stamps.length - 1] - stamps[0]) / 1000);
}

globalThis.bench = async ({ reps, tokens }) => {
  const out = { backends: {}, matmul: [], decode: {}, launchUs: 0, isolated: globalThis.crossOriginIsolated === true };
  const kinds = ['webgl2', 'wasm'];
  const gpu = navigator.gpu;
  if (gpu && (await gpu.requestAdapter().catch(() => null))) kinds.push('webgpu');
  for (const kind of kinds) {
    const b = await createBackend(kind, browserPlatform, { threads: 1 });
    out.backends[kind] = { device: b.info.device, note: b.info.note ?? '' };
    for (const [label, K, N] of LAYERS) {
      // the LM head only ever sees the rows whose logits are wanted: one per sequence
      for (const n of label.startsWith('lm_head') ? [1, 8] : [1, 64]) out.matmul.push({ kind, label, n, K, N, gflops: await matmul(b, n, K, N, reps) });
    }
    if (kind === 'webgl2') out.launchUs = await launch(b, reps);
    b.destroy();
    out.decode[kind] = await decode(await createBackend(kind, browserPlatform, { threads: 1 }), tokens);
  }
  return out;
};
`;

const WEBGPU_FLAGS = ['--enable-unsafe-webgpu', '--enable-features=Vulkan', '--use-vulkan=swiftshader', '--use-webgpu-adapter=swiftshader'];

function hostCPU(): string {
  try {
    const m = /Model name:\s*(.+)/.exec(execSync('lscpu', { encoding: 'utf8' }));
    if (m) return `${m[1].trim()} × ${cpus().length}`;
  } catch {
    // no lscpu: Node's name for the CPU
  }
  return `${cpus()[0]?.model ?? 'unknown CPU'} × ${cpus().length}`;
}

async function main() {
  const exe = execSync('command -v chromium || command -v chromium-browser || true', { encoding: 'utf8', shell: '/bin/bash' }).trim();
  if (!exe) throw new Error('chromium not found (apt-get install chromium)');
  const gpujs = join(dirname(createRequire(join(ROOT, 'package.json')).resolve('gpu.js/package.json')), 'dist', 'gpu-browser.js');
  if (!existsSync(gpujs)) throw new Error('gpu.js not installed (npm ci installs it as a devDependency)');
  const bundle = await build({
    stdin: { contents: PAGE, resolveDir: ROOT, loader: 'ts', sourcefile: 'bench-webgl2-page.ts' },
    bundle: true,
    format: 'esm',
    platform: 'browser',
    conditions: ['browser'],
    write: false,
    logLevel: 'silent',
  });
  const html =
    '<!doctype html><meta charset="utf-8"><script type="importmap">{"imports": {"gpu.js": "/vendor/gpu-browser.js"}}</script><script type="module" src="/bundle.js"></script>';
  const { url, server } = await serve({
    '/': ['text/html', html],
    '/bundle.js': ['text/javascript', bundle.outputFiles[0].contents],
    '/vendor/gpu-browser.js': ['text/javascript', readFileSync(gpujs)],
  });
  const webgpu = args.includes('--webgpu');
  const browser = await chromium.launch({
    executablePath: exe,
    args: ['--no-sandbox', '--disable-background-networking', '--no-first-run', ...(webgpu ? WEBGPU_FLAGS : [])],
  });
  try {
    const page = await browser.newPage();
    page.on('pageerror', (e) => console.error(`page error: ${e}`));
    await page.goto(url);
    await page.waitForFunction(() => 'bench' in globalThis);
    const r = (await page.evaluate((o) => (globalThis as any).bench(o), { reps, tokens })) as BenchOut;
    report(r);
  } finally {
    await browser.close();
    server.close();
  }
}

/** A static server on 127.0.0.1 for the page, its bundle and gpu.js. */
async function serve(routes: Record<string, [string, string | Uint8Array]>): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    const r = routes[new URL(req.url ?? '/', 'http://x').pathname];
    // COOP + COEP: a cross-origin-isolated page gets precise performance.now()
    const headers = { 'content-type': r?.[0] ?? 'text/plain', 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' };
    if (r) res.writeHead(200, headers).end(r[1]);
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  if (!addr || typeof addr === 'string') throw new Error('no address');
  return { url: `http://127.0.0.1:${addr.port}/`, server };
}

interface BenchOut {
  backends: Record<string, { device: string; note: string }>;
  matmul: { kind: string; label: string; n: number; K: number; N: number; gflops: number }[];
  decode: Record<string, number>;
  launchUs: number;
  isolated: boolean;
}

function report(r: BenchOut): void {
  rep.notice(`host: ${hostCPU()}; median of ${reps} samples of ≥ 20 ms per matmul, ${tokens} decode tokens; page cross-origin isolated: ${r.isolated}`);
  for (const [kind, b] of Object.entries(r.backends)) rep.notice(`${kind}: ${b.device}${b.note ? ` — ${b.note}` : ''}`);
  for (const m of r.matmul) {
    const wasm = r.matmul.find((w) => w.kind === 'wasm' && w.label === m.label && w.n === m.n);
    const vs = m.kind !== 'wasm' && wasm ? { ratio: m.gflops / wasm.gflops, baseline: wasm.gflops, baseline_unit: 'GFLOP/s', baseline_name: 'wasm' } : {};
    rep.report({ name: `matmul ${m.label} n=${m.n} bf16 [${m.kind}]`, value: m.gflops, unit: 'GFLOP/s', backend: m.kind, ...vs });
  }
  rep.report({ name: 'webgl2 kernel launch (1-element fill, gpu.js)', value: r.launchUs, unit: 'µs', backend: 'webgl2' });
  for (const [kind, tps] of Object.entries(r.decode)) {
    const vs =
      kind !== 'wasm' && r.decode.wasm ? { ratio: tps / r.decode.wasm, baseline: r.decode.wasm, baseline_unit: 'tokens/s', baseline_name: 'wasm' } : {};
    rep.report({ name: `decode SmolLM2-135M (random bf16), batch 1 [${kind}]`, value: tps, unit: 'tokens/s', backend: kind, ...vs });
  }
}

main().catch((e) => {
  console.error(`error: ${e?.message ?? e}`);
  process.exit(1);
});
