// Browser side of the parity test: bundled by esbuild in test/runtimes.test.ts and loaded in
// headless Chromium, where it runs the same portable checks with the fetch-based platform.
import { browserPlatform } from '../../runtime/platform/browser.ts';
import { type Check, checkModelParity } from '../portable/model-parity.ts';
import { checkSharded } from '../portable/sharded.ts';

(globalThis as unknown as { runParity: unknown }).runParity = async (backends: ('wasm' | 'webgpu')[]) => {
  const results: Check[] = [];
  const fixtures = new URL('/fixtures', location.href).href;
  for (const backend of backends) {
    try {
      await checkModelParity({ platform: browserPlatform, backend, fixtures }, (c) => results.push(c));
    } catch (e) {
      results.push({ name: `${backend}: parity run threw`, ok: false, detail: String((e as Error)?.stack ?? e) });
    }
  }
  if (backends.includes('wasm')) {
    try {
      await checkSharded({ platform: browserPlatform, fixtures }, (c) => results.push(c));
    } catch (e) {
      results.push({ name: 'sharded wasm run threw', ok: false, detail: String((e as Error)?.stack ?? e) });
    }
  }
  return results;
};
