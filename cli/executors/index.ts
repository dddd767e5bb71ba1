// `run --executor slurm|k8s`: the options `run` resolved (the embedded defaults applied) as a
// ClusterRun, with paths as the cluster's jobs see them, handed to the Slurm or Kubernetes executor.
import { isAbsolute, join, posix, resolve } from 'node:path';
import { badInputError } from '../../runtime/errors.ts';
import { IMAGE_MODELS, DATA_MOUNT, runOnK8s } from './k8s.ts';
import type { ClusterRun } from './plan.ts';
import { runOnSlurm } from './slurm.ts';

export const EXECUTORS = ['local', 'slurm', 'k8s'] as const;
export type Executor = (typeof EXECUTORS)[number];

/** What `run` resolved before choosing where the loop runs. */
export interface ResolvedRun {
  expert: string;
  amateur: string;
  embedded: boolean;
  /** The problems as JSONL (the file's text, or the generated problems'), and how many of each are used. */
  trainText: string;
  evalText: string;
  trainCount: number;
  evalCount: number;
  /** The generator's sets when the problems are generated (k8s writes them on the volume with `problems`). */
  generated: { train: boolean; eval: boolean };
  maxSteps: number;
  evalMaxNewTokens: number;
}

// Commander's options of `run` (cli/commands/run.ts).
type RunOptions = Record<string, any>;

function clusterRun(o: RunOptions, x: ResolvedRun, path: (p: string) => string, data: { train: string; eval: string }): ClusterRun {
  return {
    out: path(o.out),
    expert: path(x.expert),
    amateur: path(x.amateur),
    trainData: data.train,
    evalData: data.eval,
    trainCount: x.trainCount,
    evalCount: x.evalCount,
    shards: o.shards,
    backend: o.backend,
    ...(o.baseModelName ? { baseModelName: o.baseModelName } : {}),
    sample: { alpha: o.alpha, beta: o.beta, maxNewTokens: o.maxNewTokens, batchSize: o.sampleBatchSize },
    finetune: {
      lr: o.lr,
      batchSize: o.batchSize,
      gradAccum: o.gradAccum,
      maxSteps: x.maxSteps,
      seed: o.seed,
      saveSteps: o.saveSteps,
      loraR: o.loraR,
      loraAlpha: o.loraAlpha,
      targetModules: o.targetModules,
    },
    eval: { maxNewTokens: x.evalMaxNewTokens, batchSize: o.evalBatchSize },
  };
}

export async function runOnCluster(o: RunOptions, x: ResolvedRun, log: (line: string) => void): Promise<void> {
  const flag = `--executor ${o.executor}`;
  if (o.shards === undefined) throw badInputError(`${flag} needs --shards N (tasks per sharded stage)`);
  if (o.compareSft || o.seeds > 1) throw badInputError(`${flag} runs one seed without the SFT baseline: drop --compare-sft and --seeds, or run locally`);
  if (o.resume || o.overwrite)
    throw badInputError(`${flag}: rerun the same command to continue a run (finished stages are skipped); --resume and --overwrite are for the local executor`);
  if (o.executor === 'slurm') {
    const out = resolve(o.out);
    const r = clusterRun(o, x, (p) => resolve(p), { train: join(out, 'cluster', 'train.jsonl'), eval: join(out, 'cluster', 'eval.jsonl') });
    // This installation's CLI by absolute path, with the flags node runs it with (a TypeScript loader from source).
    const cli = [process.execPath, ...process.execArgv, resolve(process.argv[1])];
    const sbatchArgs = typeof o.sbatchArgs === 'string' ? o.sbatchArgs.split(/\s+/).filter(Boolean) : [];
    await runOnSlurm(r, { train: x.trainText, eval: x.evalText }, { cli, sbatchArgs, wait: !!o.wait, dryRun: !!o.dryRun, log });
    return;
  }
  if (o.image === undefined) throw badInputError(`${flag} needs --image IMG (built from the repository's Dockerfile and pushed where the cluster pulls from)`);
  if (o.wait) throw badInputError(`${flag} always waits for each Job (without --dry-run); --wait is for slurm`);
  // In the pods: relative paths are on the shared volume, the embedded pair is in the image.
  const inPod = (p: string) => (isAbsolute(p) ? p : posix.join(DATA_MOUNT, p));
  const xs = x.embedded
    ? { ...x, expert: `${IMAGE_MODELS}/expert`, amateur: `${IMAGE_MODELS}/amateur` }
    : { ...x, expert: inPod(o.expert), amateur: inPod(o.amateur) };
  const out = inPod(o.out);
  const train = x.generated.train ? posix.join(out, 'cluster', 'train.jsonl') : inPod(o.trainData);
  const evalData = x.generated.eval ? posix.join(out, 'cluster', 'eval.jsonl') : inPod(o.evalData);
  const r = clusterRun(o, xs, inPod, { train, eval: evalData });
  const prepare = [
    ...(x.generated.train ? [['problems', '--set', 'sample', '--seed', '0', '--count', String(x.trainCount), '--out', train, '--overwrite']] : []),
    ...(x.generated.eval ? [['problems', '--set', 'eval', '--seed', '0', '--count', String(x.evalCount), '--out', evalData, '--overwrite']] : []),
  ];
  runOnK8s(r, { image: o.image, pvc: o.pvc, prepare, dryRun: !!o.dryRun, timeout: o.k8sTimeout, log });
}
