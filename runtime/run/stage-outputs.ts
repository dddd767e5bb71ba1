// A run whose stages already ran elsewhere (the cluster executors' jobs: sampling and evaluation
// shards gathered into samples.jsonl and eval/<model>.jsonl, the adapter fine-tuned in adapter/):
// read those outputs back, checked against this run's settings and problems, so the pipeline
// writes report.json and report.html from them without recomputing anything.
import { badInputError } from '../errors.ts';
import type { EvalProblem, EvalRecord, EvalSummary } from '../eval/evaluate.ts';
import { readEvalSummary } from '../eval/results.ts';
import { wilsonInterval } from '../eval/stats.ts';
import type { FileSystem } from '../platform/types.ts';
import { type SamplingSummary, summaryPath } from '../stage/sampling.ts';
import type { SampleSettings } from '../stage/sample.ts';

/** The gathered sampling summary beside `samplesFile`; refused when its settings or problem count differ. */
export async function readSamplingOutput(fs: FileSystem, samplesFile: string, settings: SampleSettings, problems: number): Promise<SamplingSummary> {
  const file = summaryPath(samplesFile);
  if (!(await fs.exists(file)) || !(await fs.exists(samplesFile)))
    throw badInputError(`${file}: missing; the sampling stage has not finished (gather its shards first)`, file);
  const s = JSON.parse(await fs.readText(file)) as SamplingSummary;
  if (JSON.stringify(s.settings) !== JSON.stringify(settings) || s.problems !== problems) {
    throw badInputError(
      `${file}: written with other settings or problems (${s.problems} problems, ${JSON.stringify(s.settings)}; this run: ${problems}, ${JSON.stringify(settings)})`,
      file,
    );
  }
  return s;
}

/** An evaluation's per-problem records, checked to cover exactly `problems` in order. */
export async function readEvalOutput(
  fs: FileSystem,
  file: string,
  problems: EvalProblem[],
  settings: { prompt: EvalSummary['prompt']; maxNewTokens: number },
): Promise<{ records: EvalRecord[]; summary: EvalSummary }> {
  if (!(await fs.exists(file))) throw badInputError(`${file}: missing; that evaluation has not finished (gather its shards first)`, file);
  const records = (await fs.readText(file))
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as EvalRecord);
  const mismatch = records.length !== problems.length ? records.length : problems.findIndex((p, j) => p.id !== records[j].id);
  if (records.length !== problems.length || mismatch >= 0)
    throw badInputError(
      `${file}: holds ${records.length} records that are not this run's ${problems.length} held-out problems in order (first difference at ${mismatch})`,
      file,
    );
  const correct = records.filter((r) => r.correct).length,
    total = records.length;
  const generated = records.reduce((a, r) => a + r.generated_tokens, 0);
  // The time it took: the gathered summary's (the shards' summed), where there is one.
  const seconds = (await readEvalSummary(fs, file))?.seconds ?? 0;
  const skipped = records.filter((r) => r.skipped !== undefined).length;
  return {
    records,
    summary: {
      total,
      correct,
      accuracy: total ? correct / total : 0,
      ci95: wilsonInterval(correct, total),
      seconds,
      generated_tokens: generated,
      prompt: settings.prompt,
      max_new_tokens: settings.maxNewTokens,
      skipped,
    },
  };
}
