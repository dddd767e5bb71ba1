// The shape of a run's report (report.json): what runPipeline (pipeline.ts) produces and
// report.ts / report-stats.ts render. Its own module so the renderers need not import the pipeline.

import type { PairCheckReport } from '../eval/pair-check.ts';
import type { PromptType } from '../eval/evaluate.ts';
import type { PairedComparison } from '../eval/stats.ts';
import type { HubRevision } from '../hub/ids.ts';
import type { PairDiagnostics } from '../stage/diagnostics.ts';
import type { SampleSettings } from '../stage/sample.ts';
import type { WhatChanged } from './what-changed.ts';
import type { FinetuneSettings } from '../train/settings.ts';

export const EVAL_MODELS = ['amateur', 'expert_before', 'expert_after', 'expert_sft'] as const;
export type EvalModel = (typeof EVAL_MODELS)[number];

export interface EvalResult {
  accuracy: number;
  /** 95 % Wilson score interval of the accuracy. */
  ci95: [number, number];
  correct: number;
  total: number;
  seconds: number;
  generated_tokens: number;
  file: string;
  /** Tuned models only: against the expert before on the same problems (exact McNemar test). */
  paired_vs_before?: PairedComparison;
}

/** One fine-tuning seed's result (report.seeds, with --seeds N > 1). */
export interface SeedRun extends PairedComparison {
  seed: number;
  accuracy: number;
  correct: number;
}

/** One problem kind's share of the held-out evaluation (the headline runs). */
export interface KindRow {
  kind: string;
  problems: number;
  /** Right answers of each evaluated model on this kind's problems. */
  correct: Partial<Record<EvalModel, number>>;
  /** The tuned experts against the expert before on this kind's problems (exact McNemar). */
  paired: { expert_after: PairedComparison; expert_sft?: PairedComparison };
}

export interface SeedRuns {
  runs: SeedRun[];
  accuracy: { mean: number; sd: number };
}

export interface Histogram {
  /** Bin edges (length bins + 1); the last bin also holds everything above its upper edge. */
  edges: number[];
  /** Counts per bin: every contrasted step, and the selected ones. */
  all: number[];
  selected: number[];
}

export interface RunReport {
  version: 1;
  created: string;
  backend: string;
  models: { expert: ModelInfo; amateur: ModelInfo };
  /** `hub`: the Hub id and commit a data set was read at (null for a local file or generated problems). */
  data: {
    train: { source: string; hub: HubRevision | null; problems: number; with_answers: number };
    eval: { source: string; hub: HubRevision | null; problems: number };
  };
  settings: {
    sample: SampleSettings;
    finetune: FinetuneSettings;
    eval: { prompt: PromptType; max_new_tokens: number };
    sft?: { max_steps: number; max_new_tokens: number };
  };
  eval: { amateur: EvalResult; expert_before: EvalResult; expert_after: EvalResult; expert_sft?: EvalResult | null };
  /** What stage 1's samples say about the pair, before any training (runtime/stage/diagnostics.ts). */
  diagnostics: PairDiagnostics;
  /** With pairCheck: greedy vs contrastive decoding on its problems, before any training. */
  pair_check?: PairCheckReport & { data: { source: string; problems: number } };
  /** When the held-out problems name their kinds: each kind's accuracies and paired tests, so a
   * reader sees where the expert changed (e.g. a cue that misleads vs plain problems). */
  by_kind?: KindRow[];
  /** At the training steps where the contrast preferred another token than the expert's: how the
   * tuned expert's probability of it moved (runtime/run/what-changed.ts). */
  what_changed?: WhatChanged;
  /** With several fine-tuning seeds: every seed's accuracy and paired test, and mean ± sd. */
  seeds?: { seeds: number[]; expert_after: SeedRuns; expert_sft?: SeedRuns };
  stages: {
    load: { seconds: number };
    pair_check?: { seconds: number };
    sample: {
      seconds: number;
      problems: number;
      samples: number;
      trajectory_tokens: number;
      contrasted_steps: number;
      selection_rate: number;
      kl_mean: number;
    };
    finetune: { seconds: number; steps: number; tuned_tokens: number; tokens_processed: number; final_loss: number };
    sft?: {
      seconds: number;
      trajectory_seconds: number;
      train_seconds: number;
      problems: number;
      trajectory_tokens: number;
      trajectories: number;
      rejected: number;
      steps: number;
      tuned_tokens: number;
      tokens_processed: number;
      final_loss: number | null;
      skipped?: string;
    };
    eval: Partial<Record<EvalModel, { seconds: number }>>;
  };
  charts: {
    kl: Histogram & { beta: number };
    steps: Histogram & { max_new_tokens: number };
    loss: { kl: [number, number][]; sft?: [number, number][] };
  };
  /** A few held-out problems with the expert's output before and after (and SFT's). */
  examples: {
    id: string;
    question: string;
    gold: string;
    outputs: Partial<Record<EvalModel, { output: string; extracted: string | null; correct: boolean }>>;
  }[];
  total_seconds: number;
}

export interface ModelInfo {
  source: string;
  /** The Hub id and commit when the model is a Hub snapshot (hub/ids.ts hubRevisionOf), else null. */
  hub: HubRevision | null;
  model_type: string;
  parameters: number;
  layers: number;
  hidden_size: number;
  vocab_size: number;
  /** The block format its projections were quantized to at load (issue 30); absent when not quantized. */
  quantized?: 'q8_0' | 'q4_0';
}
