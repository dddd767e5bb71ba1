// Deno side of the benchmark-grading checks: `deno run -A test/deno/benchmark-grading.ts` prints one
// JSON line per golden case and exits 1 if any failed. Spawned by test/runtimes-grading.test.ts.
import { checkBenchmarkGrading } from '../portable/benchmark-grading.ts';

const checks = await checkBenchmarkGrading();
for (const c of checks) console.log(JSON.stringify(c));
Deno.exit(checks.some((c) => !c.ok) ? 1 : 0);
