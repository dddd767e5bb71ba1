// Shards: one task's slice of a sampling or evaluation run, for job arrays (Slurm, Kubernetes
// Indexed Jobs, AWS Batch, Google Batch). A shard is `index/count` (0-based); `--shard auto` reads
// both from the scheduler's environment (an env object is passed in: no host imports here).
//
// The split is contiguous and aligned to batches: the problems form ⌈P / B⌉ batches (batch b holds
// problems b·B … b·B + B − 1, as in the unsharded run), and shard i takes batches
// ⌊i·nb / N⌋ … ⌊(i + 1)·nb / N⌋ − 1. So every shard decodes exactly the batches the unsharded run
// decodes — same rows together, same bytes on any backend — and the shards' outputs concatenated in
// index order are the unsharded output. A shard may be empty (more shards than batches).

import { badInputError } from '../errors.ts';

export interface Shard {
  index: number;
  count: number;
}

/** Where a shard sits in its run: recorded in its state and summary, checked by a resume and by gather. */
export interface ShardInfo extends Shard {
  /** Input index of the shard's first problem (= problems before it). */
  first: number;
  /** Problems in the shard. */
  problems: number;
  /** Problems in the whole (unsharded) run. */
  total: number;
}

/** Shard counts above this would not fit the five-digit file names. */
const MAX_SHARDS = 99_999;

export type Env = Readonly<Record<string, string | undefined>>;

/** The variable a generated manifest sets when the scheduler only gives an index (Kubernetes, AWS Batch). */
export const SHARD_COUNT_VAR = 'LIGHTREASONER_SHARD_COUNT';

const SCHEDULERS =
  'Slurm (SLURM_ARRAY_TASK_ID), Kubernetes Indexed Jobs (JOB_COMPLETION_INDEX), AWS Batch (AWS_BATCH_JOB_ARRAY_INDEX) or Google Batch (BATCH_TASK_INDEX)';

function nonNegativeInt(value: string, what: string): number {
  if (!/^\d+$/.test(value.trim())) throw badInputError(`--shard: ${what} must be a non-negative integer, got "${value}"`);
  return Number(value.trim());
}

function checked(index: number, count: number, source: string): Shard {
  if (count < 1 || count > MAX_SHARDS) throw badInputError(`--shard: the shard count must be in [1, ${MAX_SHARDS}], got ${count} (${source})`);
  if (index >= count) throw badInputError(`--shard: index ${index} is not below the count ${count} (${source}); indices are 0-based`);
  return { index, count };
}

/** The count for schedulers that give only an index: `auto/N`, else LIGHTREASONER_SHARD_COUNT. */
function countOf(env: Env, explicit: number | undefined, indexVar: string): { count: number; source: string } {
  if (explicit !== undefined) return { count: explicit, source: `--shard auto/${explicit}` };
  const v = env[SHARD_COUNT_VAR];
  if (v === undefined || v.trim() === '')
    throw badInputError(`--shard auto: ${indexVar} is set but the scheduler gives no shard count: pass --shard auto/N, or set ${SHARD_COUNT_VAR}`);
  return { count: nonNegativeInt(v, SHARD_COUNT_VAR), source: `${SHARD_COUNT_VAR}=${v}` };
}

/**
 * The shard from a scheduler's environment. `explicitCount` (from `auto/N`) must agree with a
 * count the scheduler gives, and replaces LIGHTREASONER_SHARD_COUNT where it gives none.
 */
