// `pair-check`: does a pair's contrast point toward right answers? Before any training, decode
// problems with gold answers three ways in one batched pass (runtime/stage/pair-decode.ts): expert
// greedy, contrastive decoding (CD) at every step, and CD only at the steps LightReasoner selects
// (KL ≥ β). LightReasoner's soft label at a step is CD's choice over the expert's plausibility mask,
// so selective CD is what perfect fine-tuning toward the labels would decode: if it breaks more
// problems than it fixes, no training on this pair can help. Each CD variant is graded as `eval`
// grades (same prompt, greedy otherwise) and compared with greedy on the same problems (fixed,
// broken, exact McNemar p), with where the contrast changed the choice (token kinds) and a verdict.
// Portable: no host imports.

import { badInputError, LightReasonerError } from '../errors.ts';
import { hubRevisionOf, type HubRevision } from '../hub/ids.ts';
import type { CausalLM } from '../model/model.ts';
import type { ModelTokenizer } from '../model/tokenizer.ts';
import { type DecodeVariant, type DecoderModel, decodeVariants, type VariantTrajectory } from '../stage/pair-decode.ts';
import { checkVocabularies, problemAt } from '../stage/sample.ts';
import { type EvalProblem, evalPromptIds, PROMPT_TYPES, type PromptType } from './evaluate.ts';
import { gradeOutput } from './grade.ts';
import { formatP, mcnemarExact, mcnemarProblemsNeeded, type PairedComparison, pairedComparison, wilsonInterval } from './stats.ts';
import { emptyKindCounts, numbersIn, type TokenKind, tokenKind } from './token-kinds.ts';

export interface PairCheckSettings {
  /** Plausibility masks of the CD variants (one full-CD variant per alpha). */
  alphas: number[];
  /** KL thresholds of the selective variants (one per alpha × beta). */
  betas: number[];
  maxNewTokens: number;
  batchSize: number;
  prompt: PromptType;
}

/** The paper's α and β; 512 new tokens and the toolkit prompt as `eval`. */
export const DEFAULT_PAIR_CHECK: Readonly<PairCheckSettings> = Object.freeze({
  alphas: [0.2],
  betas: [0.4],
  maxNewTokens: 512,
  batchSize: 8,
  prompt: 'qwen25-math-cot' as PromptType,
});

/** p below which a paired difference counts as resolved. */
const VERDICT_P = 0.05;

export type Direction = 'toward' | 'away' | 'unresolved';

export interface Verdict {
  /** toward / away from right answers (p < VERDICT_P), or unresolved at this N. */
  direction: Direction;
  text: string;
  /** Unresolved: about how many problems would resolve a difference this size (80 % power); null when fixed = broken. */
  problems_needed: number | null;
}

export interface VariantReport {
  name: string;
  /** null: greedy. */
  alpha: number | null;
  /** null: the contrast at every step. */
  beta: number | null;
  correct: number;
  total: number;
  accuracy: number;
  ci95: [number, number];
  /** Against greedy on the same problems; null for greedy itself. */
  paired_vs_greedy: PairedComparison | null;
  verdict: Verdict | null;
  /** Problems whose output differs from greedy's. */
  changed_outputs: number;
  /** Tokens of this variant's trajectories, and those where its choice was not the expert's argmax. */
  steps: number;
  changes: number;
  /** Kinds of the tokens the contrast chose at its changes (read in the variant's own text). */
  kinds: Record<TokenKind, number>;
  /** Kinds of the expert's argmax tokens it replaced (read in the text up to them: a number's
   * later digits are unknown there, so a question number split over tokens may count as a digit). */
  replaced_kinds: Record<TokenKind, number>;
}

