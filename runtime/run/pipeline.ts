// The whole LightReasoner loop as one job (the CLI's `run`): stage 1 sampling → stage 2 LoRA
// fine-tuning → zero-shot evaluation of the amateur, the expert before and the expert after (with the
// adapter, unmerged) on held-out problems → report.json + report.html. Optionally the paper's
// baseline beside it: rejection-sampling SFT (greedy expert trajectories on the same training
// problems, kept when their final answer is right, cross-entropy over every position).
//
// Portable: host I/O comes through a Platform (the FileSystem must write, append, rename and
// remove), progress through events tagged by `status`, cancellation through an AbortSignal.
//
// Files in `out`:
//   samples.jsonl (+ .state.json, .summary.json)   stage 1's samples
//   adapter/          the LightReasoner LoRA adapter (PEFT), train_log.jsonl, train_summary.json
//   sft/trajectories.jsonl, sft/adapter/           with compareSft
//   eval/<model>.jsonl (+ .summary.json)           per-problem results of each evaluation
//                                                  (.partial while it runs: runtime/eval/journal.ts)
//   report.json, report.html
// A non-empty `out` is refused unless resuming or overwriting; only these entries are ever replaced.

import type { BackendChoice } from '../backend/index.ts';
import { requireTraining } from '../backend/training.ts';
import type { Backend, QuantDType } from '../backend/types.ts';
import { defaultMixJsonl } from '../data/default-mix.ts';
import { badInputError, LightReasonerError, throwIfAborted } from '../errors.ts';
import { DEFAULT_EVAL, type EvalEvent, type EvalProblem, type EvalRecord, type EvalSummary, parseEvalProblems, type PromptType } from '../eval/evaluate.ts';
import type { BenchmarkEvent } from '../eval/benchmark-event.ts';
import { evaluateToFile } from '../eval/journal.ts';
import { parseGold } from '../eval/grade.ts';
import { type PairCheckEvent, pairCheckModels } from '../eval/pair-check.ts';
import { pairedComparison, wilsonInterval } from '../eval/stats.ts';
import type { HubRevision } from '../hub/ids.ts';
import type { CausalLM } from '../model/model.ts';
import type { FileSystem, Platform } from '../platform/types.ts';
import { adapterFingerprint, modelFingerprint, sha256Hex } from '../stage/fingerprint.ts';
import type { PairDiagnostics } from '../stage/diagnostics.ts';
import { type RunEvent as SampleRunEvent, runSampling } from '../stage/sampling.ts';
import { DEFAULT_SETTINGS, parseProblems, type SampleSettings } from '../stage/sample.ts';
import { DEFAULT_FINETUNE, finetune, type FinetuneEvent, type FinetuneSummary } from '../train/finetune.ts';
import type { FinetuneSettings } from '../train/settings.ts';
import type { LoraAdapter } from '../train/lora.ts';
import { loadAdapter } from '../train/peft.ts';
import { openModels } from '../session.ts';
import { pairQuantize, quantizedFingerprint } from '../quant/option.ts';
import { finishedFinetune, prepareRunDir } from './run-dir.ts';
import { renderReport } from './report.ts';
import { histogram, klEdges, modelInfo, perKind, pickExamples, readLog, seedSummary, stepEdges } from './report-data.ts';
import { type WhatChanged, whatChanged } from './what-changed.ts';
import type { EvalModel, EvalResult, ModelInfo, RunReport, SeedRuns } from './report-types.ts';
import { sftTrajectoriesToFile } from './sft.ts';
import { readEvalOutput, readSamplingOutput } from './stage-outputs.ts';

/** A training problem: the gold answer (normalized, parseGold) is optional — LightReasoner never
 * uses it; the SFT baseline's rejection sampling does when it is there. */
export interface TrainProblem {
  id: string;
  question: string;
  gold: string | null;
  /** 1-based line of the input file, for messages. */
  line?: number;
}

export type Stage = 'load' | 'pair-check' | 'sample' | 'finetune' | 'eval' | 'sft-trajectories' | 'sft-finetune' | 'report';

