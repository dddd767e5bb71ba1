// The LightReasoner loop as cluster stages (`run --executor slurm|k8s`): which CLI commands each
// stage runs, which stages it waits for, and which file on the shared filesystem says it is done.
// Sampling and the three evaluations are sharded (`sample|eval --shard`, one task per shard); the
// shards are gathered into the files an unsharded run writes, and the last stage is the local
// `run` reading every stage's output back (runtime/run/stage-outputs.ts) to write the report. So
// the run directory ends up as a local `run` leaves it: samples.jsonl, adapter/, eval/*.jsonl,
// report.json, report.html (plus cluster/: the data, scripts and logs of the jobs).
import { join } from 'node:path';
import { evalSummaryPath } from '../../runtime/eval/results.ts';
import { shardPath } from '../../runtime/shard/shard.ts';
import { summaryPath } from '../../runtime/stage/sampling.ts';
import type { LoraTarget } from '../../runtime/train/lora.ts';

/** Every setting of the run, resolved (embedded defaults applied), so each stage repeats it exactly. */
export interface ClusterRun {
  out: string;
  expert: string;
  amateur: string;
  /** The problem files the stages read (on the shared filesystem), and how many problems of each. */
  trainData: string;
  evalData: string;
  trainCount: number;
  evalCount: number;
  shards: number;
  backend: string;
  baseModelName?: string;
  sample: { alpha: number; beta: number; maxNewTokens: number; batchSize: number };
  finetune: {
    lr: number;
    batchSize: number;
    gradAccum: number;
    maxSteps: number;
    seed: number;
    saveSteps: number;
    loraR: number;
    loraAlpha: number;
    targetModules: LoraTarget[];
  };
  eval: { maxNewTokens: number; batchSize: number };
}

/** Stands for the shard argument of a sharded command: each executor writes its own (`I/N`, `auto`). */
export const SHARD = '\u0000shard';

export interface ClusterStage {
  name: string;
  /** One task per shard (a Slurm array, an Indexed Job); its commands hold SHARD. */
  sharded: boolean;
  /** CLI argument lists, run in order; one with `unless` is skipped where that file exists (a
   * gather already done by an earlier, failed job). */
  commands: { args: string[]; unless?: string }[];
  needs: string[];
  /** The file whose presence says the stage finished. */
  done: string;
  /** Sharded stages: the file that says shard I of N finished (its summary, written last). */
  shardDone?: (index: number, count: number) => string;
}

const EVALUATED = ['amateur', 'expert_before', 'expert_after'] as const;

type Evaluated = (typeof EVALUATED)[number];

/** Where the stages of a run read and write, under its out directory. */
function runPaths(r: ClusterRun) {
  return {
    samples: join(r.out, 'samples.jsonl'),
    adapter: join(r.out, 'adapter'),
    evalFile: (m: string) => join(r.out, 'eval', `${m}.jsonl`),
  };
}

/** The sampling settings, as `sample` takes them. */
function sampleSettingsArgs(s: ClusterRun['sample']): string[] {
  return ['--alpha', String(s.alpha), '--beta', String(s.beta), '--max-new-tokens', String(s.maxNewTokens), '--batch-size', String(s.batchSize)];
}

/** The fine-tuning settings, as `finetune` (and `run`) take them. */
function finetuneSettingsArgs(r: ClusterRun): string[] {
  const f = r.finetune;
  return [
    '--lr',
    String(f.lr),
    '--batch-size',
    String(f.batchSize),
    '--grad-accum',
    String(f.gradAccum),
    '--max-steps',
    String(f.maxSteps),
    '--seed',
    String(f.seed),
    '--save-steps',
    String(f.saveSteps),
    '--lora-r',
    String(f.loraR),
    '--lora-alpha',
    String(f.loraAlpha),
    '--target-modules',
    f.targetModules.join(','),
    ...(r.baseModelName ? ['--base-model-name', r.baseModelName] : []),
  ];
}

