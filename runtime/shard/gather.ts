// `gather`: join the shard files of a sampling or evaluation run (S.shard-0000I-of-0000N.jsonl,
// runtime/shard/shard.ts) into S.jsonl and its side files, as one unsharded run would have written
// them. Shards are contiguous blocks of whole batches in index order, so the data file is their
// concatenation — the same bytes. Refused, naming the files: missing or unfinished shards, shards of
// different counts, and shards whose settings, models, data or place in the run disagree. The data
// file is streamed into a temp file and renamed; the summary (written last) totals the shards and
// lists them. Portable: the FileSystem must offer list, appendFile and rename.

import { badInputError, LightReasonerError } from '../errors.ts';
import { type EvalRunSummary, evalSummaryPath, readEvalSummary, writeEvalSummary } from '../eval/results.ts';
import { wilsonInterval } from '../eval/stats.ts';
import type { FileSystem } from '../platform/types.ts';
import { emptyDiagnostics, mergeDiagnostics } from '../stage/diagnostics.ts';
import {
  emptyTotals,
  type GatheredShard,
  readSamplingState,
  type SamplingSummary,
  type State,
  statePath,
  summaryPath,
  type Totals,
  writeFinishedRun,
} from '../stage/sampling.ts';
import { describeChanges } from '../util/json.ts';
import { type Shard, type ShardInfo, shardNameMatcher, shardPath } from './shard.ts';

export interface GatherOptions {
  /** Replace an existing output (and its side files). */
  overwrite?: boolean;
}

export type GatherResult = { kind: 'sample'; shards: number; summary: SamplingSummary } | { kind: 'eval'; shards: number; summary: EvalRunSummary };

/** Bytes copied per read when joining the data files. */
const CHUNK = 16 << 20;

type Part = { file: string; kind: 'sample'; state: State; shard: ShardInfo } | { file: string; kind: 'eval'; summary: EvalRunSummary; shard: ShardInfo };

const listed = (files: string[]) => (files.length > 8 ? `${files.slice(0, 8).join(', ')}, … (${files.length} in all)` : files.join(', '));

/** The shard count of `out`'s shard files (one count only), from the names in its folder. */
async function shardCount(fs: FileSystem, out: string): Promise<number> {
  const { folder, match } = shardNameMatcher(out);
  const names = await fs.list!(folder === '' ? '.' : folder);
  const found = names.map((n) => ({ name: n, shard: match(n) })).filter((x): x is { name: string; shard: Shard } => x.shard !== null);
  if (found.length === 0)
    throw badInputError(
      `gather ${out}: no shard files (${shardPath(out, { index: 0, count: 1 }).replace('00000-of-00001', '*-of-*')}) in ${folder || 'the current folder'}; run sample or eval with --shard and --out ${out} first`,
      out,
    );
  const counts = [...new Set(found.map((x) => x.shard.count))].sort((a, b) => a - b);
  if (counts.length > 1) {
    const byCount = counts
      .map((c) => `${found.filter((x) => x.shard.count === c).length} of ${c} (${listed(found.filter((x) => x.shard.count === c).map((x) => x.name))})`)
      .join('; ');
    throw badInputError(`gather ${out}: shard files of different shard counts: ${byCount}; remove the files of the run you do not want`, out);
  }
  return counts[0];
}

/** Read shard i's state or summary; null when it is missing, 'unfinished' when not done. */
async function readPart(fs: FileSystem, file: string): Promise<Part | 'missing' | 'unfinished'> {
  const state = await readSamplingState(fs, file);
  if (state) {
    if (state.committed !== state.problems || !(await fs.exists(file)) || !(await fs.exists(summaryPath(file)))) return 'unfinished';
    if (!state.shard) throw badInputError(`${statePath(file)}: not the state of a shard (no "shard" field); was it renamed from another run?`, file);
    return { file, kind: 'sample', state, shard: state.shard };
  }
  if (!(await fs.exists(file))) return 'missing';
  const summary = await readEvalSummary(fs, file);
  if (!summary) return 'unfinished';
  if (!summary.shard) throw badInputError(`${evalSummaryPath(file)}: not the summary of a shard (no "shard" field); was it renamed from another run?`, file);
  return { file, kind: 'eval', summary, shard: summary.shard };
}

/** What every shard must share (settings, models, data, the run's size). */
function runKey(p: Part): Record<string, unknown> {
  const shard = { count: p.shard.count, total: p.shard.total };
  return p.kind === 'sample'
    ? { kind: p.kind, settings: p.state.settings, identity: p.state.identity, shard }
    : { kind: p.kind, settings: p.summary.settings, identity: p.summary.identity, shard };
}

/** The finished, consistent shards of `out`, in index order; refuses otherwise. */
async function readParts(fs: FileSystem, out: string): Promise<Part[]> {
  const count = await shardCount(fs, out);
  const parts: Part[] = [],
    missing: string[] = [],
    unfinished: string[] = [];
  for (let index = 0; index < count; index++) {
    const file = shardPath(out, { index, count });
    const p = await readPart(fs, file);
    if (p === 'missing') missing.push(file);
    else if (p === 'unfinished') unfinished.push(file);
    else parts.push(p);
  }
  if (missing.length)
    throw badInputError(
      `gather ${out}: ${missing.length} of ${count} shards are missing: ${listed(missing)}; run those shards (or resubmit the array: finished shards are skipped)`,
      missing[0],
    );
  if (unfinished.length)
    throw badInputError(
      `gather ${out}: ${unfinished.length} of ${count} shards are unfinished: ${listed(unfinished)}; let them finish, or run them again (sample: with --resume)`,
      unfinished[0],
    );
  const first = runKey(parts[0]);
  let next = 0;
  for (const [i, p] of parts.entries()) {
    // "x was A, now B" reads here as "x is A in the first shard but B in this one".
    const changed = describeChanges(first, runKey(p)).map((c) => c.replace(/ was (.*), now (.*)$/s, ` is $1 in shard 0 but $2 here`));
    if (changed.length)
      throw badInputError(
        `gather ${out}: ${p.file} does not belong with ${parts[0].file}: other settings, models or data (${changed.join('; ')}); rerun it with the same options`,
        p.file,
      );
    if (p.shard.index !== i || p.shard.first !== next)
      throw badInputError(
        `gather ${out}: ${p.file} holds problems ${p.shard.first}…${p.shard.first + p.shard.problems - 1}, expected shard ${i} from problem ${next} (was it renamed?)`,
        p.file,
      );
    next += p.shard.problems;
  }
  if (next !== parts[0].shard.total) throw badInputError(`gather ${out}: the shards hold ${next} problems, not the run's ${parts[0].shard.total}`, out);
  return parts;
}

