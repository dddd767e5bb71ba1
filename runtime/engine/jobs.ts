// The stages as jobs an engine runs: plain, serializable descriptions (model paths or URLs,
// problems, settings, an output path in the platform's storage), so the same job runs in-thread
// or crosses a worker boundary unchanged. Each job opens what it needs and closes it again.
import { type BackendChoice, createBackend } from '../backend/index.ts';
import type { Backend, BackendInfo } from '../backend/types.ts';
import { badInputError } from '../errors.ts';
import { DEFAULT_EVAL, type EvalEvent, type EvalProblem, type EvalRecord, type EvalSummary, evaluate, type PromptType } from '../eval/evaluate.ts';
import { claimEvalOut, evaluateToFile } from '../eval/journal.ts';
import type { EvalIdentity, EvalSettings } from '../eval/results.ts';
import { type PairCheckEvent, pairCheckModels, type PairCheckRecord, type PairCheckReport, type PairCheckSettings } from '../eval/pair-check.ts';
import { type CausalLM, loadModel } from '../model/model.ts';
import { isUrl } from '../platform/browser.ts';
import type { Platform } from '../platform/types.ts';
import { type PipelineEvent, type PipelineOptions, runPipeline } from '../run/pipeline.ts';
import type { RunReport } from '../run/report-types.ts';
import { adapterFingerprint, modelFingerprint, sha256Hex } from '../stage/fingerprint.ts';
import { type RunEvent, runSampling, type SamplingSummary } from '../stage/run.ts';
import type { Problem, SampleSettings } from '../stage/sample.ts';
import { DEFAULT_SETTINGS } from '../stage/sample.ts';
import { type FinetuneEvent, type FinetuneSummary, finetune } from '../train/finetune.ts';
import type { FinetuneSettings } from '../train/settings.ts';
import { type MergeProgress, type MergeSummary, mergeAdapter } from '../train/merge.ts';
import { loadAdapter } from '../train/peft.ts';

interface BackendJob {
  backend?: BackendChoice;
  /** Wasm threads per model (default: the host's hardware concurrency). */
  threads?: number;
}

/** The whole loop (runPipeline) without the host-bound parts: platform, signal and events come from the engine. */
export type RunJob = Omit<PipelineOptions, 'platform' | 'signal' | 'onEvent'>;

export interface SampleJob extends BackendJob {
  expert: string;
  amateur: string;
  problems: Problem[];
  /** The samples JSONL path in the storage (beside it: .state.json, .summary.json). */
  out: string;
  settings?: Partial<SampleSettings>;
  resume?: boolean;
}

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
}

export interface PairCheckJob extends BackendJob {
  expert: string;
  amateur: string;
  /** Problems with gold answers (a `dev` set: pair-check chooses pairs and settings). */
  problems: EvalProblem[];
  settings?: Partial<PairCheckSettings>;
}

export interface JobContext {
  platform: Platform;
  signal?: AbortSignal;
}

/** Outputs go to the platform's storage: a URL there is a mistake best named before any work. */
function checkOut(out: unknown, what: string): asserts out is string {
  if (typeof out !== 'string' || out === '') throw badInputError(`${what}: out must be a path in the engine's storage (e.g. "runs/first")`);
  if (isUrl(out)) throw badInputError(`${what}: out is a URL (${out}); outputs cannot be written to a URL — give a path in the engine's storage (e.g. "runs/first")`, out);
}

/** A warning a job reports as an event: `{ status: 'warning', message }` (e.g. an optional model file taken as absent). */
export type WarningEvent = { status: 'warning'; message: string };

async function withModels<T>(ctx: JobContext, job: BackendJob, dirs: string[], body: (models: CausalLM[], backends: Backend[]) => Promise<T>, onWarning?: (m: string) => void): Promise<T> {
  const backends: Backend[] = [];
  const models: CausalLM[] = [];
  try {
    for (const dir of dirs) {
      // WebGPU and the reference share one backend; Wasm gives each model its own linear memory.
      if (backends.length === 0 || backends[0].info.kind === 'wasm') backends.push(await createBackend(job.backend ?? 'auto', ctx.platform, { threads: job.threads }));
      models.push(await loadModel(dir, { fs: ctx.platform.fs, backend: backends[backends.length - 1], signal: ctx.signal, onWarning }));
    }
    return await body(models, backends);
  } finally {
    for (const b of backends) b.destroy();
  }
}

export async function runJob(ctx: JobContext, job: RunJob, onEvent?: (e: PipelineEvent) => void): Promise<RunReport> {
  checkOut(job.out, 'run');
  return runPipeline({ ...job, platform: ctx.platform, signal: ctx.signal, onEvent });
}