export type PipelineEvent =
  | { status: 'stage'; stage: Stage; state: 'start' | 'done'; seconds?: number; model?: EvalModel }
  | { status: 'pair-check'; event: PairCheckEvent }
  | { status: 'sample'; event: SampleRunEvent }
  | { status: 'finetune'; objective: 'kl' | 'sft'; event: FinetuneEvent }
  | { status: 'eval'; model: EvalModel; event: EvalEvent }
  | { status: 'trajectories'; done: number; total: number; kept: number }
  | { status: 'warning'; message: string }
  /** After stage 1, before any training: what the samples say about the pair. */
  | { status: 'diagnostics'; diagnostics: PairDiagnostics }
  /** After the loop, with the run job's `benchmarks` (runtime/engine/jobs.ts runJob): the benchmark job's events, by model. */
  | { status: 'benchmarks'; model: 'expert' | 'expert-lightreasoner'; event: BenchmarkEvent }
  | { status: 'done'; report: RunReport };

export interface PipelineOptions {
  platform: Platform;
  /** Model directories (the platform's paths or URLs). */
  expert: string;
  amateur: string;
  train: TrainProblem[];
  eval: EvalProblem[];
  /** Names of the data, for the report ("generated: sample set, seed 0" or a file path). */
  trainSource?: string;
  evalSource?: string;
  /** The commit each data set was read at when it came from the Hub (the CLI's hf://datasets/…). */
  trainHub?: HubRevision | null;
  evalHub?: HubRevision | null;
  out: string;
  backend?: BackendChoice;
  sample?: Partial<SampleSettings>;
  finetune?: Partial<FinetuneSettings>;
  evalSettings?: { prompt?: PromptType; maxNewTokens?: number; batchSize?: number };
  /** Before sampling: pair-check (runtime/eval/pair-check.ts) on these problems — greedy vs CD at
   * the run's α, and CD at its β-selected steps — with the evaluation's prompt and token budget. */
  pairCheck?: { problems: EvalProblem[]; source?: string };
  /** Add the rejection-sampling SFT baseline. */
  compareSft?: boolean;
  /** SFT: optimizer steps (default: the LightReasoner run's maxSteps) and trajectory length at most
   * (default: the evaluation's maxNewTokens, so trajectories reach their final answer). */
  sftSteps?: number;
  sftMaxNewTokens?: number;
  /** Fine-tuning seeds: each trains and evaluates its own adapter (and SFT adapter) on the one set
   * of samples; the first is the run's headline (adapter/), the others go to adapter-seed<S>/.
   * Default: [finetune.seed]. */
  seeds?: number[];
  /** Wasm threads per model (default: the host's hardware concurrency). */
  threads?: number;
  /** Quantize both models at load ('q8_0' or 'q4_0', issue 30); quantizeExpert / quantizeAmateur
   * set one model's own (the expert's is what stage 2 fine-tunes: LoRA on a frozen quantized base). */
  quantize?: QuantDType;
  quantizeExpert?: QuantDType;
  quantizeAmateur?: QuantDType;
  /** adapter_config.json's base_model_name_or_path (default: the expert directory's name). */
  baseModelName?: string;
  /**
   * Continue an interrupted run in `out` (a killed process, a reloaded page): sampling resumes
   * after its last committed problem (byte-identical samples; refused when the models, data or
   * settings differ), a finished fine-tuning is kept, an unfinished one resumes from its latest
   * checkpoint (finetune.saveSteps > 0) or starts again; a finished evaluation is kept, an
   * interrupted one keeps its finished batches of problems and decodes the rest (byte-identical
   * records; refused when its settings, model, adapter or data differ). Without it (and without
   * overwrite) a non-empty `out` is refused.
   */
  resume?: boolean;
  /** Start afresh in an `out` that holds files: this job's own entries are replaced, others kept. */
  overwrite?: boolean;
  /** Every stage already ran elsewhere (the cluster executors): read samples.jsonl, adapter/ and
   * eval/*.jsonl from `out` (runtime/run/stage-outputs.ts) and write the report only. */
  fromStageOutputs?: boolean;
  signal?: AbortSignal;
  onEvent?: (e: PipelineEvent) => void;
}

type WritableFs = FileSystem & Required<Pick<FileSystem, 'writeFileAtomic' | 'mkdir' | 'rename' | 'rm' | 'appendFile' | 'truncate'>>;

function needFs(fs: FileSystem): asserts fs is WritableFs {
  if (!fs.writeFileAtomic || !fs.mkdir || !fs.rename || !fs.rm || !fs.appendFile || !fs.truncate)
    throw new LightReasonerError('UNSUPPORTED', '`run` needs a file system that can write, append, truncate, rename and remove');
}

