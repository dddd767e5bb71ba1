// Models past one Wasm memory (issue 29 item 1): a model spread over several memories
// (backend/sharded.ts) gives the same bits as on one — prefill logits, greedy ids through the KV
// cache, and a training pass's loss and LoRA gradients — with the fixtures forced onto 2–4
// memories by a small weight budget per memory (CI needs no 5 GB model).
import t from 'tap';
import { join } from 'node:path';
import { ShardedWasmBackend } from '../runtime/backend/sharded.ts';
import { generateGreedy } from '../runtime/model/generate.ts';
import { type CausalLM, loadModel } from '../runtime/model/model.ts';
import { createWasmBackend } from '../runtime/backend/wasm/index.ts';
import { nodePlatform } from '../runtime/platform/node.ts';
import { openModels } from '../runtime/session.ts';
import { packTrajectories, type TrainSample } from '../runtime/train/data.ts';
import { TrainPass } from '../runtime/train/pass.ts';
import { initLora } from '../runtime/train/optimizer.ts';
import { FIXTURES } from './helpers/cli.ts';
import { readLora } from './helpers/finetune.ts';

const MODELS = ['llama-gqa-tied-f32', 'llama-untied-bf16-llama3rope', 'qwen2-bias-f16', 'qwen3-qknorm-tied-bf16', 'gemma3-sliding-f32'];

async function open(name: string, shardBytes?: number): Promise<{ model: CausalLM; close(): void }> {
  const opened = await openModels([join(FIXTURES, 'models', name)], { platform: nodePlatform, backend: 'wasm', threads: 2, wasmShardBytes: shardBytes });
  return { model: opened.models[0], close: opened.close };
}

const same = (a: ArrayLike<number>, b: ArrayLike<number>) =>
  a.length === b.length && Array.prototype.every.call(a, (v: number, i: number) => Object.is(v, b[i]));

async function prefill(model: CausalLM, ids: number[]): Promise<Float32Array> {
  const cache = model.createCache(1, ids.length);
  try {
    const logits = model.forward(
      { tokens: Int32Array.from(ids), rows: Int32Array.from(ids.flatMap((_, p) => [0, p])), logitRows: Int32Array.from(ids.keys()) },
      cache,
    );
    return (await model.backend.read(logits)) as Float32Array;
  } finally {
    model.disposeCache(cache);
  }
}

/** Loss and every LoRA gradient of one pass over a few samples (dropout on, so masks must agree too). */
async function trainPass(model: CausalLM): Promise<{ loss: number; grads: Map<string, Float32Array> }> {
  const adapter = initLora(
    model,
    { r: 4, alpha: 8, dropout: 0.1, targetModules: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] },
    7,
  );
  // B nonzero, so that A gets gradients too.
  for (const layer of adapter.layers)
    for (const p of Object.values(layer))
      model.backend.write(
        p.b,
        Float32Array.from({ length: p.b.size }, (_, j) => Math.sin(j * 1.7) * 0.05),
      );
  const V = model.config.vocabSize;
  const samples: TrainSample[] = [0, 1, 2].map((j) => ({
    line: j + 1,
    key: String(j),
    ids: Array.from({ length: 9 + 3 * j }, (_, p) => (p * 37 + j * 11 + 5) % V),
    labelIds: [j + 3, j + 9],
    labelWeights: [0.75, 0.25],
  }));
  const engine = new TrainPass(model, adapter);
  engine.zeroGrad();
  engine.pass({ trajectories: packTrajectories(samples, true), samples, lossScale: 1 / 3, dropoutSeed: 5 });
  const loss = (await model.backend.read(engine.lossSum))[0];
  const grads = await readLora(model, engine.grads);
  engine.dispose();
  return { loss, grads };
}

for (const name of MODELS) {
  t.test(`${name}: spread over several memories = one memory, bit for bit`, async (t) => {
    const one = await open(name);
    const bytes = one.model.weights.bytes;
    const many = await open(name, Math.ceil(bytes / 3));
    t.teardown(() => {
      one.close();
      many.close();
    });
    t.ok(many.model.backend instanceof ShardedWasmBackend, 'the small budget spreads the model');
    const memories = (many.model.backend as ShardedWasmBackend).memories;
    t.ok(memories >= 2, `over ${memories} memories (${bytes} weight bytes, ≤ ${Math.ceil(bytes / 3)} a memory)`);
    const V = one.model.config.vocabSize;
    const prompt = Array.from({ length: 14 }, (_, p) => (p * 53 + 7) % V);
    t.ok(same(await prefill(many.model, prompt), await prefill(one.model, prompt)), 'prefill logits of every position: identical bits');
    const gen = async (m: CausalLM) => (await generateGreedy(m, [prompt, prompt.slice(3)], { maxNewTokens: 10, eosTokenIds: [] })).tokens;
    t.same(await gen(many.model), await gen(one.model), 'batched greedy ids through the KV cache: identical');
    const a = await trainPass(one.model),
      b = await trainPass(many.model);
    t.ok(Object.is(a.loss, b.loss), `training loss: identical bits (${a.loss})`);
    const differ = [...a.grads].filter(([k, g]) => !same(g, b.grads.get(k) ?? [])).map(([k]) => k);
    t.same(differ, [], `all ${a.grads.size} LoRA gradients: identical bits`);
  });
}

t.test('a model past the host memory is refused before reading it, naming what would fit', async (t) => {
  const platform = { ...nodePlatform, availableMemory: () => 150_000 };
  const err = await openModels([join(FIXTURES, 'models', 'llama-gqa-tied-f32')], { platform, backend: 'wasm', threads: 1 }).then(
    () => null,
    (e: Error & { code?: string }) => e,
  );
  t.equal(err?.code, 'ENVIRONMENT', 'an environment error (exit 1 from the CLI)');
  t.match(
    err?.message ?? '',
    /llama-gqa-tied-f32: the model's weights take 354 KiB, but this machine has 147 KiB of memory available \(the Wasm backend holds the weights in RAM\) — use a model of at most about 134 KiB/,
  );
});

t.test('one Wasm memory alone refuses a model past it, pointing at openModel', async (t) => {
  const backend = await createWasmBackend({ threads: 1, maxMemoryPages: 5 });
  t.teardown(() => backend.destroy());
  await t.rejects(
    loadModel(join(FIXTURES, 'models', 'llama-gqa-tied-f32'), { fs: nodePlatform.fs, backend }),
    /more than .* the wasm backend can address.* open it with openModel\/openModels/,
  );
});
