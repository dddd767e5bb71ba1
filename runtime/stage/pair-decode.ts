// Greedy decoding and contrastive decoding (CD) of one expert–amateur pair, as variants of one
// batched pass: the token-level engine of `pair-check` (runtime/eval/pair-check.ts).
//
// A variant picks each next token from the expert's logits, the amateur's logits, or both:
//   greedy (alpha null)          argmax P_E — what `eval` decodes;
//   full CD (alpha a, beta null) argmax over the plausibility mask {P_E ≥ a · max P_E} of
//                                log P_E − log P_A (LIGHTREASONER.md: the argmax of the soft label);
//   selective CD (a, b)          the CD pick only at steps t ≥ 1 with KL(P_E ‖ P_A) ≥ b — the
//                                steps stage 1 would keep, where LightReasoner trains (step 0 is
//                                never contrasted there, so not here either); greedy elsewhere.
// The contrast is the backend's `contrast` op (the same kernel as stage 1) and the greedy pick its
// `argmax`: per step only ids, two stats and K label pairs per row come back, never vocabulary rows
// (a row whose mask overflows the K device slots is redone on the host, as in stage 1).
//
// Sharing the prefix. All variants of a problem start as ONE row (one KV slot in each model's
// cache). At every step the row's variants each choose a token; variants that choose alike stay
// together. When they split, the first group keeps the row (its cache already holds the shared
// prefix) and every other group becomes a new row in a fresh slot, whose first forward feeds the
// whole prompt + prefix + its token in the same batched call as the other rows' single tokens (a
// prefill of that slot). So a problem costs one decoded row until the contrast first changes a
// choice, never more rows than variants, and the forks re-read their prefix in one batched pass
// (cheaper than a decode step per token; no cache-copy op is needed on any backend). We chose this
// over "every variant its own row from the start" (V× the decode work while the variants agree,
// which on the embedded pair is most steps) and over "greedy first, then branch" (a second pass).
// Each row's arithmetic is the per-row arithmetic of a plain decode (positions, causal attention,
// per-row matmuls), so every variant's tokens equal those of decoding that variant alone — on the
// Wasm backend bit for bit (test/pair-check.test.ts holds it to that).
//
// This layer knows nothing of text: runtime/eval/pair-check.ts adds prompts, grading and statistics.

import { contrastRow } from '../backend/reference-forward.ts';
import type { Tensor } from '../backend/types.ts';
import { badInputError } from '../errors.ts';
import type { CausalLM, KVCache } from '../model/model.ts';
import { yieldToHost } from '../util/yield.ts';
import { firstBad, LABEL_SLOTS } from './contrast.ts';

/** What pair decoding needs of a model (CausalLM; tests also pass models with designed logits). */
export type DecoderModel = Pick<CausalLM, 'config' | 'backend' | 'source' | 'forward' | 'createCache' | 'disposeCache'>;

export interface DecodeVariant {
  name: string;
  /** Plausibility mask of the contrast; null: greedy (no contrast). */
  alpha: number | null;
  /** Contrast only at steps t ≥ 1 with KL ≥ beta; null: at every step (full CD). */
  beta: number | null;
}

/** A step where a variant's choice is not the expert's argmax (on that variant's own prefix). */
export interface VariantChange {
  /** Index in the variant's trajectory. */
  step: number;
  /** The expert's argmax there. */
  greedy: number;
  /** What the variant chose. */
  chosen: number;
  /** KL(P_E ‖ P_A) there. */
  kl: number;
}

export interface VariantTrajectory {
  /** Generated ids (the EOS included when it ended the sequence, as generateGreedy). */
  tokens: number[];
  finish: 'eos' | 'length';
  changes: VariantChange[];
}

export interface PairDecodeSettings {
  variants: readonly DecodeVariant[];
  maxNewTokens: number;
  /** Problems per batch (each takes up to variants.length KV slots in each model). */
  batchSize: number;
  /** Defaults to the expert's EOS ids. */
  eosTokenIds?: number[];
}

export type PairDecodeEvent =
  /** After each forward: rows still running, and tokens both models read in it (forks' prefixes included). */
  | { status: 'step'; batch: number; step: number; rows: number; tokens: number }
  /** One problem's trajectories, one per variant (in settings.variants order). */
  | { status: 'problem'; index: number; variants: VariantTrajectory[] };

export interface PairDecodeOptions {
  signal?: AbortSignal;
  /** How messages name problem `index` (default: "prompt <index>"). */
  label?: (index: number) => string;
}

