// Stage 1 at the text level: problems in, LightReasoner samples out. Adds to contrast.ts the input
// format, the vocabulary check, the expert's chat template, and the output records — everything
// portable (no host I/O), so a browser app can drive it directly.

import { badInputError, LightReasonerError } from '../errors.ts';
import { MAX_PROBLEM_CHARS, tooLong } from '../data/limits.ts';
import type { CausalLM } from '../model/model.ts';
import type { ModelTokenizer } from '../model/tokenizer.ts';
import { type ContrastEvent, type ContrastSettings, contrastPrompts, type PromptResult, sharedVocab } from './contrast.ts';

export interface Problem {
  /** The input's `id`, or the 0-based line index as a string. */
  id: string;
  question: string;
  /** 1-based line of the input file (parseProblems sets it), for messages. */
  line?: number;
}

export interface SampleSettings extends ContrastSettings {
  /** System message of the chat template (the reference: "Please reason step by step."). */
  system: string;
}

export const DEFAULT_SETTINGS: Readonly<SampleSettings> = Object.freeze({
  alpha: 0.2,
  beta: 0.4,
  maxNewTokens: 128,
  batchSize: 8,
  system: 'Please reason step by step.',
});

/** One training sample: a kept step. Field order is the output's (JSON.stringify keeps it). */
export interface Sample {
  prompt_id: string;
  step: number;
  prefix: string;
  tokens: string[];
  token_ids: number[];
  weights: number[];
  kl_divergence: number;
  question: string;
  prefix_token_ids: number[];
}

export interface ProblemResult extends PromptResult {
  problem: Problem;
  promptTokenIds: number[];
  samples: Sample[];
}

export type SampleEvent = Exclude<ContrastEvent, { status: 'problem' }> | { status: 'problem'; result: ProblemResult };

/**
 * Parse JSONL problems: `question` (a string) is required, `id` (string or number) optional — the
 * 0-based line index otherwise — and other fields are ignored. Blank lines are skipped (they still
 * count for line numbers and default ids). Duplicate ids are refused: ids key the samples and the
 * fine-tuning stage, and the reference's use of the question text as id breaks on duplicates.
 */
export function parseProblems(text: string, opts: { file?: string; skipInvalid?: boolean; onSkip?: (line: number, why: string) => void } = {}): Problem[] {
  const where = opts.file ?? 'input';
  const problems: Problem[] = [];
  const seen = new Map<string, number>();
  const lines = text.split('\n');
  for (const [i, raw] of lines.entries()) {
    const line = raw.trim();
    if (line === '') continue;
    let why = tooLong(line, MAX_PROBLEM_CHARS, 'the line');
    let value: unknown;
    try {
      if (!why) value = JSON.parse(line);
    } catch {
      why = 'not valid JSON';
    }
    const o = value as { id?: unknown; question?: unknown } | null;
    if (!why && (typeof o !== 'object' || o === null || Array.isArray(o))) why = 'not a JSON object';
    else if (!why && typeof o!.question !== 'string') why = 'no "question" string';
    else if (!why && o!.id !== undefined && typeof o!.id !== 'string' && typeof o!.id !== 'number') why = '"id" must be a string or a number';
    if (why) {
      if (opts.skipInvalid) {
        opts.onSkip?.(i + 1, why);
        continue;
      }
      throw badInputError(`${where}:${i + 1}: ${why} (pass --skip-invalid to skip bad lines)`, opts.file);
    }
    const id = o!.id === undefined ? String(i) : String(o!.id);
    const dup = seen.get(id);
    if (dup !== undefined) throw badInputError(`${where}:${i + 1}: duplicate id "${id}" (first on line ${dup}); ids must be unique`, opts.file);
    seen.set(id, i + 1);
    problems.push({ id, question: o!.question as string, line: i + 1 });
  }
  if (problems.length === 0) throw badInputError(`${where}: no problems (the file is empty${opts.skipInvalid ? ' or every line was invalid' : ''})`, opts.file);
  return problems;
}

/**
 * Refuse pairs whose tokenizers disagree on the shared id range: every id < min(Ve, Va) (config
 * vocab sizes) must map to the same token string. Different sizes with an identical shared range
 * are fine (Qwen2.5: 151,936 vs 152,064).
 */
export function checkVocabularies(expert: CausalLM, amateur: CausalLM): void {
  const te = expert.tokenizer,
    ta = amateur.tokenizer;
  const n = sharedVocab(expert, amateur);
  for (let id = 0; id < n; id++) {
    const a = te.idToToken(id),
      b = ta.idToToken(id);
    if (a !== b) {
      throw new LightReasonerError(
        'BAD_INPUT',
        `the expert and amateur vocabularies differ: id ${id} is ${JSON.stringify(a ?? null)} in the expert (${expert.source}, vocab_size ${expert.config.vocabSize}) ` +
          `but ${JSON.stringify(b ?? null)} in the amateur (${amateur.source}, vocab_size ${amateur.config.vocabSize}); LightReasoner needs a pair sharing one tokenizer`,
      );
    }
  }
}