/** Training problems from JSONL: {question, id?} and, when present, a gold answer. */
export function parseTrainProblems(text: string, opts: { file?: string } = {}): TrainProblem[] {
  const problems = parseProblems(text, { file: opts.file });
  const golds = new Map<string, string | null>();
  for (const [i, raw] of text.split('\n').entries()) {
    const line = raw.trim();
    if (!line) continue;
    const o = JSON.parse(line) as { id?: unknown; answer?: unknown; solution?: unknown };
    const id = o.id === undefined ? String(i) : String(o.id);
    golds.set(id, o.answer !== undefined || o.solution !== undefined ? parseGold(o) || null : null);
  }
  return problems.map((p) => ({ ...p, gold: golds.get(p.id) ?? null }));
}

/** The embedded default's problems: the generator's `sample` set to train on, `eval` held out, each the
 * embedded pair's mix of plain and shallow-cue problems (runtime/data/default-mix.ts). */
export function defaultProblems(trainCount: number, evalCount: number): { train: TrainProblem[]; eval: EvalProblem[] } {
  const mix = (n: number, set: 'sample' | 'eval') => (n > 0 ? parseEvalProblems(defaultMixJsonl(n, set), { file: `generated ${set} set` }) : []);
  return { train: mix(trainCount, 'sample').map((p) => ({ id: p.id, question: p.question, gold: p.gold })), eval: mix(evalCount, 'eval') };
}

const time = () => performance.now() / 1000;

function disposeAdapter(model: CausalLM, a: LoraAdapter): void {
  for (const layer of a.layers) for (const p of Object.values(layer)) if (p) model.backend.dispose(p.a), model.backend.dispose(p.b);
}

/** What every stage step shares: the options, the resolved settings and the run directory's state. */
interface RunContext {
  o: PipelineOptions;
  fs: WritableFs;
  out: string;
  signal?: AbortSignal;
  emit: (e: PipelineEvent) => void;
  sampleSettings: SampleSettings;
  ftSettings: FinetuneSettings;
  evalPrompt: PromptType;
  evalMaxNew: number;
  evalBatch: number;
  /** The SFT baseline's optimizer steps and trajectory length at most. */
  sftSteps: number;
  sftMaxNew: number;
  /** reuse: every stage ran elsewhere (fromStageOutputs), so their outputs are read. */
  reuse: boolean;
  resume: boolean;
  samplesFile: string;
  /** Destroyed when the run ends, however it ends. */
  backends: Backend[];
}

/** The loaded pair and the identities (fingerprints, data hash) that key its resumable outputs. */
interface LoadedPair {
  expert: CausalLM;
  /** Released (null) once its evaluation is done. */
  amateur: CausalLM | null;
  amateurInfo: ModelInfo;
  loadSeconds: number;
  /** The models' fingerprints and the training data's hash. */
  ef: string;
  af: string;
  dataSha: string;
}

/** The evaluations' shared state: each model's headline records and seconds. */
interface Evaluations {
  records: Partial<Record<EvalModel, EvalRecord[]>>;
  stage: RunReport['stages']['eval'];
  data: string;
}

interface SeedRun {
  seed: number;
  ft: FinetuneSummary;
  seconds: number;
  ev: EvalResult;
}
type Tuned = SeedRun & { seedRuns: SeedRuns | undefined };

/** Nothing without compareSft; a stage and a null evaluation when no trajectory was kept. */
interface SftOutcome {
  stage?: RunReport['stages']['sft'];
  ev?: EvalResult | null;
  loss?: [number, number][];
  seeds?: SeedRuns;
}

/** Check the options and resolve every setting; prepare (or, reusing stage outputs, just name) the run directory. */
async function startRun(o: PipelineOptions): Promise<RunContext> {
  const { platform, out, signal } = o;
  const fs = platform.fs;
  needFs(fs);
  const emit = (e: PipelineEvent) => o.onEvent?.(e);
  if (o.train.length === 0) throw badInputError('no training problems');
  if (o.eval.length === 0) throw badInputError('no evaluation problems');
  const sampleSettings: SampleSettings = { ...DEFAULT_SETTINGS, ...o.sample };
  const ftSettings: FinetuneSettings = { ...DEFAULT_FINETUNE, saveSteps: 0, system: sampleSettings.system, ...o.finetune, objective: 'kl' };
  const evalPrompt = o.evalSettings?.prompt ?? DEFAULT_EVAL.prompt;
  const evalMaxNew = o.evalSettings?.maxNewTokens ?? DEFAULT_EVAL.maxNewTokens;
  const evalBatch = o.evalSettings?.batchSize ?? DEFAULT_EVAL.batchSize;
  const sftSteps = o.sftSteps ?? ftSettings.maxSteps;
  const sftMaxNew = o.sftMaxNewTokens ?? evalMaxNew;
  throwIfAborted(signal);

  const reuse = o.fromStageOutputs === true;
  if (reuse && (o.compareSft || (o.seeds?.length ?? 1) > 1)) throw badInputError('a run from stage outputs has one seed and no SFT baseline');
  const { resume, samplesFile } = reuse
    ? { resume: true, samplesFile: fs.join(out, 'samples.jsonl') }
    : await prepareRunDir(fs, out, { resume: o.resume, overwrite: o.overwrite });
  return {
    o,
    fs,
    out,
    signal,
    emit,
    sampleSettings,
    ftSettings,
    evalPrompt,
    evalMaxNew,
    evalBatch,
    sftSteps,
    sftMaxNew,
    reuse,
    resume,
    samplesFile,
    backends: [],
  };
}

