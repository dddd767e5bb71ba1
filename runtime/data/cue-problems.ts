// Word problems whose typical error is a shallow cue, not arithmetic (issue 27, item 2): the regime
// where contrastive decoding — and so LightReasoner's labels — can help, because an amateur that
// follows the cue is *more* confident than the expert in the expert's own kind of mistake.
// Three kinds, each with its right solution and the solution the cue suggests:
//   distractor  an irrelevant quantity in the question (as GSM-IC), which the cue solution uses;
//   keyword     an operation cued by a misleading word: "… more than …" when the unknown is the
//               smaller amount, "… fewer than …", "… left" when asked for the start, "… in each …"
//               when asked for the number of groups;
//   unit        a unit or rate trap: minutes against a per-hour rate, weeks against a per-day rate,
//               cents against a price in dollars.
// The arithmetic is kept easy (one-digit operands, at most one small two-digit one) so that digits
// are not where two models differ. Deterministic and set-disjoint as generateProblems (the same
// seed ranges and question-hash buckets), but a separate stream: the default problem sets, and so
// the embedded pair's data, are unchanged. Portable: no host imports.

import { HOLDS_BUILDERS } from './cue-holds.ts';
import { cap, formatAnswer, GOODS, ITEMS, mulberry32, PEOPLE, type ProblemSet, Rng, seedFor, setOfQuestion } from './problems.ts';

export const CUE_KINDS = ['distractor', 'keyword', 'unit'] as const;
export type CueKind = (typeof CUE_KINDS)[number];
/** Whether following the cue is wrong (the cue problems proper) or right (their twins, cue-holds.ts). */
export const CUE_VARIANTS = ['misleads', 'holds'] as const;
export type CueVariant = (typeof CUE_VARIANTS)[number];

export interface CueProblem {
  id: string;
  question: string;
  /** The right solution, GSM8K style (step lines, then `#### N`). */
  answer: string;
  result: number;
  /** The solution the shallow cue suggests (wrong), in the same style. */
  cue_answer: string;
  cue_result: number;
  kind: CueKind;
  /** Which cue (e.g. "more-than", "minutes"). */
  cue: string;
  /** 'misleads': cue_answer is the cue's wrong solution; 'holds': following the cue is right (cue_answer = answer). */
  variant: CueVariant;
}

interface Built {
  question: string;
  lines: string[];
  result: number;
  cueLines: string[];
  cueResult: number;
  cue: string;
}

/** Stream offsets of the cue families within a set's seed (kept apart from generateProblems' stream and each other). */
const CUE_STREAM: Record<CueVariant, number> = { misleads: 0x9e37_79b9, holds: 0x7f4a_7c15 };

const distractor = (r: Rng): Built => {
  const [p, q] = r.pick2(PEOPLE);
  const [item, other] = r.pick2(ITEMS);
  const a = r.int(3, 9),
    b = r.int(2, 9),
    d = r.int(2, 9);
  // The distractor's number appears nowhere in the right solution (so a solution that uses it is the cue's).
  if (d === a || d === b || d === a + b) return distractor(r);
  if (r.int(0, 1) === 0) {
    return {
      cue: 'other-item',
      question: `${p.name} has ${a} ${item}. ${q.name} has ${d} ${other}. ${p.name} finds ${b} more ${item}. How many ${item} does ${p.name} have now?`,
      lines: [`${p.name} has ${a} + ${b} = ${a + b} ${item}.`],
      result: a + b,
      cueLines: [`${p.name} has ${a} + ${d} = ${a + d} ${item}.`, `After finding more ${p.he} has ${a + d} + ${b} = ${a + d + b} ${item}.`],
      cueResult: a + d + b,
    };
  }
  const [g] = r.pick2(GOODS);
  const price = r.int(2, 9),
    age = r.int(6, 12);
  if (age === a || age === price || age === a * price) return distractor(r);
  return {
    cue: 'age',
    question: `${p.name} is ${age} years old. ${cap(p.he)} buys ${a} ${g[1]} at $${price} each. How much does ${p.he} spend?`,
    lines: [`${cap(p.he)} spends ${a} * ${price} = ${a * price} dollars.`],
    result: a * price,
    cueLines: [`${cap(p.he)} spends ${age} * ${price} = ${age * price} dollars.`],
    cueResult: age * price,
  };
};

