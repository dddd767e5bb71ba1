// The statistics every accuracy figure carries: a 95 % Wilson score interval for one accuracy, and
// for a tuned model against its base on the same problems the paired counts (fixed = wrong→right,
// broken = right→wrong) with the exact two-sided McNemar test (a binomial test of the discordant
// pairs at p = ½), plus mean ± sd over repeated seeds. Written here rather than taken from a
// package: these are a dozen lines of closed-form arithmetic, and no maintained npm package offers
// an exact McNemar test (the golden values in test/fixtures/stats.json come from scipy).
// Portable: no host imports.

/** z for a two-sided 95 % interval: Φ⁻¹(0.975). */
const Z95 = 1.959963984540054;

/** The Wilson score interval of `correct` successes in `total` trials ([0, 1] when total is 0). */
export function wilsonInterval(correct: number, total: number, z = Z95): [number, number] {
  if (!(Number.isInteger(correct) && Number.isInteger(total) && correct >= 0 && correct <= total))
    throw new RangeError(`need integers 0 ≤ correct ≤ total (got ${correct}, ${total})`);
  if (total === 0) return [0, 1];
  const p = correct / total,
    z2 = z * z;
  const denom = 1 + z2 / total;
  const centre = (p + z2 / (2 * total)) / denom;
  const half = (z / denom) * Math.sqrt((p * (1 - p)) / total + z2 / (4 * total * total));
  // Clamp the rounding at the ends (the exact bounds are 0 at correct = 0 and 1 at correct = total).
  return [correct === 0 ? 0 : Math.max(0, centre - half), correct === total ? 1 : Math.min(1, centre + half)];
}

/** P(X ≤ k) for X ~ Binomial(n, ½), summed in log space so that n in the thousands stays exact. */
function binomHalfCdf(k: number, n: number): number {
  if (k < 0) return 0;
  if (k >= n) return 1;
  // log C(n, j) − n log 2, built up term by term; the sum is scaled by its largest term.
  const logs: number[] = [];
  let logC = 0;
  for (let j = 0; j <= k; j++) {
    if (j > 0) logC += Math.log((n - j + 1) / j);
    logs.push(logC - n * Math.LN2);
  }
  const top = Math.max(...logs);
  return Math.exp(top) * logs.reduce((a, l) => a + Math.exp(l - top), 0);
}

/** The exact two-sided McNemar p-value for `fixed` and `broken` discordant pairs (1 when there are none). */
export function mcnemarExact(fixed: number, broken: number): number {
  if (!(Number.isInteger(fixed) && Number.isInteger(broken) && fixed >= 0 && broken >= 0))
    throw new RangeError(`need non-negative integer counts (got ${fixed}, ${broken})`);
  const n = fixed + broken;
  if (n === 0) return 1;
  return Math.min(1, 2 * binomHalfCdf(Math.min(fixed, broken), n));
}

export interface PairedComparison {
  /** Problems the tuned model gets right and the base got wrong. */
  fixed: number;
  /** Problems the base got right and the tuned model gets wrong. */
  broken: number;
  /** Exact two-sided McNemar p-value. */
  p_value: number;
}

/** Paired comparison of two graded runs over the same problems (matched by id). */
export function pairedComparison(before: readonly { id: string; correct: boolean }[], after: readonly { id: string; correct: boolean }[]): PairedComparison {
  const base = new Map(before.map((r) => [r.id, r.correct]));
  if (base.size !== after.length || after.some((r) => !base.has(r.id)))
    throw new RangeError('a paired comparison needs the same problems (by id) on both sides');
  let fixed = 0,
    broken = 0;
  for (const r of after) {
    const was = base.get(r.id)!;
    if (r.correct && !was) fixed++;
    else if (!r.correct && was) broken++;
  }
  return { fixed, broken, p_value: mcnemarExact(fixed, broken) };
}

/** Mean and sample standard deviation (n − 1; 0 for a single value). */
export function meanSd(xs: readonly number[]): { mean: number; sd: number; n: number } {
  const n = xs.length;
  if (n === 0) throw new RangeError('meanSd of no values');
  const mean = xs.reduce((a, x) => a + x, 0) / n;
  const sd = n > 1 ? Math.sqrt(xs.reduce((a, x) => a + (x - mean) ** 2, 0) / (n - 1)) : 0;
  return { mean, sd, n };
}

/** "21.0% [17.7, 24.7]" — an accuracy with its 95 % interval, in percent. */
export function formatAccuracy(accuracy: number, ci95: readonly [number, number]): string {
  return `${(100 * accuracy).toFixed(1)}% [${(100 * ci95[0]).toFixed(1)}, ${(100 * ci95[1]).toFixed(1)}]`;
}

/** A p-value for a table cell: "0.012", "< 0.001", "1". */
export function formatPValue(p: number): string {
  if (p < 0.001) return '< 0.001';
  if (p >= 0.9995) return '1';
  return p < 0.1 ? p.toFixed(3) : p.toFixed(2);
}

/** "p = 0.012" / "p < 0.001" / "p = 1". */
export function formatP(p: number): string {
  const v = formatPValue(p);
  return v.startsWith('<') ? `p ${v}` : `p = ${v}`;
}

/** z of a one-sided 80 % power: Φ⁻¹(0.8). */
const Z80 = 0.8416212335729143;

/**
 * About how many paired problems a two-sided McNemar test at 5 % needs to detect, with 80 % power,
 * a difference of the size observed: `fixed` and `broken` discordant pairs out of `total` problems
 * taken as the true rates (Connor 1987: n = (z_{α/2}·√ψ + z_β·√(ψ − δ²))² / δ², ψ the discordant
 * rate, δ the difference of the two discordant rates), and never fewer than the exact test needs to
 * reach p < 0.05 at all: 6 discordant pairs (2 · 2⁻⁶ = 0.031; 5 give 0.0625), i.e. 6 / ψ problems.
 * Null when fixed = broken (no difference to detect). An estimate from one sample's rates, so only a
 * rough guide.
 */
export function mcnemarProblemsNeeded(fixed: number, broken: number, total: number): number | null {
  if (!(Number.isInteger(fixed) && Number.isInteger(broken) && Number.isInteger(total) && fixed >= 0 && broken >= 0 && fixed + broken <= total && total > 0)) {
    throw new RangeError(`need integers 0 ≤ fixed + broken ≤ total, total > 0 (got ${fixed}, ${broken}, ${total})`);
  }
  if (fixed === broken) return null;
  const psi = (fixed + broken) / total,
    delta = Math.abs(fixed - broken) / total;
  const connor = (Z95 * Math.sqrt(psi) + Z80 * Math.sqrt(Math.max(0, psi - delta * delta))) ** 2 / (delta * delta);
  return Math.ceil(Math.max(connor, 6 / psi) - 1e-9);
}