export interface PairCheckReport {
  version: 1;
  created: string;
  backend: string;
  models: { expert: { source: string; hub: HubRevision | null }; amateur: { source: string; hub: HubRevision | null } };
  problems: number;
  settings: { alphas: number[]; betas: number[]; max_new_tokens: number; batch_size: number; prompt: PromptType };
  variants: VariantReport[];
  /** The variant LightReasoner's labels stand for (the first alpha and beta) and its verdict. */
  lightreasoner_variant: string;
  verdict: Verdict;
  seconds: number;
  /** Tokens both models read (prompts, forked prefixes and decoded tokens). */
  tokens_fed: number;
  /** When the problems name their kinds: greedy against the LightReasoner variant per kind. */
  by_kind?: PairCheckKindRow[];
}

export interface PairCheckKindRow extends PairedComparison {
  kind: string;
  problems: number;
  /** Right answers of expert greedy and of `lightreasoner_variant`. */
  greedy: number;
  contrast: number;
}

/** Greedy against one variant, per problem kind (in the order kinds first appear); none without kinds. */
function kindRows(problems: EvalProblem[], records: PairCheckRecord[], variant: string): PairCheckKindRow[] | undefined {
  if (!problems.some((p) => p.kind)) return undefined;
  const rows = new Map<string, number[]>();
  problems.forEach((p, i) => {
    const k = p.kind ?? 'unnamed';
    if (!rows.has(k)) rows.set(k, []);
    rows.get(k)!.push(i);
  });
  return [...rows].map(([kind, idx]) => {
    const side = (name: string) => idx.map((i) => ({ id: String(i), correct: records[i].outputs[name].correct }));
    const g = side('greedy'),
      c = side(variant);
    return { kind, problems: idx.length, greedy: g.filter((x) => x.correct).length, contrast: c.filter((x) => x.correct).length, ...pairedComparison(g, c) };
  });
}

export interface PairCheckChange {
  step: number;
  greedy: string;
  chosen: string;
  kl: number;
  kind: TokenKind;
}

export interface PairCheckRecord {
  id: string;
  gold: string;
  outputs: Record<string, { output: string; extracted: string | null; correct: boolean; finish: 'eos' | 'length'; tokens: number; changes: PairCheckChange[] }>;
}

export type PairCheckEvent =
  | { status: 'start'; total: number; variants: string[] }
  | { status: 'step'; done: number; total: number; rows: number; tokens: number }
  | { status: 'problem'; done: number; total: number; record: PairCheckRecord }
  | { status: 'done'; report: PairCheckReport };

export interface PairCheckOptions {
  signal?: AbortSignal;
  onEvent?: (e: PairCheckEvent) => void;
  /** The data file, for messages. */
  file?: string;
}

/** What pair-check reads of the (shared) tokenizer. */
export type PairTokenizer = Pick<ModelTokenizer, 'encodeChat' | 'decode' | 'chatTemplate'>;

const fmt = (x: number) => String(+x.toPrecision(6));

/** greedy; CD at each alpha; CD at each alpha only where KL ≥ each beta. */
export function pairCheckVariants(alphas: readonly number[], betas: readonly number[]): DecodeVariant[] {
  if (alphas.length === 0) throw badInputError('pair-check needs at least one alpha');
  return [
    { name: 'greedy', alpha: null, beta: null },
    ...alphas.map((a) => ({ name: `cd alpha=${fmt(a)}`, alpha: a, beta: null })),
    ...alphas.flatMap((a) => betas.map((b) => ({ name: `cd alpha=${fmt(a)} kl>=${fmt(b)}`, alpha: a, beta: b }))),
  ];
}

/** The verdict on one CD variant against greedy on `total` problems; `selective`: CD only at the
 * steps LightReasoner selects, so the decode perfect fine-tuning toward its labels would give. */
export function pairVerdict(p: PairedComparison, total: number, selective = true): Verdict {
  const counts = `fixed ${p.fixed}, broken ${p.broken}, ${formatP(p.p_value)}`;
  if (p.p_value < VERDICT_P && p.fixed > p.broken) return { direction: 'toward', text: `points toward right answers (${counts})`, problems_needed: null };
  if (p.p_value < VERDICT_P && p.broken > p.fixed) {
    const why = selective ? ': even perfect fine-tuning toward these labels would lower accuracy' : '';
    return { direction: 'away', text: `points away from right answers (${counts})${why}`, problems_needed: null };
  }
  const needed = mcnemarProblemsNeeded(p.fixed, p.broken, total);
  const more =
    needed === null
      ? 'fixed = broken, so no direction to resolve'
      : `about ${needed.toLocaleString('en-US')} problems would resolve a difference this size (80 % power, if it is real)`;
  return { direction: 'unresolved', text: `resolves nothing at N = ${total} (${counts}); ${more}`, problems_needed: needed };
}

