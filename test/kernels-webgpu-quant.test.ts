// Issue 30 on WebGPU: the quantized-weight kernels (test/portable/webgpu-quant-kernels.ts) in Node
// on Dawn + SwiftShader; test/kernels-webgpu.test.ts runs the same checks in Deno (wgpu, lavapipe).
// With no adapter the test skips with a notice, except under CI.
import t from 'tap';
import { nodeGPU } from './helpers/node-gpu.ts';
import { checkWebGPUQuantKernels } from './portable/webgpu-quant-kernels.ts';

t.test('WebGPU kernels over Q8_0 / Q4_0 blocks in Node (Dawn) against the dequantized reference', async (t) => {
  const gpu = await nodeGPU();
  if (!gpu) {
    const msg = 'no WebGPU adapter (Node/Dawn); install a Vulkan driver or set VK_ICD_FILENAMES';
    if (process.env.CI) t.fail(`${msg} — required under CI`);
    else {
      t.comment(`SKIPPED: ${msg}`);
      t.plan(0, msg);
    }
    return;
  }
  const started = Date.now();
  const r = await checkWebGPUQuantKernels(gpu, (name, ok, detail) => t.ok(ok, `${name}: ${detail}`));
  t.comment(`${r.passed} checks passed, ${r.failed} failed on ${r.device} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
});
