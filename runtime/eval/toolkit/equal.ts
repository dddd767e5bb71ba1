// The toolkit's `math_equal(prediction, reference)` (its grader.py), re-written from its documented
// steps, in order: case-insensitive string equality; a multiple-choice letter; numbers (the
// reference, ÷100 and ×100 accepted — its percentage rule — at relative tolerance 1e-4); brackets
// and braces ignored; intervals and tuples element by element; matrices element by element;
// equations; then symbolic equivalence (./symbolic.ts). Both sides arrive cleaned by stripString.
//
// Deliberate differences, each where the toolkit is plainly wrong (listed in README "Benchmarks"):
//  1. open and closed ends of an interval are different: "(1,2]" ≠ "[1,2]" (the toolkit strips
//     brackets and compares the ends only);
//  2. removing braces/parentheses never makes two answers equal when it changes their structure:
//     "\frac{12}{3}" ≠ "\frac{1}{23}", "(a+b)c" ≠ "a+bc" (the toolkit deletes every {, }, (, ));
//  3. commas are thousands separators only in digit groups of three: "1,2" ≠ "12" (./numbers.ts);
//  4. several answers without brackets ("1, 2" for "all solutions") and sets in braces are compared
//     as multisets, in any order: "2,1" = "1,2", "\{2,1\}" = "\{1,2\}" (the toolkit reads the first
//     as numbers with commas removed and compares the second as text).
// Portable: no host imports.

import { numbersClose, parseDigits } from './numbers.ts';
import { symbolicEqual } from './symbolic.ts';

const LETTERS = ['A', 'B', 'C', 'D', 'E'];
/** Most answers compared as a multiset ("1, 2, 3"); a longer list is not equal. */
const MAX_ANSWERS = 32;
const LETTER_RE = /(?<![\p{L}\p{N}_])(A|B|C|D|E)(?![\p{L}\p{N}_])/gu;

/** The letters A–E standing alone in a text (Python `\b(A|B|C|D|E)\b`, Unicode word boundaries). */
export function choiceLetters(text: string): string[] {
  return [...text.toUpperCase().matchAll(LETTER_RE)].map((m) => m[1]);
}

function rstripChars(s: string, chars: string): string {
  let e = s.length;
  while (e > 0 && chars.includes(s[e - 1])) e--;
  return s.slice(0, e);
}
function lstripChars(s: string, chars: string): string {
  let b = 0;
  while (b < s.length && chars.includes(s[b])) b++;
  return s.slice(b);
}
export const stripChars = (s: string, chars: string) => lstripChars(rstripChars(s, chars), chars);

/** The grader's short `choice_answer_clean`: the last standalone letter, else the cleaned text. */
function graderChoiceClean(pred: string): string {
  const p = lstripChars(stripChars(rstripChars(rstripChars(stripChars(pred, '\n'), '.'), '/'), ' '), ':');
  const letters = choiceLetters(p);
  const out = letters.length ? letters[letters.length - 1] : stripChars(p.trim(), '.');
  return rstripChars(rstripChars(out, '.'), '/');
}

/** `{a,b},{c,d}` (a matrix written as rows in braces) as pmatrix text, as the toolkit rewrites it. */
function strToPmatrix(s: string): string {
  const rows = s.trim().match(/\{.*,.*\}/g) ?? [];
  return rows.map((m) => `\\begin{pmatrix}${stripChars(m, '{}').replace(/,/g, '\\')}\\end{pmatrix}`).join(', ');
}

