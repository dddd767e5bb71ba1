// Issue 30 on WebGPU: the quantized-weight kernels (test/portable/webgpu-quant-kernels.ts) in Node
// on Dawn + SwiftShader and in Deno on wgpu + Mesa lavapipe (another WGSL compiler and driver).
// With no adapter the test skips with a notice, except under CI.
import t, { type Test } from 'tap';
import { runDenoKernels } from './helpers/deno-kernels.ts';
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

function skip(t: Test, msg: string): void {
  if (process.env.CI) t.fail(`${msg} — required under CI`);
  else {
    t.comment(`SKIPPED: ${msg}`);
    t.plan(0, msg);
  }
}

t.test('the same checks in Deno (wgpu on lavapipe)', async (t) => {
  const started = Date.now();
  const r = await runDenoKernels(['quant']);
  if (r.missing) return skip(t, `no WebGPU adapter (${r.missing}); install Mesa's lavapipe or set LR_DENO_VK_ICD`);
  for (const c of r.checks) t.ok(c.ok, `${c.name}: ${c.detail}`);
  if (!r.summary) return void t.fail(`deno exited ${r.code} without a summary:\n${r.stderr}`);
  t.equal(r.code, 0, 'deno exit status');
  t.comment(`${r.summary.passed} checks passed, ${r.summary.failed} failed on ${r.summary.device} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
});
