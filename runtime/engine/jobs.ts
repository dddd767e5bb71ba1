// The stages as jobs an engine runs: plain, serializable descriptions (model paths or URLs,
// problems, settings, an output path in the platform's storage), so the same job runs in-thread
// or crosses a worker boundary unchanged. Each job opens what it needs and closes it again.
import { exportGguf, type ExportGgufProgress, type ExportGgufSummary, type GgufExportType } from '../gguf/export.ts';
import { type BackendChoice, createBackend } from '../backend/index.ts';
import type { BackendInfo, QuantDType } from '../backend/types.ts';
import { pairQuantize, quantizedFingerprint, quantizeOption } from '../quant/option.ts';
import { badInputError } from '../errors.ts';
import { DEFAULT_EVAL, type EvalEvent, type EvalProblem, type EvalRecord, type EvalSummary, evaluate, type PromptType } from '../eval/evaluate.ts';
import { claimEvalOut, evaluateToFile } from '../eval/journal.ts';
import { type EvalIdentity, type EvalRunSummary, type EvalSettings, finishedEval, readEvalSummary } from '../eval/results.ts';
import { type PairCheckEvent, pairCheckModels, type PairCheckRecord, type PairCheckReport, type PairCheckSettings } from '../eval/pair-check.ts';
import type { CausalLM } from '../model/model.ts';
import type { Platform } from '../platform/types.ts';
import { type PipelineEvent, type PipelineOptions, runPipeline } from '../run/pipeline.ts';
import type { RunReport } from '../run/report-types.ts';
import { adapterFingerprint, modelFingerprint, sha256Hex } from '../stage/fingerprint.ts';
import { finishedSampling, readSamplingState, type RunEvent, runSampling, type SamplingSummary } from '../stage/sampling.ts';
import { contextOf, DEFAULT_SETTINGS, type Problem, type SampleSettings, tooLongMessage, tooLongPrompts } from '../stage/sample.ts';
import type { ShardInfo } from '../shard/shard.ts';
import { type FinetuneEvent, type FinetuneSummary, finetune } from '../train/finetune.ts';
import type { FinetuneSettings } from '../train/settings.ts';
import { type MergeProgress, type MergeSummary, mergeAdapter } from '../train/merge.ts';
import { loadAdapter } from '../train/peft.ts';
import { type BenchmarkData, benchmarkJob, benchmarkSpecsOf, type BenchmarkJobResult } from './benchmark-job.ts';
import { type BackendJob, checkOut, type JobContext, type WarningEvent, withModels } from './job-context.ts';

export type { BackendJob, JobContext, WarningEvent } from './job-context.ts';

/** A job over an expert and an amateur: each may be quantized on its own (overriding `quantize`). */
interface PairJob extends BackendJob {
  quantizeExpert?: QuantDType;
  quantizeAmateur?: QuantDType;
}

/** The whole loop (runPipeline) without the host-bound parts: platform, signal and events come from the engine. */
export type RunJob = Omit<PipelineOptions, 'platform' | 'signal' | 'onEvent'> & {
  /** After the loop, the expert before and after on these benchmarks (the paper's table): into
   * OUT/benchmarks/{expert,expert-lightreasoner}/, the second paired against the first, with the
   * evaluation's token budget and batch size. Evaluated afresh on every run (also with resume). */
  benchmarks?: BenchmarkData[];
};

/** What a run reports: the loop's events, and with `benchmarks` the benchmark job's, tagged by model (both in PipelineEvent). */
export type RunJobEvent = PipelineEvent;

/** The run's report (report.json's content), with `benchmarks` the after-model's table. */
export type RunJobResult = RunReport & { benchmarks?: BenchmarkJobResult };

export interface SampleJob extends PairJob {
  expert: string;
  amateur: string;
  problems: Problem[];
  /** The samples JSONL path in the storage (beside it: .state.json, .summary.json). */
  out: string;
  settings?: Partial<SampleSettings>;
  resume?: boolean;
  /** One shard of a larger problem list (runtime/shard/shard.ts): `problems` are this shard's, `out`
   * its shard file. A shard that is already finished is not run again (see SampleJobEvent). */
  shard?: ShardInfo;
  /** Skip the problems whose prompt does not fit the models' context (a warning names them) instead of refusing the job. */
  skipInvalid?: boolean;
  /** Where the problems came from, for messages (e.g. the data file). */
  source?: string;
  /** The data's identity in the run's state (default: SHA-256 of the problems as JSON); the CLI
   * gives its data file's digest, so its runs resume as before. */
  dataDigest?: string;
  /** Create the folder of `out` when missing (default true: an app names a storage path; the CLI
   * passes false, as a missing folder is likely a typo there). */
  createFolder?: boolean;
}

