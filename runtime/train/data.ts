// Training data for stage 2: parse and validate soft-label samples, turn them into token ids, and
// pack the samples of one optimizer step into trajectories (LIGHTREASONER.md weakness 2).
//
// Our sample format carries the exact expert token ids (`question` + `prefix_token_ids`), so the
// input is the chat-templated prompt + those ids, never re-tokenized. The reference scripts'
// format has only text (`prompt_id` is the question, `prefix` the decoded prefix): accepted by
// re-tokenizing prompt text + prefix text as one string (as a Python collator tokenizing the
// concatenation would), which can change token boundaries — the caller is warned.

import { MAX_PROBLEM_CHARS, MAX_SAMPLE_LINE_CHARS, tooLong } from '../data/limits.ts';
import { badInputError } from '../errors.ts';
import type { ModelTokenizer } from '../model/tokenizer.ts';

/**
 * One training sample, tokenized: the loss is taken at the last of `ids`, toward the sparse
 * distribution (labelIds, labelWeights). An SFT objective (cross-entropy on one target token) is the
 * same thing with one label of weight 1: the engine needs no change for `--objective sft`.
 */
export interface TrainSample {
  /** 1-based line of the samples file (for messages). */
  line: number;
  /** Trajectory key: samples with the same key and prefix-related ids can share a forward. */
  key: string;
  /** prompt + prefix token ids. */
  ids: number[];
  labelIds: number[];
  labelWeights: number[];
}

export interface ParsedSamples {
  samples: TrainSample[];
  /** Lines in the reference's text-only format (re-tokenized). */
  retokenized: number;
}

interface RawSample {
  question?: unknown;
  prompt_id?: unknown;
  prefix?: unknown;
  prefix_token_ids?: unknown;
  token_ids?: unknown;
  weights?: unknown;
}

const isIntArray = (x: unknown): x is number[] => Array.isArray(x) && x.every((v) => Number.isInteger(v));

/**
 * Parse a samples JSONL file. Errors name the file, line and field. `vocab` is the model's
 * vocab_size (ids must be below it); `system` the system message of the prompt ('' for none).
 */