export async function sampleJob(ctx: JobContext, job: SampleJob, onEvent?: (e: RunEvent | WarningEvent) => void): Promise<SamplingSummary> {
  if (!Array.isArray(job.problems) || job.problems.length === 0) throw badInputError('sample: no problems (give problems: [{ id, question }, …])');
  checkOut(job.out, 'sample');
  const fs = ctx.platform.fs;
  // An app names a storage path; unlike the CLI (where a missing folder is likely a typo), create it.
  const slash = job.out.lastIndexOf('/');
  if (slash > 0) await fs.mkdir?.(job.out.slice(0, slash));
  const [ef, af, data] = await Promise.all([modelFingerprint(fs, job.expert), modelFingerprint(fs, job.amateur), sha256Hex(new TextEncoder().encode(JSON.stringify(job.problems)))]);
  return withModels(ctx, job, [job.expert, job.amateur], ([expert, amateur], backends) =>
    runSampling({
      fs, expert, amateur, problems: job.problems, out: job.out, resume: job.resume, signal: ctx.signal, onEvent,
      settings: { ...DEFAULT_SETTINGS, ...job.settings },
      identity: { expert: { source: job.expert, fingerprint: ef }, amateur: { source: job.amateur, fingerprint: af }, data, backend: backends[0].info.kind },
    }),
    (message) => onEvent?.({ status: 'warning', message }),
  );
}

export async function finetuneJob(ctx: JobContext, job: FinetuneJob, onEvent?: (e: FinetuneEvent) => void, onWarning?: (m: string) => void): Promise<FinetuneSummary> {
  checkOut(job.out, 'finetune');
  const fs = ctx.platform.fs;
  const samplesText = await fs.readText(job.samples);
  return withModels(ctx, job, [job.model], ([model]) =>
    finetune({ fs, model, samplesText, samplesFile: job.samples, out: job.out, settings: job.settings, resume: job.resume, overwrite: job.overwrite, baseModelName: job.baseModelName, signal: ctx.signal, onEvent, onWarning }),
    onWarning,
  );
}

export async function evaluateJob(ctx: JobContext, job: EvaluateJob, onEvent?: (e: EvalEvent | WarningEvent) => void): Promise<{ records: EvalRecord[]; summary: EvalSummary }> {
  const fs = ctx.platform.fs;
  const out = job.out;
  let identity: Omit<EvalIdentity, 'backend'> | null = null;
  if (out !== undefined) {
    checkOut(out, 'evaluate');
    await claimEvalOut(fs, out, { resume: job.resume, overwrite: job.overwrite, flag: 'out' });
    const slash = out.lastIndexOf('/');
    if (slash > 0) await fs.mkdir?.(out.slice(0, slash));
    const data = JSON.stringify(job.problems.map(({ id, question, gold }) => ({ id, question, gold })));
    const [mf, af, dataSha] = await Promise.all([modelFingerprint(fs, job.model), job.adapter ? adapterFingerprint(fs, job.adapter) : null, sha256Hex(new TextEncoder().encode(data))]);
    identity = { model: { source: job.model, fingerprint: mf }, adapter: job.adapter && af ? { source: job.adapter, fingerprint: af } : null, data: dataSha };
  }
  return withModels(ctx, job, [job.model], async ([model]) => {
    if (job.adapter) model.adapter = await loadAdapter(fs, job.adapter, model);
    if (out === undefined || identity === null) return evaluate(model, job.problems, { ...job.settings, signal: ctx.signal, onEvent });
    const settings: EvalSettings = { prompt: job.settings?.prompt ?? DEFAULT_EVAL.prompt, maxNewTokens: job.settings?.maxNewTokens ?? DEFAULT_EVAL.maxNewTokens, batchSize: job.settings?.batchSize ?? DEFAULT_EVAL.batchSize };
    const r = await evaluateToFile(model, job.problems, { fs, out, settings, identity, resume: job.resume, signal: ctx.signal, onEvent });
    return { records: r.records, summary: r.summary };
  }, (message) => onEvent?.({ status: 'warning', message }));
}

/** Greedy vs contrastive decoding of a pair on problems with answers (runtime/eval/pair-check.ts). */
export async function pairCheckJob(ctx: JobContext, job: PairCheckJob, onEvent?: (e: PairCheckEvent) => void): Promise<{ report: PairCheckReport; records: PairCheckRecord[] }> {
  if (!Array.isArray(job.problems) || job.problems.length === 0) throw badInputError('pair-check: no problems (give problems: [{ id, question, gold }, …])');
  return withModels(ctx, job, [job.expert, job.amateur], ([expert, amateur]) => pairCheckModels(expert, amateur, job.problems, job.settings, { signal: ctx.signal, onEvent }));
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
    return { platform: ctx.platform.name, crossOriginIsolated: g.crossOriginIsolated ?? null, inWorker: typeof g.WorkerGlobalScope !== 'undefined' && g.document === undefined, backend: { ...b.info } };
  } finally {
    b.destroy();
  }
}
