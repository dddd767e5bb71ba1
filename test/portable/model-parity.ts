// Model parity against the PyTorch golden fixtures (scripts/make_fixtures.py), written without
// tap or node: imports so that the very same checks run in Node (tap), Deno and headless Chromium.

import { type BackendChoice, createBackend } from '../../runtime/backend/index.ts';
import { generateGreedy } from '../../runtime/model/generate.ts';
import { type CausalLM, loadModel } from '../../runtime/model/model.ts';
import type { ChatMessage } from '../../runtime/model/tokenizer.ts';
import type { Platform } from '../../runtime/platform/types.ts';

export const FIXTURE_MODELS = [
  'llama-gqa-tied-f32',
  'llama-untied-bf16-llama3rope',
  'qwen2-bias-f16',
  'qwen2-tied-bf16',
  'qwen3-qknorm-tied-bf16',
  'gemma3-sliding-f32',
] as const;

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

interface ExpectedPrompt {
  text?: string;
  messages?: ChatMessage[];
  chat?: boolean;
  prompt_token_ids: number[];
  rendered?: string;
  logits: number[];
  logits_shape: [number, number];
  greedy_token_ids: number[];
  greedy_text: string;
}
interface Expected {
  prompts: ExpectedPrompt[];
  decode_check?: { decode?: { ids: number[]; text: string }[]; encode?: { text: string; ids: number[] }[] };
}

export const LOGIT_ATOL = 1e-4;
export const LOGIT_RTOL = 1e-4;

/** Largest violation of |got − ref| ≤ atol + rtol·|ref|, as a ratio (≤ 1 passes). */
function worst(got: ArrayLike<number>, ref: ArrayLike<number>, atol: number, rtol: number): { ratio: number; at: number; maxAbs: number } {
  let ratio = 0,
    at = -1,
    maxAbs = 0;
  if (got.length !== ref.length) return { ratio: Infinity, at: -1, maxAbs: Infinity };
  for (let i = 0; i < ref.length; i++) {
    const d = Math.abs(got[i] - ref[i]);
    const r = d / (atol + rtol * Math.abs(ref[i]));
    if (!(r <= ratio)) {
      ratio = r;
      at = i;
    }
    if (d > maxAbs) maxAbs = d;
  }
  return { ratio, at, maxAbs };
}

const same = (a: number[], b: number[]) => a.length === b.length && a.every((x, i) => x === b[i]);

/** Logits at every position of `ids` (one prefill pass), flattened [T, V]. */
async function prefillLogits(model: CausalLM, ids: number[]): Promise<Float32Array> {
  const T = ids.length;
  const cache = model.createCache(1, T);
  try {
    const rows = new Int32Array(2 * T);
    for (let i = 0; i < T; i++) rows[2 * i + 1] = i;
    const logits = model.forward({ tokens: Int32Array.from(ids), rows, logitRows: Int32Array.from({ length: T }, (_, i) => i) }, cache);
    return (await model.backend.read(logits)) as Float32Array;
  } finally {
    model.disposeCache(cache);
  }
}

/** The same logits, but the first half by prefill and the rest one token at a time through the KV cache. */
async function incrementalLogits(model: CausalLM, ids: number[]): Promise<Float32Array> {
  const T = ids.length,
    V = model.config.vocabSize;
  const split = Math.max(1, T >> 1);
  const cache = model.createCache(1, T);
  const out = new Float32Array(T * V);
  try {
    const rows = new Int32Array(2 * split);
    for (let i = 0; i < split; i++) rows[2 * i + 1] = i;
    let logits = model.forward({ tokens: Int32Array.from(ids.slice(0, split)), rows, logitRows: Int32Array.from({ length: split }, (_, i) => i) }, cache);
    out.set((await model.backend.read(logits)) as Float32Array, 0);
    for (let t = split; t < T; t++) {
      logits = model.forward({ tokens: Int32Array.of(ids[t]), rows: Int32Array.of(0, t), logitRows: Int32Array.of(0) }, cache);
      out.set((await model.backend.read(logits)) as Float32Array, t * V);
    }
    return out;
  } finally {
    model.disposeCache(cache);
  }
}