/** pair-check on two loaded models: their vocabularies must agree (as for sampling); the expert's tokenizer writes the prompts. */
export function pairCheckModels(
  expert: CausalLM,
  amateur: CausalLM,
  problems: EvalProblem[],
  settings: Partial<PairCheckSettings> = {},
  opts: PairCheckOptions = {},
) {
  checkVocabularies(expert, amateur);
  return pairCheck(expert, amateur, expert.tokenizer, problems, settings, opts);
}

/** One variant's accuracy, its pairing with greedy on the same problems, and its verdict. */
function variantReport(v: DecodeVariant, records: PairCheckRecord[], acc: Acc): VariantReport {
  const total = records.length;
  const greedy = records.map((r) => r.outputs.greedy);
  const outs = records.map((r) => r.outputs[v.name]);
  const correct = outs.filter((o) => o.correct).length;
  let fixed = 0,
    broken = 0,
    changed = 0;
  for (const [i, o] of outs.entries()) {
    if (o.correct && !greedy[i].correct) fixed++;
    if (!o.correct && greedy[i].correct) broken++;
    if (o.output !== greedy[i].output || o.finish !== greedy[i].finish) changed++;
  }
  const paired = v.alpha === null ? null : { fixed, broken, p_value: mcnemarExact(fixed, broken) };
  return {
    name: v.name,
    alpha: v.alpha,
    beta: v.beta,
    correct,
    total,
    accuracy: correct / total,
    ci95: wilsonInterval(correct, total),
    paired_vs_greedy: paired,
    verdict: paired && pairVerdict(paired, total, v.beta !== null),
    changed_outputs: changed,
    steps: acc.steps,
    changes: acc.changes,
    kinds: acc.kinds,
    replaced_kinds: acc.replaced,
  };
}

/** Decode, grade and compare every variant; `records` has each problem's outputs (input order). */
export async function pairCheck(
  expert: DecoderModel,
  amateur: DecoderModel,
  tok: PairTokenizer,
  problems: EvalProblem[],
  settings: Partial<PairCheckSettings> = {},
  opts: PairCheckOptions = {},
): Promise<{ report: PairCheckReport; records: PairCheckRecord[] }> {
  const s: PairCheckSettings = { ...DEFAULT_PAIR_CHECK, ...settings };
  if (!(PROMPT_TYPES as readonly string[]).includes(s.prompt)) throw badInputError(`unknown prompt type "${s.prompt}" (choose ${PROMPT_TYPES.join(' or ')})`);
  if (problems.length === 0) throw badInputError('pair-check: no problems');
  if (tok.chatTemplate === null)
    throw new LightReasonerError('MODEL_FORMAT', `${expert.source}: this model has no chat template; pair-check prompts are chat messages (as eval's)`, {
      file: expert.source,
    });
  const variants = pairCheckVariants(s.alphas, s.betas);
  const t0 = performance.now();
  const prompts = problems.map((p) => evalPromptIds(tok, s.prompt, p.question));
  checkContext(expert, amateur, problems, prompts, s.maxNewTokens, opts.file);
  const total = problems.length;
  opts.onEvent?.({ status: 'start', total, variants: variants.map((v) => v.name) });
  const records: PairCheckRecord[] = new Array(total);
  const acc = variants.map(() => ({ steps: 0, changes: 0, kinds: emptyKindCounts(), replaced: emptyKindCounts() }));
  let done = 0,
    tokensFed = 0;
  const events = decodeVariants(
    expert,
    amateur,
    prompts,
    { variants, maxNewTokens: s.maxNewTokens, batchSize: s.batchSize },
    { signal: opts.signal, label: (i) => problemAt(problems[i], opts.file) },
  );
  for await (const e of events) {
    if (e.status === 'step') {
      tokensFed += e.tokens;
      opts.onEvent?.({ status: 'step', done, total, rows: e.rows, tokens: tokensFed });
      continue;
    }
    const record = gradeProblem(tok, problems[e.index], variants, e.variants, acc);
    records[e.index] = record;
    opts.onEvent?.({ status: 'problem', done: ++done, total, record });
  }
  const reports = variants.map((v, k) => variantReport(v, records, acc[k]));
  const lr = variants.find((v) => v.beta !== null) ?? variants[1];
  const report: PairCheckReport = {
    version: 1,
    created: new Date().toISOString(),
    backend: expert.backend.info.kind,
    models: { expert: { source: expert.source, hub: hubRevisionOf(expert.source) }, amateur: { source: amateur.source, hub: hubRevisionOf(amateur.source) } },
    problems: total,
    settings: { alphas: s.alphas, betas: s.betas, max_new_tokens: s.maxNewTokens, batch_size: s.batchSize, prompt: s.prompt },
    variants: reports,
    lightreasoner_variant: lr.name,
    verdict: reports.find((r) => r.name === lr.name)!.verdict!,
    seconds: (performance.now() - t0) / 1000,
    tokens_fed: tokensFed,
  };
  const byKind = kindRows(problems, records, lr.name);
  if (byKind) report.by_kind = byKind;
  opts.onEvent?.({ status: 'done', report });
  return { report, records };
}