export function parseSamples(text: string, tok: ModelTokenizer, opts: { vocab: number; system: string; file?: string; maxPositions?: number }): ParsedSamples {
  const where = opts.file ?? 'samples';
  const samples: TrainSample[] = [];
  const prompts = new Map<string, number[]>();
  let retokenized = 0;
  const lines = text.split('\n');
  const messages = (q: string) =>
    opts.system === ''
      ? [{ role: 'user' as const, content: q }]
      : [
          { role: 'system' as const, content: opts.system },
          { role: 'user' as const, content: q },
        ];
  for (const [i, raw] of lines.entries()) {
    const line = raw.trim();
    if (line === '') continue;
    const at = (field: string, problem: string) => badInputError(`${where}:${i + 1}: "${field}" ${problem}`, opts.file);
    const long = tooLong(line, MAX_SAMPLE_LINE_CHARS, 'the line');
    if (long) throw badInputError(`${where}:${i + 1}: ${long}`, opts.file);
    let o: RawSample;
    try {
      o = JSON.parse(line);
    } catch {
      throw badInputError(`${where}:${i + 1}: not valid JSON`, opts.file);
    }
    if (typeof o !== 'object' || o === null || Array.isArray(o)) throw badInputError(`${where}:${i + 1}: not a JSON object`, opts.file);
    if (!isIntArray(o.token_ids) || o.token_ids.length === 0) throw at('token_ids', 'must be a non-empty array of integers');
    if (!Array.isArray(o.weights) || !o.weights.every((w) => typeof w === 'number')) throw at('weights', 'must be an array of numbers');
    // JSON has no NaN or Infinity, but a number past the f64 range (1e999) parses to ±Infinity.
    const inf = o.weights.findIndex((w) => !Number.isFinite(w));
    if (inf >= 0)
      throw at(
        'weights',
        `holds ${o.weights[inf]} at index ${inf} (a number too large for a float, such as 1e999, reads as Infinity) — a soft label's weights are probabilities in [0, 1]; regenerate the samples`,
      );
    if (o.weights.length !== o.token_ids.length) throw at('weights', `has ${o.weights.length} entries but "token_ids" has ${o.token_ids.length}`);
    for (const id of o.token_ids)
      if (id < 0 || id >= opts.vocab) throw at('token_ids', `holds ${id}, outside the model's vocabulary (vocab_size ${opts.vocab})`);
    if (new Set(o.token_ids).size !== o.token_ids.length) throw at('token_ids', 'holds a repeated id');
    const weights = o.weights as number[];
    if (weights.some((w) => w < 0)) throw at('weights', `holds a negative weight (${weights.find((w) => w < 0)})`);
    const sum = weights.reduce((a, b) => a + b, 0);
    if (Math.abs(sum - 1) > 1e-3) throw at('weights', `sum to ${sum}, not 1 (a soft label is a distribution)`);
    let ids: number[];
    let key: string;
    if (o.prefix_token_ids !== undefined || o.question !== undefined) {
      if (typeof o.question !== 'string') throw at('question', 'must be a string');
      if (o.question.length > MAX_PROBLEM_CHARS) throw at('question', tooLong(o.question, MAX_PROBLEM_CHARS, 'is too long: it')!);
      if (!isIntArray(o.prefix_token_ids)) throw at('prefix_token_ids', 'must be an array of integers');
      for (const id of o.prefix_token_ids)
        if (id < 0 || id >= opts.vocab) throw at('prefix_token_ids', `holds ${id}, outside the model's vocabulary (vocab_size ${opts.vocab})`);
      let prompt = prompts.get(o.question);
      if (!prompt) prompts.set(o.question, (prompt = tok.encodeChat(messages(o.question))));
      ids = [...prompt, ...o.prefix_token_ids];
      key = `q:${o.question}`;
    } else {
      // The reference's format: prompt_id is the question text, prefix the decoded prefix.
      if (typeof o.prompt_id !== 'string') throw at('prompt_id', 'must be a string (the question), or give "question" and "prefix_token_ids"');
      if (o.prompt_id.length > MAX_PROBLEM_CHARS) throw at('prompt_id', tooLong(o.prompt_id, MAX_PROBLEM_CHARS, 'is too long: it')!);
      if (typeof o.prefix !== 'string') throw at('prefix', 'must be a string');
      ids = tok.encode(tok.renderChat(messages(o.prompt_id)) + o.prefix, false);
      key = `t:${o.prompt_id}`;
      retokenized++;
    }
    if (ids.length === 0) throw at('prefix', 'gives an empty input');
    if (opts.maxPositions !== undefined && ids.length > opts.maxPositions) {
      throw at(
        o.prefix_token_ids !== undefined ? 'prefix_token_ids' : 'prefix',
        `with the prompt gives ${ids.length} tokens, more than the model's max_position_embeddings (${opts.maxPositions}); drop this sample or use a model with a longer context`,
      );
    }
    for (const id of ids) if (id >= opts.vocab) throw at('question', `encodes to id ${id}, outside the model's vocabulary (vocab_size ${opts.vocab})`);
    samples.push({ line: i + 1, key, ids, labelIds: o.token_ids, labelWeights: weights });
  }
  if (samples.length === 0) throw badInputError(`${where}: no samples (the file is empty)`, opts.file);
  return { samples, retokenized };
}

/** One forward/backward sequence: `ids` of the longest member, the loss rows of every member. */
export interface Trajectory {
  ids: number[];
  /** Members: index into the step's samples and the position of its loss row. */
  members: { sample: number; position: number }[];
}

const startsWith = (long: number[], short: number[]) => short.length <= long.length && short.every((v, j) => long[j] === v);

/**
 * Group samples into trajectories: a sample joins a trajectory whose ids start with its own ids
 * (causal attention makes position t independent of later tokens), unless that trajectory already
 * has a loss row at the same position (a duplicate sample gets its own sequence, so loss rows stay
 * distinct for scatterAddRows). `packed: false` gives one sequence per sample (the reference's
 * computation). Deterministic: depends only on the order of `samples`.
 */
export function packTrajectories(samples: readonly TrainSample[], packed: boolean): Trajectory[] {
  const order = samples.map((_, j) => j);
  // Longest first, so each trajectory is opened by the sample that covers the others.
  if (packed) order.sort((a, b) => samples[b].ids.length - samples[a].ids.length || a - b);
  const out: (Trajectory & { key: string })[] = [];
  for (const j of order) {
    const s = samples[j];
    const position = s.ids.length - 1;
    const t = packed ? out.find((t) => t.key === s.key && startsWith(t.ids, s.ids) && !t.members.some((m) => m.position === position)) : undefined;
    if (t) t.members.push({ sample: j, position });
    else out.push({ key: s.key, ids: s.ids, members: [{ sample: j, position }] });
  }
  return out.map(({ ids, members }) => ({ ids, members }));
}