/** The sharded `eval` of one model (the expert after with the adapter). */
function evalArgs(r: ClusterRun, m: Evaluated): string[] {
  const { adapter, evalFile } = runPaths(r);
  return [
    'eval',
    '--shard',
    SHARD,
    '--model',
    m === 'amateur' ? r.amateur : r.expert,
    ...(m === 'expert_after' ? ['--adapter', adapter] : []),
    '--data',
    r.evalData,
    '--max-questions',
    String(r.evalCount),
    '--max-new-tokens',
    String(r.eval.maxNewTokens),
    '--batch-size',
    String(r.eval.batchSize),
    '--backend',
    r.backend,
    '--out',
    evalFile(m),
    '--quiet',
  ];
}

function sampleStage(r: ClusterRun): ClusterStage {
  const { samples } = runPaths(r);
  return {
    name: 'sample',
    sharded: true,
    needs: [],
    done: summaryPath(samples),
    commands: [
      {
        args: [
          'sample',
          '--shard',
          SHARD,
          '--expert',
          r.expert,
          '--amateur',
          r.amateur,
          '--data',
          r.trainData,
          '--max-questions',
          String(r.trainCount),
          ...sampleSettingsArgs(r.sample),
          '--backend',
          r.backend,
          '--out',
          samples,
          '--quiet',
        ],
      },
    ],
    shardDone: (index, count) => summaryPath(shardPath(samples, { index, count })),
  };
}

function finetuneStage(r: ClusterRun): ClusterStage {
  const { samples, adapter } = runPaths(r);
  const ftArgs = ['finetune', '--model', r.expert, '--samples', samples, '--out', adapter, ...finetuneSettingsArgs(r), '--backend', r.backend];
  return {
    name: 'finetune',
    sharded: false,
    needs: ['sample'],
    done: join(adapter, 'train_summary.json'),
    // --overwrite: an unfinished fine-tuning (a killed job) starts again in adapter/.
    commands: [
      // --overwrite: a gather cut short before its summary (written last) is done again.
      { args: ['gather', samples, '--overwrite', '--quiet'], unless: summaryPath(samples) },
      { args: [...ftArgs, '--overwrite', '--quiet'] },
    ],
  };
}

function evalStage(r: ClusterRun, m: Evaluated): ClusterStage {
  const { evalFile } = runPaths(r);
  return {
    name: `eval-${m.replace('_', '-')}`,
    sharded: true,
    needs: m === 'expert_after' ? ['finetune'] : [],
    done: evalSummaryPath(evalFile(m)),
    commands: [{ args: evalArgs(r, m) }],
    shardDone: (index, count) => evalSummaryPath(shardPath(evalFile(m), { index, count })),
  };
}

/** The final local `run --from-stage-outputs`, repeating every setting of the run. */
function reportRunArgs(r: ClusterRun): string[] {
  const s = r.sample;
  return [
    'run',
    '--from-stage-outputs',
    '--expert',
    r.expert,
    '--amateur',
    r.amateur,
    '--train-data',
    r.trainData,
    '--eval-data',
    r.evalData,
    '--max-questions',
    String(r.trainCount),
    '--eval-questions',
    String(r.evalCount),
    '--out',
    r.out,
    '--alpha',
    String(s.alpha),
    '--beta',
    String(s.beta),
    '--max-new-tokens',
    String(s.maxNewTokens),
    '--sample-batch-size',
    String(s.batchSize),
    ...finetuneSettingsArgs(r),
    '--eval-max-new-tokens',
    String(r.eval.maxNewTokens),
    '--eval-batch-size',
    String(r.eval.batchSize),
    '--backend',
    r.backend,
    '--quiet',
  ];
}

function reportStage(r: ClusterRun, evalStages: ClusterStage[]): ClusterStage {
  const { evalFile } = runPaths(r);
  return {
    name: 'report',
    sharded: false,
    needs: ['finetune', ...evalStages.map((x) => x.name)],
    done: join(r.out, 'report.json'),
    commands: [
      ...EVALUATED.map((m) => ({ args: ['gather', evalFile(m), '--overwrite', '--quiet'], unless: evalSummaryPath(evalFile(m)) })),
      { args: reportRunArgs(r) },
    ],
  };
}

export function planStages(r: ClusterRun): ClusterStage[] {
  // The amateur and the expert before need no samples: they run beside the sampling.
  const evalStages = EVALUATED.map((m) => evalStage(r, m));
  return [sampleStage(r), finetuneStage(r), ...evalStages, reportStage(r, evalStages)];
}
