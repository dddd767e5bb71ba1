// Zero-shot pass@1 evaluation as the LightReasoner paper reports it: the Qwen2.5-Math toolkit's
// `qwen25-math-cot` prompt (or the bare question), greedy decoding, the toolkit's answer
// extraction, numeric grading (runtime/eval/grade.ts). Portable: no host imports.

import { MAX_PROBLEM_CHARS, tooLong } from '../data/limits.ts';
import { badInputError, LightReasonerError } from '../errors.ts';
import { generateGreedy } from '../model/generate.ts';
import type { CausalLM } from '../model/model.ts';
import type { ChatMessage, ModelTokenizer } from '../model/tokenizer.ts';
import { type ExtractionMethod, type GradeOptions, gradeOutput, parseGold } from './grade.ts';
import type { ToolkitExtraction } from './toolkit/extract.ts';
import { problemAt } from '../stage/sample.ts';
import { wilsonInterval } from './stats.ts';
import { yieldToHost } from '../util/yield.ts';

export const PROMPT_TYPES = ['qwen25-math-cot', 'plain'] as const;
export type PromptType = (typeof PROMPT_TYPES)[number];
export const QWEN25_MATH_COT_SYSTEM = 'Please reason step by step, and put your final answer within \\boxed{}.';

export interface EvalProblem {
  id: string;
  question: string;
  /** The normalized ground truth (parseGold). */
  gold: string;
  /** 1-based line of the input file (parseEvalProblems sets it), for messages. */
  line?: number;
  /** The problem's kind when its line names one ("kind", with "variant" when present, e.g.
   * "keyword (misleads)"): `run` reports the change per kind. */
  kind?: string;
}

export interface EvalRecord {
  id: string;
  question: string;
  output: string;
  extracted: string | null;
  gold: string;
  correct: boolean;
  /** How the answer was found: boxed, answer-is, last-number or none (with a benchmark's grader also minerva, final-answer-is, choice). */
  method: ExtractionMethod | ToolkitExtraction['method'];
  /** Why decoding stopped: the EOS token or --max-new-tokens. */
  finish: 'eos' | 'length';
  generated_tokens: number;
  /** Why the problem was not decoded (only with skipTooLong): it is counted as wrong. */
  skipped?: string;
}

export interface EvalSummary {
  total: number;
  correct: number;
  accuracy: number;
  /** 95 % Wilson score interval of the accuracy. */
  ci95: [number, number];
  seconds: number;
  generated_tokens: number;
  prompt: PromptType;
  max_new_tokens: number;
  /** Problems not decoded because their prompt did not fit (skipTooLong); counted in `total` as wrong. */
  skipped: number;
}

export type EvalEvent =
  /** `resumed`: problems whose records came from an interrupted run (EvaluateOptions.done), not decoded again. */
  | { status: 'start'; total: number; resumed?: number }
  | { status: 'step'; done: number; total: number; generated: number; running: number }
  | { status: 'problem'; done: number; total: number; correct: number; record: EvalRecord }
  | { status: 'done'; summary: EvalSummary };

export interface EvaluateOptions {
  prompt?: PromptType;
  maxNewTokens?: number;
  batchSize?: number;
  signal?: AbortSignal;
  onEvent?: (e: EvalEvent) => void;
  grade?: GradeOptions;
  /**
   * Grade with this instead of the default (GSM8K-style) grader: a benchmark's rules
   * (runtime/eval/benchmarks.ts gradeBenchmarkOutput, the Qwen2.5-Math toolkit's); `gold` is the problem's.
   */
  grader?: (output: string, gold: string) => Promise<{ extracted: string | null; correct: boolean; method: EvalRecord['method'] }>;
  /**
   * A problem whose prompt + maxNewTokens exceeds the model's max_position_embeddings is an error
   * (naming it) unless this is set; then it is skipped and counted as wrong — accuracy stays over
   * every problem asked, so skipping can only lower it, never flatter it — and reported in the
   * record's `skipped` and the summary's `skipped`.
   */
  skipTooLong?: boolean;
  /** The data file, for messages. */
  file?: string;
  /**
   * Records an interrupted run already finished, by input index (runtime/eval/journal.ts reads
   * them back). A batch whose every problem is here is not decoded again; a batch with any problem
   * missing is decoded whole, since floating-point results may depend on which rows run together.
   */
  done?: ReadonlyMap<number, EvalRecord>;
  /** Called (and awaited) after each decoded batch with its records, in input order, before the
   * next batch starts: where a caller makes them durable (runtime/eval/journal.ts). */
  onBatch?: (finished: { index: number; record: EvalRecord }[]) => Promise<void>;
}

export const DEFAULT_EVAL = { prompt: 'qwen25-math-cot' as PromptType, maxNewTokens: 512, batchSize: 8 };

/** The chat messages of a question under a prompt type. */
export function evalMessages(prompt: PromptType, question: string): ChatMessage[] {
  if (prompt === 'qwen25-math-cot')
    return [
      { role: 'system', content: QWEN25_MATH_COT_SYSTEM },
      { role: 'user', content: question },
    ];
  if (prompt === 'plain') return [{ role: 'user', content: question }];
  throw badInputError(`unknown prompt type "${prompt as string}" (choose ${PROMPT_TYPES.join(' or ')})`);
}

