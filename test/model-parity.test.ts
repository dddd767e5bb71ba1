// The model against transformers' golden logits and greedy ids, on every backend, in Node.
import t from 'tap';
import { nodePlatform } from '../runtime/platform/node.ts';
import { checkModelParity } from './portable/model-parity.ts';
import { FIXTURES } from './helpers/cli.ts';
import { nodeGPU } from './helpers/node-gpu.ts';

for (const backend of ['reference', 'wasm', 'webgpu'] as const) {
  t.test(`model parity on ${backend}`, async (t) => {
    if (backend === 'webgpu' && !(await nodeGPU())) {
      if (process.env.CI) t.fail('no WebGPU adapter in CI (install chromium for SwiftShader and libvulkan1)');
      else t.pass('no WebGPU adapter found: WebGPU parity NOT checked here (install chromium + libvulkan1)', { skip: true });
      return;
    }
    await checkModelParity({ platform: nodePlatform, backend, fixtures: FIXTURES }, (c) => t.ok(c.ok, c.name, { diagnostic: !c.ok, detail: c.detail }));
  });
}
