// Stage 1 as a crash-safe job writing JSONL (the CLI's `sample`; portable through the FileSystem
// adapter, which must offer appendFile, truncate and writeFileAtomic).
//
// Each problem's samples are appended and fsynced as soon as its batch finishes, then a small
// state file (written atomically) records how many problems — always a prefix of the input, since
// they are written in input order — are committed and the output's byte length after them. A crash
// can leave at most one partly written problem past that length; --resume cuts it off, skips the
// committed problems and recomputes the batch that was in flight *whole* (batches are fixed by input
// index), because floating-point results may depend on which rows run together. The resumed file is
// therefore byte-identical to an uninterrupted run's.
//
// A shard (runtime/shard/shard.ts) runs the same job over its slice of the problems, which starts on
// a batch boundary, so its batches are the unsharded run's; its state and summary record where it
// sits (`shard`), and `gather` (runtime/shard/gather.ts) joins the shards into the unsharded files.

import { badInputError, LightReasonerError } from '../errors.ts';
import { hubRevisionOf, type HubRevision } from '../hub/ids.ts';
import type { CausalLM } from '../model/model.ts';
import type { FileSystem } from '../platform/types.ts';
import type { ShardInfo } from '../shard/shard.ts';
import { describeChanges, isObject, jsonKind, show } from '../util/json.ts';
import { addToDiagnostics, type DiagnosticsState, emptyDiagnostics, type PairDiagnostics, summarizeDiagnostics } from './diagnostics.ts';
import { checkVocabularies, type Problem, type SampleEvent, type SampleSettings, sampleContrastive } from './sample.ts';

const STATE_VERSION = 1;

/** What a resume must match besides the settings: models, data, backend kind. */
export interface RunIdentity {
  expert: { source: string; fingerprint: string };
  amateur: { source: string; fingerprint: string };
  data: string;
  backend: string;
}

export interface Totals {
  problems: number;
  trajectoryTokens: number;
  amateurTokens: number;
  steps: number;
  selected: number;
  klSum: number;
  wallSeconds: number;
  /** Pair diagnostics of the committed problems (absent in state files of versions before them). */
  diagnostics?: DiagnosticsState;
}

export interface State {
  version: number;
  settings: SampleSettings;
  identity: RunIdentity;
  /** Problems in the run: part of what a resume must match, since it decides the last batch's
   * composition (--max-questions may not change between runs). */
  problems: number;
  /** Problems 0 … committed − 1 are in the output, which then has `bytes` bytes. */
  committed: number;
  bytes: number;
  totals: Totals;
  /** Set when this run is one shard of a larger one. */
  shard?: ShardInfo;
}

export interface SamplingSummary {
  output: string;
  problems: number;
  trajectory_tokens: number;
  amateur_tokens: number;
  contrasted_steps: number;
  selected_steps: number;
  selection_rate: number;
  kl_mean: number;
  kl_selected_mean: number | null;
  kl_selected_median: number | null;
  tokens_per_second: number;
  wall_seconds: number;
  settings: SampleSettings;
  backend: string;
  /** `hub`: the Hub id and commit of a model that is a Hub snapshot (hub/ids.ts hubRevisionOf), else null. */
  models: { expert: RunIdentity['expert'] & { hub: HubRevision | null }; amateur: RunIdentity['amateur'] & { hub: HubRevision | null } };
  data_sha256: string;
  /** Pair diagnostics (diagnostics.ts); over fewer problems than `problems` only when an older version's run was resumed. */
  diagnostics: PairDiagnostics;
  /** A shard's place in its run (absent in an unsharded or gathered run). */
  shard?: ShardInfo;
  /** A gathered run's shards, in index order (absent otherwise). */
  shards?: GatheredShard[];
}

/** One shard of a gathered run, as its summary listed it. */
export interface GatheredShard {
  output: string;
  index: number;
  first: number;
  problems: number;
  wall_seconds: number;
  tokens_per_second: number;
}

export type RunEvent =
  | { status: 'start'; total: number; committed: number }
  | SampleEvent
  | { status: 'committed'; done: number; total: number; samples: number; tokens: number; seconds: number };