export async function checkModelParity(
  opts: { platform: Platform; backend: BackendChoice; fixtures: string; models?: readonly string[] },
  log: (c: Check) => void,
): Promise<void> {
  const { fs } = opts.platform;
  for (const name of opts.models ?? FIXTURE_MODELS) {
    const expected: Expected = JSON.parse(await fs.readText(fs.join(opts.fixtures, 'expected', `${name}.json`)));
    const backend = await createBackend(opts.backend, opts.platform);
    const model = await loadModel(fs.join(opts.fixtures, 'models', name), { fs, backend });
    const tag = `${name} [${backend.info.kind}]`;
    try {
      const prompts: number[][] = [];
      for (const [i, p] of expected.prompts.entries()) {
        const ids = p.chat ? model.tokenizer.encodeChat(p.messages ?? []) : model.tokenizer.encode(p.text ?? '');
        log({
          name: `${tag} prompt ${i}: token ids equal transformers'`,
          ok: same(ids, p.prompt_token_ids),
          detail: same(ids, p.prompt_token_ids) ? '' : `got ${JSON.stringify(ids)}\nwant ${JSON.stringify(p.prompt_token_ids)}`,
        });
        if (p.chat && p.rendered !== undefined) {
          const rendered = model.tokenizer.renderChat(p.messages ?? []);
          log({
            name: `${tag} prompt ${i}: chat template renders as transformers'`,
            ok: rendered === p.rendered,
            detail: rendered === p.rendered ? '' : `got ${JSON.stringify(rendered)}\nwant ${JSON.stringify(p.rendered)}`,
          });
        }
        prompts.push(p.prompt_token_ids);
        const full = await prefillLogits(model, p.prompt_token_ids);
        const w = worst(full, p.logits, LOGIT_ATOL, LOGIT_RTOL);
        log({
          name: `${tag} prompt ${i}: logits [${p.logits_shape}] within ${LOGIT_ATOL} + ${LOGIT_RTOL}·|ref|`,
          ok: w.ratio <= 1,
          detail: `max |Δ| ${w.maxAbs.toExponential(2)}, worst ratio ${w.ratio.toFixed(3)} at ${w.at}`,
        });
        // One prompt suffices for the cache path (it decodes ~40 tokens one readback at a time, slow
        // on software GPUs). Prefill and decode use different kernels (tiled vs row matmul) with
        // different f32 summation orders, so they agree to f32 rounding, not bit for bit: the
        // same tolerance as against PyTorch applies.
        if (i === expected.prompts.length - 1) {
          const inc = await incrementalLogits(model, p.prompt_token_ids);
          const wi = worst(inc, full, LOGIT_ATOL, LOGIT_RTOL);
          log({ name: `${tag} prompt ${i}: KV-cache decode equals full recompute`, ok: wi.ratio <= 1, detail: `max |Δ| ${wi.maxAbs.toExponential(2)}` });
        }
      }
      const maxNew = Math.max(...expected.prompts.map((p) => p.greedy_token_ids.length));
      const { tokens } = await generateGreedy(model, prompts, { maxNewTokens: maxNew, eosTokenIds: [] });
      for (const [i, p] of expected.prompts.entries()) {
        // HF stops at EOS; the batch here runs to maxNew, so compare the HF-length prefix.
        const got = tokens[i].slice(0, p.greedy_token_ids.length);
        const ok = same(got, p.greedy_token_ids);
        log({
          name: `${tag} prompt ${i}: batched greedy ids equal transformers' generate`,
          ok,
          detail: ok ? '' : `got ${JSON.stringify(got)}\nwant ${JSON.stringify(p.greedy_token_ids)}`,
        });
      }
      for (const d of expected.decode_check?.decode ?? []) {
        const text = model.tokenizer.decode(d.ids);
        log({
          name: `${tag} decode ${JSON.stringify(d.ids.slice(0, 6))}…`,
          ok: text === d.text,
          detail: `got ${JSON.stringify(text)} want ${JSON.stringify(d.text)}`,
        });
      }
      for (const e of expected.decode_check?.encode ?? []) {
        const ids = model.tokenizer.encode(e.text);
        log({ name: `${tag} encode ${JSON.stringify(e.text)}`, ok: same(ids, e.ids), detail: `got ${JSON.stringify(ids)} want ${JSON.stringify(e.ids)}` });
      }
    } finally {
      model.dispose();
    }
  }
}
