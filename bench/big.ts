// `npm run bench -- --only big [--big-model DIR]` (issue 29): a Qwen2.5-7B-shaped checkpoint on the
// Wasm backend, past one 4 GiB memory — load time, peak RSS against the weight bytes, decode
// tokens/s at batch 1 and 8 as shares of this host's read ceiling (decode streams every weight once
// a step), and, when the checkpoint has the transformers greedy ids of
// scripts/make_big_checkpoint.py --expected, whether ours equal them. The checkpoint is made by that
// script (gigabytes: never committed); the default location is $LIGHTREASONER_BIG_MODEL.

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ShardedWasmBackend } from '../runtime/backend/sharded.ts';
import { generateGreedy } from '../runtime/model/generate.ts';
import type { CausalLM } from '../runtime/model/model.ts';
import { nodePlatform } from '../runtime/platform/node.ts';
import { openModel } from '../runtime/session.ts';
import { median, type Result } from './common.ts';
import type { Ceilings } from './host.ts';

interface Expected {
  prompts: { prompt_token_ids: number[]; greedy_token_ids: number[]; min_top2_gap: number }[];
}

const rssGiB = () => process.resourceUsage().maxRSS / 2 ** 20; // maxRSS is in KiB

async function decodeSeconds(model: CausalLM, batch: number, steps: number): Promise<number> {
  const V = model.config.vocabSize;
  const prompts = Array.from({ length: batch }, (_, s) => Array.from({ length: 16 }, (_, p) => (p * 131 + s * 17 + 3) % V));
  const marks: number[] = [];
  await generateGreedy(model, prompts, { maxNewTokens: steps + 1, eosTokenIds: [], onStep: () => marks.push(performance.now()) });
  return median(marks.slice(1).map((t, i) => (t - marks[i]) / 1000));
}

export async function benchBig(dir: string | null, ceilings: Ceilings | null, report: (r: Result) => void, notice: (m: string) => void): Promise<void> {
  const model = dir ?? process.env.LIGHTREASONER_BIG_MODEL ?? null;
  if (!model || !existsSync(join(model, 'config.json'))) {
    notice(
      'big: no checkpoint — make one with `.venv-ref/bin/python scripts/make_big_checkpoint.py DIR [--layers 28] [--expected]` and pass --big-model DIR (or set LIGHTREASONER_BIG_MODEL)',
    );
    return;
  }
  const rss0 = rssGiB();
  const t0 = performance.now();
  const m = await openModel(model, { platform: nodePlatform, backend: 'wasm' });
  const loadS = (performance.now() - t0) / 1000;
  try {
    const weights = m.weights.bytes,
      c = m.config;
    const memories = m.backend instanceof ShardedWasmBackend ? m.backend.memories : 1;
    const shape = `${c.layers} layers × hidden ${c.hiddenSize}, ffn ${c.intermediateSize}, vocab ${c.vocabSize}; ${(weights / 2 ** 30).toFixed(2)} GiB of ${m.weights.dtype} over ${memories} Wasm memories; ${m.backend.info.device}`;
    report({
      name: 'big: load (streamed from safetensors shards)',
      value: loadS,
      unit: 's',
      backend: 'wasm',
      note: `${shape}; ${(weights / 2 ** 30 / loadS).toFixed(2)} GiB/s`,
    });
    const peak = rssGiB();
    report({
      name: 'big: peak RSS after load / weight bytes',
      value: (peak * 2 ** 30) / weights,
      unit: '×',
      backend: 'wasm',
      note: `peak RSS ${peak.toFixed(2)} GiB (${rss0.toFixed(2)} GiB before loading), weights ${(weights / 2 ** 30).toFixed(2)} GiB; target ≤ 1.2–1.3×`,
    });
    const expectedFile = join(model, 'expected.json');
    if (existsSync(expectedFile)) {
      const ex: Expected = JSON.parse(readFileSync(expectedFile, 'utf8'));
      const n = Math.max(...ex.prompts.map((p) => p.greedy_token_ids.length));
      const { tokens } = await generateGreedy(
        m,
        ex.prompts.map((p) => p.prompt_token_ids),
        { maxNewTokens: n, eosTokenIds: [] },
      );
      const equal = ex.prompts.filter((p, i) => tokens[i].slice(0, p.greedy_token_ids.length).join() === p.greedy_token_ids.join()).length;
      report({
        name: `big: greedy ids equal transformers' (float32) for ${ex.prompts.length} prompts`,
        value: equal,
        unit: `of ${ex.prompts.length}`,
        backend: 'wasm',
        note: `smallest top-1/top-2 gap ${Math.min(...ex.prompts.map((p) => p.min_top2_gap)).toExponential(2)}`,
      });
    }
    for (const batch of [1, 8]) {
      const s = await decodeSeconds(m, batch, 4);
      const r: Result = {
        name: `big: decode, batch ${batch}`,
        value: batch / s,
        unit: 'tokens/s',
        backend: 'wasm',
        note: `${(s * 1000).toFixed(0)} ms a step`,
      };
      if (ceilings)
        Object.assign(r, {
          ceiling: ceilings.readAll,
          ceiling_unit: 'GB/s',
          ceiling_name: 'read bandwidth (all threads)',
          share: weights / s / 1e9 / ceilings.readAll,
        });
      report(r);
    }
    report({
      name: 'big: peak RSS after decoding / weight bytes',
      value: (rssGiB() * 2 ** 30) / weights,
      unit: '×',
      backend: 'wasm',
      note: 'KV caches and activations of batch 8 included',
    });
  } finally {
    m.dispose();
  }
}
