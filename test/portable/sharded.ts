// A model spread over several Wasm memories (runtime/backend/sharded.ts, issue 29) against the same
// model in one memory, bit for bit — written without tap or node: imports so that the very same
// checks run in Node (test/sharded.test.ts), Deno and headless Chromium (test/runtimes.test.ts).

import { ShardedWasmBackend } from '../../runtime/backend/sharded.ts';
import { generateGreedy } from '../../runtime/model/generate.ts';
import type { CausalLM } from '../../runtime/model/model.ts';
import type { Platform } from '../../runtime/platform/types.ts';
import { openModels } from '../../runtime/session.ts';
import { prefillLogits, sameBits } from './bit-identity.ts';
import type { Check } from './model-parity.ts';

export const SHARDED_MODELS = ['llama-untied-bf16-llama3rope', 'qwen3-qknorm-tied-bf16', 'gemma3-sliding-f32'] as const;

/** Opens `name` in one Wasm memory and spread over about three; logs whether logits and greedy ids agree bit for bit. */
export async function checkSharded(
  opts: { platform: Platform; fixtures: string; models?: readonly string[]; threads?: number },
  log: (c: Check) => void,
): Promise<void> {
  const { fs } = opts.platform;
  for (const name of opts.models ?? SHARDED_MODELS) {
    const dir = fs.join(opts.fixtures, 'models', name);
    const one = await openModels([dir], { platform: opts.platform, backend: 'wasm', threads: opts.threads });
    const many = await openModels([dir], {
      platform: opts.platform,
      backend: 'wasm',
      threads: opts.threads,
      wasmShardBytes: Math.ceil(one.models[0].weights.bytes / 3),
    });
    try {
      const [a, b] = [one.models[0], many.models[0]];
      const memories = b.backend instanceof ShardedWasmBackend ? b.backend.memories : 1;
      log({ name: `${name}: spread over ${memories} Wasm memories`, ok: memories >= 2, detail: '' });
      const V = a.config.vocabSize;
      const prompt = Array.from({ length: 14 }, (_, p) => (p * 53 + 7) % V);
      log({ name: `${name} sharded: prefill logits identical bits`, ok: sameBits(await prefillLogits(b, prompt), await prefillLogits(a, prompt)), detail: '' });
      const gen = async (m: CausalLM) => (await generateGreedy(m, [prompt, prompt.slice(3)], { maxNewTokens: 8, eosTokenIds: [] })).tokens;
      const [ga, gb] = [await gen(a), await gen(b)];
      log({
        name: `${name} sharded: batched greedy ids identical`,
        ok: JSON.stringify(ga) === JSON.stringify(gb),
        detail: `${JSON.stringify(gb)} vs ${JSON.stringify(ga)}`,
      });
    } finally {
      one.close();
      many.close();
    }
  }
}