/** What a sample job reports besides the sampling's own events: warnings, and that its shard was already finished. */
export type SampleJobEvent = RunEvent | WarningEvent | { status: 'already-finished'; summary: SamplingSummary };

export interface FinetuneJob extends BackendJob {
  model: string;
  /** Path of the samples JSONL in the storage (what a sample job wrote). */
  samples: string;
  out: string;
  settings?: Partial<FinetuneSettings>;
  resume?: boolean;
  /** Start afresh in a non-empty `out` (this job's own files are replaced, others kept). */
  overwrite?: boolean;
  baseModelName?: string;
}

export interface EvaluateJob extends BackendJob {
  model: string;
  /** An adapter directory (storage path or URL) to evaluate the model with. */
  adapter?: string;
  problems: EvalProblem[];
  settings?: { prompt?: PromptType; maxNewTokens?: number; batchSize?: number };
  /** Write the records here (a storage path; OUT.summary.json beside it), journaled as batches
   * finish so that `resume` continues an interrupted evaluation (runtime/eval/journal.ts). */
  out?: string;
  /** Continue the evaluation in `out`: its finished problems are kept (a finished one is returned as is). */
  resume?: boolean;
  /** Replace an earlier evaluation in `out`. */
  overwrite?: boolean;
  /** One shard of a larger problem list (needs `out`, the shard's file): a finished one is not run again. */
  shard?: ShardInfo;
  /** Don't decode problems whose prompt + maxNewTokens exceeds the model's context: they count as wrong (records say `skipped`). */
  skipInvalid?: boolean;
  /** Where the problems came from, for messages (e.g. the data file). */
  source?: string;
  /** The data's identity in the summary (default: SHA-256 of the problems as JSON); the CLI gives its file's digest. */
  dataDigest?: string;
}

/** What an evaluate job reports: the evaluation's events, warnings, loading progress, and that its shard was already finished. */
export type EvaluateJobEvent =
  | EvalEvent
  | WarningEvent
  | { status: 'loading'; loaded: number; total: number }
  | { status: 'already-finished'; summary: EvalRunSummary };

export interface EvaluateJobResult {
  records: EvalRecord[];
  /** With `out`: the written summary (with settings and identity); else the plain one. */
  summary: EvalSummary | EvalRunSummary;
  /** With `out` and `resume`: problems that were finished before this call. */
  resumed?: number;
  /** With `out` and `resume`: the evaluation had finished before this call. */
  finished?: boolean;
}

export interface PairCheckJob extends PairJob {
  expert: string;
  amateur: string;
  /** Problems with gold answers (a `dev` set: pair-check chooses pairs and settings). */
  problems: EvalProblem[];
  settings?: Partial<PairCheckSettings>;
}

export async function runJob(ctx: JobContext, job: RunJob, onEvent?: (e: RunJobEvent) => void): Promise<RunJobResult> {
  checkOut(job.out, 'run');
  const { benchmarks, ...loop } = job;
  // Checked before hours of sampling and fine-tuning, not after.
  if (benchmarks) benchmarkSpecsOf(benchmarks.map((b) => b.name));
  const report = await runPipeline({ ...loop, platform: ctx.platform, signal: ctx.signal, onEvent });
  if (!benchmarks) return report;
  return { ...report, benchmarks: await runBenchmarks(ctx, job, benchmarks, onEvent) };
}

