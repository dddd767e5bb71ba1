// Stage 2 as a job (the CLI's `finetune`; portable through the FileSystem adapter, so a browser app
// with a writable FileSystem can run it too): LoRA training on LightReasoner's soft labels with
// progress events and an AbortSignal, writing into `out`:
//   adapter_config.json + adapter_model.safetensors   the final adapter (PEFT's format)
//   checkpoint-<step>/   every saveSteps: adapter, optimizer.safetensors (AdamW m and v),
//                        trainer_state.json (step = scheduler step, data order position, seed)
//   latest_checkpoint    the name of the newest complete checkpoint (what --resume reads)
//   train_log.jsonl      one line per step: step, loss, lr, grad_norm, samples/s, tokens/s
//   train_summary.json   tuned tokens, packed/unpacked token counts, wall time, settings
// Checkpoint directories are built aside and renamed into place (peft.ts writeDirAtomic), so a
// crash never leaves a half-written one; resume restores the adapter, the moments and the data
// position exactly, and dropout masks are a function of (seed, step, pass), so a resumed run is
// bit-for-bit the uninterrupted one.

import { requireTraining } from '../backend/training.ts';
import { badInputError, LightReasonerError } from '../errors.ts';
import { encodeSafetensors, readSafetensorsHeader, readTensorBytes, type TensorToWrite } from '../io/safetensors.ts';
import type { CausalLM } from '../model/model.ts';
import type { FileSystem } from '../platform/types.ts';
import { sha256Hex } from '../stage/fingerprint.ts';
import { epochOrder, OBJECTIVES, parseSamples, parseSftSamples, type TrainSample } from './data.ts';
import { gradeOutput, parseGold } from '../eval/grade.ts';
import { DEFAULT_LORA, LORA_TARGETS, type LoraAdapter, type LoraConfig, type LoraTarget, peftKeys } from './lora.ts';
import { initLora } from './optimizer.ts';
import {
  ADAPTER_CONFIG,
  ADAPTER_WEIGHTS,
  adapterConfigJson,
  baseModelRevision,
  adapterSafetensors,
  adapterToHost,
  defaultBaseModelName,
  loadAdapter,
  writeDirAtomic,
} from './peft.ts';
import { checkMoments, checkpointName, logUpTo, parseTrainerState, type Totals, type TrainerState } from './resume.ts';
import type { FinetuneSettings } from './settings.ts';
import { type StepResult, Trainer } from './trainer.ts';
import { checkOutDir, clearOwned } from '../io/out-dir.ts';

/** The paper's settings (LIGHTREASONER.md stage 2). */
export const DEFAULT_FINETUNE: Readonly<FinetuneSettings> = Object.freeze({
  lora: DEFAULT_LORA,
  lr: 5e-5,
  batchSize: 8,
  gradAccum: 2,
  maxSteps: 1000,
  saveSteps: 200,
  seed: 42,
  system: 'Please reason step by step.',
  objective: 'kl',
  shuffle: true,
  packed: true,
  maxRowsPerPass: 0,
  maxGradNorm: 1.0,
});

export type FinetuneEvent =
  | { status: 'start'; samples: number; retokenized: number; step: number; maxSteps: number; resumedFrom: string | null }
  | ({ status: 'step'; maxSteps: number; samples_per_s: number; tokens_per_s: number; elapsed_s: number } & StepResult)
  | { status: 'checkpoint'; step: number; dir: string }
  | { status: 'done'; summary: FinetuneSummary };

export interface FinetuneOptions {
  fs: FileSystem;
  model: CausalLM;
  /** The samples JSONL text and its name (for messages). */
  samplesText: string;
  samplesFile?: string;
  out: string;
  settings?: Partial<FinetuneSettings>;
  /** Start from this adapter instead of a fresh one (its config overrides settings.lora). */
  initAdapter?: LoraAdapter;
  resume?: boolean;
  /** Start afresh in a non-empty `out`: this command's own files there are replaced, others kept. */
  overwrite?: boolean;
  /** adapter_config.json's base_model_name_or_path (default: the model directory's name, peft.ts defaultBaseModelName). */
  baseModelName?: string;
  signal?: AbortSignal;
  onEvent?: (e: FinetuneEvent) => void;
  /** Warnings (re-tokenized samples); default: none. */
  onWarning?: (message: string) => void;
}

