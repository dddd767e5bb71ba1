// An evaluation into a file that survives an interruption (the `eval --out` command, each of `run`'s
// evaluations, the Engine's evaluate job with `out`): one implementation for all of them.
//
// While it runs, OUT.partial is a journal: a header line naming what is evaluated (settings, model
// and adapter fingerprints, data, backend, problem count, shard), then one line per finished batch
// with its records, appended and flushed (FileSystem.appendFile fsyncs) before the next batch
// starts. With `resume`, the records of the journal's batches are kept and only the other batches are
// decoded — whole, with the uninterrupted run's batch composition (batches are fixed by input index),
// so the records are the same bytes. A journal written for other settings, models or data is
// refused, naming the fields. A crash can leave the last line cut short: it is dropped with a
// warning (that batch is decoded again). At the end OUT is written atomically (write then rename),
// then OUT.summary.json (the mark of a finished evaluation), then the journal is removed; a resume of
// a finished evaluation returns its results without decoding anything.
//
// Why a batch per line rather than a problem per line: a batch is the unit that can be kept (its
// rows decode together), and one line per batch makes "the batch is whole" the same as "the line is
// whole".

import { badInputError, LightReasonerError } from '../errors.ts';
import type { CausalLM } from '../model/model.ts';
import type { FileSystem } from '../platform/types.ts';
import type { ShardInfo } from '../shard/shard.ts';
import { describeChanges, isObject, show } from '../util/json.ts';
import { type EvaluateOptions, type EvalProblem, type EvalRecord, evaluate } from './evaluate.ts';
import { type EvalIdentity, type EvalRunSummary, type EvalSettings, evalSummaryPath, finishedEval, writeEvalResults } from './results.ts';

const JOURNAL_KIND = 'lightreasoner-eval-journal';
const JOURNAL_VERSION = 1;

export const evalJournalPath = (out: string) => `${out}.partial`;

/** What a resumed evaluation must match: everything that decides its records. */
interface JournalKey {
  settings: EvalSettings;
  identity: EvalIdentity;
  /** Problems evaluated (--max-questions may not change between runs). */
  problems: number;
  shard: ShardInfo | null;
}

export interface EvaluateToFileOptions extends Omit<EvaluateOptions, 'done' | 'onBatch' | 'prompt' | 'maxNewTokens' | 'batchSize'> {
  fs: FileSystem;
  /** The records' JSONL; OUT.summary.json beside it, OUT.partial while it runs. */
  out: string;
  settings: EvalSettings;
  /** Model, adapter and data fingerprints; the backend is the model's. */
  identity: Omit<EvalIdentity, 'backend'>;
  shard?: ShardInfo;
  /** Keep what an interrupted (or finished) evaluation in `out` holds; without it a fresh run starts. */
  resume?: boolean;
  /** A cut-short last journal line (dropped). */
  onWarning?: (message: string) => void;
  /**
   * With resume: an evaluation (finished or interrupted) of another adapter is discarded and done
   * again rather than refused — `run` retrains an adapter it could not keep, and results of the old
   * one are stale, not a mistake of the caller. Other differences are still refused.
   */
  redoOtherAdapter?: boolean;
}

export interface EvaluateToFileResult {
  records: EvalRecord[];
  summary: EvalRunSummary;
  /** Problems whose records came from the interrupted run (all of them when it had finished). */
  resumed: number;
  /** The evaluation had finished before: nothing was decoded. */
  finished: boolean;
}

/**
 * Refuse an `out` that holds an earlier evaluation unless resuming or overwriting (before any
 * work): the finished file, or the journal an interrupted one left.
 */
export async function claimEvalOut(fs: FileSystem, out: string, o: { resume?: boolean; overwrite?: boolean; flag?: string }): Promise<void> {
  const flag = o.flag ?? '--out';
  if (o.resume && o.overwrite) throw badInputError(`${flag} ${out}: --resume and --overwrite contradict each other — pass one`);
  if (o.resume || o.overwrite) return;
  if (await fs.exists(out)) throw badInputError(`${flag} ${out} already exists: pass --overwrite to replace it, or choose another file`, out);
  if (await fs.exists(evalJournalPath(out)))
    throw badInputError(
      `${flag} ${out}: an interrupted evaluation left ${evalJournalPath(out)}: pass --resume to continue it, --overwrite to start over, or choose another file`,
      out,
    );
}