function checkContext(expert: DecoderModel, amateur: DecoderModel, problems: EvalProblem[], prompts: number[][], maxNew: number, file?: string): void {
  const context = Math.min(expert.config.maxPositions, amateur.config.maxPositions);
  const long = prompts.flatMap((p, i) => (p.length + maxNew > context ? [i] : []));
  if (long.length === 0) return;
  const shown = long.slice(0, 5).map((i) => `${problemAt(problems[i], file)} has a ${prompts[i].length}-token prompt`);
  const more = long.length > shown.length ? ` (and ${long.length - shown.length} more)` : '';
  throw badInputError(
    `${shown.join('; ')}${more}: prompt + --max-new-tokens ${maxNew} must fit both models' context (max_position_embeddings ${context}); lower --max-new-tokens or leave such problems out`,
    file,
  );
}

type Acc = { steps: number; changes: number; kinds: Record<TokenKind, number>; replaced: Record<TokenKind, number> };

/** One problem's record: each variant's text, grade and changes; the token kinds counted into `acc`. */
function gradeProblem(tok: PairTokenizer, p: EvalProblem, variants: DecodeVariant[], trajs: VariantTrajectory[], acc: Acc[]): PairCheckRecord {
  const qNumbers = numbersIn(p.question);
  const outputs: PairCheckRecord['outputs'] = {};
  for (const [k, v] of variants.entries()) {
    const t = trajs[k];
    // The toolkit grades the text without special tokens, as evaluate() does.
    const output = tok.decode(t.tokens, true);
    const g = gradeOutput(output, p.gold);
    // Kinds are read without special tokens (an EOS's "<|im_end|>" is not a word: it reads as "", other).
    const pieces = t.changes.length ? t.tokens.map((id) => tok.decode([id], true)) : [];
    const changes = t.changes.map((c) => {
      const kind = tokenKind(pieces, c.step, qNumbers);
      acc[k].kinds[kind]++;
      acc[k].replaced[tokenKind([...pieces.slice(0, c.step), tok.decode([c.greedy], true)], c.step, qNumbers)]++;
      return { step: c.step, greedy: tok.decode([c.greedy]), chosen: tok.decode([c.chosen]), kl: c.kl, kind };
    });
    acc[k].steps += t.tokens.length;
    acc[k].changes += t.changes.length;
    outputs[v.name] = { output, extracted: g.extracted, correct: g.correct, finish: t.finish, tokens: t.tokens.length, changes };
  }
  return { id: p.id, gold: p.gold, outputs };
}
