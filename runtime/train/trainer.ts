// The training loop in memory: data order, optimizer steps, and the state a checkpoint needs. No
// host I/O (finetune.ts writes checkpoints and logs), so tests and apps can drive it directly.
//
// An optimizer step takes the next batchSize × gradAccum samples of the epoch's order (fewer at an
// epoch's end, as HF Trainer's last accumulation of an epoch), packs them into trajectories and
// runs them in passes of at most `maxRowsPerPass` rows. Since only the sum of the step's gradients
// reaches the optimizer, how samples are split into micro-batches changes nothing but memory: the
// whole step is packed together, which finds every shared trajectory of the step.

import { type Trajectory, epochOrder, packTrajectories, splitPasses, type TrainSample } from './data.ts';
import { passSeed, TrainPass } from './pass.ts';
import type { LoraAdapter } from './lora.ts';
import { AdamW, HF_DEFAULTS, type OptimizerSettings } from './optimizer.ts';
import { badInputError, type LightReasonerError } from '../errors.ts';
import type { CausalLM } from '../model/model.ts';
import { yieldToHost } from '../util/yield.ts';

/** The error that stops a step whose loss or gradient norm is not a finite number. */
function nonFiniteStep(step: number, loss: number, norm: number, samples: readonly TrainSample[]): LightReasonerError {
  const what = Number.isFinite(loss) ? `the gradient norm is ${norm}` : `the loss is ${loss}`;
  const lines = [...new Set(samples.map((s) => s.line))].sort((a, b) => a - b);
  const shown = lines.length > 5 ? `${lines.slice(0, 5).join(', ')}, …` : lines.join(', ');
  return badInputError(
    `step ${step}: ${what} (samples on line${lines.length > 1 ? 's' : ''} ${shown}) — the model's weights, the adapter or the samples hold non-finite ` +
      'values (check the model files), or the updates diverged (lower --lr or --lora-alpha); nothing of this step was written',
  );
}

export interface TrainerSettings {
  batchSize: number;
  gradAccum: number;
  maxSteps: number;
  lr: number;
  seed: number;
  /** Shuffle each epoch (seeded); false keeps file order. */
  shuffle: boolean;
  /** Share one forward per trajectory (true), or one forward per sample (the reference's way). */
  packed: boolean;
  /** Rows of one forward/backward call at most (memory); a longer sequence runs alone. */
  maxRowsPerPass: number;
  maxGradNorm: number;
}

/** Where the data order stands: a resume continues from exactly here. */
export interface TrainerPosition {
  step: number;
  epoch: number;
  /** Samples of `epoch`'s order already used. */
  offset: number;
}

export interface StepResult {
  step: number;
  /** Mean KL over the step's samples (before the update). */
  loss: number;
  /** lr used for this step. */
  lr: number;
  /** Global gradient norm before clipping. */
  grad_norm: number;
  samples: number;
  /** Rows run (packed) and the rows one forward per sample would have run. */
  tokens: number;
  unpacked_tokens: number;
  passes: number;
}

export class Trainer {
  readonly engine: TrainPass;
  readonly optimizer: AdamW;
  position: TrainerPosition = { step: 0, epoch: 0, offset: 0 };
  private order: number[] | null = null;
  private orderEpoch = -1;

  constructor(
    readonly model: CausalLM,
    readonly adapter: LoraAdapter,
    readonly samples: readonly TrainSample[],
    readonly settings: TrainerSettings,
  ) {
    this.engine = new TrainPass(model, adapter);
    const opt: OptimizerSettings = { ...HF_DEFAULTS, lr: settings.lr, maxSteps: settings.maxSteps, maxGradNorm: settings.maxGradNorm };
    this.optimizer = new AdamW(model.backend, this.engine.params(), opt);
  }

  /** Sample indices of the next step (advances nothing). */
  nextStepSamples(): number[] {
    const N = this.samples.length;
    let { epoch, offset } = this.position;
    if (offset >= N) {
      epoch++;
      offset = 0;
    }
    if (this.orderEpoch !== epoch) {
      this.order = epochOrder(N, this.settings.seed, epoch, this.settings.shuffle);
      this.orderEpoch = epoch;
    }
    return this.order!.slice(offset, offset + this.settings.batchSize * this.settings.gradAccum);
  }

  /** The trajectories and passes of a step (exposed for tests and the bench). */
  plan(indices: number[]): { stepSamples: TrainSample[]; passes: Trajectory[][]; unpacked: number } {
    const stepSamples = indices.map((j) => this.samples[j]);
    const trajs = packTrajectories(stepSamples, this.settings.packed);
    return { stepSamples, passes: splitPasses(trajs, this.settings.maxRowsPerPass), unpacked: stepSamples.reduce((a, s) => a + s.ids.length, 0) };
  }

  /** Run one optimizer step. */
  async step(signal?: AbortSignal): Promise<StepResult> {
    await yieldToHost(signal);
    const indices = this.nextStepSamples();
    const { stepSamples, passes, unpacked } = this.plan(indices);
    const step = this.position.step + 1;
    const e = this.engine;
    e.zeroGrad();
    let tokens = 0;
    passes.forEach((trajectories, j) => {
      e.pass({ trajectories, samples: stepSamples, lossScale: 1 / stepSamples.length, dropoutSeed: passSeed(this.settings.seed, step, j) });
      tokens += TrainPass.rowsOf(trajectories);
    });
    const norm = await this.optimizer.gradNorm();
    const lossSum = (await this.model.backend.read(e.lossSum))[0];
    const loss = lossSum / stepSamples.length;
    // Before the update: a NaN/Inf here would spread into every LoRA weight and moment, and from
    // there into the log, checkpoints and adapter. Nothing has changed yet, so the run stops clean.
    if (!Number.isFinite(loss) || !Number.isFinite(norm)) throw nonFiniteStep(step, loss, norm, stepSamples);
    const { lr } = this.optimizer.step(step, norm);
    const N = this.samples.length;
    let { epoch, offset } = this.position;
    if (offset >= N) {
      epoch++;
      offset = 0;
    }
    this.position = { step, epoch, offset: offset + indices.length };
    return { step, loss, lr, grad_norm: norm, samples: stepSamples.length, tokens, unpacked_tokens: unpacked, passes: passes.length };
  }

  dispose(): void {
    this.engine.dispose();
    this.optimizer.dispose();
  }
}