const keyword = (r: Rng): Built => {
  const [p, q] = r.pick2(PEOPLE);
  const item = r.pick(ITEMS);
  const which = r.pick(['more-than', 'fewer-than', 'left', 'each']);
  if (which === 'more-than') {
    const x = r.int(11, 19),
      d = r.int(2, 9);
    return {
      cue: which,
      question: `${p.name} has ${x} ${item}. That is ${d} more than ${q.name} has. How many ${item} does ${q.name} have?`,
      lines: [`${q.name} has ${x} - ${d} = ${x - d} ${item}.`],
      result: x - d,
      cueLines: [`${q.name} has ${x} + ${d} = ${x + d} ${item}.`],
      cueResult: x + d,
    };
  }
  if (which === 'fewer-than') {
    const x = r.int(11, 19),
      d = r.int(2, 9);
    return {
      cue: which,
      question: `${p.name} has ${x} ${item}, which is ${d} fewer than ${q.name} has. How many ${item} does ${q.name} have?`,
      lines: [`${q.name} has ${x} + ${d} = ${x + d} ${item}.`],
      result: x + d,
      cueLines: [`${q.name} has ${x} - ${d} = ${x - d} ${item}.`],
      cueResult: x - d,
    };
  }
  if (which === 'left') {
    const g = r.int(2, 9),
      k = r.int(g + 1, 19);
    return {
      cue: which,
      question: `${p.name} gives ${g} ${item} to ${q.name} and has ${k} ${item} left. How many ${item} did ${p.name} have at first?`,
      // worded as the holds twin's solution ("He has k - g = … left"), so the cue-follower's path is the cue's
      lines: [`${cap(p.he)} has ${k} + ${g} = ${k + g} ${item} at first.`],
      result: k + g,
      cueLines: [`${cap(p.he)} has ${k} - ${g} = ${k - g} ${item} at first.`],
      cueResult: k - g,
    };
  }
  const s = r.int(2, 9),
    n = s * r.int(2, 9);
  return {
    cue: which,
    question: `${p.name} puts ${n} ${item} into bags with ${s} ${item} in each bag. How many bags does ${p.he} fill?`,
    lines: [`${cap(p.he)} uses ${n} / ${s} = ${n / s} bags.`],
    result: n / s,
    cueLines: [`${cap(p.he)} uses ${n} * ${s} = ${n * s} bags.`],
    cueResult: n * s,
  };
};

const unit = (r: Rng): Built => {
  const p = r.pick(PEOPLE);
  const which = r.pick(['minutes', 'weeks', 'cents']);
  if (which === 'minutes') {
    const [m, part, k] = r.pick([
      [30, 'half an hour', 2],
      [15, 'a quarter of an hour', 4],
    ] as const);
    const v = k * r.int(2, 9);
    const mode = r.pick(['walks', 'bikes', 'rows', 'runs', 'skates', 'swims']);
    return {
      cue: which,
      question: `${p.name} ${mode} at ${v} km per hour. How many km does ${p.he} go in ${m} minutes?`,
      // the right and the cue solution share their first token (LightReasoner selects steps t ≥ 1)
      lines: [`${cap(p.he)} goes for ${m} minutes, which is ${part}.`, `${cap(p.he)} goes ${v} / ${k} = ${v / k} km.`],
      result: v / k,
      cueLines: [`${cap(p.he)} goes ${v} * ${m} = ${v * m} km.`],
      cueResult: v * m,
    };
  }
  if (which === 'weeks') {
    const s = r.int(2, 9),
      w = r.int(1, 3);
    return {
      cue: which,
      question: `${p.name} saves $${s} every day. How much money does ${p.he} save in ${w === 1 ? '1 week' : `${w} weeks`}?`,
      lines: [`${cap(p.he)} saves for ${w} * 7 = ${7 * w} days.`, `${cap(p.he)} saves ${s} * ${7 * w} = ${7 * s * w} dollars.`],
      result: 7 * s * w,
      cueLines: [`${cap(p.he)} saves ${s} * ${w} = ${s * w} dollars.`],
      cueResult: s * w,
    };
  }
  const [g] = r.pick2(GOODS);
  const [c, k, word] = r.pick([
    [50, 2, 'Two'],
    [25, 4, 'Four'],
  ] as const);
  const n = k * r.int(2, 9);
  return {
    cue: which,
    question: `${p.name} buys ${n} ${g[1]} at ${c} cents each. How many dollars does ${p.he} pay?`,
    lines: [`${cap(p.he)} pays ${n} / ${k} = ${n / k} dollars, as ${word.toLowerCase()} ${g[1]} cost 100 cents.`],
    result: n / k,
    cueLines: [`${cap(p.he)} pays ${n} * ${c} = ${n * c} dollars.`],
    cueResult: n * c,
  };
};

