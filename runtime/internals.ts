// The internals (`lightreasoner-wasm/internals`): every building block of the runtime, for tools
// and tests that go below the engine (kernels' backends, the trainer, the loaders). Everything
// here runs in Node, Deno and the browser; host I/O comes in through a Platform. Apps start from
// the package root (runtime/index.ts) instead.
export { createBackend, BACKEND_CHOICES, type BackendChoice } from './backend/index.ts';
export type { Backend, BackendInfo, Tensor, TrainingOps } from './backend/types.ts';
export { ReferenceBackend } from './backend/reference.ts';
export { LightReasonerError, type ErrorCode } from './errors.ts';
export type { Platform, FileSystem } from './platform/types.ts';
export { parseConfig, type ModelConfig } from './model/config.ts';
export { CausalLM, loadModel, type LoadModelOptions, type KVCache } from './model/model.ts';
export { generateGreedy, type GenerateOptions, type GenerateResult } from './model/generate.ts';
export { ModelTokenizer, type ChatMessage } from './model/tokenizer.ts';
export { readSafetensorsHeader, encodeSafetensors } from './io/safetensors.ts';
export { openModel, type OpenModelOptions } from './session.ts';
export { contrastPrompts, LABEL_SLOTS, type ContrastSettings, type ContrastEvent, type PromptResult, type StepResult } from './stage/contrast.ts';
export {
  sampleContrastive,
  parseProblems,
  checkVocabularies,
  promptIds,
  DEFAULT_SETTINGS,
  type Problem,
  type Sample,
  type SampleSettings,
  type SampleEvent,
  type ProblemResult,
} from './stage/sample.ts';
export { runSampling, type RunSamplingOptions, type RunEvent, type RunIdentity, type SamplingSummary } from './stage/sampling.ts';
export { modelFingerprint } from './stage/fingerprint.ts';
export { LORA_TARGETS, DEFAULT_LORA, peftKeys, type LoraConfig, type LoraAdapter, type LoraPair, type LoraTarget } from './train/lora.ts';
export {
  saveAdapter,
  loadAdapter,
  readAdapter,
  uploadAdapter,
  adapterToHost,
  saveHostAdapter,
  adapterSafetensors,
  adapterConfigJson,
  parseAdapterConfig,
  targetShape,
  baseWeightName,
  writeDirAtomic,
  ADAPTER_CONFIG,
  ADAPTER_WEIGHTS,
  type HostAdapter,
  type HostLoraPair,
  type SaveAdapterOptions,
} from './train/peft.ts';
export { mergeAdapter, mergeTensor, type MergeOptions, type MergeProgress, type MergeSummary } from './train/merge.ts';
export {
  extractAnswer,
  parseGold,
  normalizeAnswer,
  answerValue,
  answersEqual,
  gradeOutput,
  lastBoxed,
  lastNumber,
  type Extraction,
  type ExtractionMethod,
  type Grade,
  type GradeOptions,
} from './eval/grade.ts';
export {
  evaluate,
  parseEvalProblems,
  evalMessages,
  evalPromptIds,
  evalRecordsToJsonl,
  PROMPT_TYPES,
  QWEN25_MATH_COT_SYSTEM,
  DEFAULT_EVAL,
  type PromptType,
  type EvalProblem,
  type EvalRecord,
  type EvalSummary,
  type EvalEvent,
  type EvaluateOptions,
} from './eval/evaluate.ts';
export {
  generateProblems,
  problemsToJsonl,
  boxedSolution,
  formatAnswer,
  setOfQuestion,
  mulberry32,
  PROBLEM_SETS,
  SEED_RANGES,
  TEMPLATE_NAMES,
  type ProblemSet,
  type GeneratedProblem,
  type GenerateProblemsOptions,
} from './data/problems.ts';
export type { FinetuneSettings } from './train/settings.ts';
export { finetune, DEFAULT_FINETUNE, defaultMaxRows, type FinetuneEvent, type FinetuneOptions, type FinetuneSummary } from './train/finetune.ts';
export { Trainer, type TrainerSettings, type TrainerPosition, type StepResult as TrainStepResult } from './train/trainer.ts';
export { TrainPass, type PassInput } from './train/pass.ts';
export { parseSamples, packTrajectories, splitPasses, epochOrder, type TrainSample, type ParsedSamples, type Trajectory } from './train/data.ts';
export { initLora, AdamW, linearLr, clipCoefficient, HF_DEFAULTS, type OptimizerSettings } from './train/optimizer.ts';
export { OBJECTIVES, parseSftSamples, type Objective, type ParsedSftSamples } from './train/data.ts';
export { runPipeline, parseTrainProblems, defaultProblems, type PipelineOptions, type PipelineEvent, type TrainProblem, type Stage } from './run/pipeline.ts';
export { EVAL_MODELS, type RunReport, type EvalModel, type EvalResult, type Histogram, type ModelInfo } from './run/report-types.ts';
export { renderReport, formatSeconds } from './run/report.ts';
export { MemoryFileSystem } from './platform/memory-fs.ts';
export { httpFileSystem, routedFileSystem, isUrl } from './platform/browser.ts';
export { softwareAdapterName, type BackendOptions } from './backend/index.ts';
export { exportAdapter, loadAdapterFromBytes, adapterFilesFromZip, type AdapterFiles, type ExportedAdapter } from './train/adapter-bytes.ts';
export { defaultBaseModelName } from './train/peft.ts';
export {
  pairCheck,
  pairCheckModels,
  pairCheckVariants,
  pairVerdict,
  DEFAULT_PAIR_CHECK,
  type PairCheckSettings,
  type PairCheckOptions,
  type VariantReport,
} from './eval/pair-check.ts';
export {
  decodeVariants,
  type DecodeVariant,
  type DecoderModel,
  type VariantTrajectory,
  type PairDecodeSettings,
  type PairDecodeEvent,
} from './stage/pair-decode.ts';
export {
  runJob,
  sampleJob,
  finetuneJob,
  evaluateJob,
  pairCheckJob,
  mergeJob,
  engineInfo,
  type MergeJob,
  type RunJob,
  type SampleJob,
  type FinetuneJob,
  type EvaluateJob,
  type PairCheckJob,
  type EngineInfo,
} from './engine/jobs.ts';
export { benchmarkJob, type BenchmarkJob } from './engine/benchmark-job.ts';
export { parseShard, shardFromEnv, shardRange, shardInfo, shardPath, SHARD_COUNT_VAR, type Shard, type ShardInfo } from './shard/shard.ts';
export { gatherShards, type GatherOptions, type GatherResult } from './shard/gather.ts';
export { writeEvalResults, readEvalSummary, finishedEval, evalSummaryPath, type EvalRunSummary, type EvalIdentity, type EvalSettings } from './eval/results.ts';
export { finishedSampling } from './stage/sampling.ts';
export { adapterFingerprint, fileDigest } from './stage/fingerprint.ts';
export { memoryDigestCache, fileDigestCache, setDefaultDigestCache, type DigestCache } from './platform/digest-cache.ts';
export { quantize, dequantize, quantizationPolicy, typeBytes, QUANT_TYPES, type QuantType, type WeightType, type SourceDType } from './quant/index.ts';
export { exportGguf, GGUF_EXPORT_TYPES, type GgufExportType, type ExportGgufOptions, type ExportGgufProgress, type ExportGgufSummary } from './gguf/export.ts';
export { parseGgufHeader, type GgufHeader, type GgufTensorEntry } from './gguf/reader.ts';
export { exportGgufJob, type ExportGgufJob } from './engine/jobs.ts';
