// Stage 1 at the token-id level: the expert decodes greedily and the amateur reads the expert's
// exact ids in lockstep, both batched across problems (each problem its own KV slot in each model's
// cache). Per step the device computes KL, mask size and the compacted soft labels
// (Backend.contrast), so only next ids, two stats per row and K label pairs per row come back to
// JavaScript, all four in one wait; never vocabulary rows (except for the rare row whose mask
// overflows K, recomputed on the host).
//
// The amateur is fed prompt + trajectory[:-1] exactly once (a teacher-forced pass spread over the
// decode steps): O(T) tokens per trajectory, not the reference scripts' O(T²) re-encoding, and no
// decode/re-tokenize round trip that could move token boundaries.
//
// This layer knows nothing of tokenizers or text: benches and apps with their own prompt ids use
// it directly; sampleContrastive (sample.ts) adds chat templates and the output records.

import { contrastRow } from '../backend/reference-forward.ts';
import type { Backend, Tensor } from '../backend/types.ts';
import { badInputError, type LightReasonerError } from '../errors.ts';
import type { CausalLM, KVCache } from '../model/model.ts';
import { yieldToHost } from '../util/yield.ts';

/** Label slots per row computed on the device; rows whose mask is larger are redone on the host. */
export const LABEL_SLOTS = 64;

export interface ContrastSettings {
  /** Plausibility mask: keep ids with P_E ≥ alpha · max P_E. */
  alpha: number;
  /** Keep a step when KL(P_E ‖ P_A) ≥ beta. */
  beta: number;
  maxNewTokens: number;
  /** Problems per batch. Batches are fixed by input index (problem i is in batch ⌊i / batchSize⌋). */
  batchSize: number;
  /** Defaults to the expert's EOS ids (generation_config.json, then config.json). */
  eosTokenIds?: number[];
}

/** One contrasted step t ≥ 1 (the distribution for trajectory[t] given prompt + trajectory[:t]). */
export interface StepResult {
  step: number;
  kl: number;
  /** |mask| */
  maskSize: number;
  selected: boolean;
  /** Soft label (ascending ids) — only for selected steps. */
  tokenIds?: number[];
  weights?: number[];
}

export interface PromptResult {
  /** Index of the problem in the input list. */
  index: number;
  trajectory: number[];
  finish: 'eos' | 'length';
  steps: StepResult[];
  /** Tokens the amateur actually processed for this problem (= prompt + trajectory − 1). */
  amateurTokens: number;
}

export type ContrastEvent =
  | { status: 'batch'; batch: number; first: number; size: number; recomputed: number }
  | { status: 'step'; batch: number; step: number; running: number; tokens: number }
  | { status: 'problem'; result: PromptResult };

export interface ContrastOptions {
  signal?: AbortSignal;
  /** Problems already done (e.g. committed by an earlier run). A batch holding only skipped problems
   * is not run; a batch holding some is recomputed whole — so floating-point results are exactly
   * those of an uninterrupted run — and only its other problems are reported. */
  skip?: (index: number) => boolean;
  /** How messages name problem `index` (default: "prompt <index>"). */
  label?: (index: number) => string;
}

function validateSettings(s: ContrastSettings): void {
  const bad = (what: string) => {
    throw badInputError(what);
  };
  if (!(s.alpha >= 0 && s.alpha <= 1)) bad(`alpha must be in [0, 1] (got ${s.alpha})`);
  if (!Number.isFinite(s.beta)) bad(`beta must be a finite number (got ${s.beta})`);
  if (!(Number.isInteger(s.maxNewTokens) && s.maxNewTokens >= 1)) bad(`maxNewTokens must be an integer ≥ 1 (got ${s.maxNewTokens})`);
  if (!(Number.isInteger(s.batchSize) && s.batchSize >= 1)) bad(`batchSize must be an integer ≥ 1 (got ${s.batchSize})`);
}

/** Ids < this are compared (the "shared vocabulary"): min of the two config vocab sizes. */
export function sharedVocab(expert: CausalLM, amateur: CausalLM): number {
  return Math.min(expert.config.vocabSize, amateur.config.vocabSize);
}

/**
 * Run stage 1 over prompts given as token ids, yielding progress and one result per problem, in
 * input order.
 */