/** Open both models (one backend for both, or one each on Wasm) and fingerprint them and the training data. */
async function loadPair(c: RunContext): Promise<LoadedPair> {
  const { o, fs, emit } = c;
  emit({ status: 'stage', stage: 'load', state: 'start' });
  const t = time();
  const onWarning = (message: string) => emit({ status: 'warning', message });
  // One backend for both, or one each on Wasm: openModels (runtime/session.ts) decides, as for
  // the `sample` command and the jobs.
  const quantize = pairQuantize(o, '');
  const opened = await openModels([o.expert, o.amateur], {
    platform: o.platform,
    backend: o.backend,
    threads: o.threads,
    signal: c.signal,
    onWarning,
    quantize,
  });
  c.backends.push(...opened.backends);
  requireTraining(c.backends[0], '`run` (its stage 2 fine-tunes)'); // before any sample is drawn
  const [expert, amateur] = opened.models;
  const amateurInfo = modelInfo(amateur);
  const loadSeconds = time() - t;
  emit({ status: 'stage', stage: 'load', state: 'done', seconds: loadSeconds });
  // The data's identity: `line` is where a problem came from, not data (hashing it would change
  // the identity of runs started before problems carried it).
  const trainData = JSON.stringify(o.train.map(({ id, question, gold }) => ({ id, question, gold })));
  const [ef, af, dataSha] = await Promise.all([
    modelFingerprint(fs, o.expert),
    modelFingerprint(fs, o.amateur),
    sha256Hex(new TextEncoder().encode(trainData)),
  ]);
  return { expert, amateur, amateurInfo, loadSeconds, ef: quantizedFingerprint(ef, quantize[0]), af: quantizedFingerprint(af, quantize[1]), dataSha };
}

/** Pair-check: can this pair's contrast point toward right answers at all? (Only when asked.) */
async function pairCheckStep(c: RunContext, pair: LoadedPair): Promise<RunReport['pair_check']> {
  if (!c.o.pairCheck) return undefined;
  c.emit({ status: 'stage', stage: 'pair-check', state: 'start' });
  const { problems, source = 'caller' } = c.o.pairCheck;
  const { report } = await pairCheckModels(
    pair.expert,
    pair.amateur!,
    problems,
    { alphas: [c.sampleSettings.alpha], betas: [c.sampleSettings.beta], maxNewTokens: c.evalMaxNew, batchSize: c.evalBatch, prompt: c.evalPrompt },
    {
      signal: c.signal,
      file: source,
      onEvent: (event) => c.emit({ status: 'pair-check', event }),
    },
  );
  c.emit({ status: 'stage', stage: 'pair-check', state: 'done', seconds: report.seconds });
  return { ...report, data: { source, problems: problems.length } };
}

