// The paper's benchmarks as a job (the CLI's `eval --benchmark` and `run --eval-benchmarks`): a
// model (optionally with an adapter) evaluated on each benchmark's problems with that benchmark's
// grading, then the paper's table (per benchmark + Avg.), with each benchmark paired against a
// baseline's records when `pairedWith` names them. The problems come with the job (the caller reads
// the data: a file, a Hub data set, an app's upload), so the job itself only needs the storage.
import { badInputError, LightReasonerError } from '../errors.ts';
import { readBaseRecords, evalIdentity } from '../eval/baseline.ts';
import type { BenchmarkEvent } from '../eval/benchmark-event.ts';
import { benchmarkSpec, type BenchmarkSpec, gradeBenchmarkOutput } from '../eval/benchmarks.ts';
import { DEFAULT_EVAL, type EvalProblem, evaluate, type PromptType } from '../eval/evaluate.ts';
import { type EvalRunSummary, type EvalSettings, evalSummaryPath, writeEvalResults } from '../eval/results.ts';
import { benchmarkResult, type BenchmarkResult, type BenchmarkTable, benchmarkTable, formatBenchmarkTable } from '../eval/table.ts';
import { claimOutFile } from '../io/out-dir.ts';
import type { CausalLM } from '../model/model.ts';
import type { FileSystem } from '../platform/types.ts';
import { sha256Hex } from '../stage/fingerprint.ts';
import { loadAdapter } from '../train/peft.ts';
import { type BackendJob, checkOut, type JobContext, withModels } from './job-context.ts';

/** One benchmark's problems (as runtime/eval/benchmarks.ts parseBenchmarkProblems gives them). */
export interface BenchmarkData {
  /** The toolkit's name (runtime/eval/benchmarks.ts BENCHMARK_NAMES), e.g. "gsm8k". */
  name: string;
  problems: EvalProblem[];
  /** The data's identity in the summary (default: SHA-256 of the problems as JSON); the CLI gives its data text's digest. */
  dataDigest?: string;
}

export interface BenchmarkJob extends BackendJob {
  model: string;
  /** An adapter directory to evaluate the model with. */
  adapter?: string;
  benchmarks: BenchmarkData[];
  settings?: { prompt?: PromptType; maxNewTokens?: number; batchSize?: number };
  /** Where the records go (a storage path): with one benchmark (and no `directory`) the JSONL file
   * (OUT.summary.json beside it); else a folder with NAME.jsonl per benchmark and table.md/table.json. */
  out?: string;
  /** `out` and `pairedWith` are folders even for one benchmark (run's use). */
  directory?: boolean;
  /** A baseline's results on the same problems (file or folder, as `out`): each benchmark gets the paired test against them. */
  pairedWith?: string;
  /** Replace existing results in `out`. */
  overwrite?: boolean;
  /** Problems whose prompt does not fit the context count as wrong instead of refusing the job. */
  skipInvalid?: boolean;
}

/** What the job reports (runtime/eval/benchmark-event.ts). */
export type BenchmarkJobEvent = BenchmarkEvent;

export interface BenchmarkJobResult {
  table: BenchmarkTable;
  /** The table as text (Markdown): the CLI's human result. */
  text: string;
  /** The table with what was evaluated: the CLI's --json document. */
  json: Record<string, unknown>;
}

interface Planned {
  spec: BenchmarkSpec;
  data: BenchmarkData;
  out?: string;
  base?: { id: string; correct: boolean }[];
}

export async function benchmarkJob(ctx: JobContext, job: BenchmarkJob, onEvent?: (e: BenchmarkJobEvent) => void): Promise<BenchmarkJobResult> {
  const fs = ctx.platform.fs;
  const specs = benchmarkSpecs(job);
  const directory = job.directory === true || specs.length > 1;
  const planned = await plan(fs, job, specs, directory);
  const settings: EvalSettings = {
    prompt: job.settings?.prompt ?? DEFAULT_EVAL.prompt,
    maxNewTokens: job.settings?.maxNewTokens ?? DEFAULT_EVAL.maxNewTokens,
    batchSize: job.settings?.batchSize ?? DEFAULT_EVAL.batchSize,
  };
  const warn = (message: string) => onEvent?.({ status: 'warning', message });
  const onProgress = (p: { loaded: number; total: number }) => onEvent?.({ status: 'loading', loaded: p.loaded, total: p.total });
  let rows: BenchmarkResult[];
  try {
    rows = await withModels(
      ctx,
      job,
      [job.model],
      async ([model]) => {
        if (job.adapter !== undefined) model.adapter = await loadAdapter(fs, job.adapter, model);
        const done: BenchmarkResult[] = [];
        for (const p of planned) done.push(await evaluateBenchmark(ctx, job, model, p, settings, onEvent));
        return done;
      },
      warn,
      onProgress,
    );
  } catch (e) {
    if (e instanceof LightReasonerError && e.code === 'ABORTED')
      throw new LightReasonerError('ABORTED', 'interrupted: no results written for the unfinished benchmark');
    throw e;
  }
  return writeTable(fs, job, rows, directory, onEvent);
}

