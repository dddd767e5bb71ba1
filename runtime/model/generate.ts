// Batched greedy decoding with a KV cache. Every sequence gets its own cache slot and keeps its own
// positions, so a batch gives exactly the ids each prompt would give alone (no padding enters the
// computation). Each step is one forward over the still-running sequences, an on-device argmax,
// and one readback of a few ids: nothing vocabulary-sized reaches JavaScript.

import type { CausalLM } from './model.ts';
import { yieldToHost } from '../util/yield.ts';

export interface GenerateOptions {
  maxNewTokens: number;
  /** Defaults to the model's EOS ids (generation_config.json, then config.json). */
  eosTokenIds?: number[];
  signal?: AbortSignal;
  /** Called after every decoding step with the number of tokens generated so far (all sequences). */
  onStep?: (e: { status: 'generating'; step: number; generated: number; running: number }) => void;
}

export interface GenerateResult {
  /** Generated ids per prompt (the EOS token included when it ended the sequence, as HF does). */
  tokens: number[][];
  finish: ('eos' | 'length')[];
}

export async function generateGreedy(model: CausalLM, prompts: number[][], opts: GenerateOptions): Promise<GenerateResult> {
  const B = prompts.length;
  const tokens: number[][] = prompts.map(() => []);
  const finish: ('eos' | 'length')[] = prompts.map(() => 'length');
  if (B === 0) return { tokens, finish };
  for (const [i, p] of prompts.entries()) if (p.length === 0) throw new RangeError(`prompt ${i} is empty`);
  const eos = new Set(opts.eosTokenIds ?? model.config.eosTokenIds);
  const maxT = Math.max(...prompts.map((p) => p.length)) + opts.maxNewTokens;
  const cache = model.createCache(B, maxT);
  const b = model.backend;
  const argmax = b.createTensor('i32', [B]);
  try {
    if (opts.maxNewTokens <= 0) return { tokens, finish };
    // Prefill: all prompts in one pass; logits only at each prompt's last token.
    const n = prompts.reduce((s, p) => s + p.length, 0);
    const ids = new Int32Array(n);
    const rows = new Int32Array(2 * n);
    const last = new Int32Array(B);
    let r = 0;
    for (const [s, p] of prompts.entries()) {
      for (const [pos, id] of p.entries()) {
        ids[r] = id;
        rows[2 * r] = s;
        rows[2 * r + 1] = pos;
        r++;
      }
      last[s] = r - 1;
    }
    let running = prompts.map((_, s) => s);
    let logits = model.forward({ tokens: ids, rows, logitRows: last }, cache);
    for (let step = 0; ; step++) {
      const out = b.view(argmax, [running.length]);
      b.argmax(logits, out);
      const next = (await b.read(out)) as Int32Array;
      await yieldToHost(opts.signal);
      const still: number[] = [];
      for (const [j, s] of running.entries()) {
        tokens[s].push(next[j]);
        if (eos.has(next[j])) finish[s] = 'eos';
        else if (tokens[s].length < opts.maxNewTokens) still.push(s);
      }
      running = still;
      opts.onStep?.({ status: 'generating', step, generated: tokens.reduce((a, t) => a + t.length, 0), running: running.length });
      if (running.length === 0) break;
      const m = running.length;
      const stepIds = new Int32Array(m);
      const stepRows = new Int32Array(2 * m);
      for (const [j, s] of running.entries()) {
        stepIds[j] = tokens[s][tokens[s].length - 1];
        stepRows[2 * j] = s;
        stepRows[2 * j + 1] = prompts[s].length + tokens[s].length - 1;
      }
      logits = model.forward({ tokens: stepIds, rows: stepRows, logitRows: Int32Array.from(running.keys()) }, cache);
    }
    return { tokens, finish };
  } finally {
    b.dispose(argmax);
    model.disposeCache(cache);
  }
}