/** Split trajectories into passes of at most `maxRows` rows (one longer trajectory runs alone). */
export function splitPasses(trajs: Trajectory[], maxRows: number): Trajectory[][] {
  const passes: Trajectory[][] = [];
  let cur: Trajectory[] = [];
  let rows = 0;
  for (const t of trajs) {
    if (cur.length > 0 && rows + t.ids.length > maxRows) {
      passes.push(cur);
      cur = [];
      rows = 0;
    }
    cur.push(t);
    rows += t.ids.length;
  }
  if (cur.length) passes.push(cur);
  return passes;
}

/**
 * A small seeded PRNG (splitmix32) of our own, so the order is reproducible in every runtime. It is
 * not torch's generator: the shuffled order differs from HF Trainer's RandomSampler for the same
 * seed (the method does not depend on a particular order).
 */
export function splitmix32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return ((z ^ (z >>> 16)) >>> 0) / 4294967296;
  };
}

/** The sample order of one epoch: a Fisher–Yates shuffle seeded by (seed, epoch), or file order. */
export function epochOrder(n: number, seed: number, epoch: number, shuffle: boolean): number[] {
  const order = Array.from({ length: n }, (_, j) => j);
  if (!shuffle) return order;
  const rand = splitmix32((Math.imul(seed >>> 0, 0x9e3779b1) ^ Math.imul(epoch + 1, 0x85ebca77)) >>> 0);
  for (let j = n - 1; j > 0; j--) {
    const k = Math.floor(rand() * (j + 1));
    [order[j], order[k]] = [order[k], order[j]];
  }
  return order;
}

// ---- --objective sft: the paper's rejection-sampling SFT baseline ----------------------------------

/** Training objectives: LightReasoner's soft labels at the selected steps (kl), or cross-entropy over
 * whole expert trajectories (sft, the rejection-sampling SFT baseline the paper compares with). */
export const OBJECTIVES = ['kl', 'sft'] as const;
export type Objective = (typeof OBJECTIVES)[number];

export interface ParsedSftSamples extends ParsedSamples {
  /** Trajectories kept (their every position became a sample), and those dropped as wrong. */
  trajectories: number;
  rejected: number;
}

interface RawTrajectory {
  question?: unknown;
  output?: unknown;
  output_token_ids?: unknown;
  answer?: unknown;
  solution?: unknown;
  gold?: unknown;
  correct?: unknown;
  finish?: unknown;
  id?: unknown;
}

interface SftParseOptions {
  vocab: number;
  system: string;
  file?: string;
  maxPositions?: number;
  eosTokenId?: number;
  grade: (output: string, gold: string | null) => boolean;
  goldOf: (o: { answer?: unknown; solution?: unknown }) => string | null;
}

/** A bad field of the current line, as one error line. */
type FieldError = (field: string, problem: string) => Error;

/** The expert's trajectory of one line: its exact ids, or its text tokenized (with the EOS when it stopped there). */
function trajectoryIds(o: RawTrajectory, tok: ModelTokenizer, opts: SftParseOptions, at: FieldError, lineRef: string): number[] {
  if (o.output_token_ids !== undefined) {
    if (!isIntArray(o.output_token_ids)) throw at('output_token_ids', 'must be an array of integers');
    for (const id of o.output_token_ids)
      if (id < 0 || id >= opts.vocab) throw at('output_token_ids', `holds ${id}, outside the model's vocabulary (vocab_size ${opts.vocab})`);
    return o.output_token_ids;
  }
  if (typeof o.output === 'string') {
    const traj = tok.encode(o.output, false);
    if (o.finish === 'eos' && opts.eosTokenId !== undefined) traj.push(opts.eosTokenId);
    return traj;
  }
  throw badInputError(
    `${lineRef}: no trajectory: --objective sft needs the expert's output per problem ("output_token_ids" or "output" text, as \`eval --out\` writes; \`run --compare-sft\` generates them)`,
    opts.file,
  );
}

