// Answer extraction and grading in the manner of the Qwen2.5-Math evaluation toolkit (the one the
// LightReasoner paper reports with), written from its description:
//   1. the last `\boxed{…}` (or `\fbox{…}`), braces matched, even when empty;
//   2. else the text after the last "the answer is" (its first line, up to the sentence's end);
//   3. else the last number in the text (commas removed first).
// Ground truth: GSM8K's `#### N` line, an `answer` field (string or number), or a MATH-style
// `solution` with a boxed answer. Equality: numeric with relative tolerance 1e-4 once `$`, `%`,
// units and words, `\text{…}`, LaTeX spacing and thousands separators are gone (simple fractions
// `a/b`, `\frac{a}{b}`, `\dfrac`, negatives, `.5`); otherwise normalized string equality.
// Portable: no host imports.

const BOX_COMMANDS = ['\\boxed', '\\fbox'];

/** The content of the last `\boxed{…}` / `\fbox{…}` (braces matched), or null when there is none. */
export function lastBoxed(text: string): string | null {
  let at = -1,
    cmd = '';
  for (const c of BOX_COMMANDS) {
    const i = text.lastIndexOf(c);
    if (i > at) {
      at = i;
      cmd = c;
    }
  }
  if (at < 0) return null;
  let rest = text.slice(at + cmd.length);
  if (rest.startsWith('{')) {
    let depth = 1,
      out = '';
    for (const ch of rest.slice(1)) {
      if (ch === '{') depth++;
      else if (ch === '}' && --depth === 0) break;
      out += ch;
    }
    // An unclosed box (a truncated output) yields what was inside it so far, as the toolkit does.
    return out;
  }
  // `\boxed 42` (no braces): up to the closing `$` or the end of the line.
  rest = rest.replace(/^\s+/, '');
  return rest.split('$')[0].split('\n')[0].trim();
}

/** The phrase after the last "the answer is" (first line, up to the end of its sentence). */
function answerIsPhrase(text: string): string | null {
  const re = /[Tt]he (?:final )?answer is/g;
  let last = -1,
    len = 0;
  for (const m of text.matchAll(re)) {
    last = m.index;
    len = m[0].length;
  }
  if (last < 0) return null;
  // Its first line (the next non-empty one when the phrase ends a line: "The answer is:\n42").
  let s = text
    .slice(last + len)
    .replace(/^[\s:：]+/, '')
    .split('\n')[0]
    .trim();
  // Cut at the end of the sentence: a period followed by a space (not a decimal point).
  const end = s.search(/\.(?=\s)/);
  if (end >= 0) s = s.slice(0, end);
  return s.trim();
}

/** The last number in the text, commas removed first (as the toolkit's fallback does). */
export function lastNumber(text: string): string | null {
  const m = text.replace(/,/g, '').match(/-?\d*\.?\d+/g);
  return m ? m[m.length - 1] : null;
}

export type ExtractionMethod = 'boxed' | 'answer-is' | 'last-number' | 'none';

export interface Extraction {
  /** The answer as found, before normalization (null when nothing was found). */
  raw: string | null;
  /** normalizeAnswer(raw); null when nothing was found. */
  answer: string | null;
  method: ExtractionMethod;
}

/** Extract a model's final answer from its output. */
export function extractAnswer(output: string): Extraction {
  const text = output.replace(/\u043a\u0438/g, ''); // the toolkit drops these (a Cyrillic artefact of some models)
  let raw: string | null = lastBoxed(text),
    method: ExtractionMethod = 'boxed';
  if (raw === null) {
    raw = answerIsPhrase(text);
    method = 'answer-is';
  }
  if (raw === null) {
    raw = lastNumber(text);
    method = 'last-number';
  }
  if (raw === null) return { raw: null, answer: null, method: 'none' };
  return { raw, answer: normalizeAnswer(raw), method };
}

/** The ground truth of a problem record: GSM8K's `#### N`, a plain `answer`, or a boxed `solution`. */
export function parseGold(record: { answer?: unknown; solution?: unknown }): string | null {
  const a = record.answer;
  if (typeof a === 'number') return Number.isFinite(a) ? normalizeAnswer(String(a)) : null;
  if (typeof a === 'string') {
    const hash = a.lastIndexOf('####');
    if (hash >= 0)
      return normalizeAnswer(
        a
          .slice(hash + 4)
          .trim()
          .replace(/,/g, ''),
      );
    const boxed = lastBoxed(a);
    const s = normalizeAnswer(boxed ?? a);
    return s === '' ? null : s;
  }
  if (typeof record.solution === 'string') {
    const boxed = lastBoxed(record.solution);
    return boxed === null ? null : normalizeAnswer(boxed);
  }
  return null;
}

/** Remove `\cmd{…}` wrappers (braces matched), keeping their content. */
function unwrap(s: string, cmds: string[]): string {
  for (const cmd of cmds) {
    for (;;) {
      const i = s.indexOf(`${cmd}{`);
      if (i < 0) break;
      let depth = 1,
        j = i + cmd.length + 1;
      for (; j < s.length && depth > 0; j++) {
        if (s[j] === '{') depth++;
        else if (s[j] === '}') depth--;
      }
      const inner = s.slice(i + cmd.length + 1, depth === 0 ? j - 1 : j);
      s = s.slice(0, i) + ` ${inner} ` + s.slice(j);
    }
  }
  return s;
}

/**
 * Canonical text of an answer: LaTeX spacing, `$`, `%`, `\text{…}` wrappers, units/words,
 * thousands separators and a trailing period removed; `\dfrac`/`\tfrac` → `\frac`; `.5` → `0.5`.
 * Whitespace is collapsed to single spaces (numbers separated by words stay apart).
 */