function validateVariants(variants: readonly DecodeVariant[]): void {
  if (variants.length === 0) throw badInputError('no decoding variants');
  const names = new Set<string>();
  for (const v of variants) {
    if (names.has(v.name)) throw badInputError(`two variants are named "${v.name}"`);
    names.add(v.name);
    if (v.alpha !== null && !(v.alpha >= 0 && v.alpha <= 1)) throw badInputError(`${v.name}: alpha must be in [0, 1] (got ${v.alpha})`);
    if (v.beta !== null && !Number.isFinite(v.beta)) throw badInputError(`${v.name}: beta must be a finite number (got ${v.beta})`);
    if (v.alpha === null && v.beta !== null) throw badInputError(`${v.name}: a beta needs an alpha (the contrast it gates)`);
  }
}

/** Decode every variant of every prompt, yielding each problem's trajectories in input order. */
export async function* decodeVariants(
  expert: DecoderModel,
  amateur: DecoderModel,
  prompts: readonly (readonly number[])[],
  s: PairDecodeSettings,
  opts: PairDecodeOptions = {},
): AsyncGenerator<PairDecodeEvent> {
  validateVariants(s.variants);
  if (!(Number.isInteger(s.maxNewTokens) && s.maxNewTokens >= 1)) throw badInputError(`maxNewTokens must be an integer ≥ 1 (got ${s.maxNewTokens})`);
  if (!(Number.isInteger(s.batchSize) && s.batchSize >= 1)) throw badInputError(`batchSize must be an integer ≥ 1 (got ${s.batchSize})`);
  if (expert.backend.info.kind !== amateur.backend.info.kind)
    throw badInputError(`the expert runs on ${expert.backend.info.kind} but the amateur on ${amateur.backend.info.kind}: use one backend kind for both`);
  for (const [i, p] of prompts.entries()) if (p.length === 0) throw badInputError(`prompt ${i} is empty`);
  const label = opts.label ?? ((i: number) => `prompt ${i}`);
  for (let first = 0; first < prompts.length; first += s.batchSize) {
    const indices = Array.from({ length: Math.min(s.batchSize, prompts.length - first) }, (_, j) => first + j);
    const results = yield* decodeBatch(
      expert,
      amateur,
      first / s.batchSize,
      indices.map((i) => prompts[i]),
      s,
      opts.signal,
      indices.map(label),
    );
    for (const [j, variants] of results.entries()) yield { status: 'problem', index: indices[j], variants };
  }
}

/** A sequence being decoded: the variants that share its tokens so far. */
interface Row {
  problem: number;
  slot: number;
  variants: number[];
  tokens: number[];
  /** Leading tokens of prompt + tokens already in the slot's cache. */
  cached: number;
}

/** Per distinct alpha: the contrast op's outputs for up to `slots` rows. */
interface AlphaScratch {
  alpha: number;
  stats: Tensor;
  ids: Tensor;
  weights: Tensor;
}

/** One batch's decoding state, shared by its steps. */
interface PairBatch {
  expert: DecoderModel;
  amateur: DecoderModel;
  s: PairDecodeSettings;
  prompts: readonly (readonly number[])[];
  labels: readonly string[];
  eos: Set<number>;
  out: VariantTrajectory[][];
  /** The next free KV slot of each problem (a fork takes one). */
  nextSlot: number[];
  argmax: Tensor;
  scratch: AlphaScratch[];
  /** The amateur's logits copied onto the expert's backend (two Wasm backends only). */
  copy: Tensor | null;
  ecache: KVCache;
  acache: KVCache | null;
}

/** One step's device results: the greedy ids, per alpha the contrast's stats and labels, and both models' full logits on demand. */
interface PairStep {
  greedy: Int32Array;
  perAlpha: { alpha: number; stats: Float32Array; ids: Int32Array; weights: Float32Array }[];
  fullLogits: () => Promise<[Float32Array, Float32Array]>;
}