export interface FinetuneSummary {
  adapter: string;
  samples: number;
  steps: number;
  /** Supervised positions trained on (one per sample seen): the paper's "tuned tokens". */
  tuned_tokens: number;
  /** Tokens run through forward+backward, and what one forward per sample would have run. */
  tokens_processed: number;
  tokens_unpacked: number;
  packing_ratio: number;
  final_loss: number;
  /** Wall time of the job (all runs of a resumed job), and the part spent in optimizer steps. */
  wall_seconds: number;
  train_seconds: number;
  backend: string;
  settings: Omit<FinetuneSettings, 'lora'> & { lora: LoraConfig };
  /** --objective sft: trajectories trained on, those rejected (wrong final answer), and the
   * positions per optimizer step (batchSize × gradAccum × mean trajectory length). */
  sft?: { trajectories: number; rejected: number; positions: number; positions_per_step: number };
}

const STATE = 'trainer_state.json';
const OPTIMIZER = 'optimizer.safetensors';
const LATEST = 'latest_checkpoint';
const LOG = 'train_log.jsonl';
const SUMMARY = 'train_summary.json';

type WritableFs = FileSystem & Required<Pick<FileSystem, 'writeFileAtomic' | 'mkdir' | 'rename' | 'rm' | 'appendFile'>>;

function need(fs: FileSystem): asserts fs is WritableFs {
  if (!fs.writeFileAtomic || !fs.mkdir || !fs.rename || !fs.rm || !fs.appendFile)
    throw new LightReasonerError('UNSUPPORTED', 'fine-tuning needs a file system that can write, append, rename and remove');
}

/** Rows per pass when not given: what ~1 GiB of saved activations holds (at least 512). */
export function defaultMaxRows(model: CausalLM): number {
  const { hiddenSize: H, heads, headDim: D, intermediateSize: I, layers } = model.config;
  const perRow = 4 * layers * (5 * H + 2 * heads * D + 3 * I);
  return Math.max(512, Math.floor(2 ** 30 / perRow));
}

function check(s: FinetuneSettings, model: CausalLM): void {
  const int = (name: string, v: number, min: number) => {
    if (!Number.isInteger(v) || v < min) throw badInputError(`${name} must be an integer ≥ ${min} (got ${v})`);
  };
  int('lora r', s.lora.r, 1);
  // The rank sizes the LoRA tensors: bound it before anything is allocated (a rank above the hidden
  // size adds nothing a full-rank update would not).
  const H = model.config.hiddenSize;
  if (s.lora.r > H) throw badInputError(`lora r must be ≤ the model's hidden size ${H} (got ${s.lora.r})`);
  int('batch size', s.batchSize, 1);
  int('grad accum', s.gradAccum, 1);
  int('max steps', s.maxSteps, 1);
  int('save steps', s.saveSteps, 0);
  if (!(s.lora.dropout >= 0 && s.lora.dropout < 1)) throw badInputError(`lora dropout must be in [0, 1) (got ${s.lora.dropout})`);
  if (!(OBJECTIVES as readonly string[]).includes(s.objective)) throw badInputError(`objective must be one of ${OBJECTIVES.join(', ')} (got ${s.objective})`);
  if (!(s.lr > 0 && Number.isFinite(s.lr))) throw badInputError(`lr must be a positive number (got ${s.lr})`);
  if (!(s.lora.alpha > 0 && Number.isFinite(s.lora.alpha))) throw badInputError(`lora alpha must be a finite positive number (got ${s.lora.alpha})`);
  // The kernels scale in f32: a scaling that overflows there makes the first step NaN.
  if (!Number.isFinite(Math.fround(s.lora.alpha / s.lora.r)))
    throw badInputError(`lora alpha ${s.lora.alpha} / r ${s.lora.r} overflows 32-bit floats: lower the alpha`);
  const bad = s.lora.targetModules.filter((t) => !LORA_TARGETS.includes(t));
  if (bad.length || s.lora.targetModules.length === 0)
    throw badInputError(`target modules must be some of ${LORA_TARGETS.join(', ')} (got ${s.lora.targetModules.join(',')})`);
}