/** Greedy-evaluate `problems` into `out` (see the file comment); resumable. */
export async function evaluateToFile(model: CausalLM, problems: EvalProblem[], o: EvaluateToFileOptions): Promise<EvaluateToFileResult> {
  const { fs, out } = o;
  if (!fs.writeFileAtomic) throw new LightReasonerError('UNSUPPORTED', `${out}: this platform's file system cannot write files`);
  const identity: EvalIdentity = { ...o.identity, backend: model.backend.info.kind };
  const key: JournalKey = { settings: o.settings, identity, problems: problems.length, shard: o.shard ?? null };
  const journal = evalJournalPath(out);
  if (o.resume && o.redoOtherAdapter) await discardOtherAdapter(fs, out, key);
  if (o.resume) {
    const done = await readFinished(fs, out, key);
    if (done) {
      o.onEvent?.({ status: 'start', total: problems.length, resumed: problems.length });
      o.onEvent?.({ status: 'done', summary: done.summary });
      return done;
    }
  }
  const prior = o.resume && (await fs.exists(journal)) ? await readJournal(fs, journal, key, problems, o.onWarning) : null;
  // Without an append (a platform that cannot), the evaluation still runs; it just cannot resume.
  const append = fs.appendFile?.bind(fs);
  let secondsBefore = prior?.seconds ?? 0;
  if (append && !prior) await fs.writeFileAtomic(journal, `${JSON.stringify({ kind: JOURNAL_KIND, version: JOURNAL_VERSION, key })}\n`);
  if (prior?.cutBackTo != null) await fs.writeFileAtomic(journal, prior.cutBackTo);
  const t0 = performance.now();
  const { records, summary } = await evaluate(model, problems, {
    ...o,
    prompt: o.settings.prompt,
    maxNewTokens: o.settings.maxNewTokens,
    batchSize: o.settings.batchSize,
    done: prior?.records,
    onBatch: append
      ? async (batch) => {
          const seconds = secondsBefore + (performance.now() - t0) / 1000;
          await append(journal, `${JSON.stringify({ seconds, indices: batch.map((b) => b.index), records: batch.map((b) => b.record) })}\n`);
        }
      : undefined,
  });
  secondsBefore += summary.seconds;
  const runSummary: EvalRunSummary = {
    kind: 'eval',
    output: out,
    ...summary,
    seconds: secondsBefore,
    settings: o.settings,
    identity,
    ...(o.shard ? { shard: o.shard } : {}),
  };
  await writeEvalResults(fs, out, records, runSummary);
  if (append && (await fs.exists(journal))) await fs.rm?.(journal);
  return { records, summary: runSummary, resumed: prior?.records.size ?? 0, finished: false };
}

/** Remove `out`'s finished results and journal where they record an adapter other than `key`'s. */
async function discardOtherAdapter(fs: FileSystem, out: string, key: JournalKey): Promise<void> {
  const same = (a: unknown) => JSON.stringify(a ?? null) === JSON.stringify(key.identity.adapter);
  // The summary is one JSON document, the journal's header its first line.
  const recorded = async (file: string, pick: (j: Record<string, unknown>) => unknown): Promise<unknown> => {
    if (!(await fs.exists(file))) return key.identity.adapter;
    try {
      const text = await fs.readText(file);
      const j: unknown = JSON.parse(file === evalJournalPath(out) ? text.split('\n')[0] : text);
      return isObject(j) ? pick(j) : key.identity.adapter;
    } catch {
      return key.identity.adapter; // damaged: left for the checks below to name
    }
  };
  const adapterOf = (j: Record<string, unknown>) => (isObject(j.identity) ? j.identity.adapter : undefined);
  if (!same(await recorded(evalSummaryPath(out), adapterOf))) for (const f of [evalSummaryPath(out), out]) if (await fs.exists(f)) await fs.rm?.(f);
  if (!same(await recorded(evalJournalPath(out), (j) => (isObject(j.key) ? adapterOf(j.key) : undefined)))) await fs.rm?.(evalJournalPath(out));
}