/** Stage 1: contrastive sampling into samples.jsonl, collecting every contrasted step's KL for the charts. */
async function sampleStep(c: RunContext, pair: LoadedPair) {
  const { o, fs, emit, sampleSettings } = c;
  emit({ status: 'stage', stage: 'sample', state: 'start' });
  const t = time();
  const kls: number[] = [],
    klSel: boolean[] = [],
    stepIdx: number[] = [];
  const sampling = c.reuse
    ? await readSamplingOutput(fs, c.samplesFile, sampleSettings, o.train.length)
    : await runSampling({
        fs,
        expert: pair.expert,
        amateur: pair.amateur!,
        problems: o.train.map(({ id, question, line }) => ({ id, question, line })),
        settings: sampleSettings,
        out: c.samplesFile,
        resume: c.resume,
        signal: c.signal,
        identity: {
          expert: { source: o.expert, fingerprint: pair.ef },
          amateur: { source: o.amateur, fingerprint: pair.af },
          data: pair.dataSha,
          backend: c.backends[0].info.kind,
        },
        onEvent: (e) => {
          if (e.status === 'problem') for (const s of e.result.steps) kls.push(s.kl), klSel.push(s.selected), stepIdx.push(s.step);
          emit({ status: 'sample', event: e });
        },
      });
  const seconds = c.reuse ? sampling.wall_seconds : time() - t;
  emit({ status: 'stage', stage: 'sample', state: 'done', seconds });
  emit({ status: 'diagnostics', diagnostics: sampling.diagnostics });
  if (sampling.selected_steps === 0) {
    throw badInputError(
      `sampling kept no step (no KL ≥ beta ${sampleSettings.beta} in ${sampling.contrasted_steps} steps of ${sampling.problems} problems): lower --beta or use more problems (--max-questions)`,
    );
  }
  return { sampling, seconds, kls, klSel, stepIdx };
}

/**
 * Evaluate one model on the held-out problems into eval/<fileName>.jsonl. Each evaluation journals
 * its finished batches (runtime/eval/journal.ts): a resumed run keeps a finished evaluation whole
 * and an interrupted one's finished problems.
 */
async function evaluateModel(
  c: RunContext,
  pair: LoadedPair,
  evals: Evaluations,
  name: EvalModel,
  model: CausalLM,
  fileName: string = name,
  adapter: { source: string; fingerprint: string } | null = null,
): Promise<EvalResult> {
  const { o, fs, emit } = c;
  throwIfAborted(c.signal);
  emit({ status: 'stage', stage: 'eval', state: 'start', model: name });
  const file = fs.join(c.out, 'eval', `${fileName}.jsonl`);
  const modelId = name === 'amateur' ? { source: o.amateur, fingerprint: pair.af } : { source: o.expert, fingerprint: pair.ef };
  const r = c.reuse
    ? await readEvalOutput(fs, file, o.eval, { prompt: c.evalPrompt, maxNewTokens: c.evalMaxNew })
    : await evaluateToFile(model, o.eval, {
        fs,
        out: file,
        resume: c.resume,
        redoOtherAdapter: adapter !== null,
        signal: c.signal,
        settings: { prompt: c.evalPrompt, maxNewTokens: c.evalMaxNew, batchSize: c.evalBatch },
        identity: { model: modelId, adapter, data: evals.data },
        onEvent: (event) => emit({ status: 'eval', model: name, event }),
        onWarning: (message) => emit({ status: 'warning', message }),
      });
  const seconds = r.summary.seconds;
  emit({ status: 'stage', stage: 'eval', state: 'done', model: name, seconds });
  const s: EvalSummary = r.summary;
  const result: EvalResult = {
    accuracy: s.accuracy,
    ci95: wilsonInterval(s.correct, s.total),
    correct: s.correct,
    total: s.total,
    seconds,
    generated_tokens: s.generated_tokens,
    file,
  };
  if (name !== 'amateur' && name !== 'expert_before') result.paired_vs_before = pairedComparison(evals.records.expert_before!, r.records);
  if (fileName === name) {
    // The headline run of each model (the first seed's); other seeds are kept in their files.
    evals.records[name] = r.records;
    evals.stage[name] = { seconds };
  }
  return result;
}

/** The untrained models: the amateur (then its memory is given back before training) and the expert before. */
async function evaluateBaselines(c: RunContext, pair: LoadedPair, evals: Evaluations) {
  const amateur = await evaluateModel(c, pair, evals, 'amateur', pair.amateur!);
  if (c.backends.length > 1) {
    // The amateur is done: give its memory back before training.
    c.backends.pop()!.destroy();
  }
  pair.amateur = null;
  pair.expert.adapter = null;
  const before = await evaluateModel(c, pair, evals, 'expert_before', pair.expert);
  return { amateur, before };
}

/** The report's "what changed": the contrast-preferred continuations, before and after the adapter in `dir`. */
async function whatChangedStep(c: RunContext, expert: CausalLM, dir: string): Promise<WhatChanged> {
  const a = await loadAdapter(c.fs, dir, expert);
  try {
    return await whatChanged(expert, a, await c.fs.readText(c.samplesFile), { system: c.sampleSettings.system });
  } finally {
    disposeAdapter(expert, a);
  }
}