export async function* contrastPrompts(
  expert: CausalLM,
  amateur: CausalLM,
  prompts: readonly (readonly number[])[],
  settings: ContrastSettings,
  opts: ContrastOptions = {},
): AsyncGenerator<ContrastEvent> {
  validateSettings(settings);
  if (expert.backend.info.kind !== amateur.backend.info.kind)
    throw badInputError(`the expert runs on ${expert.backend.info.kind} but the amateur on ${amateur.backend.info.kind}: use one backend kind for both`);
  for (const [i, p] of prompts.entries()) if (p.length === 0) throw badInputError(`prompt ${i} is empty`);
  const skip = opts.skip ?? (() => false);
  const B = settings.batchSize;
  for (let batch = 0; batch * B < prompts.length; batch++) {
    const first = batch * B;
    const indices = Array.from({ length: Math.min(B, prompts.length - first) }, (_, j) => first + j);
    const todo = indices.filter((i) => !skip(i));
    if (todo.length === 0) continue;
    yield { status: 'batch', batch, first, size: indices.length, recomputed: indices.length - todo.length };
    const label = opts.label ?? ((i: number) => `prompt ${i}`);
    const results = yield* runBatch(
      expert,
      amateur,
      batch,
      indices.map((i) => prompts[i]),
      settings,
      opts.signal,
      indices.map(label),
    );
    for (const [j, r] of results.entries()) if (!skip(indices[j])) yield { status: 'problem', result: { ...r, index: indices[j] } };
  }
}

interface Scratch {
  stats: Tensor;
  ids: Tensor;
  weights: Tensor;
  argmax: Tensor;
  /** The amateur's logits copied onto the expert's backend (only when the models use two backends). */
  copy: Tensor | null;
}

/** One batch's decoding state, shared by its steps. */
interface Batch {
  expert: CausalLM;
  amateur: CausalLM;
  eb: Backend;
  s: ContrastSettings;
  prompts: readonly (readonly number[])[];
  labels: readonly string[];
  shared: number;
  sc: Scratch;
  ecache: KVCache;
  acache: KVCache;
  out: Omit<PromptResult, 'index'>[];
}

async function* runBatch(
  expert: CausalLM,
  amateur: CausalLM,
  batch: number,
  prompts: readonly (readonly number[])[],
  s: ContrastSettings,
  signal: AbortSignal | undefined,
  labels: readonly string[],
): AsyncGenerator<ContrastEvent, Omit<PromptResult, 'index'>[]> {
  const n = prompts.length;
  const eb = expert.backend;
  const eos = new Set(s.eosTokenIds ?? expert.config.eosTokenIds);
  const maxT = Math.max(...prompts.map((p) => p.length)) + s.maxNewTokens;
  const out: Omit<PromptResult, 'index'>[] = prompts.map(() => ({ trajectory: [], finish: 'length', steps: [], amateurTokens: 0 }));
  let ecache: KVCache | null = null,
    acache: KVCache | null = null;
  const sc = createScratch(expert, amateur, n);
  try {
    ecache = expert.createCache(n, maxT);
    acache = amateur.createCache(n, maxT);
    const b: Batch = { expert, amateur, eb, s, prompts, labels, shared: sharedVocab(expert, amateur), sc, ecache, acache, out };
    let next = await prefill(b);
    let running = prompts.map((_, slot) => slot);
    let tokens = 0;
    for (let step = 0; ; step++) {
      await yieldToHost(signal);
      tokens += running.length;
      running = appendTokens(b, running, next, eos);
      yield { status: 'step', batch, step, running: running.length, tokens };
      if (running.length === 0) break;
      next = await contrastStep(b, running);
    }
    return out;
  } finally {
    if (ecache) expert.disposeCache(ecache);
    if (acache) amateur.disposeCache(acache);
    disposeAll(eb, sc);
  }
}

function createScratch(expert: CausalLM, amateur: CausalLM, n: number): Scratch {
  const eb = expert.backend;
  return {
    stats: eb.createTensor('f32', [n, 2]),
    ids: eb.createTensor('i32', [n, LABEL_SLOTS]),
    weights: eb.createTensor('f32', [n, LABEL_SLOTS]),
    argmax: eb.createTensor('i32', [n]),
    // Two backend instances (Wasm: one linear memory each, so a 1.5B expert and a 0.5B amateur fit
    // under 4 GiB apiece) cannot share tensors: the amateur's logits rows, m × Va floats per step,
    // are copied over. That is small next to the forward passes. One shared backend skips this.
    copy: eb === amateur.backend ? null : eb.createTensor('f32', [n, amateur.config.vocabSize]),
  };
}

