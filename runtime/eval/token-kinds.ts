// What kind of token the contrast changed: a digit of a number the model works out, a digit of a
// number copied from the question, an arithmetic operator, a word, or anything else. Judged on the
// token's text in its trajectory's text, so that a number split over several tokens is read whole.
// Portable: no host imports.

export const TOKEN_KINDS = ['digit', 'question-number', 'operator', 'word', 'other'] as const;
export type TokenKind = (typeof TOKEN_KINDS)[number];

export function emptyKindCounts(): Record<TokenKind, number> {
  return { digit: 0, 'question-number': 0, operator: 0, word: 0, other: 0 };
}

const NUMBER = /\d[\d,]*(?:\.\d+)?/g;

/** "1,250" → "1250", "3.50" → "3.5" (the key numbers are compared by). */
function numberKey(s: string): string {
  const x = Number(s.replace(/,/g, ''));
  return Number.isFinite(x) ? String(x) : s;
}

/** The numbers written in a text (keys as numberKey). */
export function numbersIn(text: string): Set<string> {
  return new Set([...text.matchAll(NUMBER)].map((m) => numberKey(m[0])));
}

const isDigit = (c: string | undefined) => c !== undefined && c >= '0' && c <= '9';

/**
 * The kind of token `t` of a trajectory whose tokens' texts are `pieces`. A token with a digit is
 * part of a number: the whole number around it (digits, thousands commas, a decimal point, read
 * through the neighbouring tokens) is a `question-number` when the question has that number, else a
 * `digit` (a result the model works out). Without digits: `operator` (+ − * / × ÷ = ^ and brackets),
 * `word` (a letter), `other` (spaces, punctuation, LaTeX braces, special tokens).
 */
export function tokenKind(pieces: readonly string[], t: number, questionNumbers: ReadonlySet<string>): TokenKind {
  const piece = pieces[t];
  const d = [...piece].findIndex(isDigit);
  if (d >= 0) {
    const text = pieces.join('');
    let start = 0;
    for (let i = 0; i < t; i++) start += pieces[i].length;
    let lo = start + d,
      hi = start + d + 1;
    const joins = (c: string | undefined, before: string | undefined, after: string | undefined) =>
      (c === ',' || c === '.') && isDigit(before) && isDigit(after);
    while (lo > 0 && (isDigit(text[lo - 1]) || joins(text[lo - 1], text[lo - 2], text[lo]))) lo--;
    while (hi < text.length && (isDigit(text[hi]) || joins(text[hi], text[hi - 1], text[hi + 1]))) hi++;
    return questionNumbers.has(numberKey(text.slice(lo, hi))) ? 'question-number' : 'digit';
  }
  if (/[+\-*/×÷=^()]/.test(piece)) return 'operator';
  if (/\p{L}/u.test(piece)) return 'word';
  return 'other';
}