async function writeAdapterFiles(
  fs: FileSystem & Required<Pick<FileSystem, 'writeFileAtomic'>>,
  dir: string,
  adapter: LoraAdapter,
  model: CausalLM,
  baseModel: string,
): Promise<void> {
  const host = await adapterToHost(adapter, model.backend);
  // Weights first, config last: a directory whose config is new has its weights.
  await fs.writeFileAtomic(fs.join(dir, ADAPTER_WEIGHTS), adapterSafetensors(host, model.config));
  await fs.writeFileAtomic(fs.join(dir, ADAPTER_CONFIG), adapterConfigJson(host, baseModel, baseModelRevision(model.source, baseModel)));
}

interface Resumed {
  dir: string;
  state: TrainerState;
  adapter: LoraAdapter;
}

/**
 * The checkpoint `--resume` continues from, checked against this run (samples, settings, ranges),
 * or null when `out` holds none yet. Reads only.
 */
async function openCheckpoint(
  fs: FileSystem,
  out: string,
  base: FinetuneSettings,
  samplesSha: string,
  samples: number,
  model: CausalLM,
  warn?: (m: string) => void,
): Promise<Resumed | null> {
  const latest = fs.join(out, LATEST);
  if (!(await fs.exists(latest))) {
    if (await fs.exists(fs.join(out, SUMMARY))) throw badInputError(`--resume: ${out} holds a finished run (train_summary.json) and no checkpoint to continue`);
    warn?.(`--resume: no checkpoint in ${out} yet; starting from step 0`);
    return null;
  }
  const dir = fs.join(out, checkpointName(await fs.readText(latest), latest));
  const statePath = fs.join(dir, STATE);
  if (!(await fs.exists(statePath)))
    throw badInputError(
      `${latest} names ${dir}, which has no ${STATE}; write the name of a complete checkpoint into ${latest}, or use a new --out to start over`,
      latest,
    );
  const state = parseTrainerState(await fs.readText(statePath), statePath, { maxSteps: base.maxSteps, samples });
  if (state.samples_sha256 !== samplesSha) throw badInputError(`--resume: ${dir} was trained on other samples (sha256 differs); use a new --out`);
  const diff = Object.keys(base).filter(
    (k) => JSON.stringify(base[k as keyof FinetuneSettings]) !== JSON.stringify(state.settings[k as keyof FinetuneSettings]),
  );
  if (diff.length)
    throw badInputError(`--resume: settings differ from the checkpoint's (${diff.join(', ')}); resume with the same settings or use a new --out`);
  return { dir, state, adapter: await loadAdapter(fs, dir, model) };
}

/** Load the checkpoint's AdamW moments into the trainer's optimizer, each checked for shape and finiteness. */
async function restoreMoments(fs: FileSystem, dir: string, trainer: Trainer, keyOf: (name: string) => string): Promise<void> {
  const header = await readSafetensorsHeader(fs, fs.join(dir, OPTIMIZER));
  for (const [j, p] of trainer.engine.params().entries()) {
    for (const [suffix, t] of [
      ['exp_avg', trainer.optimizer.m[j]],
      ['exp_avg_sq', trainer.optimizer.v[j]],
    ] as const) {
      const name = `${keyOf(p.name)}.${suffix}`;
      const e = header.tensors.get(name);
      if (!e || e.dtype !== 'F32' || e.byteLength !== 4 * p.param.size) throw badInputError(`${header.file}: missing or malformed ${name}`);
      const bytes = await readTensorBytes(fs, e);
      const values = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
      checkMoments(values, header.file, name, suffix === 'exp_avg_sq');
      trainer.model.backend.write(t, values);
    }
  }
}