/**
 * Prefill both models with every prompt; the expert's logits at each prompt's last token give
 * step 0 (not contrasted, as in the reference), whose greedy ids are returned. The amateur only
 * fills its cache here, so one logits row is asked for (it is not used).
 */
async function prefill(b: Batch): Promise<Int32Array> {
  const { expert, eb, sc, prompts, out } = b;
  const n = prompts.length;
  const total = prompts.reduce((a, p) => a + p.length, 0);
  const ids = new Int32Array(total);
  const rows = new Int32Array(2 * total);
  const last = new Int32Array(n);
  let r = 0;
  for (const [slot, p] of prompts.entries()) {
    for (const [pos, id] of p.entries()) {
      ids[r] = id;
      rows[2 * r] = slot;
      rows[2 * r + 1] = pos;
      r++;
    }
    last[slot] = r - 1;
    out[slot].amateurTokens += p.length;
  }
  const elogits = expert.forward({ tokens: ids, rows, logitRows: last }, b.ecache);
  eb.argmax(elogits, eb.view(sc.argmax, [n]));
  // Step 0 is never contrasted, so a NaN here would go unseen: the argmax of NaN logits picks a
  // token (maybe EOS), and the run would end with no samples and no error. One sum of squares on
  // the device (a NaN/Inf anywhere makes it non-finite) costs one number back.
  const probe = eb.view(sc.stats, [1]);
  eb.fill(probe, 0);
  eb.sumSquares(elogits, probe);
  const [nextH0, probeH] = await Promise.all([eb.read(eb.view(sc.argmax, [n])), eb.read(probe)]);
  if (!Number.isFinite(probeH[0])) {
    const e = (await eb.read(elogits)) as Float32Array;
    for (let j = 0; j < n; j++) {
      const bad = firstBad(e, j * expert.config.vocabSize, expert.config.vocabSize);
      if (bad) throw nonFiniteLogits(b.labels[j], 0, 'expert', expert.source, bad);
    }
  }
  b.amateur.forward({ tokens: ids, rows, logitRows: new Int32Array([total - 1]) }, b.acache);
  return nextH0 as Int32Array;
}

/** Each running sequence's next token appended; the slots still running (no EOS, under maxNewTokens). */
function appendTokens(b: Batch, running: number[], next: Int32Array, eos: Set<number>): number[] {
  const still: number[] = [];
  for (const [j, slot] of running.entries()) {
    const o = b.out[slot];
    o.trajectory.push(next[j]);
    if (eos.has(next[j])) o.finish = 'eos';
    else if (o.trajectory.length < b.s.maxNewTokens) still.push(slot);
  }
  return still;
}

/**
 * Feed each running sequence's newest token to both models (their logits are then the
 * distributions for step t = step + 1 given prompt + trajectory[:t]), contrast them on the device,
 * record each row's step; the expert's greedy ids for the next step.
 */
async function contrastStep(b: Batch, running: number[]): Promise<Int32Array> {
  const { expert, amateur, eb, sc, out } = b;
  const m = running.length;
  const stepIds = new Int32Array(m);
  const stepRows = new Int32Array(2 * m);
  for (const [j, slot] of running.entries()) {
    const traj = out[slot].trajectory;
    stepIds[j] = traj[traj.length - 1];
    stepRows[2 * j] = slot;
    stepRows[2 * j + 1] = b.prompts[slot].length + traj.length - 1;
    out[slot].amateurTokens++;
  }
  const all = Int32Array.from(running.keys());
  const elogits = expert.forward({ tokens: stepIds, rows: stepRows, logitRows: all }, b.ecache);
  let alogits = amateur.forward({ tokens: stepIds, rows: stepRows, logitRows: all }, b.acache);
  if (sc.copy) {
    const data = (await amateur.backend.read(alogits)) as Float32Array;
    alogits = eb.view(sc.copy, [m, amateur.config.vocabSize]);
    eb.write(alogits, data);
  }
  const K = LABEL_SLOTS;
  const stats = eb.view(sc.stats, [m, 2]),
    lids = eb.view(sc.ids, [m, K]),
    lw = eb.view(sc.weights, [m, K]);
  eb.contrast(elogits, alogits, b.shared, b.s.alpha, stats, lids, lw);
  eb.argmax(elogits, eb.view(sc.argmax, [m]));
  // One wait for all four readbacks (on WebGPU each read is a copy + map: issued together they
  // overlap instead of costing a round trip each). The labels are m × K pairs, a few KiB: read
  // them every step rather than wait for the stats to say whether any row is kept.
  const [nextH, stH, idsR, wR] = await Promise.all([eb.read(eb.view(sc.argmax, [m])), eb.read(stats), eb.read(lids), eb.read(lw)]);
  const rows: StepRows = { st: stH as Float32Array, ids: idsR as Int32Array, w: wR as Float32Array, elogits, alogits, full: null };
  for (const [j, slot] of running.entries()) out[slot].steps.push(await stepResult(b, rows, j, slot));
  return nextH as Int32Array;
}