export function evalPromptIds(tok: Pick<ModelTokenizer, 'encodeChat'>, prompt: PromptType, question: string): number[] {
  return tok.encodeChat(evalMessages(prompt, question));
}

/**
 * Problems from JSONL: each line an object with "question" (string), a gold answer ("answer":
 * GSM8K's "…#### N" or a plain string/number; or a MATH-style "solution" with \boxed{}), and an
 * optional "id" (else the 0-based line index). A bad line is an error naming the line.
 */
export function parseEvalProblems(text: string, opts: { file?: string } = {}): EvalProblem[] {
  const where = opts.file ?? 'input';
  const out: EvalProblem[] = [];
  const seen = new Map<string, number>();
  for (const [i, raw] of text.split('\n').entries()) {
    const line = raw.trim();
    if (line === '') continue;
    const at = `${where}:${i + 1}`;
    const long = tooLong(line, MAX_PROBLEM_CHARS, 'the line');
    if (long) throw badInputError(`${at}: ${long}`, opts.file);
    let o: Record<string, unknown>;
    try {
      o = JSON.parse(line);
    } catch {
      throw badInputError(`${at}: not valid JSON`, opts.file);
    }
    if (typeof o !== 'object' || o === null || Array.isArray(o)) throw badInputError(`${at}: not a JSON object`, opts.file);
    if (typeof o.question !== 'string' || o.question.trim() === '') throw badInputError(`${at}: no "question" string`, opts.file);
    if (o.id !== undefined && typeof o.id !== 'string' && typeof o.id !== 'number') throw badInputError(`${at}: "id" must be a string or a number`, opts.file);
    if (o.answer === undefined && o.solution === undefined)
      throw badInputError(`${at}: no "answer" (GSM8K "… #### N", a string or a number) to grade against`, opts.file);
    const gold = parseGold(o);
    if (gold === null || gold === '')
      throw badInputError(`${at}: cannot read a gold answer from ${JSON.stringify(o.answer ?? o.solution).slice(0, 80)}`, opts.file);
    const id = o.id === undefined ? String(i) : String(o.id);
    const dup = seen.get(id);
    if (dup !== undefined) throw badInputError(`${at}: duplicate id "${id}" (first on line ${dup}); ids must be unique`, opts.file);
    seen.set(id, i + 1);
    const kind =
      typeof o.kind === 'string' && o.kind !== '' ? (typeof o.variant === 'string' && o.variant !== '' ? `${o.kind} (${o.variant})` : o.kind) : undefined;
    out.push({ id, question: o.question, gold, line: i + 1, ...(kind ? { kind } : {}) });
  }
  if (out.length === 0) throw badInputError(`${where}: no problems (the file is empty)`, opts.file);
  return out;
}

/** The evaluation's settings (defaults filled in), checked, with the model's chat template required. */
function evalSettingsOf(model: CausalLM, opts: EvaluateOptions): { prompt: PromptType; maxNewTokens: number; batchSize: number } {
  const prompt = opts.prompt ?? DEFAULT_EVAL.prompt;
  const maxNewTokens = opts.maxNewTokens ?? DEFAULT_EVAL.maxNewTokens;
  const batchSize = opts.batchSize ?? DEFAULT_EVAL.batchSize;
  if (!(PROMPT_TYPES as readonly string[]).includes(prompt)) throw badInputError(`unknown prompt type "${prompt}" (choose ${PROMPT_TYPES.join(' or ')})`);
  if (!Number.isInteger(maxNewTokens) || maxNewTokens < 1) throw badInputError(`maxNewTokens must be an integer ≥ 1 (got ${maxNewTokens})`);
  if (!Number.isInteger(batchSize) || batchSize < 1) throw badInputError(`batchSize must be an integer ≥ 1 (got ${batchSize})`);
  if (model.tokenizer.chatTemplate === null) {
    throw new LightReasonerError(
      'MODEL_FORMAT',
      `${model.source}: this model has no chat template (tokenizer_config.json "chat_template" or chat_template.jinja); evaluation prompts are chat messages`,
      { file: model.source },
    );
  }
  return { prompt, maxNewTokens, batchSize };
}

/**
 * The problems whose prompt + maxNewTokens exceeds the model's context: refused before any decoding
 * (not hours into it), or with skipTooLong given their records now (not decoded, counted as wrong).
 */
