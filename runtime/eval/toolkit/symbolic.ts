// Symbolic equivalence of two LaTeX answers, the last step of the toolkit's `math_equal` (there:
// sympy's `parse_latex`/latex2sympy, then equality, `simplify(a - b) == 0`, equations compared as
// lhs − rhs up to sign, and `N()` with relative tolerance 1e-4). Here the LaTeX is parsed and
// compared by @cortex-js/compute-engine, a maintained LaTeX-to-MathJSON CAS that runs in Node,
// Deno and browsers, instead of a hand-written parser. The engine (~1 MB) is imported lazily, on the
// first comparison that reaches this step, so GSM8K-style grading and the CLI never load it.
//
// Bounded in time: the toolkit kills a comparison after a few seconds; a synchronous engine
// cannot be interrupted from the same thread, so the inputs are bounded instead — answers longer
// than MAX_SYMBOLIC_CHARS, or holding sums, products, limits, integrals or factorials of large
// literals, are not compared symbolically (false). (The engine has a `timeLimit` setting, but
// version 0.27 never arms it, so it is not relied on.) test/eval-benchmarks.test.ts times hostile answers.
// The engine reads a mixed number `2\frac{1}{2}` as 2½ where the toolkit's sympy reads 2·½: a listed
// deliberate difference (README "Benchmarks").
// Portable: no host imports.

import { numbersClose } from './numbers.ts';

/** Longest answer compared symbolically (a boxed answer is rarely over 100 characters). */
const MAX_SYMBOLIC_CHARS = 400;

type Engine = InstanceType<typeof import('@cortex-js/compute-engine').ComputeEngine>;
type Expr = ReturnType<Engine['parse']>;

let enginePromise: Promise<Engine> | null = null;

/** The shared engine, created at first use. */
function computeEngine(): Promise<Engine> {
  enginePromise ??= import('@cortex-js/compute-engine').then(({ ComputeEngine }) => new ComputeEngine());
  return enginePromise;
}