// A brace argument (\frac{..}{..}, ^{..}, _{..}, \sqrt{..}) or a parenthesis inside the text:
// deleting braces/parentheses there changes the meaning (deliberate difference 2).
const STRUCTURAL = /\\[a-zA-Z]+\s*\{|[\^_]\s*\{|.[()]./;

function bracketsIgnoredEqual(pred: string, ref: string): boolean {
  let p = pred,
    r = ref;
  if ((pred.startsWith('[') && pred.endsWith(']') && !ref.startsWith('(')) || (pred.startsWith('(') && pred.endsWith(')') && !ref.startsWith('['))) {
    p = stripChars(p, '[]()');
    r = stripChars(r, '[]()');
  }
  // Deliberate difference 1: an interval's ends keep their kind.
  if (isInterval(pred) && isInterval(ref) && (pred[0] !== ref[0] || pred.at(-1) !== ref.at(-1))) return false;
  if (STRUCTURAL.test(p) || STRUCTURAL.test(r)) return false;
  const del = (s: string) => s.replace(/[{}()]/g, '').toLowerCase();
  return del(p) === del(r);
}

const isInterval = (s: string) => /^[([].*,.*[)\]]$/.test(s);

/** Split at top-level commas (not inside braces, brackets or parentheses). */
function splitTopLevel(s: string, sep: string): string[] {
  const parts: string[] = [];
  let depth = 0,
    cur = '';
  for (const ch of s) {
    if ('{[('.includes(ch)) depth++;
    else if ('}])'.includes(ch)) depth--;
    if (ch === sep && depth === 0) {
      parts.push(cur);
      cur = '';
    } else cur += ch;
  }
  parts.push(cur);
  return parts;
}

async function allEqual(ps: string[], rs: string[]): Promise<boolean> {
  if (ps.length !== rs.length) return false;
  for (let i = 0; i < ps.length; i++) if (!(await mathEqual(ps[i], rs[i]))) return false;
  return true;
}

/** Several answers in any order: a perfect matching between the parts. */
async function multisetEqual(ps: string[], rs: string[]): Promise<boolean> {
  // A matching costs up to n² comparisons: more than MAX_ANSWERS answers is not a real answer list.
  if (ps.length !== rs.length || ps.length > MAX_ANSWERS) return false;
  const used = new Array(rs.length).fill(false);
  for (const p of ps) {
    let found = false;
    for (let j = 0; j < rs.length && !found; j++) {
      if (!used[j] && (await mathEqual(p, rs[j]))) found = used[j] = true;
    }
    if (!found) return false;
  }
  return true;
}

function matrixRows(s: string): string[][] | null {
  const m = /^\\begin\{[pb]matrix\}(.*)\\end\{[pb]matrix\}$/s.exec(s);
  if (!m) return null;
  return m[1]
    .split('\\\\')
    .map((l) => l.trim())
    .filter((l) => l)
    .map((l) => l.split('&'));
}

async function matricesEqual(pred: string, ref: string): Promise<boolean | null> {
  const p = matrixRows(pred),
    r = matrixRows(ref);
  if (!p || !r) return null;
  if (p.length !== r.length) return false;
  for (let i = 0; i < p.length; i++) if (!(await allEqual(p[i], r[i]))) return false;
  return true;
}

/** Whether a cleaned prediction equals a cleaned reference answer under the toolkit's rules. */
export async function mathEqual(prediction: string | null, reference: string | null, depth = 0): Promise<boolean> {
  if (prediction === null || reference === null || depth > 4) return false;
  if (prediction.trim().toLowerCase() === reference.trim().toLowerCase()) return true;
  if (LETTERS.includes(reference) && graderChoiceClean(prediction) === reference) return true;
  const pn = parseDigits(prediction),
    rn = parseDigits(reference);
  if (pn !== null && rn !== null) return [rn / 100, rn, rn * 100].some((g) => numbersClose(pn, g));
  if (!prediction) return false;
  let ref = reference.trim();
  const pred = prediction.trim();
  if (pred.includes('pmatrix') && !ref.includes('pmatrix')) ref = strToPmatrix(ref);
  if (bracketsIgnoredEqual(pred, ref)) return true;
  // Intervals and tuples element by element (deliberate difference 1: bracket kinds must agree).
  if (/^[([].+[)\]]/s.test(pred) && /^[([].+[)\]]/s.test(ref)) {
    const kindsAgree = !(isInterval(pred) && isInterval(ref)) || (pred[0] === ref[0] && pred.at(-1) === ref.at(-1));
    if (kindsAgree && (await allEqual(splitTopLevel(pred.slice(1, -1), ','), splitTopLevel(ref.slice(1, -1), ',')))) return true;
  }
  const matrices = await matricesEqual(pred, ref);
  if (matrices === true) return true;
  // Several answers without brackets, or a set in braces, in any order (deliberate difference 4).
  const bare = (s: string) => !/^[([{]/.test(s);
  const set = (s: string) => /^\{.*\}$/s.test(s) && splitTopLevel(s.slice(1, -1), ',').length > 1;
  if (bare(pred) && bare(ref)) {
    const pp = splitTopLevel(pred, ','),
      rp = splitTopLevel(ref, ',');
    if (pp.length > 1 && pp.length === rp.length) return multisetEqual(pp, rp);
  } else if (set(pred) && set(ref)) {
    return multisetEqual(splitTopLevel(pred.slice(1, -1), ','), splitTopLevel(ref.slice(1, -1), ','));
  }
  const pe = pred.split('=').length - 1,
    re = ref.split('=').length - 1;
  if (pe === 0 && re === 1 && ref.split('=')[0].trim().length <= 2) {
    if (await mathEqual(pred, ref.split('=')[1], depth + 1)) return true;
  } else if (pe === 1 && re === 0 && pred.split('=')[0].trim().length <= 2) {
    if (await mathEqual(pred.split('=')[1], ref, depth + 1)) return true;
  }
  if (matrices === false) return false;
  return symbolicEqual(pred, ref);
}