/** The benchmarks' specs, checked before any work: known names, each once, at least one. */
export function benchmarkSpecsOf(names: readonly string[]): BenchmarkSpec[] {
  if (names.length === 0) throw badInputError('--benchmark: name at least one benchmark');
  const twice = names.find((n, i) => names.indexOf(n) !== i);
  if (twice !== undefined) throw badInputError(`--benchmark ${names.join(',')}: a benchmark is named twice ("${twice}")`);
  return names.map(benchmarkSpec);
}

function benchmarkSpecs(job: BenchmarkJob): BenchmarkSpec[] {
  if (!Array.isArray(job.benchmarks)) throw badInputError('benchmark: give benchmarks: [{ name, problems }, …]');
  if (job.out !== undefined) checkOut(job.out, 'benchmark');
  return benchmarkSpecsOf(job.benchmarks.map((b) => b.name));
}

/** Where each benchmark's results go (claimed now, before any decoding) and its baseline's records. */
async function plan(fs: FileSystem, job: BenchmarkJob, specs: BenchmarkSpec[], directory: boolean): Promise<Planned[]> {
  const planned: Planned[] = specs.map((spec, i) => {
    const data = job.benchmarks[i];
    if (!directory) return { spec, data, out: job.out, base: undefined };
    return { spec, data, out: job.out === undefined ? undefined : fs.join(job.out, `${spec.name}.jsonl`), base: undefined };
  });
  for (const p of planned) if (p.out !== undefined) await claimOutFile(fs, p.out, { overwrite: job.overwrite });
  if (job.pairedWith !== undefined) {
    for (const p of planned) {
      const file = directory ? fs.join(job.pairedWith, `${p.spec.name}.jsonl`) : job.pairedWith;
      p.base = await readBaseRecords(fs, file, p.data.problems);
    }
  }
  return planned;
}

/** One benchmark decoded and graded by its rules; its records written when the job has `out`. */
async function evaluateBenchmark(
  ctx: JobContext,
  job: BenchmarkJob,
  model: CausalLM,
  p: Planned,
  settings: EvalSettings,
  onEvent?: (e: BenchmarkJobEvent) => void,
): Promise<BenchmarkResult> {
  const { name, title } = p.spec;
  const { records, summary } = await evaluate(model, p.data.problems, {
    ...settings,
    signal: ctx.signal,
    skipTooLong: job.skipInvalid === true,
    file: title,
    grader: (output, gold) => gradeBenchmarkOutput(output, gold, name),
    onEvent: (event) => onEvent?.({ status: 'benchmark', name, title, event }),
  });
  if (p.out !== undefined) {
    const fs = ctx.platform.fs;
    const digest = p.data.dataDigest ?? (await sha256Hex(new TextEncoder().encode(JSON.stringify(p.data.problems))));
    const identity = { ...(await evalIdentity(fs, job.model, job.adapter, digest)), backend: model.backend.info.kind };
    const slash = p.out.lastIndexOf('/');
    if (slash > 0) await fs.mkdir?.(p.out.slice(0, slash));
    const run: EvalRunSummary = { kind: 'eval', output: p.out, ...summary, settings: { ...settings, benchmark: name }, identity };
    await writeEvalResults(fs, p.out, records, run);
    onEvent?.({ status: 'written', name, title, out: p.out, records: records.length, summary: evalSummaryPath(p.out) });
  }
  return benchmarkResult(name, title, records, p.base);
}

/** The paper's table from the rows; written beside the records (table.md, table.json) when `out` is a folder. */
async function writeTable(
  fs: FileSystem,
  job: BenchmarkJob,
  rows: BenchmarkResult[],
  directory: boolean,
  onEvent?: (e: BenchmarkJobEvent) => void,
): Promise<BenchmarkJobResult> {
  const table = benchmarkTable(rows);
  const text = formatBenchmarkTable(table, { model: job.adapter ?? job.model, baseline: job.pairedWith });
  if (directory && job.out !== undefined) {
    await fs.mkdir?.(job.out);
    await fs.writeFileAtomic!(fs.join(job.out, 'table.md'), text);
    await fs.writeFileAtomic!(fs.join(job.out, 'table.json'), JSON.stringify(table, null, 2) + '\n');
    onEvent?.({ status: 'table-written', out: fs.join(job.out, 'table.md') });
  }
  return { table, text, json: { ...table, model: job.model, adapter: job.adapter ?? null, ...(job.pairedWith ? { paired_with: job.pairedWith } : {}) } };
}