/** A finished evaluation in `out` for `key` (its records and summary), or null; another one is refused. */
async function readFinished(fs: FileSystem, out: string, key: JournalKey): Promise<EvaluateToFileResult | null> {
  const summary = await finishedEval(fs, out, { settings: key.settings, identity: key.identity, shard: key.shard ?? undefined });
  if (!summary) return null;
  if (summary.total !== key.problems)
    throw badInputError(
      `${out} is a finished evaluation of ${summary.total} problems, this one has ${key.problems}: use the original options, or remove it and ${evalSummaryPath(out)} to evaluate again`,
      out,
    );
  const lines = (await fs.readText(out)).split('\n').filter((l) => l !== '');
  if (lines.length !== key.problems)
    throw badInputError(
      `${out}: holds ${lines.length} records but its summary says ${key.problems} (was it edited?); remove it and ${evalSummaryPath(out)} to evaluate again`,
      out,
    );
  const records = lines.map((l, i) => {
    try {
      return JSON.parse(l) as EvalRecord;
    } catch {
      throw badInputError(`${out}:${i + 1}: not valid JSON (was it edited?); remove it and ${evalSummaryPath(out)} to evaluate again`, out);
    }
  });
  return { records, summary, resumed: records.length, finished: true };
}

/**
 * The records of a journal (by input index) and the seconds spent on them, checked against this
 * run. Only an unterminated last line that does not parse — what a crash during an append leaves —
 * is dropped (with a warning); any other damage is refused with what to do.
 */
async function readJournal(
  fs: FileSystem,
  journal: string,
  key: JournalKey,
  problems: EvalProblem[],
  warn?: (m: string) => void,
): Promise<{ records: Map<number, EvalRecord>; seconds: number; cutBackTo: string | null }> {
  const startOver = `remove ${journal} to evaluate from the start`;
  const text = await fs.readText(journal);
  const lines = text.split('\n');
  const unterminated = text.endsWith('\n') ? -1 : lines.length - 1;
  const records = new Map<number, EvalRecord>();
  let seconds = 0;
  for (const [n, raw] of lines.entries()) {
    if (raw === '') continue;
    let o: unknown;
    try {
      o = JSON.parse(raw);
    } catch {
      o = undefined;
    }
    const at = `${journal}:${n + 1}`;
    if (n === unterminated && (o === undefined || n === 0)) {
      if (n === 0) throw badInputError(`${at}: the header is cut short, so it cannot say what was evaluated; ${startOver}`, journal);
      warn?.(`${at}: the last line is cut short (the evaluation was interrupted while writing it); dropped, that batch is evaluated again`);
      // What the journal must be cut back to before the next append, which would otherwise join it.
      return { records, seconds, cutBackTo: text.slice(0, text.length - raw.length) };
    }
    if (!isObject(o)) throw badInputError(`${at}: not a JSON object (was the journal edited?); ${startOver}`, journal);
    if (n === 0) {
      if (o.kind !== JOURNAL_KIND || o.version !== JOURNAL_VERSION || !isObject(o.key))
        throw badInputError(`${at}: not an evaluation journal of this version (kind ${show(o.kind)}, version ${show(o.version)}); ${startOver}`, journal);
      const changed = describeChanges(o.key, key as unknown as Record<string, unknown>);
      if (changed.length)
        throw badInputError(
          `cannot resume ${journal}: the evaluation was started with other settings, model or data (${changed.join('; ')}); use the original options, or ${startOver}`,
          journal,
        );
      continue;
    }
    const { indices, records: recs } = o;
    if (!Array.isArray(indices) || !Array.isArray(recs) || indices.length !== recs.length || typeof o.seconds !== 'number')
      throw badInputError(`${at}: not a batch line {seconds, indices, records} (was the journal edited?); ${startOver}`, journal);
    for (const [j, i] of indices.entries()) {
      const r = recs[j] as EvalRecord;
      if (!Number.isInteger(i) || i < 0 || i >= problems.length || !isObject(r) || r.id !== problems[i].id || records.has(i)) {
        throw badInputError(
          `${at}: record ${j} (index ${show(i)}) is not a record of this run's problem at that index (was the journal edited?); ${startOver}`,
          journal,
        );
      }
      records.set(i, r);
    }
    seconds = o.seconds;
  }
  return { records, seconds, cutBackTo: null };
}