async function* decodeBatch(
  expert: DecoderModel,
  amateur: DecoderModel,
  batch: number,
  prompts: readonly (readonly number[])[],
  s: PairDecodeSettings,
  signal: AbortSignal | undefined,
  labels: readonly string[],
): AsyncGenerator<PairDecodeEvent, VariantTrajectory[][]> {
  const eb = expert.backend;
  const V = s.variants.length,
    K = LABEL_SLOTS;
  const slots = prompts.length * V;
  const maxT = Math.max(...prompts.map((p) => p.length)) + s.maxNewTokens;
  const out: VariantTrajectory[][] = prompts.map(() => s.variants.map(() => ({ tokens: [], finish: 'length', changes: [] })));
  const alphas = [...new Set(s.variants.flatMap((v) => (v.alpha === null ? [] : [v.alpha])))];
  const contrasted = alphas.length > 0;
  const tensors: Tensor[] = [];
  const make = (dtype: 'f32' | 'i32', shape: number[]) => {
    const t = eb.createTensor(dtype, shape);
    tensors.push(t);
    return t;
  };
  const argmax = make('i32', [slots]);
  const scratch: AlphaScratch[] = alphas.map((alpha) => ({
    alpha,
    stats: make('f32', [slots, 2]),
    ids: make('i32', [slots, K]),
    weights: make('f32', [slots, K]),
  }));
  // Two Wasm backends (one linear memory per model) cannot share tensors: the amateur's logits rows
  // are copied over each step, as stage 1 does. WebGPU and the reference share one backend.
  const copy = contrasted && amateur.backend !== eb ? make('f32', [slots, amateur.config.vocabSize]) : null;
  let ecache: KVCache | null = null,
    acache: KVCache | null = null;
  try {
    ecache = expert.createCache(slots, maxT);
    if (contrasted) acache = amateur.createCache(slots, maxT);
    const eos = new Set(s.eosTokenIds ?? expert.config.eosTokenIds);
    const b: PairBatch = { expert, amateur, s, prompts, labels, eos, out, nextSlot: prompts.map((_, p) => p * V + 1), argmax, scratch, copy, ecache, acache };
    let rows: Row[] = prompts.map((_, p) => ({ problem: p, slot: p * V, variants: s.variants.map((_, v) => v), tokens: [], cached: 0 }));
    for (let step = 0; rows.length > 0; step++) {
      await yieldToHost(signal);
      const input = forwardInput(rows, prompts);
      const st = await pairStep(b, input, rows.length);
      const next: Row[] = [];
      for (const [j, row] of rows.entries()) next.push(...advanceRow(b, row, st.greedy[j], await rowContrast(b, st, j, row)));
      rows = next;
      yield { status: 'step', batch, step, rows: rows.length, tokens: input.tokens.length };
    }
    return out;
  } finally {
    if (ecache) expert.disposeCache(ecache);
    if (acache) amateur.disposeCache(acache);
    for (const t of tensors) eb.dispose(t);
  }
}

/** Both models' forward over `input` (m rows), the greedy ids and every alpha's contrast, read back in one wait. */
async function pairStep(b: PairBatch, input: ReturnType<typeof forwardInput>, m: number): Promise<PairStep> {
  const { expert, amateur } = b;
  const eb = expert.backend,
    K = LABEL_SLOTS;
  const elogits = expert.forward(input, b.ecache);
  let alogits: Tensor | null = null;
  if (b.acache) {
    alogits = amateur.forward(input, b.acache);
    if (b.copy) {
      const data = (await amateur.backend.read(alogits)) as Float32Array;
      alogits = eb.view(b.copy, [m, amateur.config.vocabSize]);
      eb.write(alogits, data);
    }
  }
  eb.argmax(elogits, eb.view(b.argmax, [m]));
  const shared = Math.min(expert.config.vocabSize, amateur.config.vocabSize);
  const views = b.scratch.map((a) => ({ alpha: a.alpha, stats: eb.view(a.stats, [m, 2]), ids: eb.view(a.ids, [m, K]), weights: eb.view(a.weights, [m, K]) }));
  for (const a of views) eb.contrast(elogits, alogits!, shared, a.alpha, a.stats, a.ids, a.weights);
  // One wait for every readback (on WebGPU each read is a copy + map; issued together they overlap).
  const reads = await Promise.all([eb.read(eb.view(b.argmax, [m])), ...views.flatMap((a) => [eb.read(a.stats), eb.read(a.ids), eb.read(a.weights)])]);
  const perAlpha = views.map((a, k) => ({
    alpha: a.alpha,
    stats: reads[1 + 3 * k] as Float32Array,
    ids: reads[2 + 3 * k] as Int32Array,
    weights: reads[3 + 3 * k] as Float32Array,
  }));
  let full: [Float32Array, Float32Array] | null = null;
  const fullLogits = async () => (full ??= [(await eb.read(elogits)) as Float32Array, (await eb.read(alogits!)) as Float32Array]);
  return { greedy: reads[0] as Int32Array, perAlpha, fullLogits };
}