export interface RunSamplingOptions {
  fs: FileSystem;
  expert: CausalLM;
  amateur: CausalLM;
  problems: readonly Problem[];
  settings: SampleSettings;
  identity: RunIdentity;
  out: string;
  resume?: boolean;
  /** This run is one shard of a larger one: `problems` are its slice (shard.first … first + problems − 1). */
  shard?: ShardInfo;
  signal?: AbortSignal;
  onEvent?: (e: RunEvent) => void;
}

// The commit goes in the summary, not the identity: a resume of a run started before it was
// recorded still matches.
const withHub = (m: RunIdentity['expert']) => ({ ...m, hub: hubRevisionOf(m.source) });

export const statePath = (out: string) => `${out}.state.json`;
export const summaryPath = (out: string) => `${out}.summary.json`;

const settingsOf = (s: SampleSettings): SampleSettings => ({
  alpha: s.alpha,
  beta: s.beta,
  maxNewTokens: s.maxNewTokens,
  batchSize: s.batchSize,
  system: s.system,
});

/** What a resume (or a resubmitted shard) must match, for describeChanges(). */
const resumeKey = (s: { settings: SampleSettings; identity: RunIdentity; problems: number; shard?: ShardInfo }) => ({
  settings: s.settings,
  identity: s.identity,
  problems: s.problems,
  shard: s.shard ?? null,
});

/** The state of the run in `out`, or null when it has none. */
export async function readSamplingState(fs: FileSystem, out: string): Promise<State | null> {
  if (!(await fs.exists(statePath(out)))) return null;
  return parseState(await fs.readText(statePath(out)), statePath(out), out);
}

/**
 * The summary of a finished run in `out` with these settings, models, data and shard (a resubmitted
 * shard is skipped with it); null when `out` holds no finished run. A finished run with other
 * settings is refused, as a resume would be.
 */
export async function finishedSampling(
  fs: FileSystem,
  o: Pick<RunSamplingOptions, 'out' | 'settings' | 'identity' | 'shard'> & { problems: number },
): Promise<SamplingSummary | null> {
  const state = await readSamplingState(fs, o.out);
  if (!state || state.committed !== state.problems || !(await fs.exists(o.out)) || !(await fs.exists(summaryPath(o.out)))) return null;
  const changed = describeChanges(resumeKey(state), resumeKey({ ...o, settings: settingsOf(o.settings) }));
  if (changed.length)
    throw badInputError(
      `${o.out} is a finished run with other settings, models or data (${changed.join('; ')}): use the original options, or remove ${o.out} and its .state.json and .summary.json to start over`,
      o.out,
    );
  return JSON.parse(await fs.readText(summaryPath(o.out))) as SamplingSummary;
}

/**
 * The state a run starts from: an interrupted run's (checked against these settings, models and
 * data, its output cut back to the last committed problem) with --resume, else a fresh one
 * (`fresh`: its files are not written yet).
 */
async function openSamplingState(o: RunSamplingOptions, settings: SampleSettings): Promise<{ state: State; fresh: boolean }> {
  const { fs, out } = o;
  let state: State;
  let fresh = false;
  const hasOut = await fs.exists(out),
    hasState = await fs.exists(statePath(out));
  if (o.resume && (hasOut || hasState)) {
    if (!hasState)
      throw badInputError(`${out} exists but has no state file (${statePath(out)}): it was not written by an interrupted run; remove it to start over`);
    if (!hasOut) throw badInputError(`${out} is missing but ${statePath(out)} exists: remove the state file to start over`);
    state = parseState(await fs.readText(statePath(out)), statePath(out), out);
    const changed = describeChanges(resumeKey(state), resumeKey({ settings, identity: o.identity, problems: o.problems.length, shard: o.shard }));
    if (changed.length)
      throw badInputError(
        `cannot resume ${out}: the run was started with other settings, models or data (${changed.join('; ')}). Use the original options, or remove ${out} and ${statePath(out)} to start over`,
      );
    const size = await fs.size(out);
    if (size < state.bytes)
      throw badInputError(
        `cannot resume ${out}: it has ${size} bytes but ${state.bytes} were committed (was it edited?); remove it and its state file to start over`,
      );
    if (size > state.bytes) await fs.truncate!(out, state.bytes); // a partly written problem
  } else {
    if (hasOut) throw badInputError(`${out} already exists: pass --resume to continue that run, or remove it`);
    // A bare file name lives in the current folder (no separator: nothing to check).
    const sep = Math.max(out.lastIndexOf('/'), out.lastIndexOf('\\'));
    const folder = sep < 0 ? '' : out.slice(0, sep);
    if (folder && !(await fs.exists(folder))) throw badInputError(`the output folder ${folder} does not exist: create it, or pass another --out`, out);
    state = {
      version: STATE_VERSION,
      settings,
      identity: o.identity,
      problems: o.problems.length,
      committed: 0,
      bytes: 0,
      totals: emptyTotals(),
      ...(o.shard ? { shard: o.shard } : {}),
    };
    // The files appear with the first committed problem (below): a run that fails before it (bad
    // numbers in the first batch, a crash) leaves nothing to remove, and --resume starts afresh.
    fresh = true;
  }
  return { state, fresh };
}

