// export-gguf in llama.cpp itself (node-llama-cpp's prebuilt CPU build): each fixture model (and the
// embedded default expert, a trained Llama) exported to GGUF loads, and greedy generation from token
// ids gives our runtime's greedy ids (Wasm backend, the safetensors weights) — exactly for f32. For q8_0/q4_0 the agreement is
// reported, against our runtime on the original weights and on the gguf-dequantized weights (what
// the quantized kernels of issue 30 will compute with): llama.cpp's CPU q8_0/q4_0 matmuls also
// round the activations to 8 bits, so they are not expected to match bit for bit.
import t from 'tap';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createBackend } from '../runtime/backend/index.ts';
import { exportGguf, type GgufExportType } from '../runtime/gguf/export.ts';
import { encodeSafetensors, readTensorBytes, type TensorToWrite } from '../runtime/io/safetensors.ts';
import { generateGreedy } from '../runtime/model/generate.ts';
import { loadModel } from '../runtime/model/model.ts';
import { loadTokenizer } from '../runtime/model/tokenizer.ts';
import { indexCheckpoint } from '../runtime/model/weights.ts';
import { nodePlatform } from '../runtime/platform/node.ts';
import { dequantize, quantizationPolicy, quantize, type QuantType, type SourceDType } from '../runtime/quant/index.ts';
import { DEFAULT_SETTINGS, promptIds } from '../runtime/stage/sample.ts';
import { decodeToF32 } from '../runtime/util/dtype.ts';
import { missingRuntime } from './helpers/browser.ts';
import { FIXTURES, ROOT } from './helpers/cli.ts';
import { ensureNodeLlamaCpp, importNodeLlamaCpp, llamaCppGreedy, NODE_LLAMA_CPP_VERSION } from './helpers/llama-cpp.ts';

const fs = nodePlatform.fs;

/** A copy of fixture `name` whose quantizable weights are dequantize(quantize(w)) (all tensors f32). */
async function dequantizedCopy(src: string, name: string, type: QuantType, dir: string): Promise<string> {
  const out = join(dir, `${name.replace(/\W+/g, '-')}-${type}-dequantized`);
  cpSync(src, out, { recursive: true, filter: (p) => !p.endsWith('.safetensors') && !p.endsWith('.index.json') });
  const tensors: TensorToWrite[] = [];
  for (const e of (await indexCheckpoint(fs, src)).values()) {
    const dtype = e.dtype.toLowerCase() as SourceDType;
    const bytes = await readTensorBytes(fs, e);
    const count = e.shape.reduce((a, b) => a * b, 1);
    const values = quantizationPolicy(e.name, e.shape) ? dequantize(type, quantize(type, dtype, bytes, e.shape[1]), count) : decodeToF32(dtype, bytes);
    tensors.push({ name: e.name, dtype: 'F32', shape: e.shape, data: new Uint8Array(values.buffer) });
  }
  writeFileSync(join(out, 'model.safetensors'), encodeSafetensors(tensors));
  return out;
}

async function ourGreedy(modelDir: string, prompts: number[][], n: number): Promise<number[][]> {
  const model = await loadModel(modelDir, { fs, backend: await createBackend('wasm', nodePlatform) });
  try {
    return (await generateGreedy(model, prompts, { maxNewTokens: n, eosTokenIds: [] })).tokens;
  } finally {
    model.dispose();
  }
}

const MODELS = ['llama-gqa-tied-f32', 'qwen2-tied-bf16', 'llama-untied-bf16-llama3rope', 'qwen2-bias-f16'];
const TYPES: GgufExportType[] = ['f32', 'q8_0', 'q4_0'];

interface Case {
  name: string;
  dir: string;
  prompts: number[][];
  n: number;
}

/** The four fixture models with their golden prompts, and the embedded default expert (a trained
 * model, so the q8_0/q4_0 agreement means something) on chat prompts of the sampling fixture. */
async function cases(): Promise<Case[]> {
  const out: Case[] = MODELS.map((name) => {
    const expected = JSON.parse(readFileSync(join(FIXTURES, 'expected', `${name}.json`), 'utf8')) as {
      prompts: { prompt_token_ids: number[]; greedy_token_ids: number[] }[];
    };
    return {
      name,
      dir: join(FIXTURES, 'models', name),
      prompts: expected.prompts.map((p) => p.prompt_token_ids),
      n: Math.max(...expected.prompts.map((p) => p.greedy_token_ids.length)),
    };
  });
  const expert = join(ROOT, 'models', 'default', 'expert');
  if (existsSync(join(expert, 'config.json'))) {
    const tokenizer = await loadTokenizer(fs, expert);
    const questions = readFileSync(join(FIXTURES, 'sampling', 'questions.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { question: string }).question);
    out.push({ name: 'default expert', dir: expert, prompts: questions.map((q) => promptIds(tokenizer, DEFAULT_SETTINGS.system, q)), n: 32 });
  }
  return out;
}

t.test('export-gguf output generates our greedy ids in llama.cpp', async (t) => {
  const install = ensureNodeLlamaCpp();
  if (install.error) return missingRuntime(t, `node-llama-cpp ${NODE_LLAMA_CPP_VERSION} (${install.error})`);
  if (install.installedSeconds !== undefined) t.comment(`installed node-llama-cpp ${NODE_LLAMA_CPP_VERSION} in ${install.installedSeconds.toFixed(1)} s`);
  const { getLlama } = await importNodeLlamaCpp();
  const llama = await getLlama({ gpu: false, build: 'never', logLevel: 'error' });
  const dir = mkdtempSync(join(tmpdir(), 'lr-gguf-llama-'));
  t.teardown(async () => {
    await llama.dispose();
    rmSync(dir, { recursive: true, force: true });
  });
  for (const { name, dir: modelDir, prompts, n } of await cases()) {
    const want = await ourGreedy(modelDir, prompts, n);
    for (const type of TYPES) {
      const file = join(dir, `${name.replace(/\W+/g, '-')}-${type}.gguf`);
      await exportGguf(fs, modelDir, file, { type });
      const model = await llama.loadModel({ modelPath: file });
      const context = await model.createContext({ contextSize: 512, threads: 1 });
      const seq = context.getSequence();
      const deq = type === 'f32' ? want : await ourGreedy(await dequantizedCopy(modelDir, name, type as QuantType, dir), prompts, n);
      let same = 0;
      let sameDeq = 0;
      let total = 0;
      for (const [i, prompt] of prompts.entries()) {
        const got = await llamaCppGreedy(seq, prompt, n);
        const agree = got.findIndex((id, k) => id !== want[i][k]);
        const prefix = agree < 0 ? Math.min(got.length, n) : agree;
        same += got.filter((id, k) => id === want[i][k]).length;
        sameDeq += got.filter((id, k) => id === deq[i][k]).length;
        total += n;
        if (type === 'f32') t.same(got, want[i], `${name} f32 prompt ${i}: llama.cpp greedy ids = ours (${n} tokens)`);
        else t.equal(got.length, n, `${name} ${type} prompt ${i}: llama.cpp generates (${prefix}/${n} leading ids equal ours)`);
      }
      if (type !== 'f32')
        t.comment(
          `${name} ${type}: llama.cpp's greedy ids equal ours at ${sameDeq}/${total} positions on the gguf-dequantized weights, ${same}/${total} on the original weights`,
        );
      await context.dispose();
      await model.dispose();
    }
  }
});
