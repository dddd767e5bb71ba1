// Numbers as the toolkit reads them (its grader's `parse_digits`: Python's float() after removing
// commas, a trailing percent sign meaning /100) and compares them (math.isclose, rel_tol 1e-4).
// Portable: no host imports.

// Python float() syntax: sign, digits with optional underscores, a decimal point, an exponent;
// inf / infinity / nan in any case; surrounding whitespace.
const PY_FLOAT = /^\s*[+-]?(?:(?:\d(?:_?\d)*)?\.?\d(?:_?\d)*\.?(?:[eE][+-]?\d(?:_?\d)*)?|inf|infinity|nan)\s*$/i;

function pyFloat(s: string): number | null {
  if (!PY_FLOAT.test(s) || /\.\s*\.|^\s*[+-]?\.\s*$/.test(s)) return null;
  const t = s.trim().replace(/_/g, '').toLowerCase();
  if (/inf/.test(t)) return t.startsWith('-') ? -Infinity : Infinity;
  if (/nan/.test(t)) return NaN;
  const v = Number(t);
  return Number.isNaN(v) ? null : v;
}

// Deliberate difference from the toolkit: it removes every comma, so "1,2" (two answers) reads
// as 12. Here commas are removed only where they separate thousands ("1,234,567").
const THOUSANDS = /^\s*[+-]?\d{1,3}(?:,\d{3})+(?:\.\d*)?\s*%?\s*$/;

/** The number an answer string denotes for the toolkit's numeric comparison, or null. */
export function parseDigits(raw: string): number | null {
  let s = raw;
  if (s.includes(',')) {
    if (!THOUSANDS.test(s)) return null;
    s = s.replace(/,/g, '');
  }
  const v = pyFloat(s);
  if (v !== null) return v;
  if (s.endsWith('%')) {
    let t = s.slice(0, -1);
    if (t.endsWith('\\')) t = t.slice(0, -1);
    const p = pyFloat(t);
    if (p !== null) return p / 100;
  }
  return null;
}

/** Python's math.isclose(a, b, rel_tol, abs_tol). */
export function numbersClose(a: number, b: number, relTol = 1e-4, absTol = 0): boolean {
  if (a === b) return true;
  if (!Number.isFinite(a) || !Number.isFinite(b)) return false;
  return Math.abs(a - b) <= Math.max(relTol * Math.max(Math.abs(a), Math.abs(b)), absTol);
}