/** The entries of `out` a fine-tuning writes (anything else there is the user's and is kept). */
function ownedByFinetune(name: string): boolean {
  return [ADAPTER_CONFIG, ADAPTER_WEIGHTS, STATE, OPTIMIZER, LATEST, LOG, SUMMARY].includes(name) || /^checkpoint-\d+(\.(tmp|old)-[0-9a-z]+)?$/.test(name);
}

/** Run (or resume) a fine-tuning job; resolves with the summary also written to train_summary.json. */
export async function finetune(opts: FinetuneOptions): Promise<FinetuneSummary> {
  const { fs, model, out } = opts;
  requireTraining(model.backend, 'fine-tuning'); // before reading samples or touching `out`
  need(fs);
  const t0 = performance.now();
  const base: FinetuneSettings = { ...DEFAULT_FINETUNE, ...opts.settings, lora: { ...(opts.initAdapter?.config ?? opts.settings?.lora ?? DEFAULT_LORA) } };
  if (!base.maxRowsPerPass) base.maxRowsPerPass = defaultMaxRows(model);
  check(base, model);
  const { samples, retokenized, sftInfo, trainerSettings } = prepareSamples(opts, base);
  if (retokenized)
    opts.onWarning?.(
      `${retokenized} of ${samples.length} samples are in the reference's text format ("prompt_id" + "prefix"): they were re-tokenized, which can give other token boundaries than the expert generated; prefer this project's samples (with "prefix_token_ids")`,
    );
  const samplesSha = await sha256Hex(new TextEncoder().encode(opts.samplesText));

  // Everything is read and checked before anything in `out` changes: a refused resume, or a first
  // step that fails, leaves `out` as it was. A non-empty `out` needs resume or overwrite, and then
  // only this command's own entries are replaced (io/out-dir.ts).
  const existing = await checkOutDir(fs, out, { resume: opts.resume, overwrite: opts.overwrite });
  const resumed = opts.resume ? await openCheckpoint(fs, out, base, samplesSha, samples.length, model, opts.onWarning) : null;
  const adapter = resumed?.adapter ?? opts.initAdapter ?? initLora(model, base.lora, base.seed);
  const trainer = new Trainer(model, adapter, samples, trainerSettings);
  try {
    const totals: Totals = resumed ? { ...resumed.state.totals } : { tuned: 0, tokens: 0, unpacked: 0, seconds: 0, wall: 0, lastLoss: NaN };
    let keptLog: string | null = null;
    if (resumed) {
      const { state } = resumed;
      await restoreMoments(fs, resumed.dir, trainer, keyOf);
      trainer.position = { step: state.global_step, epoch: state.epoch, offset: state.offset };
      const logPath = fs.join(out, LOG);
      if (await fs.exists(logPath)) keptLog = logUpTo(await fs.readText(logPath), logPath, state.global_step, opts.onWarning);
    }
    let prepared = false;
    const prepareOut = async () => {
      if (prepared) return;
      prepared = true;
      await fs.mkdir(out);
      // Drop log lines past the checkpoint (steps run after it and before the interruption); a fresh
      // run over an earlier one (overwrite, or resume with no checkpoint yet) removes that run's
      // files, so stale checkpoints never sit beside new ones.
      if (keptLog !== null) await fs.writeFileAtomic(fs.join(out, LOG), keptLog);
      else if (!resumed && existing) await clearOwned(fs, out, existing, ownedByFinetune);
    };
    return await train(
      { ...opts, fs },
      { trainer, adapter, totals, settings: base, samplesSha, retokenized, resumedFrom: resumed?.dir ?? null, sftInfo, t0, prepareOut },
    );
  } finally {
    trainer.dispose();
    if (!opts.initAdapter)
      for (const layer of adapter.layers) for (const p of Object.values(layer)) if (p) model.backend.dispose(p.a), model.backend.dispose(p.b);
  }
}

