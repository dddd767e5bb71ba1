// Issue 19: a WebGPU decode step is at most 6 dispatches a layer (plus embedding, row gather, LM
// head and argmax), one submit and one readback, and creates no bind group once the first steps
// have run; and it decodes the same tokens as the reference backend.
import t from 'tap';
import { ReferenceBackend } from '../runtime/backend/reference.ts';
import type { WebGPUBackend } from '../runtime/backend/webgpu/backend.ts';
import { createWebGPUBackend } from '../runtime/backend/webgpu/index.ts';
import { generateGreedy } from '../runtime/model/generate.ts';
import { randomModel, SHAPES } from '../tooling/random-model.ts';
import { nodeGPU } from './helpers/node-gpu.ts';

t.test('decode step: dispatches, submits, readbacks, bind groups; same tokens as the reference', async (t) => {
  const gpu = await nodeGPU();
  if (!gpu) {
    if (process.env.CI) t.fail('no WebGPU adapter in CI (install chromium for SwiftShader and libvulkan1)');
    else t.pass('no WebGPU adapter found: NOT checked here', { skip: true });
    return;
  }
  const config = SHAPES['tiny-qwen2-96'];
  const backend = (await createWebGPUBackend(gpu)) as WebGPUBackend;
  const model = randomModel(config, backend, 'bf16', 3);
  t.teardown(() => model.dispose());
  const prompt = [5, 17, 300, 2, 999, 41];
  const snaps: (typeof backend.stats)[] = [];
  const got = await generateGreedy(model, [prompt], { maxNewTokens: 8, eosTokenIds: [], onStep: () => snaps.push({ ...backend.stats }) });
  const steps = snaps.slice(1).map((s, i) => ({
    dispatches: s.dispatches - snaps[i].dispatches,
    submits: s.submits - snaps[i].submits,
    readbacks: s.readbacks - snaps[i].readbacks,
    bindGroups: s.bindGroupsCreated - snaps[i].bindGroupsCreated,
  }));
  const outside = 4; // embedding, gather of the logit rows, LM head (norm fused), argmax
  for (const [i, s] of steps.entries()) {
    t.ok(s.dispatches <= 6 * config.layers + outside, `step ${i + 1}: ${s.dispatches} dispatches (≤ 6 a layer + ${outside})`);
    t.equal(s.submits, 1, `step ${i + 1}: one submit`);
    t.equal(s.readbacks, 1, `step ${i + 1}: one readback`);
    if (i >= 1) t.equal(s.bindGroups, 0, `step ${i + 1}: no bind group created`);
  }
  const ref = randomModel(config, new ReferenceBackend(), 'bf16', 3);
  t.teardown(() => ref.dispose());
  const want = await generateGreedy(ref, [prompt], { maxNewTokens: 8, eosTokenIds: [] });
  t.same(got.tokens, want.tokens, 'greedy tokens = the reference backend');
});