const MISLEADS: Record<CueKind, (r: Rng) => Built> = { distractor, keyword, unit };
const holds =
  (kind: CueKind) =>
  (r: Rng): Built => {
    const b = HOLDS_BUILDERS[kind](r);
    return { ...b, cueLines: b.lines, cueResult: b.result };
  };
const BUILDERS: Record<CueVariant, Record<CueKind, (r: Rng) => Built>> = {
  misleads: MISLEADS,
  holds: { distractor: holds('distractor'), keyword: holds('keyword'), unit: holds('unit') },
};

/**
 * `count` cue problems from `seed` (an offset in `set`'s seed range, as generateProblems), kinds
 * drawn in turn from `kinds` (default all three): deterministic, distinct questions, every question
 * in `set`'s share of question space; the right and the cue result always differ.
 */
export function generateCueProblems(
  seed: number,
  count: number,
  options: { set?: ProblemSet; kinds?: readonly CueKind[]; variant?: CueVariant } = {},
): CueProblem[] {
  if (!Number.isInteger(count) || count < 0) throw new RangeError(`count must be a non-negative integer (got ${count})`);
  const kinds = options.kinds ?? CUE_KINDS;
  const variant = options.variant ?? 'misleads';
  if (!BUILDERS[variant]) throw new RangeError(`unknown cue variant "${variant}" (choose from ${CUE_VARIANTS.join(', ')})`);
  for (const k of kinds) if (!MISLEADS[k]) throw new RangeError(`unknown cue kind "${k}" (choose from ${CUE_KINDS.join(', ')})`);
  if (kinds.length === 0) throw new RangeError('no cue kinds');
  const rng = new Rng(mulberry32((seedFor(seed, options.set) ^ CUE_STREAM[variant]) >>> 0));
  const seen = new Set<string>();
  const out: CueProblem[] = [];
  let misses = 0;
  while (out.length < count) {
    const kind = kinds[out.length % kinds.length];
    const b = BUILDERS[variant][kind](rng);
    const ok =
      !seen.has(b.question) &&
      (options.set === undefined || setOfQuestion(b.question) === options.set) &&
      (variant === 'holds' || b.result !== b.cueResult) &&
      Number.isInteger(b.result) &&
      b.result >= 0 &&
      b.cueResult >= 0;
    if (!ok) {
      if (++misses > 1000 * (count + 10)) throw new Error(`could not generate ${count} distinct cue problems (got ${out.length})`);
      continue;
    }
    seen.add(b.question);
    out.push({
      id: `${options.set ?? 'seed'}-${variant === 'holds' ? 'holds' : 'cue'}-${seed}-${out.length}`,
      question: b.question,
      answer: formatAnswer(b.lines, b.result),
      result: b.result,
      cue_answer: formatAnswer(b.cueLines, b.cueResult),
      cue_result: b.cueResult,
      kind,
      cue: b.cue,
      variant,
    });
  }
  return out;
}

/** Cue problems as JSONL ({id, question, answer, cue_answer, kind, cue, variant}: `eval` and `pair-check` read question and answer). */
export function cueProblemsToJsonl(problems: CueProblem[]): string {
  return (
    problems
      .map((p) => JSON.stringify({ id: p.id, question: p.question, answer: p.answer, cue_answer: p.cue_answer, kind: p.kind, cue: p.cue, variant: p.variant }))
      .join('\n') + (problems.length ? '\n' : '')
  );
}