/** run's benchmarks: the expert, then the expert with the run's adapter paired against it. */
async function runBenchmarks(ctx: JobContext, job: RunJob, benchmarks: BenchmarkData[], onEvent?: (e: RunJobEvent) => void): Promise<BenchmarkJobResult> {
  const fs = ctx.platform.fs;
  const dir = fs.join(job.out, 'benchmarks');
  const common = {
    model: job.expert,
    benchmarks,
    backend: job.backend,
    threads: job.threads,
    overwrite: true,
    directory: true,
    settings: {
      prompt: DEFAULT_EVAL.prompt,
      maxNewTokens: job.evalSettings?.maxNewTokens ?? DEFAULT_EVAL.maxNewTokens,
      batchSize: job.evalSettings?.batchSize ?? DEFAULT_EVAL.batchSize,
    },
  };
  await benchmarkJob(ctx, { ...common, out: fs.join(dir, 'expert') }, (event) => onEvent?.({ status: 'benchmarks', model: 'expert', event }));
  const after = { ...common, adapter: fs.join(job.out, 'adapter'), out: fs.join(dir, 'expert-lightreasoner'), pairedWith: fs.join(dir, 'expert') };
  return benchmarkJob(ctx, after, (event) => onEvent?.({ status: 'benchmarks', model: 'expert-lightreasoner', event }));
}

export async function sampleJob(ctx: JobContext, job: SampleJob, onEvent?: (e: SampleJobEvent) => void): Promise<SamplingSummary> {
  // A shard may be empty (more shards than batches); a whole job may not.
  if (!Array.isArray(job.problems) || (job.problems.length === 0 && !job.shard))
    throw badInputError('sample: no problems (give problems: [{ id, question }, …])');
  checkOut(job.out, 'sample');
  const fs = ctx.platform.fs;
  const slash = job.out.lastIndexOf('/');
  if (job.createFolder !== false && slash > 0) await fs.mkdir?.(job.out.slice(0, slash));
  const [ef, af, data] = await Promise.all([
    modelFingerprint(fs, job.expert),
    modelFingerprint(fs, job.amateur),
    job.dataDigest ?? sha256Hex(new TextEncoder().encode(JSON.stringify(job.problems))),
  ]);
  const [qe, qa] = pairQuantize(job, 'sample: ');
  const settings: SampleSettings = { ...DEFAULT_SETTINGS, ...job.settings };
  const ids = {
    expert: { source: job.expert, fingerprint: quantizedFingerprint(ef, qe) },
    amateur: { source: job.amateur, fingerprint: quantizedFingerprint(af, qa) },
    data,
  };
  if (job.shard) {
    // Skipped before any model is loaded. The backend `auto` picks is known only once it starts,
    // so with backend auto the finished run's backend stands.
    const state = await readSamplingState(fs, job.out);
    const backend = job.backend === undefined || job.backend === 'auto' ? state?.identity.backend : job.backend;
    const done =
      state &&
      (await finishedSampling(fs, { out: job.out, settings, problems: job.shard.problems, shard: job.shard, identity: { ...ids, backend: backend! } }));
    if (done) {
      onEvent?.({ status: 'already-finished', summary: done });
      return done;
    }
  }
  const warn = (message: string) => onEvent?.({ status: 'warning', message });
  return withModels(
    ctx,
    job,
    [job.expert, job.amateur],
    ([expert, amateur], backends) =>
      runSampling({
        fs,
        expert,
        amateur,
        problems: fittingProblems(expert, amateur, job, settings, warn),
        out: job.out,
        resume: job.resume,
        shard: job.shard,
        signal: ctx.signal,
        onEvent,
        settings,
        identity: { ...ids, backend: backends[0].info.kind },
      }),
    warn,
  );
}

/**
 * The job's problems whose prompt fits the models' context, or a refusal naming those that do not
 * (skipped with a warning under skipInvalid): the same ones on every run of the same job (data,
 * models and settings decide), so a resumed run continues the same list and gives the same bytes.
 */
function fittingProblems(expert: CausalLM, amateur: CausalLM, job: SampleJob, settings: SampleSettings, warn: (m: string) => void): Problem[] {
  const long = tooLongPrompts(expert, amateur, job.problems, settings);
  if (long.length === 0) return job.problems;
  const context = contextOf(expert, amateur);
  const message = tooLongMessage(long, settings.maxNewTokens, context, job.source);
  if (!job.skipInvalid) throw badInputError(`${message}; or pass --skip-invalid to skip such problems`, job.source);
  // Warned even when progress is off: which problems the output lacks is part of the result.
  warn(`skipping ${long.length} problem(s) (--skip-invalid): ${message}`);
  const skipped = new Set(long.map((x) => x.problem));
  const problems = job.problems.filter((p) => !skipped.has(p));
  if (problems.length === 0)
    throw badInputError(
      `${job.source ?? 'sample'}: no problem fits the models' context (max_position_embeddings ${context}) with --max-new-tokens ${settings.maxNewTokens}`,
      job.source,
    );
  return problems;
}

