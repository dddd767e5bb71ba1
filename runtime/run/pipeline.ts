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
import type { Backend } from '../backend/types.ts';
import { generateProblems } from '../data/problems.ts';
import { badInputError, LightReasonerError, throwIfAborted } from '../errors.ts';
import { DEFAULT_EVAL, type EvalEvent, type EvalProblem, type evaluate, type EvalSummary, parseEvalProblems, type PromptType } from '../eval/evaluate.ts';
import { evaluateToFile } from '../eval/journal.ts';
import { parseGold } from '../eval/grade.ts';
import { type PairCheckEvent, pairCheckModels } from '../eval/pair-check.ts';
import { meanSd, pairedComparison, wilsonInterval } from '../eval/stats.ts';
import { hubRevisionOf, type HubRevision } from '../hub/ids.ts';
import type { CausalLM } from '../model/model.ts';
import type { FileSystem, Platform } from '../platform/types.ts';
import { adapterFingerprint, modelFingerprint, sha256Hex } from '../stage/fingerprint.ts';
import type { PairDiagnostics } from '../stage/diagnostics.ts';
import { type RunEvent as SampleRunEvent, runSampling } from '../stage/run.ts';
import { DEFAULT_SETTINGS, parseProblems, type SampleSettings } from '../stage/sample.ts';
import { DEFAULT_FINETUNE, finetune, type FinetuneEvent, type FinetuneSummary } from '../train/finetune.ts';
import type { FinetuneSettings } from '../train/settings.ts';
import type { LoraAdapter } from '../train/lora.ts';
import { loadAdapter } from '../train/peft.ts';
import { openModels } from '../session.ts';
import { finishedFinetune, prepareRunDir } from './run-dir.ts';
import { renderReport } from './report.ts';
import { EVAL_MODELS, type EvalModel, type EvalResult, type Histogram, type ModelInfo, type RunReport, type SeedRuns } from './report-types.ts';
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
  if (!fs.writeFileAtomic || !fs.mkdir || !fs.rename || !fs.rm || !fs.appendFile || !fs.truncate) throw new LightReasonerError('UNSUPPORTED', '`run` needs a file system that can write, append, truncate, rename and remove');
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

/** The embedded default's problems: the generator's `sample` set to train on, `eval` held out. */
export function defaultProblems(trainCount: number, evalCount: number): { train: TrainProblem[]; eval: EvalProblem[] } {
  const train = generateProblems(0, trainCount, { set: 'sample' }).map((p) => ({ id: p.id, question: p.question, gold: parseGold({ answer: p.answer }) }));
  const evalText = generateProblems(0, evalCount, { set: 'eval' }).map((p) => JSON.stringify({ id: p.id, question: p.question, answer: p.answer })).join('\n');
  return { train, eval: evalCount > 0 ? parseEvalProblems(evalText, { file: 'generated eval set' }) : [] };
}

function modelInfo(m: CausalLM): ModelInfo {
  const c = m.config;
  const attn = c.hiddenSize * c.heads * c.headDim * 2 + c.hiddenSize * c.kvHeads * c.headDim * 2;
  const mlp = 3 * c.hiddenSize * c.intermediateSize;
  const emb = c.vocabSize * c.hiddenSize * (c.tieEmbeddings ? 1 : 2);
  return { source: m.source, hub: hubRevisionOf(m.source), model_type: c.modelType, parameters: c.layers * (attn + mlp + 2 * c.hiddenSize) + emb + c.hiddenSize, layers: c.layers, hidden_size: c.hiddenSize, vocab_size: c.vocabSize };
}

function histogram(values: number[], selected: boolean[], edges: number[]): Histogram {
  const n = edges.length - 1;
  const all = new Array<number>(n).fill(0), sel = new Array<number>(n).fill(0);
  for (const [j, v] of values.entries()) {
    let b = 0;
    while (b < n - 1 && v >= edges[b + 1]) b++;
    all[b]++;
    if (selected[j]) sel[b]++;
  }
  return { edges, all, selected: sel };
}