export function shardFromEnv(env: Env, explicitCount?: number): Shard {
  const slurm = env.SLURM_ARRAY_TASK_ID;
  if (slurm !== undefined && slurm !== '') {
    const id = nonNegativeInt(slurm, 'SLURM_ARRAY_TASK_ID');
    const min = env.SLURM_ARRAY_TASK_MIN === undefined ? 0 : nonNegativeInt(env.SLURM_ARRAY_TASK_MIN, 'SLURM_ARRAY_TASK_MIN');
    const countVar = env.SLURM_ARRAY_TASK_COUNT;
    if (countVar === undefined || countVar === '')
      throw badInputError('--shard auto: SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_COUNT is not (is this a job array?)');
    const count = nonNegativeInt(countVar, 'SLURM_ARRAY_TASK_COUNT');
    if (id < min) throw badInputError(`--shard auto: SLURM_ARRAY_TASK_ID ${id} is below SLURM_ARRAY_TASK_MIN ${min}`);
    // A stepped or sparse array (--array=0-9:2, 1,5,7) has ids that are not min … min + count − 1.
    const max = env.SLURM_ARRAY_TASK_MAX;
    if (max !== undefined && max !== '' && nonNegativeInt(max, 'SLURM_ARRAY_TASK_MAX') - min !== count - 1) {
      throw badInputError(
        `--shard auto: the Slurm array ${min}-${max} has ${count} tasks, not ${Number(max) - min + 1}: submit a contiguous array (--array=0-${count - 1})`,
      );
    }
    if (explicitCount !== undefined && explicitCount !== count)
      throw badInputError(`--shard auto/${explicitCount}: the Slurm array has ${count} tasks (SLURM_ARRAY_TASK_COUNT)`);
    return checked(id - min, count, `SLURM_ARRAY_TASK_ID=${id}, SLURM_ARRAY_TASK_MIN=${min}, SLURM_ARRAY_TASK_COUNT=${count}`);
  }
  const google = env.BATCH_TASK_INDEX;
  if (google !== undefined && google !== '') {
    const index = nonNegativeInt(google, 'BATCH_TASK_INDEX');
    const countVar = env.BATCH_TASK_COUNT;
    if (countVar === undefined || countVar === '') throw badInputError('--shard auto: BATCH_TASK_INDEX is set but BATCH_TASK_COUNT is not');
    const count = nonNegativeInt(countVar, 'BATCH_TASK_COUNT');
    if (explicitCount !== undefined && explicitCount !== count)
      throw badInputError(`--shard auto/${explicitCount}: the Google Batch job has ${count} tasks (BATCH_TASK_COUNT)`);
    return checked(index, count, `BATCH_TASK_INDEX=${index}, BATCH_TASK_COUNT=${count}`);
  }
  for (const indexVar of ['JOB_COMPLETION_INDEX', 'AWS_BATCH_JOB_ARRAY_INDEX']) {
    const v = env[indexVar];
    if (v === undefined || v === '') continue;
    const index = nonNegativeInt(v, indexVar);
    const { count, source } = countOf(env, explicitCount, indexVar);
    return checked(index, count, `${indexVar}=${index}, ${source}`);
  }
  throw badInputError(`--shard auto: no job-array index in the environment — run it as a task of ${SCHEDULERS}, or give --shard I/N`);
}

/** Parse `--shard`: `I/N`, `auto` or `auto/N`. */
export function parseShard(spec: string, env: Env): Shard {
  const s = spec.trim();
  if (s === 'auto') return shardFromEnv(env);
  const m = /^(auto|\d+)\/(\d+)$/.exec(s);
  if (!m) throw badInputError(`--shard must be I/N (0-based index I of N shards), auto or auto/N, got "${spec}"`);
  const count = Number(m[2]);
  if (m[1] === 'auto') {
    checked(0, count, `--shard ${s}`);
    return shardFromEnv(env, count);
  }
  return checked(Number(m[1]), count, `--shard ${s}`);
}

/** The problems [first, end) of shard `index/count` of `total` problems decoded `batchSize` at a time. */
export function shardRange(total: number, batchSize: number, shard: Shard): { first: number; end: number } {
  const batches = Math.ceil(total / batchSize);
  const from = Math.floor((shard.index * batches) / shard.count),
    to = Math.floor(((shard.index + 1) * batches) / shard.count);
  return { first: Math.min(total, from * batchSize), end: Math.min(total, to * batchSize) };
}

/** The ShardInfo of a shard over `total` problems. */
export function shardInfo(total: number, batchSize: number, shard: Shard): ShardInfo {
  const { first, end } = shardRange(total, batchSize, shard);
  return { index: shard.index, count: shard.count, first, problems: end - first, total };
}

const five = (n: number) => String(n).padStart(5, '0');

/** Split `out` into its folder-and-stem and extension ('' when the name has none). */
function splitExtension(out: string): { stem: string; ext: string } {
  const sep = Math.max(out.lastIndexOf('/'), out.lastIndexOf('\\'));
  const dot = out.lastIndexOf('.');
  return dot > sep + 1 ? { stem: out.slice(0, dot), ext: out.slice(dot) } : { stem: out, ext: '' };
}

/** A shard's output file: `S.jsonl` → `S.shard-00002-of-00004.jsonl`. */
export function shardPath(out: string, shard: Shard): string {
  const { stem, ext } = splitExtension(out);
  return `${stem}.shard-${five(shard.index)}-of-${five(shard.count)}${ext}`;
}

/** The folder of `out` ('' for a bare file name) and a matcher of its shard files' names in it. */
export function shardNameMatcher(out: string): { folder: string; match: (name: string) => Shard | null } {
  const sep = Math.max(out.lastIndexOf('/'), out.lastIndexOf('\\'));
  const folder = sep < 0 ? '' : out.slice(0, sep);
  const { stem, ext } = splitExtension(out.slice(sep + 1));
  const literal = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const re = new RegExp(`^${literal(stem)}\\.shard-(\\d{5})-of-(\\d{5})${literal(ext)}$`);
  return {
    folder,
    match(name) {
      const m = re.exec(name);
      return m ? { index: Number(m[1]), count: Number(m[2]) } : null;
    },
  };
}

/** Shard `shard`'s slice of `problems` (decoded `batchSize` at a time) and where it sits. */
export function takeShard<T>(problems: readonly T[], batchSize: number, shard: Shard): { info: ShardInfo; problems: T[] } {
  const info = shardInfo(problems.length, batchSize, shard);
  return { info, problems: problems.slice(info.first, info.first + info.problems) };
}
