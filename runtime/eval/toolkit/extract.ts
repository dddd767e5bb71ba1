// The toolkit's answer extraction (its parser.py `extract_answer`, `choice_answer_clean` and
// `parse_ground_truth`), re-written from the documented behaviour, per benchmark name:
//   multiple choice (mmlu_stem): the letter after the last "answer is"/"choice is", else the last
//     standalone A–E anywhere in the output;
//   otherwise, first that applies: Minerva's "final answer is $…$. I hope"; the text after the last
//     "boxed" (braces matched; an unclosed box takes the rest); everything after the last
//     "he answer is"; after the last "final answer is"; the last number (commas removed).
// Then line breaks go, a leading ":" and a trailing "." or "/" go, and stripString cleans it (without
// units for minerva_math); a prediction is cleaned once more (toolkitPrediction), as the toolkit's
// run_execute does, and a gold answer once more by parse_ground_truth (cleanGold).
// Portable: no host imports.

import { choiceLetters, stripChars } from './equal.ts';
import { stripString } from './strip.ts';

export const BENCHMARK_NAMES = ['gsm8k', 'math', 'math_oai', 'svamp', 'asdiv', 'minerva_math', 'olympiadbench', 'mmlu_stem'] as const;
export type BenchmarkName = (typeof BENCHMARK_NAMES)[number];

/** Benchmarks whose answers keep their units (the toolkit's STRIP_EXCEPTIONS). */
const KEEP_UNITS = new Set<string>(['minerva_math']);
const MULTIPLE_CHOICE = new Set<string>(['mmlu_stem']);

export const isMultipleChoice = (name: string) => MULTIPLE_CHOICE.has(name);

/** The text after the last "boxed": braces matched, an unclosed box takes the rest; `boxed 5$` without braces up to `$`. */
function afterLastBoxed(text: string): string {
  const ans = text.slice(text.lastIndexOf('boxed') + 5);
  if (ans === '') return '';
  if (ans[0] !== '{') return ans.split('$')[0].trim();
  let depth = 1,
    out = '';
  for (const c of ans.slice(1)) {
    if (c === '{') depth++;
    else if (c === '}' && --depth === 0) break;
    out += c;
  }
  return out;
}

/** The parser's `choice_answer_clean` on a whole output. */
function choiceAnswerClean(output: string): string {
  let pred = stripChars(output, '\n');
  const triggers = ['choice is', 'answer is'];
  if (triggers.some((t) => pred.split(t).length - 1 > 1)) pred = pred.split('\n\n')[0];
  const parts = pred.split(/choice is|answer is/);
  const afterTrigger = parts.length > 1;
  if (afterTrigger) pred = parts[parts.length - 1];
  pred = stripChars(pred, '\n').replace(/\.+$/, '').replace(/\/+$/, '');
  pred = stripChars(pred, ' ').replace(/^:+/, '');
  const letters = choiceLetters(pred);
  const picked = letters.length ? (afterTrigger ? letters[0] : letters[letters.length - 1]) : stripChars(pred.trim(), '.');
  return picked.replace(/\.+$/, '').replace(/\/+$/, '');
}

export interface ToolkitExtraction {
  /** The cleaned answer (what the toolkit calls the prediction); '' when nothing was found. */
  answer: string;
  method: 'minerva' | 'boxed' | 'answer-is' | 'final-answer-is' | 'last-number' | 'choice' | 'none';
}

function rawAnswer(text: string): { raw: string; method: ToolkitExtraction['method'] } {
  if (text.includes('final answer is $') && text.includes('$. I hope')) {
    return { raw: text.split('final answer is $').slice(1).join('final answer is $').split('$. I hope')[0].trim(), method: 'minerva' };
  }
  if (text.includes('boxed')) return { raw: afterLastBoxed(text), method: 'boxed' };
  for (const [phrase, method] of [
    ['he answer is', 'answer-is'],
    ['final answer is', 'final-answer-is'],
  ] as const) {
    if (text.includes(phrase)) return { raw: text.slice(text.lastIndexOf(phrase) + phrase.length).trim(), method };
  }
  const numbers = text.replace(/,/g, '').match(/-?\d*\.?\d+/g);
  return numbers ? { raw: numbers[numbers.length - 1], method: 'last-number' } : { raw: '', method: 'none' };
}

