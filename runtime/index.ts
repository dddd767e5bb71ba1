// The package root: what an app needs, the same in Node, Deno and the browser. Start an engine
// (in this thread, or in a Web Worker in a browser), then run the stages as jobs:
//
//   const engine = createEngine(platform);                 // or createWorkerEngine(new Worker(…))
//   const report = await engine.run({ expert, amateur, train, eval, out: 'runs/first' }, { onEvent, signal });
//   const { zip } = await engine.exportAdapter('runs/first/adapter');
//
// `platform` comes with the package's entry for the host (Node/Deno: files; browsers: URLs read by
// fetch, outputs in memory — createBrowserPlatform({ storage: 'opfs' }) for persistent storage).
// Everything below the engine is in `lightreasoner-wasm/internals`.
export { createEngine, type Engine, type CallOptions, type FinetuneJobEvent } from './engine/engine.ts';
export { createWorkerEngine, serveEngine, type MessageEndpoint } from './engine/worker.ts';
export type {
  RunJob,
  RunJobEvent,
  RunJobResult,
  SampleJob,
  FinetuneJob,
  EvaluateJob,
  PairCheckJob,
  MergeJob,
  EngineInfo,
  SampleJobEvent,
  EvaluateJobEvent,
  EvaluateJobResult,
  WarningEvent,
} from './engine/jobs.ts';
export type { BenchmarkJob, BenchmarkData, BenchmarkJobEvent, BenchmarkJobResult } from './engine/benchmark-job.ts';
export type { PairCheckEvent, PairCheckRecord, PairCheckReport, Verdict } from './eval/pair-check.ts';
export type { MergeProgress, MergeSummary } from './train/merge.ts';
export { openModel, type OpenModelOptions } from './session.ts';
export { generateGreedy, type GenerateOptions, type GenerateResult } from './model/generate.ts';
export type { CausalLM } from './model/model.ts';
export { LightReasonerError, type ErrorCode } from './errors.ts';
export type { Platform, FileSystem } from './platform/types.ts';
export { MemoryFileSystem } from './platform/memory-fs.ts';
export { BACKEND_CHOICES, type BackendChoice } from './backend/index.ts';
export type { BackendInfo } from './backend/types.ts';
export { exportAdapter, loadAdapterFromBytes, type AdapterFiles, type ExportedAdapter } from './train/adapter-bytes.ts';
export { loadAdapter } from './train/peft.ts';
export { generateProblems, problemsToJsonl, type GeneratedProblem, type GenerateProblemsOptions } from './data/problems.ts';
export { parseProblems, DEFAULT_SETTINGS as DEFAULT_SAMPLE_SETTINGS, type Problem, type SampleSettings } from './stage/sample.ts';
export { parseEvalProblems, type EvalProblem, type EvalRecord, type EvalSummary } from './eval/evaluate.ts';
export {
  BENCHMARKS,
  BENCHMARK_NAMES,
  gradeBenchmarkOutput,
  gradeRows,
  parseBenchmarkProblems,
  type BenchmarkName,
  type BenchmarkSpec,
  type BenchmarkGrade,
} from './eval/benchmarks.ts';
export { benchmarkResult, benchmarkTable, formatBenchmarkTable, type BenchmarkResult, type BenchmarkTable } from './eval/table.ts';
export { DEFAULT_FINETUNE, type FinetuneSummary } from './train/finetune.ts';
export type { FinetuneSettings } from './train/settings.ts';
export { parseTrainProblems, defaultProblems, type PipelineEvent, type TrainProblem } from './run/pipeline.ts';
export type { RunReport } from './run/report-types.ts';
export type { SamplingSummary, RunEvent as SampleEvent } from './stage/sampling.ts';
export { renderReport } from './run/report.ts';
// Models and data sets by name from the Hugging Face Hub (runtime/hub/): Node/Deno resolve into
// huggingface_hub's cache (with the entry's nodeHubFileSystem and hubEnvironment()); browsers read
// the Hub's URLs (hubModelUrl).
export {
  resolveModel,
  hubModelUrl,
  resolveDataset,
  datasetJsonl,
  parquetToJsonl,
  type ResolvedModel,
  type ResolvedDataset,
  type HubOptions,
  type HubProgress,
  type HubFileSystem,
} from './hub/index.ts';
export type { ExportGgufJob } from './engine/jobs.ts';
export type { ExportGgufProgress, ExportGgufSummary, GgufExportType } from './gguf/export.ts';
