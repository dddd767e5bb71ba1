// Runs the portable WebGPU kernel checks under Deno, whose built-in navigator.gpu (wgpu) exposes
// shader-f16 on Mesa lavapipe, so the native-f16 weight path gets exercised. Spawned by
// test/kernels-webgpu.test.ts with VK_ICD_FILENAMES set; prints one JSON line per check and a
// summary line, and exits 0 on success, 1 on a failed check, 3 when there is no adapter. The
// forward checks run first, then the training ops' (webgpu-train-kernels.ts), then the
// architecture-spec ops' (webgpu-arch-kernels.ts); the summary adds up. With the argument `quant`
// it runs the quantized-weight checks (webgpu-quant-kernels.ts, issue 30) instead, for
// test/kernels-webgpu-quant.test.ts.
import { checkWebGPUArchKernels } from '../portable/webgpu-arch-kernels.ts';
import { checkWebGPUKernels } from '../portable/webgpu-kernels.ts';
import { checkWebGPUQuantKernels } from '../portable/webgpu-quant-kernels.ts';
import { checkWebGPUTrainKernels } from '../portable/webgpu-train-kernels.ts';

declare const Deno: { exit(code: number): never; args: string[] };

const gpu = (globalThis.navigator as Navigator | undefined)?.gpu;
const adapter = gpu ? await gpu.requestAdapter().catch(() => null) : null;
if (!gpu || !adapter) {
  console.log(JSON.stringify({ summary: true, noAdapter: true }));
  Deno.exit(3);
}
const log = (name: string, ok: boolean, detail: string) => console.log(JSON.stringify({ name, ok, detail }));
if (Deno.args[0] === 'quant') {
  const q = await checkWebGPUQuantKernels(gpu, log);
  console.log(JSON.stringify({ summary: true, ...q }));
  Deno.exit(q.failed === 0 ? 0 : 1);
}
const forward = await checkWebGPUKernels(gpu, log);
const training = await checkWebGPUTrainKernels(gpu, log);
const arch = await checkWebGPUArchKernels(gpu, log);
const result = { ...forward, passed: forward.passed + training.passed + arch.passed, failed: forward.failed + training.failed + arch.failed };
console.log(JSON.stringify({ summary: true, ...result }));
Deno.exit(result.failed === 0 ? 0 : 1);
