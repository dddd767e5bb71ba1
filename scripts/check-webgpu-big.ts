// A Qwen2.5-7B-shaped checkpoint (scripts/make_big_checkpoint.py) on the WebGPU backend in Node
// (Dawn), issue 29 item 4: load time, how the LM head and embedding were split into bindings, peak
// RSS against the weight bytes (on a software adapter such as SwiftShader the GPU's buffers are
// this process's RAM too), greedy ids against transformers' (when the checkpoint has
// expected.json) and the time of a decode step. Prints one JSON object.
//
//   VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json \
//     node --import @tapjs/typescript/import scripts/check-webgpu-big.ts DIR [--max-binding BYTES]

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createWebGPUBackend } from '../runtime/backend/webgpu/index.ts';
import type { GPUTensor } from '../runtime/backend/webgpu/tensor.ts';
import { generateGreedy } from '../runtime/model/generate.ts';
import { loadModel } from '../runtime/model/model.ts';
import { nodePlatform } from '../runtime/platform/node.ts';

const [dir, flag, value] = process.argv.slice(2);
if (!dir || !existsSync(join(dir, 'config.json')) || (flag && flag !== '--max-binding')) {
  console.error('usage: check-webgpu-big.ts DIR [--max-binding BYTES] (DIR from scripts/make_big_checkpoint.py)');
  process.exit(2);
}
const gpu = await nodePlatform.getGPU();
if (!gpu) {
  console.error('error: no WebGPU in this Node (npm install webgpu, and a Vulkan driver or SwiftShader)');
  process.exit(1);
}
const gib = (bytes: number) => Number((bytes / 2 ** 30).toFixed(3));
const peakRss = () => process.resourceUsage().maxRSS * 1024; // maxRSS is in KiB
const rss0 = peakRss();
const backend = await createWebGPUBackend(gpu, { maxBindingBytes: value ? Number(value) : undefined });
const t0 = performance.now();
const model = await loadModel(dir, { fs: nodePlatform.fs, backend });
const loadS = (performance.now() - t0) / 1000;
const loadPeak = peakRss();
const chunks = (t: unknown) => (t as GPUTensor).chunks.map((c) => c.rowCount);
const out: Record<string, unknown> = {
  device: backend.info.device,
  limits: backend.info.limits,
  weights_gib: gib(model.weights.bytes),
  load_s: Number(loadS.toFixed(1)),
  lm_head_chunk_rows: chunks(model.weights.lmHead),
  embed_chunk_rows: chunks(model.weights.embed),
  peak_rss_before_load_gib: gib(rss0),
  peak_rss_after_load_gib: gib(loadPeak),
  peak_rss_over_weights: Number((loadPeak / model.weights.bytes).toFixed(3)),
};
const expectedFile = join(dir, 'expected.json');
if (existsSync(expectedFile)) {
  const ex: { prompts: { prompt_token_ids: number[]; greedy_token_ids: number[] }[] } = JSON.parse(readFileSync(expectedFile, 'utf8'));
  const marks: number[] = [];
  const { tokens } = await generateGreedy(
    model,
    ex.prompts.map((p) => p.prompt_token_ids),
    {
      maxNewTokens: Math.max(...ex.prompts.map((p) => p.greedy_token_ids.length)),
      eosTokenIds: [],
      onStep: () => marks.push(performance.now()),
    },
  );
  out.greedy = ex.prompts.map((p, i) => ({
    ours: tokens[i],
    transformers: p.greedy_token_ids,
    equal: tokens[i].slice(0, p.greedy_token_ids.length).join() === p.greedy_token_ids.join(),
  }));
  out.decode_step_s_batch2 = marks.length > 1 ? Number(((marks[marks.length - 1] - marks[0]) / 1000 / (marks.length - 1)).toFixed(2)) : null;
}
out.peak_rss_end_gib = gib(peakRss());
console.log(JSON.stringify(out, null, 1));
model.dispose();