/** Evaluate the expert with the adapter in `dir` attached (unmerged), then detach and free it. */
async function evaluateWithAdapter(c: RunContext, pair: LoadedPair, evals: Evaluations, dir: string, name: EvalModel, fileName?: string): Promise<EvalResult> {
  const { expert } = pair;
  const a = await loadAdapter(c.fs, dir, expert);
  expert.adapter = a;
  try {
    return await evaluateModel(c, pair, evals, name, expert, fileName, { source: dir, fingerprint: await adapterFingerprint(c.fs, dir) });
  } finally {
    expert.adapter = null;
    disposeAdapter(expert, a);
  }
}

/** Fine-tune and evaluate once per seed on the same samples; the first seed is the headline (`dir`), the others `dir`-seed<S>. */
async function tuneSeeds(
  c: RunContext,
  pair: LoadedPair,
  evals: Evaluations,
  seeds: number[],
  name: 'expert_after' | 'expert_sft',
  dir: string,
  tune: (seed: number, dir: string) => Promise<FinetuneSummary>,
): Promise<Tuned> {
  const runs: SeedRun[] = [];
  for (const [k, seed] of seeds.entries()) {
    const d = k === 0 ? dir : `${dir}-seed${seed}`;
    const t1 = time();
    const ft = await tune(seed, d);
    const seconds = time() - t1;
    runs.push({ seed, ft, seconds, ev: await evaluateWithAdapter(c, pair, evals, d, name, k === 0 ? name : `${name}-seed${seed}`) });
  }
  const seedRuns: SeedRuns | undefined = seeds.length > 1 ? seedSummary(runs) : undefined;
  return { ...runs[0], seedRuns };
}

/** Stage 2: the LightReasoner (KL) fine-tuning per seed into adapter/ — kept when finished, resumed when not. */
async function finetuneStep(c: RunContext, pair: LoadedPair, evals: Evaluations, seeds: number[], adapterDir: string): Promise<Tuned> {
  const { fs, emit } = c;
  const samplesText = await fs.readText(c.samplesFile);
  return tuneSeeds(c, pair, evals, seeds, 'expert_after', adapterDir, async (seed, dir) => {
    emit({ status: 'stage', stage: 'finetune', state: 'start' });
    const t1 = time();
    const done = c.resume ? await finishedFinetune(fs, dir) : null;
    if (done) {
      emit({ status: 'stage', stage: 'finetune', state: 'done', seconds: 0 });
      return done;
    }
    if (c.reuse)
      throw badInputError(`${dir}: no finished fine-tuning (train_summary.json and adapter_model.safetensors); run the fine-tuning stage first`, dir);
    const ft = await finetune({
      fs,
      model: pair.expert,
      samplesText,
      samplesFile: c.samplesFile,
      out: dir,
      settings: { ...c.ftSettings, seed },
      signal: c.signal,
      resume: c.resume && (await fs.exists(dir)),
      baseModelName: c.o.baseModelName,
      onEvent: (event) => emit({ status: 'finetune', objective: 'kl', event }),
      onWarning: (message) => emit({ status: 'warning', message }),
    });
    emit({ status: 'stage', stage: 'finetune', state: 'done', seconds: time() - t1 });
    return ft;
  });
}

/** The expert's trajectories on the training problems, rejection-sampled into sftDir (kept on --resume when they match). */
async function sftTrajectoriesStep(c: RunContext, pair: LoadedPair, sftDir: string) {
  const { o, fs, emit, sampleSettings, sftMaxNew, evalBatch } = c;
  emit({ status: 'stage', stage: 'sft-trajectories', state: 'start' });
  await fs.mkdir(sftDir);
  const traj = await sftTrajectoriesToFile(fs, sftDir, pair.expert, o.train, {
    system: sampleSettings.system,
    maxNewTokens: sftMaxNew,
    batchSize: evalBatch,
    signal: c.signal,
    onProgress: (done, kept) => emit({ status: 'trajectories', done, total: o.train.length, kept }),
    resume: c.resume,
    key: {
      system: sampleSettings.system,
      maxNewTokens: sftMaxNew,
      batchSize: evalBatch,
      expert: { source: o.expert, fingerprint: pair.ef },
      data: pair.dataSha,
    },
  });
  emit({ status: 'stage', stage: 'sft-trajectories', state: 'done', seconds: traj.seconds });
  return traj;
}