/** Row j's KL and, per alpha, the contrastive choice (the soft label's argmax); from full logits when the mask overflowed the label slots. */
async function rowContrast(b: PairBatch, st: PairStep, j: number, row: Row): Promise<{ kl: number; picks: Map<number, number> }> {
  const K = LABEL_SLOTS,
    Ve = b.expert.config.vocabSize,
    Va = b.amateur.config.vocabSize;
  let kl = NaN;
  const picks = new Map<number, number>();
  for (const a of st.perAlpha) {
    kl = a.stats[2 * j];
    const size = a.stats[2 * j + 1];
    if (!Number.isFinite(kl) || !Number.isFinite(size))
      throw await nonFinite(await st.fullLogits(), j, b.labels[row.problem], row.tokens.length, b.expert, b.amateur);
    if (size > K) {
      // Nearly uniform expert: the mask overflowed the device's label slots; redo it on the host.
      const [e, am] = await st.fullLogits();
      const h = contrastRow(e, j * Ve, Ve, am, j * Va, Va, Math.min(Ve, Va), a.alpha);
      picks.set(a.alpha, h.ids[argmaxOf(h.weights, h.weights.length)]);
    } else picks.set(a.alpha, a.ids[j * K + argmaxOf(a.weights.subarray(j * K), size)]);
  }
  return { kl, picks };
}

/** The variants' choices for a row, grouped in variant order: the first group keeps the row, others fork into new slots, finished ones are recorded. The rows still decoding. */
function advanceRow(b: PairBatch, row: Row, g: number, c: { kl: number; picks: Map<number, number> }): Row[] {
  const { s, out } = b;
  const t = row.tokens.length;
  const groups = new Map<number, number[]>();
  for (const v of row.variants) {
    const { alpha, beta } = s.variants[v];
    const contrast = alpha !== null && (beta === null || (t >= 1 && c.kl >= beta));
    const choice = contrast ? c.picks.get(alpha)! : g;
    if (choice !== g) out[row.problem][v].changes.push({ step: t, greedy: g, chosen: choice, kl: c.kl });
    const group = groups.get(choice);
    if (group) group.push(v);
    else groups.set(choice, [v]);
  }
  const next: Row[] = [];
  let kept = false;
  for (const [choice, variants] of groups) {
    const tokens = [...row.tokens, choice];
    const finish = b.eos.has(choice) ? 'eos' : tokens.length >= s.maxNewTokens ? 'length' : null;
    if (finish) {
      for (const v of variants) Object.assign(out[row.problem][v], { tokens, finish });
    } else if (!kept) {
      kept = true;
      next.push({ ...row, variants, tokens });
    } else {
      next.push({ problem: row.problem, slot: b.nextSlot[row.problem]++, variants, tokens, cached: 0 });
    }
  }
  return next;
}

/** One forward's input: each row's tokens not yet in its cache (a fork's whole prefix, else one). */
function forwardInput(rows: Row[], prompts: readonly (readonly number[])[]): { tokens: Int32Array; rows: Int32Array; logitRows: Int32Array } {
  let n = 0;
  for (const r of rows) n += prompts[r.problem].length + r.tokens.length - r.cached;
  const tokens = new Int32Array(n),
    pos = new Int32Array(2 * n),
    logitRows = new Int32Array(rows.length);
  let k = 0;
  for (const [j, r] of rows.entries()) {
    const prompt = prompts[r.problem],
      end = prompt.length + r.tokens.length;
    for (let p = r.cached; p < end; p++, k++) {
      tokens[k] = p < prompt.length ? prompt[p] : r.tokens[p - prompt.length];
      pos[2 * k] = r.slot;
      pos[2 * k + 1] = p;
    }
    logitRows[j] = k - 1;
    r.cached = end;
  }
  return { tokens, rows: pos, logitRows };
}

/** Index of the largest of x[0..n) (the first on ties, as Backend.argmax). */
function argmaxOf(x: ArrayLike<number>, n: number): number {
  let best = 0;
  for (let i = 1; i < n; i++) if (x[i] > x[best]) best = i;
  return best;
}

async function nonFinite(
  full: [Float32Array, Float32Array],
  j: number,
  problem: string,
  step: number,
  expert: DecoderModel,
  amateur: DecoderModel,
): Promise<Error> {
  for (const [who, m, x] of [
    ['expert', expert, full[0]],
    ['amateur', amateur, full[1]],
  ] as const) {
    const bad = firstBad(x, j * m.config.vocabSize, m.config.vocabSize);
    if (bad)
      return badInputError(
        `${problem}, step ${step}: the ${who}'s logits hold ${bad.value} (token id ${bad.id}) — the ${who} model (${m.source}) has non-finite weights or overflows; check its files`,
      );
  }
  return new Error(`internal: ${problem}, step ${step}: non-finite contrast stats from finite logits`);
}