/** The smallest of 1, 2, 5 × 10^k that is ≥ x. */
function niceStep(x: number): number {
  if (!(x > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(x));
  for (const m of [1, 2, 5, 10]) if (m * p >= x * (1 - 1e-9)) return m * p;
  return 10 * p;
}

/** KL bins: about 30 of a round width up to the 99th percentile (the last bin holds the rest). */
function klEdges(kls: number[], beta: number): number[] {
  const sorted = [...kls].sort((a, b) => a - b);
  const p99 = sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(0.99 * sorted.length))] : 1;
  const hi = Math.max(p99, beta * 2, 1e-3);
  const w = niceStep(hi / 30);
  const bins = Math.max(1, Math.ceil(hi / w - 1e-9));
  return Array.from({ length: bins + 1 }, (_, j) => +(w * j).toPrecision(12));
}

const time = () => performance.now() / 1000;

async function readLog(fs: FileSystem, file: string): Promise<[number, number][]> {
  if (!(await fs.exists(file))) return [];
  return (await fs.readText(file)).split('\n').filter((l) => l.trim()).map((l) => {
    const o = JSON.parse(l) as { step: number; loss: number };
    return [o.step, o.loss] as [number, number];
  });
}

function seedSummary(runs: { seed: number; ev: EvalResult }[]): SeedRuns {
  const list = runs.map(({ seed, ev }) => ({ seed, accuracy: ev.accuracy, correct: ev.correct, ...ev.paired_vs_before! }));
  const { mean, sd } = meanSd(list.map((r) => r.accuracy));
  return { runs: list, accuracy: { mean, sd } };
}

function disposeAdapter(model: CausalLM, a: LoraAdapter): void {
  for (const layer of a.layers) for (const p of Object.values(layer)) if (p) (model.backend.dispose(p.a), model.backend.dispose(p.b));
}

