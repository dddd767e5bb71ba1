// The golden benchmark-grading cases (./benchmark-cases.ts) as portable checks: the same grader in
// Node (test/eval-benchmarks.test.ts), Deno and Chromium (test/runtimes-grading.test.ts).
import { gradeBenchmarkOutput, rowGold, type BenchmarkName } from '../../runtime/eval/benchmarks.ts';
import { BENCHMARK_CASES } from './benchmark-cases.ts';
import type { Check } from './model-parity.ts';

export async function checkBenchmarkGrading(): Promise<Check[]> {
  const checks: Check[] = [];
  for (const [i, k] of BENCHMARK_CASES.entries()) {
    const name = k.benchmark as BenchmarkName;
    const gold = rowGold(k.gold, name);
    const g = gold === null ? null : await gradeBenchmarkOutput(k.output, gold, name);
    const ok = g !== null && g.correct === k.correct;
    checks.push({
      name: `#${i} ${name}: ${k.why}`,
      ok,
      detail: ok ? '' : `got ${g?.correct} (extracted ${JSON.stringify(g?.extracted)}, gold ${JSON.stringify(gold)}), want ${k.correct}`,
    });
  }
  return checks;
}
