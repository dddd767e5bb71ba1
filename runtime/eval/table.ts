// The paper's results table: one accuracy per benchmark (with its 95 % Wilson interval) and their
// unweighted average, as LightReasoner's Table 1 reports them; against a baseline evaluation
// (e.g. the expert before fine-tuning) each benchmark also gets the change and its paired
// McNemar test. Portable: no host imports.

import { formatAccuracy, formatPValue, pairedComparison, type PairedComparison, wilsonInterval } from './stats.ts';

export interface BenchmarkResult {
  name: string;
  title: string;
  total: number;
  correct: number;
  accuracy: number;
  ci95: [number, number];
  baseline?: { total: number; correct: number; accuracy: number; ci95: [number, number]; paired: PairedComparison };
}

export interface BenchmarkTable {
  benchmarks: BenchmarkResult[];
  /** Unweighted mean of the benchmarks' accuracies (the paper's "Avg." column). */
  average: number;
  baseline_average?: number;
}

/** One benchmark's row from its graded records (and the baseline's records on the same ids). */
export function benchmarkResult(
  name: string,
  title: string,
  records: readonly { id: string; correct: boolean }[],
  baseline?: readonly { id: string; correct: boolean }[],
): BenchmarkResult {
  const correct = records.filter((r) => r.correct).length,
    total = records.length;
  const row: BenchmarkResult = { name, title, total, correct, accuracy: total ? correct / total : 0, ci95: wilsonInterval(correct, total) };
  if (baseline) {
    const bc = baseline.filter((r) => r.correct).length,
      bt = baseline.length;
    row.baseline = { total: bt, correct: bc, accuracy: bt ? bc / bt : 0, ci95: wilsonInterval(bc, bt), paired: pairedComparison(baseline, records) };
  }
  return row;
}

export function benchmarkTable(rows: BenchmarkResult[]): BenchmarkTable {
  const mean = (xs: number[]) => (xs.length ? xs.reduce((a, x) => a + x, 0) / xs.length : 0);
  const table: BenchmarkTable = { benchmarks: rows, average: mean(rows.map((r) => r.accuracy)) };
  if (rows.length && rows.every((r) => r.baseline)) table.baseline_average = mean(rows.map((r) => r.baseline!.accuracy));
  return table;
}

const pct = (x: number) => (100 * x).toFixed(1);
const signed = (x: number) => `${x >= 0 ? '+' : ''}${(100 * x).toFixed(1)}`;

/**
 * The table as Markdown in the paper's layout (benchmarks as columns, then Avg.): a row of
 * accuracies; with a baseline also the baseline's row, the change, and the paired p-values;
 * then each accuracy's 95 % interval.
 */
export function formatBenchmarkTable(t: BenchmarkTable, labels: { model?: string; baseline?: string } = {}): string {
  const head = ['model', ...t.benchmarks.map((r) => r.title), 'Avg.'];
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  const out = [line(head), line(head.map(() => '---'))];
  if (t.baseline_average !== undefined) {
    out.push(line([labels.baseline ?? 'baseline', ...t.benchmarks.map((r) => pct(r.baseline!.accuracy)), pct(t.baseline_average)]));
  }
  out.push(line([labels.model ?? 'model', ...t.benchmarks.map((r) => pct(r.accuracy)), pct(t.average)]));
  if (t.baseline_average !== undefined) {
    out.push(line(['change', ...t.benchmarks.map((r) => signed(r.accuracy - r.baseline!.accuracy)), signed(t.average - t.baseline_average)]));
    out.push(line(['fixed / broken', ...t.benchmarks.map((r) => `${r.baseline!.paired.fixed} / ${r.baseline!.paired.broken}`), '']));
    out.push(line(['McNemar p', ...t.benchmarks.map((r) => formatPValue(r.baseline!.paired.p_value)), '']));
  }
  out.push(line(['95% interval', ...t.benchmarks.map((r) => formatAccuracy(r.accuracy, r.ci95).replace(/^[^[]*/, '')), '']));
  out.push(line(['problems', ...t.benchmarks.map((r) => String(r.total)), '']));
  return out.join('\n') + '\n';
}
