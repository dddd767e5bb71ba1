// Correctness on a real GPU before any timing: every portable WebGPU kernel check (forward and
// training ops, against the ReferenceBackend) with native f16 and with packed f16, and the model
// parity check against the transformers fixtures. Bundled and run by scripts/device/gpu-bench.sh on
// a lent GPU machine (Node + Dawn); prints failures and one summary line, exits 1 on any failure.
import { nodePlatform } from '../../runtime/platform/node.ts';
import { checkModelParity } from '../../test/portable/model-parity.ts';
import { checkWebGPUKernels } from '../../test/portable/webgpu-kernels.ts';
import { checkWebGPUTrainKernels } from '../../test/portable/webgpu-train-kernels.ts';

const gpu = await nodePlatform.getGPU();
if (!gpu) throw new Error('no WebGPU in this Node');
let passed = 0,
  failed = 0;
const log = (name: string, ok: boolean, detail: string) => {
  if (ok) passed++;
  else {
    failed++;
    console.log(`FAIL ${name}: ${detail}`);
  }
};
let device = '';
for (const useShaderF16 of [true, false]) {
  const t0 = performance.now();
  const f = await checkWebGPUKernels(gpu, log, { useShaderF16 });
  await checkWebGPUTrainKernels(gpu, log, { useShaderF16 });
  device = f.device;
  console.log(
    `kernel checks (useShaderF16 ${useShaderF16}, features ${f.features.join(' ')}): ${passed} passed, ${failed} failed so far, ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );
}
await checkModelParity({ platform: nodePlatform, backend: 'webgpu', fixtures: process.argv[2] ?? 'test/fixtures' }, (c) => log(c.name, c.ok, c.detail));
console.log(`gpu-check on ${device}: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
