// Backend selection: `auto` passes over software WebGPU adapters (and says why in info.note), the
// thread count can be chosen, and a single-thread Wasm backend explains itself.
import t from 'tap';
import { createBackend, softwareAdapterName } from '../runtime/backend/index.ts';
import { createWasmBackend } from '../runtime/backend/wasm/index.ts';
import type { Platform } from '../runtime/platform/types.ts';
import { MemoryFileSystem } from '../runtime/platform/memory-fs.ts';
import '../runtime/platform/node.ts'; // Node's worker threads for the pool

const adapter = (info: Partial<GPUAdapterInfo>, extra: Record<string, unknown> = {}) =>
  ({ info, features: new Set(), limits: {}, ...extra }) as unknown as GPUAdapter;
const platformWith = (a: GPUAdapter | null, gpu = true): Platform => ({
  name: 'browser',
  fs: new MemoryFileSystem(),
  getGPU: async () => (gpu ? ({ requestAdapter: async () => a } as unknown as GPU) : null),
});

t.test('softwareAdapterName', async (t) => {
  t.equal(
    softwareAdapterName(adapter({ vendor: 'google', architecture: 'swiftshader', description: 'SwiftShader Device (Subzero)' })),
    'SwiftShader Device (Subzero)',
  );
  t.equal(softwareAdapterName(adapter({ vendor: 'mesa', device: 'llvmpipe (LLVM 15.0.6, 256 bits)' })), 'mesa llvmpipe (LLVM 15.0.6, 256 bits)');
  t.equal(softwareAdapterName(adapter({ vendor: 'microsoft', description: 'Microsoft Basic Render Driver' })), 'Microsoft Basic Render Driver');
  t.equal(softwareAdapterName(adapter({ vendor: 'x', description: 'Some GPU' }, { isFallbackAdapter: true })), 'Some GPU', 'the flag wins over the name');
  t.equal(softwareAdapterName(adapter({ vendor: 'nvidia', architecture: 'hopper', description: 'NVIDIA H200' })), null, 'a hardware GPU');
  t.equal(softwareAdapterName(adapter({ vendor: 'apple', architecture: 'metal-3' })), null);
});

t.test('auto: Wasm instead of a software adapter, with the reason', async (t) => {
  const b = await createBackend('auto', platformWith(adapter({ vendor: 'google', architecture: 'swiftshader', description: 'SwiftShader Device' })), {
    threads: 1,
  });
  t.teardown(() => b.destroy());
  t.equal(b.info.kind, 'wasm');
  t.match(b.info.note, /software GPU \(SwiftShader Device\).*ask for webgpu/);
  const none = await createBackend('auto', platformWith(null), { threads: 1 });
  t.match(none.info.note, /no adapter/);
  none.destroy();
  const noGpu = await createBackend('auto', platformWith(null, false), { threads: 1 });
  t.match(noGpu.info.note, /no WebGPU in this browser runtime/);
  noGpu.destroy();
});

t.test('threads: chosen, validated, and explained when not granted', async (t) => {
  const two = await createBackend('wasm', platformWith(null), { threads: 2 });
  t.match(two.info.device, /\(2 threads\)/);
  t.equal(two.info.note, undefined, 'nothing to explain');
  two.destroy();
  const one = await createBackend('wasm', platformWith(null), { threads: 1 });
  t.match(one.info.device, /\(1 thread\)/);
  t.equal(one.info.note, undefined, 'one thread was asked for');
  one.destroy();
  await t.rejects(createBackend('wasm', platformWith(null), { threads: 0 }), { code: 'BAD_INPUT', message: /threads must be a whole number/ });
  await t.rejects(createBackend('wasm', platformWith(null), { threads: 1.5 }), { code: 'BAD_INPUT' });
  const noHost = await createWasmBackend({ threads: 4, workerHost: null });
  t.match(noHost.info.note, /^1 thread of 4 asked: no worker threads in this runtime/);
  noHost.destroy();
});

t.test('a platform that knows why it has no adapter: auto says it, webgpu refuses with advice', async (t) => {
  const platform: Platform = { name: 'node', fs: new MemoryFileSystem(), getGPU: async () => null, whyNoGPU: () => 'the driver says: Found no drivers!' };
  const b = await createBackend('auto', platform, { threads: 1 });
  t.teardown(() => b.destroy());
  t.equal(b.info.kind, 'wasm');
  t.match(b.info.note, /^auto: WebGPU has no adapter here \(the driver says: Found no drivers!\); install a GPU driver.*vk_swiftshader_icd\.json/);
  await t.rejects(createBackend('webgpu', platform), {
    code: 'BACKEND_UNAVAILABLE',
    message: /^no WebGPU adapter \(the driver says: Found no drivers!\)\. To use WebGPU, .*SwiftShader.*; or use --backend wasm/,
  });
});