export async function finetuneJob(
  ctx: JobContext,
  job: FinetuneJob,
  onEvent?: (e: FinetuneEvent) => void,
  onWarning?: (m: string) => void,
): Promise<FinetuneSummary> {
  checkOut(job.out, 'finetune');
  const fs = ctx.platform.fs;
  const samplesText = await fs.readText(job.samples);
  return withModels(
    ctx,
    job,
    [job.model],
    ([model]) =>
      finetune({
        fs,
        model,
        samplesText,
        samplesFile: job.samples,
        out: job.out,
        settings: job.settings,
        resume: job.resume,
        overwrite: job.overwrite,
        baseModelName: job.baseModelName,
        signal: ctx.signal,
        onEvent,
        onWarning,
      }),
    onWarning,
  );
}

export async function evaluateJob(ctx: JobContext, job: EvaluateJob, onEvent?: (e: EvaluateJobEvent) => void): Promise<EvaluateJobResult> {
  const fs = ctx.platform.fs;
  const out = job.out;
  const settings: EvalSettings = {
    prompt: job.settings?.prompt ?? DEFAULT_EVAL.prompt,
    maxNewTokens: job.settings?.maxNewTokens ?? DEFAULT_EVAL.maxNewTokens,
    batchSize: job.settings?.batchSize ?? DEFAULT_EVAL.batchSize,
  };
  let identity: Omit<EvalIdentity, 'backend'> | null = null;
  if (job.shard && out === undefined) throw badInputError('evaluate: shard needs out (the shard writes its part of that file)');
  if (out !== undefined) {
    checkOut(out, 'evaluate');
    // A shard's file is its own: a finished one is skipped below, an interrupted one resumed.
    if (!job.shard) await claimEvalOut(fs, out, { resume: job.resume, overwrite: job.overwrite, flag: 'out' });
    const slash = out.lastIndexOf('/');
    if (slash > 0) await fs.mkdir?.(out.slice(0, slash));
    const data = job.dataDigest ?? sha256Hex(new TextEncoder().encode(JSON.stringify(job.problems.map(({ id, question, gold }) => ({ id, question, gold })))));
    const [mf, af, dataSha] = await Promise.all([modelFingerprint(fs, job.model), job.adapter ? adapterFingerprint(fs, job.adapter) : null, data]);
    identity = {
      model: { source: job.model, fingerprint: quantizedFingerprint(mf, quantizeOption(job.quantize, 'evaluate: quantize')) },
      adapter: job.adapter && af ? { source: job.adapter, fingerprint: af } : null,
      data: dataSha,
    };
    const done = job.shard && !job.overwrite ? await finishedEvalShard(fs, out, settings, identity, job.backend, job.shard) : null;
    if (done) {
      onEvent?.({ status: 'already-finished', summary: done });
      return { records: [], summary: done, finished: true };
    }
  }
  const warn = (message: string) => onEvent?.({ status: 'warning', message });
  const onProgress = (p: { loaded: number; total: number }) => onEvent?.({ status: 'loading', loaded: p.loaded, total: p.total });
  return withModels(
    ctx,
    job,
    [job.model],
    async ([model]) => {
      if (job.adapter) model.adapter = await loadAdapter(fs, job.adapter, model);
      const common = { signal: ctx.signal, onEvent, skipTooLong: job.skipInvalid === true, file: job.source };
      const result: EvaluateJobResult =
        out === undefined || identity === null
          ? await evaluate(model, job.problems, { ...settings, ...common })
          : await evaluateToFile(model, job.problems, { ...common, fs, out, settings, identity, shard: job.shard, resume: job.resume, onWarning: warn });
      // Warned even when progress is off: which problems were not decoded is part of the result.
      const skipped = result.records.filter((r) => r.skipped !== undefined);
      if (skipped.length) {
        const list =
          skipped
            .slice(0, 10)
            .map((r) => JSON.stringify(r.id))
            .join(', ') + (skipped.length > 10 ? `, … (${skipped.length - 10} more)` : '');
        warn(
          `${skipped.length} problem(s) not decoded, counted as wrong (--skip-invalid; prompt + --max-new-tokens exceeds max_position_embeddings ${model.config.maxPositions}): ${list}`,
        );
      }
      return result;
    },
    warn,
    onProgress,
  );
}

