// A WebGPU `GPU` for Node tests, from the `webgpu` package (Dawn). Machines without a GPU get
// SwiftShader's Vulkan driver when it is installed (Chromium ships it), picked before Dawn starts
// because the Vulkan loader reads VK_ICD_FILENAMES once. Returns null when there is no adapter.
import { existsSync } from 'node:fs';
import { ensureRuntimeDir } from '../../runtime/platform/node-gpu.ts';

const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

let cached: Promise<GPU | null> | null = null;

export function nodeGPU(): Promise<GPU | null> {
  cached ??= (async () => {
    if (!process.env.VK_ICD_FILENAMES && existsSync(SWIFTSHADER_ICD)) process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
    ensureRuntimeDir(); // else Mesa's "XDG_RUNTIME_DIR is invalid" lines
    let webgpu: { create: (o: string[]) => GPU; globals: object };
    try {
      webgpu = (await import('webgpu')) as unknown as typeof webgpu;
    } catch {
      return null;
    }
    Object.assign(globalThis, webgpu.globals);
    const gpu = webgpu.create([]);
    const adapter = await gpu.requestAdapter().catch(() => null);
    return adapter ? gpu : null;
  })();
  return cached;
}