/** Stream the shards' data files, in order, into `out` (temp file, then rename). */
async function joinData(fs: FileSystem, out: string, parts: Part[]): Promise<number> {
  const tmp = `${out}.gather-tmp`;
  await fs.rm!(tmp);
  await fs.writeFileAtomic!(tmp, '');
  let bytes = 0;
  for (const p of parts) {
    const size = await fs.size(p.file);
    if (p.kind === 'sample' && size !== p.state.bytes)
      throw badInputError(`gather ${out}: ${p.file} has ${size} bytes but its state committed ${p.state.bytes} (was it edited?); run that shard again`, p.file);
    for (let at = 0; at < size; at += CHUNK) await fs.appendFile!(tmp, await fs.readBytes(p.file, at, Math.min(CHUNK, size - at)));
    bytes += size;
  }
  await fs.rename!(tmp, out);
  return bytes;
}

function sumTotals(states: State[]): Totals {
  const t = emptyTotals();
  for (const s of states) {
    const x = s.totals;
    t.problems += x.problems;
    t.trajectoryTokens += x.trajectoryTokens;
    t.amateurTokens += x.amateurTokens;
    t.steps += x.steps;
    t.selected += x.selected;
    t.klSum += x.klSum;
    t.wallSeconds += x.wallSeconds;
    t.diagnostics = mergeDiagnostics(t.diagnostics!, x.diagnostics ?? emptyDiagnostics());
  }
  return t;
}

async function gatherSampling(fs: FileSystem, out: string, parts: Extract<Part, { kind: 'sample' }>[]): Promise<SamplingSummary> {
  const bytes = await joinData(fs, out, parts);
  const s0 = parts[0].state;
  const state: State = {
    version: s0.version,
    settings: s0.settings,
    identity: s0.identity,
    problems: s0.shard!.total,
    committed: s0.shard!.total,
    bytes,
    totals: sumTotals(parts.map((p) => p.state)),
  };
  const shards: GatheredShard[] = parts.map((p) => {
    const t = p.state.totals;
    return {
      output: p.file,
      index: p.shard.index,
      first: p.shard.first,
      problems: p.shard.problems,
      wall_seconds: t.wallSeconds,
      tokens_per_second: t.wallSeconds > 0 ? t.trajectoryTokens / t.wallSeconds : 0,
    };
  });
  return writeFinishedRun(fs, out, state, shards);
}

async function gatherEval(fs: FileSystem, out: string, parts: Extract<Part, { kind: 'eval' }>[]): Promise<EvalRunSummary> {
  await joinData(fs, out, parts);
  const s0 = parts[0].summary;
  let correct = 0,
    seconds = 0,
    generated = 0,
    skipped = 0;
  for (const { summary: s } of parts) {
    correct += s.correct;
    skipped += s.skipped ?? 0;
    seconds += s.seconds;
    generated += s.generated_tokens;
  }
  const total = s0.shard!.total;
  // The field order of an unsharded run's summary (cli/commands/eval.ts), the shard list last.
  const summary: EvalRunSummary = {
    kind: 'eval',
    output: out,
    total,
    correct,
    accuracy: total === 0 ? 0 : correct / total,
    ci95: wilsonInterval(correct, total),
    seconds,
    generated_tokens: generated,
    prompt: s0.prompt,
    max_new_tokens: s0.max_new_tokens,
    skipped,
    settings: s0.settings,
    identity: s0.identity,
    shards: parts.map(({ file, shard, summary: s }) => ({
      output: file,
      index: shard.index,
      first: shard.first,
      problems: shard.problems,
      correct: s.correct,
      seconds: s.seconds,
    })),
  };
  await writeEvalSummary(fs, summary);
  return summary;
}

/** Join the shards of `out` (see the top of this file). */
export async function gatherShards(fs: FileSystem, out: string, opts: GatherOptions = {}): Promise<GatherResult> {
  if (!fs.list || !fs.appendFile || !fs.rename || !fs.rm || !fs.writeFileAtomic)
    throw new LightReasonerError('UNSUPPORTED', `gather ${out}: this platform's file system cannot list folders, append to and rename files`);
  if (!opts.overwrite && (await fs.exists(out)))
    throw badInputError(`gather ${out}: ${out} already exists: pass --overwrite to replace it (and its side files), or remove it`, out);
  const parts = await readParts(fs, out);
  if (parts[0].kind === 'sample') {
    if (parts.some((p) => p.kind !== 'sample')) throw new Error('internal: mixed shard kinds passed the key check');
    return { kind: 'sample', shards: parts.length, summary: await gatherSampling(fs, out, parts as Extract<Part, { kind: 'sample' }>[]) };
  }
  return { kind: 'eval', shards: parts.length, summary: await gatherEval(fs, out, parts as Extract<Part, { kind: 'eval' }>[]) };
}