export function normalizeAnswer(raw: string): string {
  let s = raw.replace(/\r?\n\s*/g, ' ').trim();
  s = s.replace(/[\u2212\u2013]/g, '-'); // unicode minus / en dash
  s = s.replace(/\\!/g, '').replace(/(\d)\\,(?=\d{3}(?!\d))/g, '$1'); // 1\!000, 1\,000
  s = s.replace(/\\[,;:>]|\\ |~/g, ' ').replace(/\\quad|\\qquad/g, ' ');
  s = s.replace(/\{,\}/g, '');
  s = s.replace(/\\left|\\right/g, '');
  s = s.replace(/\^\s*\{?\\circ\}?|°/g, '');
  s = s.replace(/\\\$|\$/g, ' ').replace(/\\%|%/g, ' ');
  s = s.replace(/\\[dt]frac/g, '\\frac');
  s = unwrap(s, ['\\text', '\\textbf', '\\mathrm', '\\mbox', '\\textit', '\\mathbf']);
  s = s.replace(/^[\s:]+/, '');
  // "x = 5", "n=5": keep the right side when the left is a short name.
  const eq = s.split('=');
  if (eq.length === 2 && eq[0].trim().length <= 2) s = eq[1];
  // Units and words: alphabetic runs not part of a LaTeX command (kept when there is no number:
  // a word answer such as "Yes" stays).
  if (/\d/.test(s)) s = s.replace(/(^|[^\\a-zA-Z])[a-zA-Z]+(?:'[a-zA-Z]+)?/g, '$1 ');
  // Thousands separators between digit groups (1,234,567), then stray punctuation at the edges.
  while (/\d,\d{3}(?!\d)/.test(s)) s = s.replace(/(\d),(\d{3})(?!\d)/g, '$1$2');
  s = s.replace(/\s+/g, ' ').trim();
  s = s.replace(/^[,;:\s]+|[,;:!?\s]+$/g, '');
  while (s.endsWith('.') || s.endsWith('/')) s = s.slice(0, -1).trim();
  // Signs and bare decimals: "+5" → "5", ".5" → "0.5", "-.5" → "-0.5", "- 5" → "-5".
  s = s.replace(/(^|[^\d.])\.(\d)/g, '$10.$2');
  s = s.replace(/^\+\s*/, '').replace(/^-\s+/, '-');
  // Brackets around a lone value: "(5)", "{5}".
  while (/^\{[^{}]*\}$|^\([^()]*\)$/.test(s)) s = s.slice(1, -1).trim();
  return s;
}

const NUM = String.raw`-?(?:\d+(?:\.\d+)?|\.\d+)`;
const RE_NUMBER = new RegExp(`^${NUM}$`);
const RE_SLASH = new RegExp(`^(${NUM})\\s*/\\s*(${NUM})$`);
const RE_FRAC = new RegExp(`^(-?)\\s*\\\\frac\\s*\\{\\s*(${NUM})\\s*\\}\\s*\\{\\s*(${NUM})\\s*\\}$`);
const RE_FRAC_SHORT = /^(-?)\s*\\frac\s*(\d)\s*(\d)$/; // \frac12

/** The numeric value of a normalized answer (numbers, a/b, \frac{a}{b}), or null. */
export function answerValue(s: string): number | null {
  const t = s.replace(/\s+/g, ' ').trim();
  if (RE_NUMBER.test(t)) return Number(t);
  let m = RE_SLASH.exec(t);
  if (m) return divide(Number(m[1]), Number(m[2]));
  m = RE_FRAC.exec(t);
  if (m) return (m[1] ? -1 : 1) * divide(Number(m[2]), Number(m[3]))!;
  m = RE_FRAC_SHORT.exec(t);
  if (m) return (m[1] ? -1 : 1) * divide(Number(m[2]), Number(m[3]))!;
  return null;
}

function divide(a: number, b: number): number | null {
  return b === 0 ? null : a / b;
}

/** Relative tolerance 1e-4 (Python's math.isclose(a, b, rel_tol=1e-4)). */
function numbersClose(a: number, b: number, relTol = 1e-4): boolean {
  return a === b || Math.abs(a - b) <= relTol * Math.max(Math.abs(a), Math.abs(b));
}

export interface GradeOptions {
  /** Also accept the prediction at gold/100 or gold·100, as the toolkit's include_percentage does. Off by default. */
  percentVariants?: boolean;
}

/** Whether a prediction (raw or normalized) equals the gold answer (raw or normalized). */
export function answersEqual(prediction: string | null, gold: string | null, opts: GradeOptions = {}): boolean {
  if (prediction === null || gold === null) return false;
  const p = normalizeAnswer(prediction),
    g = normalizeAnswer(gold);
  const pv = answerValue(p),
    gv = answerValue(g);
  if (pv !== null && gv !== null) {
    if (numbersClose(pv, gv)) return true;
    return opts.percentVariants === true && (numbersClose(pv, gv / 100) || numbersClose(pv, gv * 100));
  }
  // Spaces go, except between two word characters ("5 3" must not become "53").
  const key = (s: string) => s.toLowerCase().replace(/(?<![\dA-Za-z])\s+|\s+(?![\dA-Za-z])/g, '');
  return p !== '' && key(p) === key(g);
}

export interface Grade {
  extracted: string | null;
  method: ExtractionMethod;
  correct: boolean;
}

/** Extract the answer of a model output and compare it with the gold answer. */
export function gradeOutput(output: string, gold: string | null, opts: GradeOptions = {}): Grade {
  const { answer, method } = extractAnswer(output);
  return { extracted: answer, method, correct: answersEqual(answer, gold, opts) };
}
