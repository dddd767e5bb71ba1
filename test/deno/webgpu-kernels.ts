// Runs the portable WebGPU kernel checks under Deno, whose built-in navigator.gpu (wgpu) exposes
// shader-f16 on Mesa lavapipe, so the native-f16 weight path gets exercised. Spawned by
// test/kernels-webgpu.test.ts with VK_ICD_FILENAMES set; prints one JSON line per check and a
// summary line, and exits 0 on success, 1 on a failed check, 3 when there is no adapter.
import { checkWebGPUKernels } from '../portable/webgpu-kernels.ts';

declare const Deno: { exit(code: number): never };

const gpu = (globalThis.navigator as Navigator | undefined)?.gpu;
const adapter = gpu ? await gpu.requestAdapter().catch(() => null) : null;
if (!gpu || !adapter) {
  console.log(JSON.stringify({ summary: true, noAdapter: true }));
  Deno.exit(3);
}
const result = await checkWebGPUKernels(gpu, (name, ok, detail) => console.log(JSON.stringify({ name, ok, detail })));
console.log(JSON.stringify({ summary: true, ...result }));
Deno.exit(result.failed === 0 ? 0 : 1);