export async function runSampling(o: RunSamplingOptions): Promise<SamplingSummary> {
  const { fs, out } = o;
  if (!fs.appendFile || !fs.truncate || !fs.writeFileAtomic)
    throw new LightReasonerError('UNSUPPORTED', 'this platform cannot append to files: use sampleContrastive and store the samples yourself');
  const settings = settingsOf(o.settings);
  if (o.shard && o.shard.problems !== o.problems.length) throw new Error(`internal: shard of ${o.shard.problems} problems given ${o.problems.length}`);
  checkVocabularies(o.expert, o.amateur); // before any file is touched
  const enc = new TextEncoder();
  let { state, fresh } = await openSamplingState(o, settings);
  const total = o.problems.length;
  const startCommitted = state.committed;
  o.onEvent?.({ status: 'start', total, committed: Math.min(state.committed, total) });
  let last = performance.now();
  const t0 = last;
  let samplesThisRun = 0,
    tokensThisRun = 0;
  const start = async () => {
    await fs.writeFileAtomic!(out, '');
    await fs.writeFileAtomic!(statePath(out), JSON.stringify(state));
    fresh = false;
  };
  const gen = sampleContrastive(o.expert, o.amateur, o.problems, settings, { signal: o.signal, skip: (i) => i < startCommitted });
  for await (const e of gen) {
    o.onEvent?.(e);
    if (e.status !== 'problem') continue;
    const r = e.result;
    if (r.index !== state.committed) throw new Error(`internal: problem ${r.index} arrived while ${state.committed} were committed`);
    const text = r.samples.map((s) => `${JSON.stringify(s)}\n`).join('');
    const bytes = enc.encode(text);
    if (fresh) await start();
    if (bytes.length) await fs.appendFile(out, bytes);
    const now = performance.now();
    const t = state.totals;
    t.problems++;
    t.trajectoryTokens += r.trajectory.length;
    t.amateurTokens += r.amateurTokens;
    t.steps += r.steps.length;
    t.selected += r.samples.length;
    for (const s of r.steps) t.klSum += s.kl;
    addToDiagnostics((t.diagnostics ??= emptyDiagnostics()), r);
    t.wallSeconds += (now - last) / 1000;
    last = now;
    state.committed++;
    state.bytes += bytes.length;
    await fs.writeFileAtomic(statePath(out), JSON.stringify(state));
    samplesThisRun += r.samples.length;
    tokensThisRun += r.trajectory.length;
    o.onEvent?.({ status: 'committed', done: state.committed, total, samples: samplesThisRun, tokens: tokensThisRun, seconds: (now - t0) / 1000 });
  }
  if (fresh) await start(); // an empty shard: its (empty) files say it is done
  return writeSummary(fs, out, state);
}

export function emptyTotals(): Totals {
  return { problems: 0, trajectoryTokens: 0, amateurTokens: 0, steps: 0, selected: 0, klSum: 0, wallSeconds: 0, diagnostics: emptyDiagnostics() };
}

/** Write a finished run's state (a gathered run's) and then its summary; the summary lists `shards` when given. */
export async function writeFinishedRun(fs: FileSystem, out: string, state: State, shards?: GatheredShard[]): Promise<SamplingSummary> {
  await fs.writeFileAtomic!(statePath(out), JSON.stringify(state));
  return writeSummary(fs, out, state, shards);
}