/** One step's device results for the running rows; `full` holds both models' logits once a row needs them. */
interface StepRows {
  st: Float32Array;
  ids: Int32Array;
  w: Float32Array;
  elogits: Tensor;
  alogits: Tensor;
  full: [Float32Array, Float32Array] | null;
}

/** Row j's step (slot `slot`): from the device's stats and labels, or from full logits when its mask overflowed the label slots. */
async function stepResult(b: Batch, r: StepRows, j: number, slot: number): Promise<StepResult> {
  const { expert, amateur, eb, s } = b;
  const K = LABEL_SLOTS,
    Ve = expert.config.vocabSize,
    Va = amateur.config.vocabSize;
  const t = b.out[slot].trajectory.length;
  let kl = r.st[2 * j],
    size = r.st[2 * j + 1],
    selected = kl >= s.beta;
  let tokenIds: number[] | undefined, weights: number[] | undefined;
  if (!Number.isFinite(kl) || !Number.isFinite(size)) {
    // Before anything of this batch is reported: no NaN reaches a sample line.
    r.full ??= [(await eb.read(r.elogits)) as Float32Array, (await eb.read(r.alogits)) as Float32Array];
    const be = firstBad(r.full[0], j * Ve, Ve);
    const ba = firstBad(r.full[1], j * Va, Va);
    if (be) throw nonFiniteLogits(b.labels[slot], t, 'expert', expert.source, be);
    if (ba) throw nonFiniteLogits(b.labels[slot], t, 'amateur', amateur.source, ba);
    throw new Error(`internal: ${b.labels[slot]}, step ${t}: KL ${kl} and mask size ${size} from finite logits`);
  }
  if (size > K) {
    // Nearly uniform expert: the mask overflowed the device's label slots. Redo the row on
    // the host from full logits (rare), with the same formulas as the reference backend.
    r.full ??= [(await eb.read(r.elogits)) as Float32Array, (await eb.read(r.alogits)) as Float32Array];
    const h = contrastRow(r.full[0], j * Ve, Ve, r.full[1], j * Va, Va, b.shared, s.alpha);
    kl = Math.fround(h.kl); // f32 like the device's values, so output formatting is uniform
    size = h.ids.length;
    selected = kl >= s.beta;
    if (selected) [tokenIds, weights] = [h.ids, h.weights.map(Math.fround)];
  } else if (selected) {
    tokenIds = Array.from(r.ids.subarray(j * K, j * K + size));
    weights = Array.from(r.w.subarray(j * K, j * K + size));
  }
  return selected ? { step: t, kl, maskSize: size, selected, tokenIds, weights } : { step: t, kl, maskSize: size, selected };
}

/** The first NaN/±Inf of one logits row, or null. */
export function firstBad(x: Float32Array, offset: number, length: number): { id: number; value: number } | null {
  for (let id = 0; id < length; id++) if (!Number.isFinite(x[offset + id])) return { id, value: x[offset + id] };
  return null;
}

function nonFiniteLogits(problem: string, step: number, who: 'expert' | 'amateur', source: string, bad: { id: number; value: number }): LightReasonerError {
  return badInputError(
    `${problem}, step ${step}: the ${who}'s logits hold ${bad.value} (token id ${bad.id}) — the ${who} model (${source}) has non-finite weights or overflows; check its files. ` +
      'The problems before this batch are kept; nothing of this batch was written',
  );
}

function disposeAll(b: Backend, sc: Scratch): void {
  for (const t of [sc.stats, sc.ids, sc.weights, sc.argmax, sc.copy]) if (t) b.dispose(t);
}