function tooLongProblems(
  model: CausalLM,
  problems: EvalProblem[],
  allIds: number[][],
  maxNewTokens: number,
  opts: EvaluateOptions,
  byIndex: EvalRecord[],
): number[] {
  const context = model.config.maxPositions;
  const tooLong = problems.map((_, i) => i).filter((i) => allIds[i].length + maxNewTokens > context);
  if (tooLong.length && !opts.skipTooLong) {
    const shown = tooLong.slice(0, 5).map((i) => `${problemAt(problems[i], opts.file)} has a ${allIds[i].length}-token prompt`);
    const more = tooLong.length > shown.length ? ` (and ${tooLong.length - shown.length} more)` : '';
    throw badInputError(
      `${shown.join('; ')}${more}: prompt + --max-new-tokens ${maxNewTokens} must fit the model's context (max_position_embeddings ${context}); shorten the question, lower --max-new-tokens, or pass --skip-invalid to count such problems as wrong`,
      opts.file,
    );
  }
  for (const i of tooLong) {
    const p = problems[i];
    const skipped = `prompt of ${allIds[i].length} tokens + --max-new-tokens ${maxNewTokens} exceeds max_position_embeddings ${context}`;
    byIndex[i] = {
      id: p.id,
      question: p.question,
      output: '',
      extracted: null,
      gold: p.gold,
      correct: false,
      method: 'none',
      finish: 'length',
      generated_tokens: 0,
      skipped,
    };
  }
  return tooLong;
}

/** One problem's record: its generated tokens decoded, the answer extracted and graded. */
async function gradedRecord(
  tok: CausalLM['tokenizer'],
  p: EvalProblem,
  ids: number[],
  finish: EvalRecord['finish'],
  opts: EvaluateOptions,
): Promise<EvalRecord> {
  // The toolkit grades the text without special tokens (the EOS is not part of the answer).
  const output = tok.decode(ids, true);
  const g = opts.grader ? await opts.grader(output, p.gold) : gradeOutput(output, p.gold, opts.grade);
  return {
    id: p.id,
    question: p.question,
    output,
    extracted: g.extracted,
    gold: p.gold,
    correct: g.correct,
    method: g.method,
    finish,
    generated_tokens: ids.length,
  };
}

/** Greedy-decode every problem (in batches), extract and grade the answers. */
export async function evaluate(model: CausalLM, problems: EvalProblem[], opts: EvaluateOptions = {}): Promise<{ records: EvalRecord[]; summary: EvalSummary }> {
  const { prompt, maxNewTokens, batchSize } = evalSettingsOf(model, opts);
  const tok = model.tokenizer;
  const t0 = performance.now();
  const total = problems.length;
  let correct = 0,
    generated = 0;
  // Every prompt first: one that cannot fit is reported before any decoding, not hours into it.
  const allIds = problems.map((p) => evalPromptIds(tok, prompt, p.question));
  // Records by input index: skipped problems get theirs now, the others as their batch finishes.
  const byIndex: EvalRecord[] = new Array(total);
  const tooLong = tooLongProblems(model, problems, allIds, maxNewTokens, opts, byIndex);
  let finished = tooLong.length;
  const skip = new Set(tooLong);
  const todo = problems.map((_, i) => i).filter((i) => !skip.has(i));
  // Batches are fixed by input index, so a resumed run's batches are the uninterrupted run's.
  const batches: number[][] = [];
  for (let start = 0; start < todo.length; start += batchSize) batches.push(todo.slice(start, start + batchSize));
  const done = opts.done;
  const kept = done ? batches.filter((b) => b.every((i) => done.has(i))) : [];
  for (const b of kept) {
    for (const i of b) {
      const r = done!.get(i)!;
      if (r.id !== problems[i].id) throw new Error(`internal: resumed record ${i} has id ${r.id}, the problem ${problems[i].id}`);
      byIndex[i] = r;
      if (r.correct) correct++;
      generated += r.generated_tokens;
      finished++;
    }
  }
  const keptSet = new Set(kept);
  opts.onEvent?.({ status: 'start', total, ...(kept.length ? { resumed: finished - tooLong.length } : {}) });
  for (const batch of batches) {
    if (keptSet.has(batch)) continue;
    await yieldToHost(opts.signal);
    const before = generated;
    const { tokens, finish } = await generateGreedy(
      model,
      batch.map((i) => allIds[i]),
      {
        maxNewTokens,
        signal: opts.signal,
        onStep: (e) => opts.onEvent?.({ status: 'step', done: finished, total, generated: before + e.generated, running: e.running }),
      },
    );
    for (const [j, i] of batch.entries()) {
      const record = await gradedRecord(tok, problems[i], tokens[j], finish[j], opts);
      if (record.correct) correct++;
      generated += tokens[j].length;
      byIndex[i] = record;
      opts.onEvent?.({ status: 'problem', done: ++finished, total, correct, record });
    }
    await opts.onBatch?.(batch.map((i) => ({ index: i, record: byIndex[i] })));
  }
  const records = byIndex;
  const summary: EvalSummary = {
    total,
    correct,
    accuracy: total === 0 ? 0 : correct / total,
    ci95: wilsonInterval(correct, total),
    seconds: (performance.now() - t0) / 1000,
    generated_tokens: generated,
    prompt,
    max_new_tokens: maxNewTokens,
    skipped: tooLong.length,
  };
  opts.onEvent?.({ status: 'done', summary });
  return { records, summary };
}

/** Records as JSONL (one line per problem, in input order). */
export function evalRecordsToJsonl(records: EvalRecord[]): string {
  return records.map((r) => JSON.stringify(r)).join('\n') + (records.length ? '\n' : '');
}
