// `lightreasoner-wasm grade EVAL.jsonl --benchmark NAME --out GRADED.jsonl`: re-grade an existing
// eval output with a benchmark's rules (the Qwen2.5-Math toolkit's extraction and equivalence,
// runtime/eval/benchmarks.ts) without generating again. stdout: the result (a line, or one JSON
// document with --json); progress on stderr.
import { dirname } from 'node:path';
import type { Command } from 'commander';
import { BENCHMARK_NAMES, benchmarkSpec, gradeRows } from '../../runtime/eval/benchmarks.ts';
import { formatAccuracy, wilsonInterval } from '../../runtime/eval/stats.ts';
import { badInputError } from '../../runtime/errors.ts';
import { claimOutFile } from '../../runtime/io/out-dir.ts';
import { nodePlatform } from '../../runtime/platform/node.ts';
import { progressLine } from '../progress.ts';
import { addOutputOptions, commandOutput } from '../output.ts';

export function registerGrade(program: Command): void {
  const command = program
    .command('grade')
    .description("re-grade an eval output's rows with a benchmark's answer rules (no generation)")
    .argument('<eval.jsonl>', 'rows with "output" (the model\'s text) and "gold" (e.g. what eval --out wrote)')
    .requiredOption('--benchmark <name>', `grading rules: ${BENCHMARK_NAMES.join(', ')}`)
    .option('--out <file>', 'the same rows with "extracted", "method" and "correct" recomputed, JSONL (an existing file is refused without --overwrite)')
    .option('--overwrite', 'replace an existing --out file')
    .addHelpText(
      'after',
      `
Rules per benchmark (the Qwen2.5-Math evaluation toolkit's, which the LightReasoner paper reports
with): answer extraction (Minerva's "final answer is $…$. I hope", the last \\boxed{}, "he answer
is", "final answer is", the last number; for mmlu_stem the choice letter), the toolkit's cleaning of
prediction and gold, numbers at relative tolerance 1e-4 with percentages (×100, ÷100), intervals,
tuples, matrices, several answers and symbolic equivalence of LaTeX. "gold" may be the cleaned
answer or the raw field (GSM8K "… #### N", a MATH solution with \\boxed{}, an MMLU index 0–3).
Where the toolkit is plainly wrong the grader differs on purpose: see README "Benchmarks".`,
    );
  addOutputOptions(command, '{benchmark, input, out, correct, total, accuracy, ci95, changed}').action(async (file: string, o) => {
    const fs = nodePlatform.fs;
    const output = commandOutput(o);
    const spec = benchmarkSpec(o.benchmark);
    if (!(await fs.exists(file))) throw badInputError(`${file}: no such file`, file);
    if (o.out !== undefined) await claimOutFile(fs, o.out, { overwrite: o.overwrite });
    const text = await fs.readText(file);
    const bar = progressLine(!output.quiet);
    const before = new Map<number, unknown>();
    text
      .split('\n')
      .filter((l) => l.trim())
      .forEach((l, i) => {
        try {
          before.set(i, JSON.parse(l).correct);
        } catch {
          /* reported by gradeRows */
        }
      });
    const { rows, correct, total } = await gradeRows(text, spec.name, file, (n) => n % 50 === 0 && bar.update(`graded ${n} rows`));
    bar.done();
    const changed = rows.filter((r, i) => typeof before.get(i) === 'boolean' && before.get(i) !== r.correct).length;
    if (o.out !== undefined) {
      await fs.mkdir?.(dirname(o.out));
      await fs.writeFileAtomic!(o.out, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
      output.progress(`wrote ${rows.length} graded rows to ${o.out}`);
    }
    const accuracy = correct / total,
      ci95 = wilsonInterval(correct, total);
    output.result(
      `${spec.title}: accuracy ${formatAccuracy(accuracy, ci95)} (${correct}/${total}; 95% Wilson interval); ${changed} verdict(s) differ from the input's`,
      { benchmark: spec.name, input: file, out: o.out ?? null, correct, total, accuracy, ci95, changed },
    );
  });
}
