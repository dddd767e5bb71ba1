// Issue 19, item 6: looking for a WebGPU adapter never lets Dawn or the Vulkan loader write to our
// stderr. With no Vulkan driver (VK_ICD_FILENAMES at nothing) or only Debian 12's lavapipe (which
// this Dawn rejects), `auto` falls back to Wasm in silence and `info` explains why; asking for
// webgpu gives one line that recommends what works.
import t from 'tap';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { driverLines } from '../runtime/platform/node-gpu.ts';
import { FIXTURES, runCli } from './helpers/cli.ts';

const MODEL = join(FIXTURES, 'models', 'qwen2-tied-bf16');
const LAVAPIPE = '/usr/share/vulkan/icd.d/lvp_icd.x86_64.json';
// XDG_RUNTIME_DIR unset: Mesa prints "error: XDG_RUNTIME_DIR is invalid…" unless we give it one.
const BROKEN: Record<string, NodeJS.ProcessEnv> = {
  'no Vulkan driver': { VK_ICD_FILENAMES: '/nonexistent/icd.json', XDG_RUNTIME_DIR: '' },
  ...(existsSync(LAVAPIPE) ? { "Debian 12's lavapipe": { VK_ICD_FILENAMES: LAVAPIPE, XDG_RUNTIME_DIR: '' } } : {}),
};

t.test('driverLines keeps what the driver said, once', async (t) => {
  const err =
    'Warning: Vulkan shaderUniform*ArrayDynamicIndexing required.\n - While initializing adapter (backend=BackendType::Vulkan)\n    at InitializeImpl (/x/PhysicalDeviceVk.cpp:257)\n\nerror: XDG\nerror: XDG\n';
  t.same(driverLines(err), ['Warning: Vulkan shaderUniform*ArrayDynamicIndexing required.', 'error: XDG']);
});

for (const [name, env] of Object.entries(BROKEN)) {
  t.test(`${name}: auto is quiet`, async (t) => {
    const info = await runCli(['info', '--backend', 'auto'], { env });
    t.equal(info.code, 0, info.stderr);
    t.equal(info.stderr, '', 'info: nothing on stderr');
    t.match(info.stdout, /backend: +wasm/);
    t.match(info.stdout, /note: +auto: WebGPU has no adapter here \(the driver says: .+\).*vk_swiftshader_icd\.json/, 'info gives the details and the advice');
    const gen = await runCli(['generate', '--model', MODEL, '--prompt', 'Hello', '--max-new-tokens', '2', '--json', '--backend', 'auto'], { env });
    t.equal(gen.code, 0, gen.stderr);
    t.equal(gen.stderr, '', 'generate: nothing on stderr');
    t.equal(JSON.parse(gen.stdout).token_ids.length, 2);
  });

  t.test(`${name}: asking for webgpu gives one line that says what works`, async (t) => {
    const r = await runCli(['info', '--backend', 'webgpu'], { env });
    t.equal(r.code, 1, 'an environment failure');
    const lines = r.stderr.trim().split('\n');
    t.equal(lines.length, 1, r.stderr);
    t.match(
      lines[0],
      /^error: no WebGPU adapter \(the driver says: .+\)\. To use WebGPU, .*VK_ICD_FILENAMES=\/usr\/lib\/chromium\/vk_swiftshader_icd\.json.*Mesa newer than Debian 12's; or use --backend wasm/,
    );
  });
}

// Issue 25, item 5: Dawn (the `webgpu` package) is an optional peer dependency. Without it, `auto`
// takes Wasm and says how to get WebGPU; asking for webgpu names the package to install.
t.test('Dawn not installed: auto says npm install, webgpu refuses with it', async (t) => {
  const { createBackend } = await import('../runtime/backend/index.ts');
  const { loadDawn } = await import('../runtime/platform/node.ts');
  const { MemoryFileSystem } = await import('../runtime/platform/memory-fs.ts');
  const missing = await loadDawn('lightreasoner-wasm-no-such-package');
  t.equal(missing.gpu, null);
  t.match(missing.why, /optional package lightreasoner-wasm-no-such-package \(Dawn\), which is not installed/);
  t.equal(missing.advice, 'npm install lightreasoner-wasm-no-such-package');
  const platform = {
    name: 'node' as const,
    fs: new MemoryFileSystem(),
    getGPU: async () => missing.gpu,
    whyNoGPU: () => missing.why,
    noGPUAdvice: () => missing.advice,
  };
  const auto = await createBackend('auto', platform, { threads: 1 });
  t.teardown(() => auto.destroy());
  t.equal(auto.info.kind, 'wasm');
  t.match(auto.info.note, /^auto: WebGPU has no adapter here \(WebGPU in Node needs .*\); npm install lightreasoner-wasm-no-such-package$/);
  await t.rejects(createBackend('webgpu', platform), {
    code: 'BACKEND_UNAVAILABLE',
    message: /To use WebGPU, npm install lightreasoner-wasm-no-such-package; or use --backend wasm/,
  });
});
