// A fine-tuning job's settings: what finetune.ts runs with and what resume.ts checks a checkpoint's
// trainer_state.json against (its own module so the two need not import each other).

import type { Objective } from './data.ts';
import type { LoraConfig } from './lora.ts';
import type { TrainerSettings } from './trainer.ts';

export interface FinetuneSettings extends TrainerSettings {
  lora: LoraConfig;
  saveSteps: number;
  /** System message of the prompt (the sampling stage's; '' for none). */
  system: string;
  /** kl: LightReasoner's soft labels (samples from `sample`); sft: cross-entropy over whole expert
   * trajectories (the rejection-sampling SFT baseline; see parseSftSamples). With sft, batchSize
   * counts trajectories: a step takes batchSize × gradAccum trajectories' worth of positions. */
  objective: Objective;
}