/** A finished shard's summary when `out` holds one for these settings and identity, else null. The
 * backend `auto` picks is known only once it starts, so with backend auto the finished run's stands. */
async function finishedEvalShard(
  fs: Platform['fs'],
  out: string,
  settings: EvalSettings,
  ids: Omit<EvalIdentity, 'backend'>,
  backend: BackendChoice | undefined,
  shard: ShardInfo,
): Promise<EvalRunSummary | null> {
  const before = await readEvalSummary(fs, out);
  const kind = backend === undefined || backend === 'auto' ? (before?.identity.backend ?? 'auto') : backend;
  return finishedEval(fs, out, { settings, identity: { ...ids, backend: kind }, shard });
}

/** Greedy vs contrastive decoding of a pair on problems with answers (runtime/eval/pair-check.ts). */
export async function pairCheckJob(
  ctx: JobContext,
  job: PairCheckJob,
  onEvent?: (e: PairCheckEvent) => void,
): Promise<{ report: PairCheckReport; records: PairCheckRecord[] }> {
  if (!Array.isArray(job.problems) || job.problems.length === 0) throw badInputError('pair-check: no problems (give problems: [{ id, question, gold }, …])');
  return withModels(ctx, job, [job.expert, job.amateur], ([expert, amateur]) =>
    pairCheckModels(expert, amateur, job.problems, job.settings, { signal: ctx.signal, onEvent }),
  );
}

export interface MergeJob {
  /** The base model directory (storage path or URL). */
  model: string;
  /** The adapter directory (storage path or URL). */
  adapter: string;
  /** Where the merged model goes (a storage path): loads in transformers without peft. */
  out: string;
}

export async function mergeJob(ctx: JobContext, job: MergeJob, onEvent?: (p: MergeProgress) => void): Promise<MergeSummary> {
  checkOut(job.out, 'merge');
  return mergeAdapter(ctx.platform.fs, job.model, job.adapter, job.out, { signal: ctx.signal, onProgress: onEvent });
}

export interface ExportGgufJob {
  /** The model directory (storage path or URL). */
  model: string;
  /** A LoRA adapter directory (storage path or URL) merged in first. */
  adapter?: string;
  type: GgufExportType;
  /** The .gguf file to write (a storage path). */
  out: string;
}

/** The model (optionally with an adapter merged in) as one GGUF file for llama.cpp (runtime/gguf/export.ts). */
export async function exportGgufJob(ctx: JobContext, job: ExportGgufJob, onEvent?: (p: ExportGgufProgress) => void): Promise<ExportGgufSummary> {
  checkOut(job.out, 'export-gguf');
  return exportGguf(ctx.platform.fs, job.model, job.out, { type: job.type, adapter: job.adapter, signal: ctx.signal, onProgress: onEvent });
}

/** What the engine's host offers: the platform, whether threads can run, and the backend `auto` picks. */
export interface EngineInfo {
  platform: Platform['name'];
  /** Browsers: whether the page is cross-origin isolated (needed for Wasm threads). */
  crossOriginIsolated: boolean | null;
  /** Whether this thread runs inside a Web Worker. */
  inWorker: boolean;
  backend: BackendInfo;
}

export async function engineInfo(ctx: JobContext, job: BackendJob = {}): Promise<EngineInfo> {
  const b = await createBackend(job.backend ?? 'auto', ctx.platform, { threads: job.threads });
  const g = globalThis as { crossOriginIsolated?: boolean; WorkerGlobalScope?: unknown; document?: unknown };
  try {
    return {
      platform: ctx.platform.name,
      crossOriginIsolated: g.crossOriginIsolated ?? null,
      inWorker: typeof g.WorkerGlobalScope !== 'undefined' && g.document === undefined,
      backend: { ...b.info },
    };
  } finally {
    b.destroy();
  }
}