/** The prompt: the expert's chat template of [system, user] with the generation prompt. */
export function promptIds(tok: ModelTokenizer, system: string, question: string): number[] {
  const messages =
    system === ''
      ? [{ role: 'user' as const, content: question }]
      : [
          { role: 'system' as const, content: system },
          { role: 'user' as const, content: question },
        ];
  return tok.encodeChat(messages);
}

/** A problem whose prompt leaves no room for the trajectory in the models' context. */
export interface TooLongPrompt {
  problem: Problem;
  /** Prompt tokens. */
  tokens: number;
}

/** Positions a sampled sequence may use: the smaller max_position_embeddings of the pair. */
export const contextOf = (expert: CausalLM, amateur: CausalLM) => Math.min(expert.config.maxPositions, amateur.config.maxPositions);

/**
 * The problems whose prompt plus settings.maxNewTokens exceeds the pair's context (the KV cache holds
 * prompt + trajectory). Deterministic — it depends only on the problems, the expert's tokenizer and
 * the settings — so a run that skips them (`sample --skip-invalid`) skips the same ones on resume.
 */
export function tooLongPrompts(
  expert: CausalLM,
  amateur: CausalLM,
  problems: readonly Problem[],
  settings: SampleSettings,
  prompts?: readonly number[][],
): TooLongPrompt[] {
  const limit = contextOf(expert, amateur);
  const out: TooLongPrompt[] = [];
  for (const [i, problem] of problems.entries()) {
    const tokens = (prompts?.[i] ?? promptIds(expert.tokenizer, settings.system, problem.question)).length;
    if (tokens + settings.maxNewTokens > limit) out.push({ problem, tokens });
  }
  return out;
}

/** Where a problem is, for messages: `file:line: problem "id"` (as much as is known). */
export function problemAt(p: { id: string; line?: number }, file?: string): string {
  const where = file && p.line !== undefined ? `${file}:${p.line}: ` : p.line !== undefined ? `line ${p.line}: ` : file ? `${file}: ` : '';
  return `${where}problem ${JSON.stringify(p.id)}`;
}

/** The message for prompts that do not fit: the first few by file, line and id, and what to do. */
export function tooLongMessage(list: readonly TooLongPrompt[], maxNewTokens: number, context: number, file?: string): string {
  const shown = list.slice(0, 5).map((x) => `${problemAt(x.problem, file)} has a ${x.tokens}-token prompt`);
  const more = list.length > shown.length ? ` (and ${list.length - shown.length} more)` : '';
  return `${shown.join('; ')}${more}: prompt + --max-new-tokens ${maxNewTokens} must fit the models' context (max_position_embeddings ${context}); shorten the question or lower --max-new-tokens`;
}

/** The samples (kept steps) of one trajectory. */
function samplesOf(tok: ModelTokenizer, problem: Problem, r: PromptResult): Sample[] {
  const out: Sample[] = [];
  for (const s of r.steps) {
    if (!s.selected) continue;
    const prefixIds = r.trajectory.slice(0, s.step);
    out.push({
      prompt_id: problem.id,
      step: s.step,
      prefix: tok.decode(prefixIds),
      tokens: s.tokenIds!.map((id) => tok.decode([id])),
      token_ids: s.tokenIds!,
      weights: s.weights!,
      kl_divergence: s.kl,
      question: problem.question,
      prefix_token_ids: prefixIds,
    });
  }
  return out;
}

export interface SampleOptions {
  signal?: AbortSignal;
  /** Indices of problems already done (see ContrastOptions.skip). */
  skip?: (index: number) => boolean;
}

/**
 * Stage 1: contrastive sampling. Yields progress events tagged by `status` and, per problem in
 * input order, `{status: 'problem', result}` with its samples. The expert decodes greedily
 * whatever its generation_config.json says; the amateur never tokenizes anything.
 */
export async function* sampleContrastive(
  expert: CausalLM,
  amateur: CausalLM,
  problems: readonly Problem[],
  settings: SampleSettings,
  opts: SampleOptions = {},
): AsyncGenerator<SampleEvent> {
  checkVocabularies(expert, amateur);
  const tok = expert.tokenizer;
  const prompts = problems.map((p) => promptIds(tok, settings.system, p.question));
  const long = tooLongPrompts(expert, amateur, problems, settings, prompts);
  if (long.length) throw badInputError(tooLongMessage(long, settings.maxNewTokens, contextOf(expert, amateur)));
  const label = (i: number) => `problem ${JSON.stringify(problems[i].id)}`;
  for await (const e of contrastPrompts(expert, amateur, prompts, settings, { ...opts, label })) {
    if (e.status !== 'problem') {
      yield e;
      continue;
    }
    const problem = problems[e.result.index];
    yield { status: 'problem', result: { ...e.result, problem, promptTokenIds: prompts[e.result.index], samples: samplesOf(tok, problem, e.result) } };
  }
}
