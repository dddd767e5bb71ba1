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
import { FIXTURES } from './helpers/cli.ts';
import { trainPassGrads } from './helpers/bit-identity.ts';
import { prefillLogits, sameBits } from './portable/bit-identity.ts';

const MODELS = ['llama-gqa-tied-f32', 'llama-untied-bf16-llama3rope', 'qwen2-bias-f16', 'qwen3-qknorm-tied-bf16', 'gemma3-sliding-f32'];

async function open(name: string, shardBytes?: number): Promise<{ model: CausalLM; close(): void }> {
  const opened = await openModels([join(FIXTURES, 'models', name)], { platform: nodePlatform, backend: 'wasm', threads: 2, wasmShardBytes: shardBytes });
  return { model: opened.models[0], close: opened.close };
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
    t.ok(sameBits(await prefillLogits(many.model, prompt), await prefillLogits(one.model, prompt)), 'prefill logits of every position: identical bits');
    const gen = async (m: CausalLM) => (await generateGreedy(m, [prompt, prompt.slice(3)], { maxNewTokens: 10, eosTokenIds: [] })).tokens;
    t.same(await gen(many.model), await gen(one.model), 'batched greedy ids through the KV cache: identical');
    const a = await trainPassGrads(one.model, 3),
      b = await trainPassGrads(many.model, 3);
    t.ok(Object.is(a.loss, b.loss), `training loss: identical bits (${a.loss})`);
    const differ = [...a.grads].filter(([k, g]) => !sameBits(g, b.grads.get(k) ?? [])).map(([k]) => k);
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
