// WebGPU kernels against the reference backend, twice: in Node on Dawn + SwiftShader (no
// shader-f16, so f16 weights take the packed-u32 unpack path) and in Deno on wgpu + Mesa lavapipe
// (shader-f16, native path). With no adapter the test skips with a notice, except under CI where
// a missing GPU stack must not pass silently.
import t, { type Test } from 'tap';
import { runDenoKernels } from './helpers/deno-kernels.ts';
import { nodeGPU } from './helpers/node-gpu.ts';
import { checkWebGPUArchKernels } from './portable/webgpu-arch-kernels.ts';
import { checkWebGPUDecodeKernels } from './portable/webgpu-decode-kernels.ts';
import { checkWebGPUKernels } from './portable/webgpu-kernels.ts';
import { checkWebGPUTrainKernels } from './portable/webgpu-train-kernels.ts';

function noAdapter(t: Test, where: string): void {
  const msg = `no WebGPU adapter (${where}); install a Vulkan driver or set VK_ICD_FILENAMES`;
  if (process.env.CI) t.fail(`${msg} — required under CI`);
  else {
    // A visible notice plus an empty plan with a reason, which TAP reports as a skip.
    t.comment(`SKIPPED: ${msg}`);
    console.error(`[kernels-webgpu] SKIPPED: ${msg}`);
    t.plan(0, msg);
  }
}

t.test('WebGPU kernels in Node (Dawn; packed f16 unless the adapter has shader-f16)', async (t) => {
  const gpu = await nodeGPU();
  if (!gpu) return noAdapter(t, 'Node/Dawn');
  const started = Date.now();
  const r = await checkWebGPUKernels(gpu, (name, ok, detail) => t.ok(ok, `${name}: ${detail}`));
  t.comment(`${r.passed} checks passed, ${r.failed} failed on ${r.device} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
});

t.test('WebGPU decode fusions in Node (norm/residual/SwiGLU matmuls, QKV, rope + KV write, split attention)', async (t) => {
  const gpu = await nodeGPU();
  if (!gpu) return noAdapter(t, 'Node/Dawn');
  const started = Date.now();
  const r = await checkWebGPUDecodeKernels(gpu, (name, ok, detail) => t.ok(ok, `${name}: ${detail}`));
  t.comment(`${r.passed} decode checks passed, ${r.failed} failed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
});

t.test('WebGPU training kernels in Node (backward passes, loss, dropout, AdamW)', async (t) => {
  const gpu = await nodeGPU();
  if (!gpu) return noAdapter(t, 'Node/Dawn');
  const started = Date.now();
  const r = await checkWebGPUTrainKernels(gpu, (name, ok, detail) => t.ok(ok, `${name}: ${detail}`));
  t.comment(`${r.passed} training checks passed, ${r.failed} failed on ${r.device} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
});

t.test('WebGPU architecture-spec ops in Node (scaled embedding, per-head norms, gelu_tanh, sliding window, headDim 256)', async (t) => {
  const gpu = await nodeGPU();
  if (!gpu) return noAdapter(t, 'Node/Dawn');
  const started = Date.now();
  const r = await checkWebGPUArchKernels(gpu, (name, ok, detail) => t.ok(ok, `${name}: ${detail}`));
  t.comment(`${r.passed} architecture-spec checks passed, ${r.failed} failed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
});

t.test('WebGPU kernels in Deno (wgpu; native shader-f16 on lavapipe)', async (t) => {
  const started = Date.now();
  const run = await runDenoKernels([]);
  if (run.missing) return noAdapter(t, run.missing);
  for (const c of run.checks) t.ok(c.ok, `${c.name}: ${c.detail}`);
  const { summary, code } = run;
  if (!summary) {
    t.fail(`deno exited ${code} without a summary:\n${run.stderr}`);
    return;
  }
  if (summary.features?.includes('shader-f16')) t.pass('the Deno adapter has shader-f16, so the native f16 path was tested');
  else if (process.env.CI) t.fail(`the Deno adapter (${summary.device}) lacks shader-f16: the native f16 path went untested`);
  else {
    t.comment(`NOTICE: the Deno adapter (${summary.device}) lacks shader-f16; the native f16 path was not tested`);
    console.error('[kernels-webgpu] NOTICE: native f16 path not tested (no shader-f16 on the Deno adapter)');
  }
  t.equal(code, 0, 'deno exit status');
  t.comment(`${summary.passed} checks passed, ${summary.failed} failed on ${summary.device} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
});