/** Rejection sampling: keep only trajectories whose final answer is right, when that is known. */
function trajectoryIsRight(o: RawTrajectory, traj: number[], tok: ModelTokenizer, opts: SftParseOptions, at: FieldError): boolean {
  const output = typeof o.output === 'string' ? o.output : tok.decode(traj, true);
  if (typeof o.correct === 'boolean') return o.correct;
  if (typeof o.gold === 'string' || typeof o.gold === 'number') return opts.grade(output, String(o.gold));
  if (o.answer !== undefined || o.solution !== undefined) {
    const gold = opts.goldOf(o);
    if (gold === null || gold === '') throw at('answer', `cannot be read as a gold answer (${JSON.stringify(o.answer ?? o.solution).slice(0, 60)})`);
    return opts.grade(output, gold);
  }
  return true;
}

/**
 * Parse expert trajectories for `--objective sft`: one JSONL line per problem with `question` and
 * the expert's trajectory, as exact ids (`output_token_ids`) or text (`output`, tokenized; the EOS
 * is appended when `finish` is "eos", as in `eval --out` records). Rejection sampling: a trajectory
 * is dropped when `correct` is false, or when a gold answer (`answer`: GSM8K "… #### N" or plain;
 * `solution`; `gold`) exists and the trajectory's extracted final answer is not it. Each kept
 * trajectory of T tokens becomes T one-hot samples (prompt + trajectory[:t] → trajectory[t], weight
 * 1): the soft-label loss with one label is cross-entropy, and the packed engine runs the T samples
 * of a trajectory as one forward/backward.
 */
export function parseSftSamples(text: string, tok: ModelTokenizer, opts: SftParseOptions): ParsedSftSamples {
  const where = opts.file ?? 'trajectories';
  const samples: TrainSample[] = [];
  let trajectories = 0,
    rejected = 0;
  const messages = (q: string) =>
    opts.system === ''
      ? [{ role: 'user' as const, content: q }]
      : [
          { role: 'system' as const, content: opts.system },
          { role: 'user' as const, content: q },
        ];
  for (const [i, raw] of text.split('\n').entries()) {
    const line = raw.trim();
    if (line === '') continue;
    const at = (field: string, problem: string) => badInputError(`${where}:${i + 1}: "${field}" ${problem}`, opts.file);
    const long = tooLong(line, MAX_SAMPLE_LINE_CHARS, 'the line');
    if (long) throw badInputError(`${where}:${i + 1}: ${long}`, opts.file);
    let o: RawTrajectory;
    try {
      o = JSON.parse(line);
    } catch {
      throw badInputError(`${where}:${i + 1}: not valid JSON`, opts.file);
    }
    if (typeof o !== 'object' || o === null || Array.isArray(o)) throw badInputError(`${where}:${i + 1}: not a JSON object`, opts.file);
    if (typeof o.question !== 'string') throw at('question', 'must be a string');
    if (o.question.length > MAX_PROBLEM_CHARS) throw at('question', tooLong(o.question, MAX_PROBLEM_CHARS, 'is too long: it')!);
    const traj = trajectoryIds(o, tok, opts, at, `${where}:${i + 1}`);
    if (!trajectoryIsRight(o, traj, tok, opts, at)) {
      rejected++;
      continue;
    }
    if (traj.length === 0) continue;
    const prompt = tok.encodeChat(messages(o.question));
    for (const id of prompt) if (id >= opts.vocab) throw at('question', `encodes to id ${id}, outside the model's vocabulary (vocab_size ${opts.vocab})`);
    if (opts.maxPositions !== undefined && prompt.length + traj.length - 1 > opts.maxPositions) {
      throw at(
        'question',
        `with its trajectory gives ${prompt.length + traj.length - 1} tokens, more than the model's max_position_embeddings (${opts.maxPositions}); drop this line or use a model with a longer context`,
      );
    }
    const key = `sft:${i}`;
    for (let t = 0; t < traj.length; t++) samples.push({ line: i + 1, key, ids: [...prompt, ...traj.slice(0, t)], labelIds: [traj[t]], labelWeights: [1] });
    trajectories++;
  }
  if (trajectories === 0) {
    throw badInputError(
      rejected
        ? `${where}: all ${rejected} trajectories have a wrong final answer: nothing to train on (rejection sampling keeps only right ones)`
        : `${where}: no trajectories (the file is empty)`,
      opts.file,
    );
  }
  return { samples, retokenized: 0, trajectories, rejected };
}
