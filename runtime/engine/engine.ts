// One engine interface over the stages (as web-llm does it): the same calls run in this thread
// (createEngine) or inside a Web Worker (createWorkerEngine + serveEngine), with progress events
// and an AbortSignal per call either way. In a browser, run it in a worker: the page stays
// responsive, and only there can the Wasm backend use threads (a page's main thread may not block).
import type { Platform } from '../platform/types.ts';
import type { PairCheckEvent, PairCheckRecord, PairCheckReport } from '../eval/pair-check.ts';
import type { SamplingSummary } from '../stage/sampling.ts';
import { type ExportedAdapter, exportAdapter } from '../train/adapter-bytes.ts';
import type { FinetuneEvent, FinetuneSummary } from '../train/finetune.ts';
import type { MergeProgress, MergeSummary } from '../train/merge.ts';
import type { ExportGgufProgress, ExportGgufSummary } from '../gguf/export.ts';
import { type BenchmarkJob, benchmarkJob, type BenchmarkJobEvent, type BenchmarkJobResult } from './benchmark-job.ts';
import {
  type EngineInfo,
  engineInfo,
  evaluateJob,
  exportGgufJob,
  type ExportGgufJob,
  type EvaluateJob,
  type EvaluateJobEvent,
  type EvaluateJobResult,
  finetuneJob,
  type FinetuneJob,
  type MergeJob,
  mergeJob,
  type PairCheckJob,
  pairCheckJob,
  type RunJob,
  type RunJobEvent,
  type RunJobResult,
  runJob,
  sampleJob,
  type SampleJob,
  type SampleJobEvent,
  type WarningEvent,
} from './jobs.ts';

/** Per call: progress events and cancellation (an aborted call rejects with code ABORTED). */
export interface CallOptions<E> {
  onEvent?: (event: E) => void;
  signal?: AbortSignal;
}

export type FinetuneJobEvent = FinetuneEvent | WarningEvent;

export interface Engine {
  /** The platform, isolation, and the backend `auto` (or the one named) would give. */
  info(job?: { backend?: SampleJob['backend']; threads?: number }): Promise<EngineInfo>;
  /** The whole loop: sampling → fine-tuning → evaluation before/after → report.json + report.html in `out`. */
  run(job: RunJob, opts?: CallOptions<RunJobEvent>): Promise<RunJobResult>;
  /** Stage 1: contrastive samples into `out` (resumable). */
  sample(job: SampleJob, opts?: CallOptions<SampleJobEvent>): Promise<SamplingSummary>;
  /** Stage 2: a LoRA adapter (PEFT files) into `out` (resumable from checkpoints). */
  finetune(job: FinetuneJob, opts?: CallOptions<FinetuneJobEvent>): Promise<FinetuneSummary>;
  /** Zero-shot accuracy of a model (optionally with an adapter) on problems with gold answers. */
  evaluate(job: EvaluateJob, opts?: CallOptions<EvaluateJobEvent>): Promise<EvaluateJobResult>;
  /** The paper's benchmarks: each benchmark's grading, then the paper's table (optionally paired against a baseline's results). */
  benchmark(job: BenchmarkJob, opts?: CallOptions<BenchmarkJobEvent>): Promise<BenchmarkJobResult>;
  /** Before any training: does the pair's contrast point toward right answers? Greedy vs contrastive decoding, paired. */
  pairCheck(job: PairCheckJob, opts?: CallOptions<PairCheckEvent>): Promise<{ report: PairCheckReport; records: PairCheckRecord[] }>;
  /** The adapter merged into the base weights: a standalone Hugging Face model directory in `out`. */
  merge(job: MergeJob, opts?: CallOptions<MergeProgress>): Promise<MergeSummary>;
  /** The model (optionally with an adapter merged in) as one GGUF file (f32, f16, q8_0, q4_0) for llama.cpp, Ollama, LM Studio. */
  exportGguf(job: ExportGgufJob, opts?: CallOptions<ExportGgufProgress>): Promise<ExportGgufSummary>;
  /** An adapter directory's PEFT files as bytes, and as one zip. */
  exportAdapter(dir: string): Promise<ExportedAdapter>;
  /** A file from the engine's storage (e.g. `${out}/report.html`). */
  readFile(path: string): Promise<Uint8Array>;
  /** Remove a path from the engine's storage (e.g. to start a run afresh). */
  remove(path: string): Promise<void>;
  /** Whether a path exists in the engine's storage (or at a URL). */
  exists(path: string): Promise<boolean>;
  /** Free the engine (a worker engine terminates its worker). */
  dispose(): Promise<void>;
}

/** An engine that runs every call in this thread, on `platform`. */
export function createEngine(platform: Platform): Engine {
  const ctx = (signal?: AbortSignal) => ({ platform, signal });
  return {
    info: (job) => engineInfo(ctx(), job),
    run: (job, o = {}) => runJob(ctx(o.signal), job, o.onEvent),
    sample: (job, o = {}) => sampleJob(ctx(o.signal), job, o.onEvent),
    finetune: (job, o = {}) => finetuneJob(ctx(o.signal), job, o.onEvent, (message) => o.onEvent?.({ status: 'warning', message })),
    evaluate: (job, o = {}) => evaluateJob(ctx(o.signal), job, o.onEvent),
    benchmark: (job, o = {}) => benchmarkJob(ctx(o.signal), job, o.onEvent),
    pairCheck: (job, o = {}) => pairCheckJob(ctx(o.signal), job, o.onEvent),
    merge: (job, o = {}) => mergeJob(ctx(o.signal), job, o.onEvent),
    exportGguf: (job, o = {}) => exportGgufJob(ctx(o.signal), job, o.onEvent),
    exportAdapter: (dir) => exportAdapter(platform.fs, dir),
    readFile: (path) => platform.fs.readBytes(path),
    remove: async (path) => {
      await platform.fs.rm?.(path);
    },
    exists: (path) => platform.fs.exists(path),
    dispose: async () => {},
  };
}
