// An evaluation's files: OUT (one JSONL record per problem, evalRecordsToJsonl) and OUT.summary.json
// beside it — the accuracy with what produced it (model and adapter fingerprints, data, settings,
// backend) and, for one shard of a larger run, where the shard sits. The summary is written after
// the records, so its presence marks a finished run: a resubmitted finished shard is skipped, and
// `gather` (runtime/shard/gather.ts) checks that its shards agree. Portable: no host imports.

import { badInputError, LightReasonerError } from '../errors.ts';
import type { FileSystem } from '../platform/types.ts';
import type { ShardInfo } from '../shard/shard.ts';
import { describeChanges, isObject } from '../util/json.ts';
import { type EvalRecord, type EvalSummary, evalRecordsToJsonl, type PromptType } from './evaluate.ts';

export interface EvalIdentity {
  model: { source: string; fingerprint: string };
  adapter: { source: string; fingerprint: string } | null;
  /** sha-256 of the problem file's text. */
  data: string;
  backend: string;
}

export interface EvalSettings {
  prompt: PromptType;
  maxNewTokens: number;
  batchSize: number;
  /** The benchmark whose gold and grading rules were used (eval --benchmark); absent: the default grader. */
  benchmark?: string;
}

/** One shard of a gathered evaluation, as its summary listed it. */
export interface GatheredEvalShard {
  output: string;
  index: number;
  first: number;
  problems: number;
  correct: number;
  seconds: number;
}

export interface EvalRunSummary extends EvalSummary {
  kind: 'eval';
  output: string;
  settings: EvalSettings;
  identity: EvalIdentity;
  /** A shard's place in its run (absent in an unsharded or gathered run). */
  shard?: ShardInfo;
  /** A gathered run's shards, in index order. */
  shards?: GatheredEvalShard[];
}

export const evalSummaryPath = (out: string) => `${out}.summary.json`;

/** Write the records, then the summary (the mark of a finished run); both atomically. */
export async function writeEvalResults(fs: FileSystem, out: string, records: EvalRecord[], summary: EvalRunSummary): Promise<void> {
  if (!fs.writeFileAtomic) throw new LightReasonerError('UNSUPPORTED', `${out}: this platform's file system cannot write files`);
  await fs.writeFileAtomic(out, evalRecordsToJsonl(records));
  await writeEvalSummary(fs, summary);
}

export async function writeEvalSummary(fs: FileSystem, summary: EvalRunSummary): Promise<void> {
  await fs.writeFileAtomic!(evalSummaryPath(summary.output), `${JSON.stringify(summary, null, 2)}\n`);
}

/** The summary beside `out`, or null when there is none; a file that is not one is refused. */
export async function readEvalSummary(fs: FileSystem, out: string): Promise<EvalRunSummary | null> {
  const file = evalSummaryPath(out);
  if (!(await fs.exists(file))) return null;
  let j: unknown;
  try {
    j = JSON.parse(await fs.readText(file));
  } catch {
    throw badInputError(`${file}: not valid JSON (cut short?); remove it and ${out} to evaluate again`, file);
  }
  if (!isObject(j) || j.kind !== 'eval' || !isObject(j.settings) || !isObject(j.identity) || typeof j.total !== 'number' || typeof j.correct !== 'number') {
    throw badInputError(`${file}: not the summary of an eval run (was it edited?); remove it and ${out} to evaluate again`, file);
  }
  return j as unknown as EvalRunSummary;
}

const key = (s: { settings: EvalSettings; identity: EvalIdentity; shard?: ShardInfo }) => ({
  settings: s.settings,
  identity: s.identity,
  shard: s.shard ?? null,
});

/**
 * The summary of a finished evaluation in `out` with these settings, model, data and shard (a
 * resubmitted shard is skipped with it); null when there is none. One with other settings is refused.
 */
export async function finishedEval(
  fs: FileSystem,
  out: string,
  expect: { settings: EvalSettings; identity: EvalIdentity; shard?: ShardInfo },
): Promise<EvalRunSummary | null> {
  if (!(await fs.exists(out))) return null;
  const summary = await readEvalSummary(fs, out);
  if (!summary) return null;
  const changed = describeChanges(key(summary), key(expect));
  if (changed.length) {
    throw badInputError(
      `${out} is a finished evaluation with other settings, model or data (${changed.join('; ')}): use the original options, or remove both files to evaluate again`,
      out,
    );
  }
  return summary;
}