/** Run the whole loop; resolves with the report also written to report.json / report.html. */
export async function runPipeline(o: PipelineOptions): Promise<RunReport> {
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
  const T0 = time();
  throwIfAborted(signal);

  const reuse = o.fromStageOutputs === true;
  if (reuse && (o.compareSft || (o.seeds?.length ?? 1) > 1)) throw badInputError('a run from stage outputs has one seed and no SFT baseline');
  const { resume, samplesFile } = reuse ? { resume: true, samplesFile: fs.join(out, 'samples.jsonl') } : await prepareRunDir(fs, out, { resume: o.resume, overwrite: o.overwrite });

  const backends: Backend[] = [];
  let expert: CausalLM | null = null, amateur: CausalLM | null = null;
  try {
    // ---- load ------------------------------------------------------------------------------
    emit({ status: 'stage', stage: 'load', state: 'start' });
    let t = time();
    const onWarning = (message: string) => emit({ status: 'warning', message });
    // One backend for both, or one each on Wasm: openModels (runtime/session.ts) decides, as for
    // the `sample` command and the jobs.
    const opened = await openModels([o.expert, o.amateur], { platform, backend: o.backend, threads: o.threads, signal, onWarning });
    backends.push(...opened.backends);
    requireTraining(backends[0], '`run` (its stage 2 fine-tunes)'); // before any sample is drawn
    [expert, amateur] = opened.models;
    const amateurInfo = modelInfo(amateur);
    const loadSeconds = time() - t;
    emit({ status: 'stage', stage: 'load', state: 'done', seconds: loadSeconds });
    // The data's identity: `line` is where a problem came from, not data (hashing it would change
    // the identity of runs started before problems carried it).
    const trainData = JSON.stringify(o.train.map(({ id, question, gold }) => ({ id, question, gold })));
    const [ef, af, dataSha] = await Promise.all([modelFingerprint(fs, o.expert), modelFingerprint(fs, o.amateur), sha256Hex(new TextEncoder().encode(trainData))]);

    // ---- pair-check: can this pair's contrast point toward right answers at all? -----------
    let pairCheck: RunReport['pair_check'];
    if (o.pairCheck) {
      emit({ status: 'stage', stage: 'pair-check', state: 'start' });
      const { problems, source = 'caller' } = o.pairCheck;
      const { report } = await pairCheckModels(expert, amateur, problems, { alphas: [sampleSettings.alpha], betas: [sampleSettings.beta], maxNewTokens: evalMaxNew, batchSize: evalBatch, prompt: evalPrompt }, {
        signal, file: source, onEvent: (event) => emit({ status: 'pair-check', event }),
      });
      pairCheck = { ...report, data: { source, problems: problems.length } };
      emit({ status: 'stage', stage: 'pair-check', state: 'done', seconds: report.seconds });
    }

    // ---- stage 1: sampling -----------------------------------------------------------------
    emit({ status: 'stage', stage: 'sample', state: 'start' });
    t = time();
    const kls: number[] = [], klSel: boolean[] = [], stepIdx: number[] = [];
    const sampling = reuse ? await readSamplingOutput(fs, samplesFile, sampleSettings, o.train.length) : await runSampling({
      fs, expert, amateur, problems: o.train.map(({ id, question, line }) => ({ id, question, line })), settings: sampleSettings, out: samplesFile, resume, signal,
      identity: { expert: { source: o.expert, fingerprint: ef }, amateur: { source: o.amateur, fingerprint: af }, data: dataSha, backend: backends[0].info.kind },
      onEvent: (e) => {
        if (e.status === 'problem') for (const s of e.result.steps) (kls.push(s.kl), klSel.push(s.selected), stepIdx.push(s.step));
        emit({ status: 'sample', event: e });
      },
    });
    const sampleSeconds = reuse ? sampling.wall_seconds : time() - t;
    emit({ status: 'stage', stage: 'sample', state: 'done', seconds: sampleSeconds });
    emit({ status: 'diagnostics', diagnostics: sampling.diagnostics });
    if (sampling.selected_steps === 0) {
      throw badInputError(`sampling kept no step (no KL ≥ beta ${sampleSettings.beta} in ${sampling.contrasted_steps} steps of ${sampling.problems} problems): lower --beta or use more problems (--max-questions)`);
    }

    // ---- evaluation helper -----------------------------------------------------------------
    const evalStage: RunReport['stages']['eval'] = {};
    const records: Partial<Record<EvalModel, Awaited<ReturnType<typeof evaluate>>['records']>> = {};
    const evalData = await sha256Hex(new TextEncoder().encode(JSON.stringify(o.eval.map(({ id, question, gold }) => ({ id, question, gold })))));
    // Each evaluation journals its finished batches (runtime/eval/journal.ts): a resumed run keeps a
    // finished evaluation whole and an interrupted one's finished problems.
    const runEval = async (name: EvalModel, model: CausalLM, fileName: string = name, adapter: { source: string; fingerprint: string } | null = null): Promise<EvalResult> => {
      throwIfAborted(signal);
      emit({ status: 'stage', stage: 'eval', state: 'start', model: name });
      const file = fs.join(out, 'eval', `${fileName}.jsonl`);
      const modelId = name === 'amateur' ? { source: o.amateur, fingerprint: af } : { source: o.expert, fingerprint: ef };
      const r = reuse
        ? await readEvalOutput(fs, file, o.eval, { prompt: evalPrompt, maxNewTokens: evalMaxNew })
        : await evaluateToFile(model, o.eval, {
          fs, out: file, resume, redoOtherAdapter: adapter !== null, signal, settings: { prompt: evalPrompt, maxNewTokens: evalMaxNew, batchSize: evalBatch }, identity: { model: modelId, adapter, data: evalData },
          onEvent: (event) => emit({ status: 'eval', model: name, event }), onWarning: (message) => emit({ status: 'warning', message }),
        });
      const seconds = r.summary.seconds;
      emit({ status: 'stage', stage: 'eval', state: 'done', model: name, seconds });
      const s: EvalSummary = r.summary;
      const result: EvalResult = { accuracy: s.accuracy, ci95: wilsonInterval(s.correct, s.total), correct: s.correct, total: s.total, seconds, generated_tokens: s.generated_tokens, file };
      if (name !== 'amateur' && name !== 'expert_before') result.paired_vs_before = pairedComparison(records.expert_before!, r.records);
      if (fileName === name) {
        // The headline run of each model (the first seed's); other seeds are kept in their files.
        records[name] = r.records;
        evalStage[name] = { seconds };
      }
      return result;
    };

    const evAmateur = await runEval('amateur', amateur);
    if (backends.length > 1) {
      // The amateur is done: give its memory back before training.
      backends.pop()!.destroy();
    }
    amateur = null;
    expert.adapter = null;
    const evBefore = await runEval('expert_before', expert);

    const withAdapter = async (dir: string, name: EvalModel, fileName?: string) => {
      const a = await loadAdapter(fs, dir, expert!);
      expert!.adapter = a;
      try {
        return await runEval(name, expert!, fileName, { source: dir, fingerprint: await adapterFingerprint(fs, dir) });
      } finally {
        expert!.adapter = null;
        disposeAdapter(expert!, a);
      }
    };
    // Fine-tune and evaluate once per seed on the same samples; the first seed is the headline.
    const seeds = o.seeds?.length ? o.seeds : [ftSettings.seed];
    if (new Set(seeds).size !== seeds.length || seeds.some((x) => !Number.isInteger(x) || x < 0)) throw badInputError(`seeds must be distinct non-negative integers (got ${seeds.join(', ')})`);
    const tuneSeeds = async (name: 'expert_after' | 'expert_sft', dir: string, tune: (seed: number, dir: string) => Promise<FinetuneSummary>) => {
      const runs: { seed: number; ft: FinetuneSummary; seconds: number; ev: EvalResult }[] = [];
      for (const [k, seed] of seeds.entries()) {
        const d = k === 0 ? dir : `${dir}-seed${seed}`;
        const t1 = time();
        const ft = await tune(seed, d);
        const seconds = time() - t1;
        runs.push({ seed, ft, seconds, ev: await withAdapter(d, name, k === 0 ? name : `${name}-seed${seed}`) });
      }
      const seedRuns: SeedRuns | undefined = seeds.length > 1 ? seedSummary(runs) : undefined;
      return { ...runs[0], seedRuns };
    };

    // ---- stage 2: fine-tuning --------------------------------------------------------------
    const samplesText = await fs.readText(samplesFile);
    const adapterDir = fs.join(out, 'adapter');
    const lr = await tuneSeeds('expert_after', adapterDir, async (seed, dir) => {
      emit({ status: 'stage', stage: 'finetune', state: 'start' });
      const t1 = time();
      const done = resume ? await finishedFinetune(fs, dir) : null;
      if (done) {
        emit({ status: 'stage', stage: 'finetune', state: 'done', seconds: 0 });
        return done;
      }
      if (reuse) throw badInputError(`${dir}: no finished fine-tuning (train_summary.json and adapter_model.safetensors); run the fine-tuning stage first`, dir);
      const ft = await finetune({
        fs, model: expert!, samplesText, samplesFile, out: dir, settings: { ...ftSettings, seed }, signal, resume: resume && (await fs.exists(dir)), baseModelName: o.baseModelName,
        onEvent: (event) => emit({ status: 'finetune', objective: 'kl', event }),
        onWarning: (message) => emit({ status: 'warning', message }),
      });
      emit({ status: 'stage', stage: 'finetune', state: 'done', seconds: time() - t1 });
      return ft;
    });
    const { ft, ev: evAfter } = lr, ftSeconds = reuse ? ft.wall_seconds : lr.seconds;

    // ---- the SFT baseline ------------------------------------------------------------------
    let sftStage: RunReport['stages']['sft'];
    let evSft: EvalResult | null | undefined;
    let sftLoss: [number, number][] | undefined;
    let sftSeeds: SeedRuns | undefined;
    if (o.compareSft) {
      emit({ status: 'stage', stage: 'sft-trajectories', state: 'start' });
      const sftDir = fs.join(out, 'sft');
      await fs.mkdir(sftDir);
      const traj = await sftTrajectoriesToFile(fs, sftDir, expert, o.train, {
        system: sampleSettings.system, maxNewTokens: sftMaxNew, batchSize: evalBatch, signal, onProgress: (done, kept) => emit({ status: 'trajectories', done, total: o.train.length, kept }),
        resume, key: { system: sampleSettings.system, maxNewTokens: sftMaxNew, batchSize: evalBatch, expert: { source: o.expert, fingerprint: ef }, data: dataSha },
      });
      const { kept, trajTokens, file: trajFile, seconds: trajSeconds } = traj;
      emit({ status: 'stage', stage: 'sft-trajectories', state: 'done', seconds: trajSeconds });
      const base = { seconds: trajSeconds, trajectory_seconds: trajSeconds, train_seconds: 0, problems: o.train.length, trajectory_tokens: trajTokens, trajectories: kept, rejected: o.train.length - kept, steps: 0, tuned_tokens: 0, tokens_processed: 0, final_loss: null };
      if (kept === 0) {
        const why = `no expert trajectory on the ${o.train.length} training problems has a right final answer, so rejection-sampling SFT has nothing to train on`;
        emit({ status: 'warning', message: `SFT baseline skipped: ${why}` });
        sftStage = { ...base, skipped: why };
        evSft = null;
      } else {
        const trajText = await fs.readText(trajFile);
        const sft = await tuneSeeds('expert_sft', fs.join(sftDir, 'adapter'), async (seed, dir) => {
          emit({ status: 'stage', stage: 'sft-finetune', state: 'start' });
          const t1 = time();
          // Kept or continued only on the trajectories it was trained on.
          const keep = resume && traj.reused;
          const done = keep ? await finishedFinetune(fs, dir) : null;
          if (done) {
            emit({ status: 'stage', stage: 'sft-finetune', state: 'done', seconds: 0 });
            return done;
          }
          if (!keep && (await fs.exists(dir))) await fs.rm(dir);
          // The same settings and optimizer-step budget as LightReasoner (unless sftSteps says otherwise).
          const r = await finetune({
            fs, model: expert!, samplesText: trajText, samplesFile: trajFile, out: dir, signal, baseModelName: o.baseModelName, resume: keep && (await fs.exists(dir)),
            settings: { ...ftSettings, objective: 'sft', maxSteps: sftSteps, seed },
            onEvent: (event) => emit({ status: 'finetune', objective: 'sft', event }),
            onWarning: () => {}, // the rejections are counted above
          });
          emit({ status: 'stage', stage: 'sft-finetune', state: 'done', seconds: time() - t1 });
          return r;
        });
        sftStage = { ...base, seconds: trajSeconds + sft.seconds, train_seconds: sft.seconds, steps: sft.ft.steps, tuned_tokens: sft.ft.tuned_tokens, tokens_processed: sft.ft.tokens_processed, final_loss: sft.ft.final_loss };
        sftLoss = await readLog(fs, fs.join(sftDir, 'adapter', 'train_log.jsonl'));
        evSft = sft.ev;
        sftSeeds = sft.seedRuns;
      }
    }

    // ---- report ----------------------------------------------------------------------------
    emit({ status: 'stage', stage: 'report', state: 'start' });
    const maxNew = sampleSettings.maxNewTokens;
    const stepBin = Math.max(1, Math.ceil(maxNew / 32));
    const stepEdges = Array.from({ length: Math.ceil(maxNew / stepBin) + 1 }, (_, j) => j * stepBin);
    const examples: RunReport['examples'] = [];
    const before = records.expert_before!, after = records.expert_after!;
    // Show where before and after differ first (changed correctness, then changed text), then the rest.
    const order = before.map((_, j) => j).sort((a, b) => {
      const score = (j: number) => (before[j].correct !== after[j].correct ? 0 : before[j].output !== after[j].output ? 1 : 2);
      return score(a) - score(b) || a - b;
    });
    for (const j of order.slice(0, 3)) {
      const outputs: RunReport['examples'][number]['outputs'] = {};
      for (const m of EVAL_MODELS) {
        const r = records[m]?.[j];
        if (r) outputs[m] = { output: r.output, extracted: r.extracted, correct: r.correct };
      }
      examples.push({ id: before[j].id, question: before[j].question, gold: before[j].gold, outputs });
    }
    const report: RunReport = {
      version: 1,
      created: new Date().toISOString(),
      backend: backends[0].info.kind,
      models: { expert: modelInfo(expert), amateur: amateurInfo },
      data: {
        train: { source: o.trainSource ?? 'caller', hub: o.trainHub ?? null, problems: o.train.length, with_answers: o.train.filter((p) => p.gold !== null).length },
        eval: { source: o.evalSource ?? 'caller', hub: o.evalHub ?? null, problems: o.eval.length },
      },
      settings: {
        sample: sampleSettings, finetune: ft.settings, eval: { prompt: evalPrompt, max_new_tokens: evalMaxNew },
        ...(o.compareSft ? { sft: { max_steps: sftSteps, max_new_tokens: sftMaxNew } } : {}),
      },
      eval: { amateur: evAmateur, expert_before: evBefore, expert_after: evAfter, ...(o.compareSft ? { expert_sft: evSft ?? null } : {}) },
      diagnostics: sampling.diagnostics,
      ...(pairCheck ? { pair_check: pairCheck } : {}),
      ...(lr.seedRuns ? { seeds: { seeds, expert_after: lr.seedRuns, ...(sftSeeds ? { expert_sft: sftSeeds } : {}) } } : {}),
      stages: {
        load: { seconds: loadSeconds },
        ...(pairCheck ? { pair_check: { seconds: pairCheck.seconds } } : {}),
        sample: { seconds: sampleSeconds, problems: sampling.problems, samples: sampling.selected_steps, trajectory_tokens: sampling.trajectory_tokens, contrasted_steps: sampling.contrasted_steps, selection_rate: sampling.selection_rate, kl_mean: sampling.kl_mean },
        finetune: { seconds: ftSeconds, steps: ft.steps, tuned_tokens: ft.tuned_tokens, tokens_processed: ft.tokens_processed, final_loss: ft.final_loss },
        ...(sftStage ? { sft: sftStage } : {}),
        eval: evalStage,
      },
      charts: {
        kl: { beta: sampleSettings.beta, ...histogram(kls, klSel, klEdges(kls, sampleSettings.beta)) },
        steps: { max_new_tokens: maxNew, ...histogram(stepIdx, klSel, stepEdges) },
        loss: { kl: await readLog(fs, fs.join(adapterDir, 'train_log.jsonl')), ...(sftLoss ? { sft: sftLoss } : {}) },
      },
      examples,
      total_seconds: time() - T0,
    };
    await fs.writeFileAtomic(fs.join(out, 'report.json'), `${JSON.stringify(report, null, 2)}\n`);
    await fs.writeFileAtomic(fs.join(out, 'report.html'), renderReport(report));
    emit({ status: 'stage', stage: 'report', state: 'done' });
    emit({ status: 'done', report });
    return report;
  } catch (e) {
    // Stages below may surface the signal's own AbortError (loadModel): one error code for callers.
    if (signal?.aborted && !(e instanceof LightReasonerError && e.code === 'ABORTED')) throw new LightReasonerError('ABORTED', 'aborted by the caller', { cause: e });
    throw e;
  } finally {
    for (const b of backends) b.destroy();
  }
}