// Constructs whose evaluation can take unbounded work — sums, products, integrals, limits; the
// factorial of a 4-digit literal or of an expression; a power tower; a 5-digit exponent; a literal
// of 16 digits or more (exact big-integer arithmetic) — refused rather than risked.
const HEAVY = /\\(sum|prod|int|iint|oint|lim)\b|\d{4,}\s*!|[)}]\s*!|\^\s*\{[^{}]*\^|\^\s*\{?\s*[-+]?\d{5,}|\d{16,}/;

/** Whether the answer is small and simple enough to hand to the engine. */
function symbolicAllowed(s: string): boolean {
  return s.length > 0 && s.length <= MAX_SYMBOLIC_CHARS && !HEAVY.test(s);
}

function realValue(e: Expr): { re: number; im: number } | null {
  try {
    const n = e.N();
    const re = n.re,
      im = n.im;
    if (typeof re !== 'number' || Number.isNaN(re)) return null;
    return { re, im: typeof im === 'number' && !Number.isNaN(im) ? im : 0 };
  } catch {
    return null;
  }
}

function freeVariables(e: Expr): string[] {
  try {
    return [...(e.freeVariables ?? [])];
  } catch {
    return [];
  }
}

// Sample points for expressions with free variables: two expressions that agree at several
// irrational-looking points are equal as functions with overwhelming probability (the toolkit
// asks sympy's simplify, which may also fail to decide; sampling is decidable and bounded).
// biome-ignore lint/suspicious/noApproximativeNumericConstant: sample points (near √2 and π by choice), not the constants
const SAMPLES = [0.7316, 1.4142, 2.2361, -0.5774, 3.1416];

function sameAtSamples(ce: Engine, a: Expr, b: Expr, vars: string[], negate = false): boolean {
  let agreed = 0;
  for (let k = 0; k < SAMPLES.length; k++) {
    const subs: Record<string, Expr> = {};
    for (const [j, v] of vars.entries()) subs[v] = ce.number(SAMPLES[(k + j) % SAMPLES.length] + 0.1 * j);
    const va = realValue(a.subs(subs)),
      vb = realValue(b.subs(subs));
    if (!va || !vb || !Number.isFinite(va.re) || !Number.isFinite(vb.re)) continue;
    const sb = negate ? -1 : 1;
    if (!numbersClose(va.re, sb * vb.re, 1e-9, 1e-12) || !numbersClose(va.im, sb * vb.im, 1e-9, 1e-12)) return false;
    agreed++;
  }
  return agreed >= 3;
}

function isEquation(e: Expr): boolean {
  return e.operator === 'Equal';
}

function difference(ce: Engine, e: Expr): Expr {
  return ce.box(['Subtract', e.op1.json, e.op2.json]);
}

function exprEqual(ce: Engine, a: Expr, b: Expr): boolean {
  if (a.isSame(b)) return true;
  if (isEquation(a) && isEquation(b)) {
    // An equation equals another when lhs − rhs agree up to sign (the toolkit's rule).
    const da = difference(ce, a),
      db = difference(ce, b);
    const vars = [...new Set([...freeVariables(da), ...freeVariables(db)])];
    return sameAtSamples(ce, da, db, vars) || sameAtSamples(ce, da, db, vars, true);
  }
  if (isEquation(a) !== isEquation(b)) return false;
  const vars = [...new Set([...freeVariables(a), ...freeVariables(b)])];
  if (vars.length === 0) {
    const va = realValue(a),
      vb = realValue(b);
    if (!va || !vb) return false;
    // Beyond double range (2^{2023}) the values are ±Infinity: only the engine's exact check decides.
    if (![va.re, vb.re, va.im, vb.im].every(Number.isFinite)) return a.isEqual(b) === true;
    return numbersClose(va.re, vb.re) && numbersClose(va.im, vb.im, 1e-4, 1e-9);
  }
  return sameAtSamples(ce, a, b, vars);
}

// compute-engine 0.27 has no LaTeX reading of \binom; a binomial of two small literals (the form
// answers take) is replaced by its value, computed exactly.
function binomialsToValues(s: string): string {
  return s.replace(/\\[dt]?binom\s*\{\s*(\d{1,3})\s*\}\s*\{\s*(\d{1,3})\s*\}/g, (_, n: string, k: string) => {
    const N = BigInt(n),
      K = BigInt(k);
    if (K > N) return '0';
    let v = 1n;
    for (let i = 1n; i <= K; i++) v = (v * (N - K + i)) / i;
    return `{${v}}`;
  });
}

// `\frac{a}2` (a bare one-character denominator after a braced numerator) is valid LaTeX that the
// engine 0.27 does not read; the toolkit's cleaning leaves it (it only fixes `\frac12`), so brace it.
function braceFractionDenominators(s: string): string {
  let out = '',
    i = 0;
  for (;;) {
    const at = s.indexOf('\\frac{', i);
    if (at < 0) return out + s.slice(i);
    let depth = 0,
      j = at + 5;
    for (; j < s.length; j++) {
      if (s[j] === '{') depth++;
      else if (s[j] === '}' && --depth === 0) break;
    }
    out += s.slice(i, j + 1);
    i = j + 1;
    if (i < s.length && /[0-9a-zA-Z]/.test(s[i])) {
      out += `{${s[i]}}`;
      i++;
    }
  }
}

const prepare = (s: string) => braceFractionDenominators(binomialsToValues(s));

/** Whether two LaTeX answers denote the same value or expression (false when either cannot be parsed). */
export async function symbolicEqual(a: string, b: string): Promise<boolean> {
  if (!symbolicAllowed(a) || !symbolicAllowed(b)) return false;
  const ce = await computeEngine();
  return quietly(() => {
    try {
      const ea = ce.parse(prepare(a)),
        eb = ce.parse(prepare(b));
      if (!ea.isValid || !eb.isValid) return false;
      return exprEqual(ce, ea, eb);
    } catch {
      return false;
    }
  });
}

// The engine reports some malformed input with console.error (e.g. "Invalid type" for `i{&{}e`)
// besides returning an invalid expression; a model's garbage must not print into the CLI's stderr
// or a page's console, so the console is silenced for the (synchronous) comparison.
function quietly<T>(f: () => T): T {
  const { error, warn } = console;
  console.error = console.warn = () => {};
  try {
    return f();
  } finally {
    console.error = error;
    console.warn = warn;
  }
}

/** Whether the engine has been imported (grading without a symbolic step never loads it). */
export const symbolicEngineLoaded = (): boolean => enginePromise !== null;