/** The paper's baseline: rejection-sampled expert trajectories, then SFT on them per seed into sft/adapter/. */
async function sftBaseline(c: RunContext, pair: LoadedPair, evals: Evaluations, seeds: number[]): Promise<SftOutcome> {
  const { o, fs, emit } = c;
  const sftDir = fs.join(c.out, 'sft');
  const traj = await sftTrajectoriesStep(c, pair, sftDir);
  const { kept, trajTokens, file: trajFile, seconds: trajSeconds } = traj;
  const base = {
    seconds: trajSeconds,
    trajectory_seconds: trajSeconds,
    train_seconds: 0,
    problems: o.train.length,
    trajectory_tokens: trajTokens,
    trajectories: kept,
    rejected: o.train.length - kept,
    steps: 0,
    tuned_tokens: 0,
    tokens_processed: 0,
    final_loss: null,
  };
  if (kept === 0) {
    const why = `no expert trajectory on the ${o.train.length} training problems has a right final answer, so rejection-sampling SFT has nothing to train on`;
    emit({ status: 'warning', message: `SFT baseline skipped: ${why}` });
    return { stage: { ...base, skipped: why }, ev: null };
  }
  const trajText = await fs.readText(trajFile);
  const sft = await tuneSeeds(c, pair, evals, seeds, 'expert_sft', fs.join(sftDir, 'adapter'), async (seed, dir) => {
    emit({ status: 'stage', stage: 'sft-finetune', state: 'start' });
    const t1 = time();
    // Kept or continued only on the trajectories it was trained on.
    const keep = c.resume && traj.reused;
    const done = keep ? await finishedFinetune(fs, dir) : null;
    if (done) {
      emit({ status: 'stage', stage: 'sft-finetune', state: 'done', seconds: 0 });
      return done;
    }
    if (!keep && (await fs.exists(dir))) await fs.rm(dir);
    // The same settings and optimizer-step budget as LightReasoner (unless sftSteps says otherwise).
    const r = await finetune({
      fs,
      model: pair.expert,
      samplesText: trajText,
      samplesFile: trajFile,
      out: dir,
      signal: c.signal,
      baseModelName: o.baseModelName,
      resume: keep && (await fs.exists(dir)),
      settings: { ...c.ftSettings, objective: 'sft', maxSteps: c.sftSteps, seed },
      onEvent: (event) => emit({ status: 'finetune', objective: 'sft', event }),
      onWarning: () => {}, // the rejections are counted above
    });
    emit({ status: 'stage', stage: 'sft-finetune', state: 'done', seconds: time() - t1 });
    return r;
  });
  return {
    stage: {
      ...base,
      seconds: trajSeconds + sft.seconds,
      train_seconds: sft.seconds,
      steps: sft.ft.steps,
      tuned_tokens: sft.ft.tuned_tokens,
      tokens_processed: sft.ft.tokens_processed,
      final_loss: sft.ft.final_loss,
    },
    loss: await readLog(fs, fs.join(sftDir, 'adapter', 'train_log.jsonl')),
    ev: sft.ev,
    seeds: sft.seedRuns,
  };
}

/** What the stages produced, for the report. */
interface RunResults {
  pair: LoadedPair;
  pairCheck: RunReport['pair_check'];
  sampled: Awaited<ReturnType<typeof sampleStep>>;
  evals: Evaluations;
  baselines: { amateur: EvalResult; before: EvalResult };
  seeds: number[];
  lr: Tuned;
  adapterDir: string;
  sft: SftOutcome;
  T0: number;
}