/**
 * Parse a state file for --resume. It is written atomically, so a torn or empty one was damaged
 * from outside (a copy cut short, a full disk on another tool's write): refused with what to do.
 */
function parseState(text: string, file: string, out: string): State {
  const startOver = `remove ${out} and ${file} to start over`;
  let j: unknown;
  try {
    j = JSON.parse(text);
  } catch {
    throw badInputError(
      `${file}: ${text.trim() === '' ? 'empty' : 'not valid JSON (cut short?)'}, so it cannot say which problems of ${out} are complete; ${startOver}`,
      file,
    );
  }
  const bad = (problem: string) => badInputError(`${file}: ${problem}; it is not a state file of this version, or was edited: ${startOver}`, file);
  if (!isObject(j)) throw bad(`must hold a JSON object, got ${jsonKind(j)}`);
  if (j.version !== STATE_VERSION) throw bad(`unknown state version ${show(j.version)}`);
  for (const key of ['settings', 'identity', 'totals'] as const) if (!isObject(j[key])) throw bad(`"${key}" must be an object, got ${show(j[key])}`);
  const int = (key: string, max: number) => {
    const v = j[key];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) throw bad(`"${key}" must be an integer in [0, ${max}], got ${show(v)}`);
  };
  if (j.shard !== undefined && !isObject(j.shard)) throw bad(`"shard" must be an object, got ${show(j.shard)}`);
  int('problems', Number.MAX_SAFE_INTEGER);
  int('committed', j.problems as number);
  int('bytes', Number.MAX_SAFE_INTEGER);
  const t = j.totals as Record<string, unknown>;
  for (const key of ['problems', 'trajectoryTokens', 'amateurTokens', 'steps', 'selected', 'klSum', 'wallSeconds']) {
    if (typeof t[key] !== 'number' || !Number.isFinite(t[key])) throw bad(`"totals.${key}" must be a finite number, got ${show(t[key])}`);
  }
  return j as unknown as State;
}

async function writeSummary(fs: FileSystem, out: string, state: State, shards?: GatheredShard[]): Promise<SamplingSummary> {
  // Selected-step KL statistics come from the output itself (it holds exactly those), so they
  // cover every run segment without the state file growing with the number of steps.
  const kls: number[] = [];
  for (const [i, line] of (await fs.readText(out)).split('\n').entries()) {
    if (!line) continue;
    let kl: unknown;
    try {
      kl = (JSON.parse(line) as { kl_divergence?: unknown } | null)?.kl_divergence;
    } catch {
      kl = undefined;
    }
    if (typeof kl !== 'number' || !Number.isFinite(kl))
      throw badInputError(
        `${out}:${i + 1}: not a sample line with a finite "kl_divergence" (was the file edited?); remove ${out} and ${statePath(out)} to start over`,
        out,
      );
    kls.push(kl);
  }
  kls.sort((a, b) => a - b);
  const t = state.totals;
  const median = kls.length === 0 ? null : kls.length % 2 ? kls[kls.length >> 1] : (kls[kls.length / 2 - 1] + kls[kls.length / 2]) / 2;
  const summary: SamplingSummary = {
    output: out,
    problems: t.problems,
    trajectory_tokens: t.trajectoryTokens,
    amateur_tokens: t.amateurTokens,
    contrasted_steps: t.steps,
    selected_steps: t.selected,
    selection_rate: t.steps ? t.selected / t.steps : 0,
    kl_mean: t.steps ? t.klSum / t.steps : 0,
    kl_selected_mean: kls.length ? kls.reduce((a, b) => a + b, 0) / kls.length : null,
    kl_selected_median: median,
    tokens_per_second: t.wallSeconds > 0 ? t.trajectoryTokens / t.wallSeconds : 0,
    wall_seconds: t.wallSeconds,
    settings: state.settings,
    backend: state.identity.backend,
    models: { expert: withHub(state.identity.expert), amateur: withHub(state.identity.amateur) },
    data_sha256: state.identity.data,
    diagnostics: summarizeDiagnostics(t.diagnostics ?? emptyDiagnostics()),
    ...(state.shard ? { shard: state.shard } : {}),
    ...(shards ? { shards } : {}),
  };
  await fs.writeFileAtomic!(summaryPath(out), `${JSON.stringify(summary, null, 2)}\n`);
  return summary;
}