/** A LoRA parameter's PEFT key ("<layer>.<target>.A" → ….lora_A.weight). */
function keyOf(name: string): string {
  const [l, t, ab] = name.split('.');
  const k = peftKeys(Number(l), t as LoraTarget);
  return ab === 'A' ? k.a : k.b;
}

interface Prepared {
  samples: TrainSample[];
  retokenized: number;
  sftInfo: FinetuneSummary['sft'];
  trainerSettings: FinetuneSettings;
}

function prepareSamples(opts: FinetuneOptions, base: FinetuneSettings): Prepared {
  const { model } = opts;
  if (base.objective !== 'sft') {
    const { samples, retokenized } = parseSamples(opts.samplesText, model.tokenizer, {
      vocab: model.config.vocabSize,
      maxPositions: model.config.maxPositions,
      system: base.system,
      file: opts.samplesFile,
    });
    return { samples, retokenized, sftInfo: undefined, trainerSettings: base };
  }
  const p = parseSftSamples(opts.samplesText, model.tokenizer, {
    vocab: model.config.vocabSize,
    maxPositions: model.config.maxPositions,
    system: base.system,
    file: opts.samplesFile,
    eosTokenId: model.config.eosTokenIds[0],
    grade: (output, gold) => gradeOutput(output, gold).correct,
    goldOf: parseGold,
  });
  if (p.rejected)
    opts.onWarning?.(
      `--objective sft: ${p.rejected} of ${p.rejected + p.trajectories} trajectories have a wrong final answer and were dropped (rejection sampling)`,
    );
  // Whole trajectories per step, as SFT batches sequences: the trajectories in a seeded order,
  // each one's positions contiguous (so they share one forward), the same order every epoch.
  const groups: TrainSample[][] = [];
  for (const s of p.samples) (groups.length && groups[groups.length - 1][0].key === s.key ? groups[groups.length - 1] : groups[groups.push([]) - 1]).push(s);
  const samples = epochOrder(groups.length, base.seed, 0, base.shuffle).flatMap((g) => groups[g]);
  const perStep = Math.max(1, Math.round((base.batchSize * samples.length) / p.trajectories));
  return {
    samples,
    retokenized: 0,
    trainerSettings: { ...base, batchSize: perStep, shuffle: false },
    sftInfo: { trajectories: p.trajectories, rejected: p.rejected, positions: samples.length, positions_per_step: perStep * base.gradAccum },
  };
}

interface Job {
  trainer: Trainer;
  adapter: LoraAdapter;
  totals: Totals;
  settings: FinetuneSettings;
  samplesSha: string;
  retokenized: number;
  resumedFrom: string | null;
  sftInfo: FinetuneSummary['sft'];
  t0: number;
  /** Create `out` and settle its log before the first write (see finetune). */
  prepareOut: () => Promise<void>;
}

/** The Adam moments of every trainable parameter, as the optimizer file of a checkpoint holds them. */
async function optimizerMoments(trainer: Trainer, model: FinetuneOptions['model']): Promise<TensorToWrite[]> {
  const moments: TensorToWrite[] = [];
  for (const [j, p] of trainer.engine.params().entries()) {
    for (const [suffix, t] of [
      ['exp_avg', trainer.optimizer.m[j]],
      ['exp_avg_sq', trainer.optimizer.v[j]],
    ] as const) {
      const data = (await model.backend.read(t)) as Float32Array;
      moments.push({
        name: `${keyOf(p.name)}.${suffix}`,
        dtype: 'F32' as const,
        shape: [...p.param.shape],
        data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
      });
    }
  }
  return moments;
}

