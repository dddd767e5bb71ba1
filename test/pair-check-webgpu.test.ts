// pair-check on WebGPU (Node: Dawn, on SwiftShader without a GPU): the designed pairs give the same
// exact counts as on Wasm, and on the embedded pair the shared-prefix pass gives the Wasm backend's
// tokens (which test/pair-check.test.ts holds equal to decoding each variant alone; SwiftShader takes
// about 2 s a step here, so this test keeps to 24 steps). Skips with a notice where there is no adapter
// (except under CI).
import { join } from 'node:path';
import t from 'tap';
import { createWasmBackend } from '../runtime/backend/wasm/index.ts';
import { createWebGPUBackend } from '../runtime/backend/webgpu/index.ts';
import { generateProblems, problemsToJsonl } from '../runtime/data/problems.ts';
import { evalPromptIds, parseEvalProblems } from '../runtime/eval/evaluate.ts';
import { pairCheck, pairCheckVariants } from '../runtime/eval/pair-check.ts';
import { loadModel } from '../runtime/model/model.ts';
import { nodePlatform } from '../runtime/platform/node.ts';
import { decodeVariants, type VariantTrajectory } from '../runtime/stage/pair-decode.ts';
import { ROOT } from './helpers/cli.ts';
import { designedModel, designedTokenizer } from './helpers/designed-pair.ts';
import { nodeGPU } from './helpers/node-gpu.ts';

const gpu = await nodeGPU();
if (!gpu) {
  const msg = 'no WebGPU adapter (Node/Dawn); install a Vulkan driver or set VK_ICD_FILENAMES';
  if (process.env.CI) t.fail(`${msg} — required under CI`);
  else t.plan(0, msg);
} else {
  const backend = await createWebGPUBackend(gpu);
  t.teardown(() => backend.destroy());

  t.test('designed pairs: the exact counts of the Wasm and reference backends', async (t) => {
    const cue = (k: number, mild: boolean) => ({
      question: `pick 4 not 9 ${'abcdefgh'[k]}`,
      gold: '4',
      expert: { '9': 0.5, '4': 0.45 },
      amateur: mild ? { '9': 0.6, '4': 0.3 } : { '9': 0.95, '4': 0.01 },
    });
    const problems = [0, 1, 2, 3, 4, 5].map((k) => cue(k, false)).concat([cue(6, true), cue(7, true)]);
    const { report } = await pairCheck(
      designedModel(backend, problems, 'expert'),
      designedModel(backend, problems, 'amateur'),
      designedTokenizer,
      problems.map((p, i) => ({ id: String(i), question: p.question, gold: p.gold })),
      { alphas: [0.2], betas: [0.4], maxNewTokens: 8 },
    );
    t.same(
      report.variants.map((v) => [v.correct, v.paired_vs_greedy?.fixed ?? null, v.paired_vs_greedy?.broken ?? null]),
      [
        [0, null, null],
        [8, 8, 0],
        [6, 6, 0],
      ],
    );
    t.equal(report.backend, 'webgpu');
  });

  t.test("embedded pair on WebGPU: the shared pass gives Wasm's tokens", async (t) => {
    const pair = join(ROOT, 'models/default');
    const load = async (name: string, b: Awaited<ReturnType<typeof createWasmBackend>> | typeof backend) =>
      loadModel(join(pair, name), { fs: nodePlatform.fs, backend: b });
    const [expert, amateur] = [await load('expert', backend), await load('amateur', backend)];
    const dev = parseEvalProblems(problemsToJsonl(generateProblems(0, 6, { set: 'dev' })), { file: 'dev' });
    const prompts = dev.map((p) => evalPromptIds(expert.tokenizer, 'qwen25-math-cot', p.question));
    const variants = pairCheckVariants([0.1], [1]);
    const run = async (e: typeof expert, a: typeof amateur) => {
      const out: VariantTrajectory[][] = [];
      for await (const ev of decodeVariants(e, a, prompts, { variants, maxNewTokens: 24, batchSize: 6 }))
        if (ev.status === 'problem') out[ev.index] = ev.variants;
      return out;
    };
    const gpuOut = await run(expert, amateur);
    const [we, wa] = [await load('expert', await createWasmBackend()), await load('amateur', await createWasmBackend())];
    t.teardown(() => (we.dispose(), wa.dispose()));
    const wasmOut = await run(we, wa);
    for (const [k, v] of variants.entries())
      t.same(
        gpuOut.map((s) => s[k].tokens),
        wasmOut.map((s) => s[k].tokens),
        `${v.name}: WebGPU = Wasm`,
      );
    const forks = gpuOut.filter((s) => s[1].tokens.join() !== s[0].tokens.join()).length;
    t.ok(forks > 0, `CD left greedy's path in ${forks} of ${dev.length} problems (the forks ran on WebGPU)`);
  });
}