/**
 * A model output's prediction as the toolkit grades it: extract_answer, then run_execute's second
 * stripString, then (multiple choice) the evaluation loop's re-reading of a non-letter as a choice.
 */
export function toolkitPrediction(output: string, name: string): ToolkitExtraction {
  const skipUnit = KEEP_UNITS.has(name);
  const { answer, method } = extractToolkitAnswer(output, name);
  const cleaned = stripString(answer, skipUnit);
  if (MULTIPLE_CHOICE.has(name) && !['A', 'B', 'C', 'D', 'E'].includes(cleaned)) return { answer: choiceAnswerClean(output), method };
  return { answer: cleaned, method };
}

/** The toolkit's extract_answer: a model output's (or a solution's) final answer, cleaned once. */
export function extractToolkitAnswer(output: string, name: string): ToolkitExtraction {
  const text = output.replace(/\u043a\u0438/g, '');
  const skipUnit = KEEP_UNITS.has(name);
  if (MULTIPLE_CHOICE.has(name)) return { answer: choiceAnswerClean(text), method: 'choice' };
  const { raw, method } = rawAnswer(text);
  let pred = raw;
  if (method === 'boxed' && raw === '' && text.endsWith('boxed')) return { answer: '', method: 'none' };
  if (name.includes('mmlu')) {
    const letters = choiceLetters(pred);
    pred = letters.length ? letters[letters.length - 1] : stripChars(pred.trim(), '.');
  }
  pred = pred.replace(/\n\s*/g, '');
  if (pred.startsWith(':')) pred = pred.slice(1);
  if (pred.endsWith('.')) pred = pred.slice(0, -1);
  if (pred.endsWith('/')) pred = pred.slice(0, -1);
  const answer = stripString(pred, skipUnit);
  return { answer, method: answer === '' && method === 'last-number' ? 'none' : method };
}

/** Clean a gold answer string the way the toolkit's parse_ground_truth finishes it. */
export function cleanGold(gold: string, name: string): string {
  if (KEEP_UNITS.has(name)) return gold.replace(/\\neq/g, '\\ne').replace(/\\leq/g, '\\le').replace(/\\geq/g, '\\ge');
  return stripString(gold);
}

const pyFloatText = (n: number) => (Number.isInteger(n) ? `${n}.0` : String(n));

/**
 * The gold answer of a benchmark record (its raw fields, as the data set has them), cleaned as the
 * toolkit cleans it; null when the record has no usable gold field.
 */
export function toolkitGold(record: Record<string, unknown>, name: string): string | null {
  const str = (v: unknown) => (typeof v === 'string' ? v : typeof v === 'number' && Number.isFinite(v) ? pyFloatText(v) : null);
  switch (name) {
    case 'math':
    case 'minerva_math': {
      const sol = str(record.solution);
      if (sol === null) return null;
      return cleanGold(extractToolkitAnswer(sol, name).answer, name);
    }
    case 'gsm8k': {
      const a = str(record.answer);
      if (a === null || !a.includes('####')) return null;
      return cleanGold(a.split('####')[1], name);
    }
    case 'svamp': {
      const a = record.Answer ?? record.answer;
      const s = typeof a === 'number' ? pyFloatText(a) : str(a);
      return s === null ? null : cleanGold(s, name);
    }
    case 'asdiv': {
      const a = str(record.answer);
      return a === null ? null : cleanGold(a.replace(/\(.*?\)/g, ''), name);
    }
    case 'mmlu_stem': {
      const a = record.answer;
      if (typeof a === 'number' && Number.isInteger(a) && a >= 0 && a < 4) return 'ABCD'[a];
      return typeof a === 'string' && /^[A-D]$/.test(a.trim()) ? a.trim() : null;
    }
    case 'olympiadbench': {
      const fa = record.final_answer;
      const first = Array.isArray(fa) ? fa[0] : fa;
      return typeof first === 'string' ? cleanGold(stripChars(first, '$'), name) : null;
    }
    case 'math_oai': {
      const a = str(record.answer);
      if (a !== null) return cleanGold(a, name);
      const sol = str(record.solution);
      return sol === null ? null : cleanGold(extractToolkitAnswer(sol, name).answer, name);
    }
    default:
      return null;
  }
}