/** checkpoint-<step>/: the adapter, the optimizer moments and the trainer state, then LATEST names it. */
async function writeCheckpoint(opts: FinetuneOptions & { fs: WritableFs }, job: Job, step: number, baseModel: string, wallNow: () => number): Promise<void> {
  const { fs, model, out } = opts;
  const { trainer, adapter, totals, settings } = job;
  const name = `checkpoint-${step}`;
  const dir = fs.join(out, name);
  totals.wall = wallNow();
  const st: TrainerState = {
    version: 1,
    global_step: step,
    epoch: trainer.position.epoch,
    offset: trainer.position.offset,
    seed: settings.seed,
    samples_sha256: job.samplesSha,
    settings,
    totals,
  };
  const moments = await optimizerMoments(trainer, model);
  await writeDirAtomic(fs, dir, async (tmp) => {
    await writeAdapterFiles(fs, tmp, adapter, model, baseModel);
    await fs.writeFileAtomic(fs.join(tmp, OPTIMIZER), encodeSafetensors(moments, { format: 'pt' }));
    await fs.writeFileAtomic(fs.join(tmp, STATE), JSON.stringify(st, null, 2) + '\n');
  });
  await fs.writeFileAtomic(fs.join(out, LATEST), `${name}\n`);
  opts.onEvent?.({ status: 'checkpoint', step, dir });
}

/** The training loop: steps, log lines, checkpoints, then the adapter and the summary. */
async function train(opts: FinetuneOptions & { fs: WritableFs }, job: Job): Promise<FinetuneSummary> {
  const { fs, model, out, signal } = opts;
  const { trainer, adapter, totals, settings, prepareOut } = job;
  const baseModel = opts.baseModelName ?? defaultBaseModelName(model.source);
  const prevWall = totals.wall;
  const wallNow = () => prevWall + (performance.now() - job.t0) / 1000;
  opts.onEvent?.({
    status: 'start',
    samples: trainer.samples.length,
    retokenized: job.retokenized,
    step: trainer.position.step,
    maxSteps: settings.maxSteps,
    resumedFrom: job.resumedFrom,
  });

  const saveCheckpoint = (step: number) => writeCheckpoint(opts, job, step, baseModel, wallNow);

  let segment = performance.now();
  while (trainer.position.step < settings.maxSteps) {
    if (signal?.aborted) throw new LightReasonerError('ABORTED', 'aborted by the caller', { cause: signal.reason });
    const r = await trainer.step();
    const now = performance.now();
    const dt = (now - segment) / 1000;
    segment = now;
    totals.seconds += dt;
    totals.tuned += r.samples;
    totals.tokens += r.tokens;
    totals.unpacked += r.unpacked_tokens;
    totals.lastLoss = r.loss;
    const line = {
      step: r.step,
      loss: r.loss,
      lr: r.lr,
      grad_norm: r.grad_norm,
      samples_per_s: r.samples / dt,
      tokens_per_s: r.tokens / dt,
      epoch: trainer.position.epoch,
    };
    await prepareOut();
    await fs.appendFile(fs.join(out, LOG), JSON.stringify(line) + '\n');
    opts.onEvent?.({
      status: 'step',
      maxSteps: settings.maxSteps,
      samples_per_s: line.samples_per_s,
      tokens_per_s: line.tokens_per_s,
      elapsed_s: totals.seconds,
      ...r,
    });
    if (settings.saveSteps > 0 && r.step % settings.saveSteps === 0) await saveCheckpoint(r.step);
    segment = performance.now();
  }

  await prepareOut();
  await writeAdapterFiles(fs, out, adapter, model, baseModel);
  totals.wall = wallNow();
  const summary: FinetuneSummary = {
    adapter: out,
    samples: trainer.samples.length,
    steps: trainer.position.step,
    tuned_tokens: totals.tuned,
    tokens_processed: totals.tokens,
    tokens_unpacked: totals.unpacked,
    packing_ratio: totals.unpacked / Math.max(1, totals.tokens),
    final_loss: totals.lastLoss,
    wall_seconds: totals.wall,
    train_seconds: totals.seconds,
    backend: model.backend.info.kind,
    settings,
    ...(job.sftInfo ? { sft: job.sftInfo } : {}),
  };
  await fs.writeFileAtomic(fs.join(out, SUMMARY), JSON.stringify(summary, null, 2) + '\n');
  opts.onEvent?.({ status: 'done', summary });
  return summary;
}
