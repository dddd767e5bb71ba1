// The run report's "what changed" section (issue 27 item 3): at the training steps where the
// contrast prefers a continuation the expert did not choose (its soft label's top token is not the
// expert's own top token), how much the tuned expert's probability of that continuation rose. The
// steps it rose most at, with their context, show what LightReasoner taught — a cue resisted, a
// digit moved — without reading adapters.
//
// Only samples whose label holds two or more tokens can disagree with the expert (the expert's top
// token is always in the plausibility mask, so a one-token label is the expert's own choice); of
// those, at most `maxSamples` are read, each once without and once with the adapter.
// Portable: no host imports.

import type { CausalLM } from '../model/model.ts';
import type { LoraAdapter } from '../train/lora.ts';
import { parseSamples, type TrainSample } from '../train/data.ts';

export interface ChangedStep {
  question: string;
  /** The end of the trajectory before the step (decoded), for context. */
  context: string;
  /** The expert's own top token before tuning, and the contrast's preferred one (the label's top). */
  expert_top: string;
  preferred: string;
  expert_top_id: number;
  preferred_id: number;
  /** P_expert(preferred) before and after tuning; the label's weight on it. */
  p_before: number;
  p_after: number;
  weight: number;
}

export interface WhatChanged {
  /** Samples read (labels of two or more tokens, at most maxSamples). */
  examined: number;
  /** Of those, the steps where the contrast prefers another token than the expert's top. */
  preferred_other: number;
  /** … and where that token is the expert's top after tuning. */
  now_top: number;
  /** Mean rise of P_expert(preferred) over those steps. */
  mean_rise: number | null;
  /** The steps with the largest rise, largest first. */
  top: ChangedStep[];
}

/** Next-token probabilities (host copy, [B, V]) and top tokens after each sequence, one batched forward. */
async function nextToken(model: CausalLM, seqs: number[][]): Promise<{ probs: Float32Array; top: Int32Array }> {
  const b = model.backend,
    B = seqs.length,
    V = model.config.vocabSize;
  const n = seqs.reduce((s, q) => s + q.length, 0);
  const tokens = new Int32Array(n),
    rows = new Int32Array(2 * n),
    last = new Int32Array(B);
  let r = 0;
  for (const [slot, q] of seqs.entries()) {
    for (const [pos, id] of q.entries()) (tokens[r] = id), (rows[2 * r] = slot), (rows[2 * r + 1] = pos), r++;
    last[slot] = r - 1;
  }
  const cache = model.createCache(B, Math.max(...seqs.map((q) => q.length)));
  const probs = b.createTensor('f32', [B, V]),
    top = b.createTensor('i32', [B]);
  try {
    const logits = model.forward({ tokens, rows, logitRows: last }, cache);
    b.softmax(logits, probs);
    b.argmax(logits, top);
    return { probs: (await b.read(probs)) as Float32Array, top: (await b.read(top)) as Int32Array };
  } finally {
    b.dispose(probs);
    b.dispose(top);
    model.disposeCache(cache);
  }
}

/** Read the samples with and without `adapter` on `model` (left detached, as found). */
export async function whatChanged(
  model: CausalLM,
  adapter: LoraAdapter,
  samplesText: string,
  opts: { system: string; maxSamples?: number; limit?: number; batchSize?: number },
): Promise<WhatChanged> {
  const tok = model.tokenizer;
  const { samples } = parseSamples(samplesText, tok, { vocab: model.config.vocabSize, system: opts.system });
  const lines = samplesText.split('\n');
  const raw = (s: TrainSample) => JSON.parse(lines[s.line - 1]) as { question?: unknown; prompt_id?: unknown; prefix?: unknown; prefix_token_ids?: unknown };
  const questionOf = (s: TrainSample) => {
    const o = raw(s);
    return String(o.question ?? o.prompt_id ?? '').slice(0, 300);
  };
  // The trajectory's last tokens before the step (the prompt left out).
  const contextOf = (s: TrainSample) => {
    const o = raw(s);
    return Array.isArray(o.prefix_token_ids) ? tok.decode((o.prefix_token_ids as number[]).slice(-16), true) : String(o.prefix ?? '').slice(-60);
  };
  const picked = samples.filter((s) => s.labelIds.length >= 2).slice(0, opts.maxSamples ?? 256);
  const V = model.config.vocabSize,
    batch = opts.batchSize ?? 16;
  const steps: (ChangedStep & { nowTop: boolean })[] = [];
  const saved = model.adapter;
  try {
    for (let i = 0; i < picked.length; i += batch) {
      const chunk = picked.slice(i, i + batch);
      model.adapter = null;
      const before = await nextToken(
        model,
        chunk.map((s) => s.ids),
      );
      model.adapter = adapter;
      const after = await nextToken(
        model,
        chunk.map((s) => s.ids),
      );
      chunk.forEach((s, j) => {
        const k = topLabel(s);
        if (before.top[j] === s.labelIds[k]) return;
        const id = s.labelIds[k];
        steps.push({
          question: questionOf(s),
          context: contextOf(s),
          expert_top: tok.decode([before.top[j]]),
          preferred: tok.decode([id]),
          expert_top_id: before.top[j],
          preferred_id: id,
          p_before: before.probs[j * V + id],
          p_after: after.probs[j * V + id],
          weight: s.labelWeights[k],
          nowTop: after.top[j] === id,
        });
      });
    }
  } finally {
    model.adapter = saved;
  }
  steps.sort((a, b) => b.p_after - b.p_before - (a.p_after - a.p_before));
  const rise = steps.reduce((s, x) => s + x.p_after - x.p_before, 0);
  return {
    examined: picked.length,
    preferred_other: steps.length,
    now_top: steps.filter((s) => s.nowTop).length,
    mean_rise: steps.length ? rise / steps.length : null,
    top: steps.slice(0, opts.limit ?? 8).map(({ nowTop: _, ...s }) => s),
  };
}

const topLabel = (s: TrainSample) => s.labelWeights.reduce((best, w, k) => (w > s.labelWeights[best] ? k : best), 0);