/** Assemble the report and write report.json and report.html (each atomically). */
async function writeReport(c: RunContext, r: RunResults): Promise<RunReport> {
  const { o, fs, emit, sampleSettings } = c;
  const {
    pair,
    pairCheck,
    sampled: { sampling, kls, klSel, stepIdx },
    lr,
    sft,
  } = r;
  emit({ status: 'stage', stage: 'report', state: 'start' });
  const changed = await whatChangedStep(c, pair.expert, r.adapterDir);
  const maxNew = sampleSettings.maxNewTokens;
  const examples = pickExamples(r.evals.records);
  const byKind = perKind(o.eval, r.evals.records);
  const ft = lr.ft,
    ftSeconds = c.reuse ? ft.wall_seconds : lr.seconds;
  const report: RunReport = {
    version: 1,
    created: new Date().toISOString(),
    backend: c.backends[0].info.kind,
    models: { expert: modelInfo(pair.expert), amateur: pair.amateurInfo },
    data: {
      train: {
        source: o.trainSource ?? 'caller',
        hub: o.trainHub ?? null,
        problems: o.train.length,
        with_answers: o.train.filter((p) => p.gold !== null).length,
      },
      eval: { source: o.evalSource ?? 'caller', hub: o.evalHub ?? null, problems: o.eval.length },
    },
    settings: {
      sample: sampleSettings,
      finetune: ft.settings,
      eval: { prompt: c.evalPrompt, max_new_tokens: c.evalMaxNew },
      ...(o.compareSft ? { sft: { max_steps: c.sftSteps, max_new_tokens: c.sftMaxNew } } : {}),
    },
    eval: { amateur: r.baselines.amateur, expert_before: r.baselines.before, expert_after: lr.ev, ...(o.compareSft ? { expert_sft: sft.ev ?? null } : {}) },
    diagnostics: sampling.diagnostics,
    ...(pairCheck ? { pair_check: pairCheck } : {}),
    ...(byKind ? { by_kind: byKind } : {}),
    what_changed: changed,
    ...(lr.seedRuns ? { seeds: { seeds: r.seeds, expert_after: lr.seedRuns, ...(sft.seeds ? { expert_sft: sft.seeds } : {}) } } : {}),
    stages: {
      load: { seconds: pair.loadSeconds },
      ...(pairCheck ? { pair_check: { seconds: pairCheck.seconds } } : {}),
      sample: {
        seconds: r.sampled.seconds,
        problems: sampling.problems,
        samples: sampling.selected_steps,
        trajectory_tokens: sampling.trajectory_tokens,
        contrasted_steps: sampling.contrasted_steps,
        selection_rate: sampling.selection_rate,
        kl_mean: sampling.kl_mean,
      },
      finetune: { seconds: ftSeconds, steps: ft.steps, tuned_tokens: ft.tuned_tokens, tokens_processed: ft.tokens_processed, final_loss: ft.final_loss },
      ...(sft.stage ? { sft: sft.stage } : {}),
      eval: r.evals.stage,
    },
    charts: {
      kl: { beta: sampleSettings.beta, ...histogram(kls, klSel, klEdges(kls, sampleSettings.beta)) },
      steps: { max_new_tokens: maxNew, ...histogram(stepIdx, klSel, stepEdges(maxNew)) },
      loss: { kl: await readLog(fs, fs.join(r.adapterDir, 'train_log.jsonl')), ...(sft.loss ? { sft: sft.loss } : {}) },
    },
    examples,
    total_seconds: time() - r.T0,
  };
  await fs.writeFileAtomic(fs.join(c.out, 'report.json'), `${JSON.stringify(report, null, 2)}\n`);
  await fs.writeFileAtomic(fs.join(c.out, 'report.html'), renderReport(report));
  emit({ status: 'stage', stage: 'report', state: 'done' });
  emit({ status: 'done', report });
  return report;
}

/** Run the whole loop; resolves with the report also written to report.json / report.html. */
export async function runPipeline(o: PipelineOptions): Promise<RunReport> {
  const T0 = time();
  const c = await startRun(o);
  try {
    const pair = await loadPair(c);
    const pairCheck = await pairCheckStep(c, pair);
    const sampled = await sampleStep(c, pair);
    const evals: Evaluations = {
      records: {},
      stage: {},
      data: await sha256Hex(new TextEncoder().encode(JSON.stringify(o.eval.map(({ id, question, gold }) => ({ id, question, gold }))))),
    };
    const baselines = await evaluateBaselines(c, pair, evals);
    const seeds = o.seeds?.length ? o.seeds : [c.ftSettings.seed];
    if (new Set(seeds).size !== seeds.length || seeds.some((x) => !Number.isInteger(x) || x < 0))
      throw badInputError(`seeds must be distinct non-negative integers (got ${seeds.join(', ')})`);
    const adapterDir = c.fs.join(c.out, 'adapter');
    const lr = await finetuneStep(c, pair, evals, seeds, adapterDir);
    const sft = o.compareSft ? await sftBaseline(c, pair, evals, seeds) : {};
    return await writeReport(c, { pair, pairCheck, sampled, evals, baselines, seeds, lr, adapterDir, sft, T0 });
  } catch (e) {
    // Stages below may surface the signal's own AbortError (loadModel): one error code for callers.
    if (c.signal?.aborted && !(e instanceof LightReasonerError && e.code === 'ABORTED'))
      throw new LightReasonerError('ABORTED', 'aborted by the caller', { cause: e });
    throw e;
  } finally {
    for (const b of c.backends) b.destroy();
  }
}
