// `run --executor slurm`: the loop's stages (plan.ts) as batch scripts submitted with `sbatch`,
// chained with afterok dependencies; sharded stages are job arrays (task I runs shard I/N). The
// scripts call this installation's CLI by absolute path (node + the CLI script), so they run on
// any node that shares the filesystem. Rerunning the same command submits only what is not done:
// a finished stage (its output on the shared filesystem) is skipped, and an array is submitted
// with the indices of its unfinished shards only.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LightReasonerError } from '../../runtime/errors.ts';
import { type ClusterRun, type ClusterStage, planStages, SHARD } from './plan.ts';
import { prepareClusterDir } from './cluster-dir.ts';

export interface SlurmOptions {
  /** The CLI as a command line: [node, …its flags, the CLI script]. */
  cli: string[];
  /** Extra sbatch arguments for every job (--sbatch-args, split on white space). */
  sbatchArgs: string[];
  wait: boolean;
  dryRun: boolean;
  log: (line: string) => void;
  /** How often --wait asks squeue. */
  pollMs?: number;
}

const quote = (s: string) => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);

/** The batch script of one stage. */
function slurmScript(stage: ClusterStage, r: ClusterRun, cli: string[]): string {
  const logs = join(r.out, 'cluster', 'logs');
  const shardArg = `"$SLURM_ARRAY_TASK_ID/${r.shards}"`;
  const lines = stage.commands.map(({ args, unless }) => {
    const cmd = [...cli, ...args].map((a) => (a === SHARD ? shardArg : quote(a))).join(' ');
    return unless ? `[ -e ${quote(unless)} ] || ${cmd}` : cmd;
  });
  return [
    '#!/bin/bash',
    `#SBATCH --job-name=lightreasoner-${stage.name}`,
    `#SBATCH --output=${logs}/${stage.name}-${stage.sharded ? '%A_%a' : '%j'}.log`,
    `# LightReasoner run ${r.out}: stage ${stage.name}${stage.sharded ? ` (array task I = shard I of ${r.shards})` : ''}`,
    'set -euo pipefail',
    ...lines,
    '',
  ].join('\n');
}

/** 0,1,2,5 → "0-2,5". */
function arraySpec(indices: number[]): string {
  const parts: string[] = [];
  for (let i = 0; i < indices.length; ) {
    let j = i;
    while (j + 1 < indices.length && indices[j + 1] === indices[j] + 1) j++;
    parts.push(i === j ? `${indices[i]}` : `${indices[i]}-${indices[j]}`);
    i = j + 1;
  }
  return parts.join(',');
}

function slurmCommand(cmd: string, args: string[]): string {
  const p = spawnSync(cmd, args, { encoding: 'utf8' });
  if (p.error) {
    const missing = (p.error as NodeJS.ErrnoException).code === 'ENOENT';
    throw new LightReasonerError(
      'ENVIRONMENT',
      missing ? `${cmd} not found: run --executor slurm on a Slurm login node (with ${cmd} on PATH), or use the local executor` : `${cmd}: ${p.error.message}`,
    );
  }
  if (p.status !== 0) throw new LightReasonerError('ENVIRONMENT', `${cmd} ${args.join(' ')} failed (exit ${p.status}): ${p.stderr.trim() || p.stdout.trim()}`);
  return p.stdout;
}

/** Submit (or with dryRun print) the stages not done yet; with wait, wait for them. */
export async function runOnSlurm(r: ClusterRun, data: { train: string; eval: string }, o: SlurmOptions): Promise<void> {
  const stages = planStages(r);
  if (!o.dryRun) await prepareClusterDir(r, data);
  const clusterDir = join(r.out, 'cluster');
  const jobs = new Map<string, string>();
  for (const stage of stages) {
    if (existsSync(stage.done)) {
      o.log(`${stage.name}: done (${stage.done})`);
      continue;
    }
    const todo = stage.sharded ? Array.from({ length: r.shards }, (_, i) => i).filter((i) => !existsSync(stage.shardDone!(i, r.shards))) : [];
    const deps = stage.needs.map((n) => jobs.get(n)).filter((id): id is string => id !== undefined);
    const script = slurmScript(stage, r, o.cli);
    const file = join(clusterDir, `${stage.name}.sbatch`);
    const args = [
      '--parsable',
      ...(deps.length ? [`--dependency=afterok:${deps.join(':')}`] : []),
      ...(stage.sharded && todo.length ? [`--array=${arraySpec(todo)}`] : []),
      ...o.sbatchArgs,
      file,
    ];
    if (stage.sharded && todo.length === 0) {
      o.log(`${stage.name}: every shard done (gathered by the next stage)`);
      continue;
    }
    if (o.dryRun) {
      // Through console.log as every command's result (cli/output.ts), so an in-process caller captures it too.
      console.log(`# sbatch ${args.map(quote).join(' ')}\n${script}`);
      jobs.set(stage.name, `<${stage.name}>`);
      continue;
    }
    mkdirSync(join(clusterDir, 'logs'), { recursive: true });
    writeFileSync(file, script, { mode: 0o755 });
    const id = slurmCommand('sbatch', args).trim().split(';')[0];
    jobs.set(stage.name, id);
    o.log(
      `${stage.name}: job ${id}${stage.sharded ? ` (array ${arraySpec(todo)} of ${r.shards} shards)` : ''}${deps.length ? `, after ${deps.join(', ')}` : ''}`,
    );
    console.log(`${stage.name} ${id}`);
  }
  if (o.dryRun || !o.wait) return;
  if (jobs.size) await waitForJobs([...jobs.values()], o.pollMs ?? 2000, o.log);
  const failed = stages.find((s) => !existsSync(s.done));
  if (failed)
    throw new LightReasonerError(
      'ENVIRONMENT',
      `stage ${failed.name} did not finish (no ${failed.done}): see its log in ${join(clusterDir, 'logs')}; run the same command again to resubmit what is unfinished`,
    );
  o.log(`report: ${join(r.out, 'report.html')}`);
}

/** Poll squeue until none of `ids` is queued; a job whose dependency can never be met is cancelled with the rest. */
async function waitForJobs(ids: string[], pollMs: number, log: (line: string) => void): Promise<void> {
  const ours = new Set(ids);
  for (;;) {
    // %F: the array's job id (a plain job's own); one line per queued job or array task.
    const queued = slurmCommand('squeue', ['-h', '-o', '%F|%T|%r'])
      .split('\n')
      .map((l) => l.split('|'))
      .filter((f) => ours.has(f[0]));
    if (queued.length === 0) return;
    if (queued.some((f) => f[2] === 'DependencyNeverSatisfied')) {
      log('a job failed, so the jobs after it can never start: cancelling them');
      slurmCommand('scancel', ids);
      return;
    }
    await new Promise((res) => setTimeout(res, pollMs));
  }
}
