// What an interrupted fine-tuning run left in --out, read back for --resume and checked: a field out
// of range, a torn file or a non-finite moment would otherwise make the resumed run silently differ
// from the uninterrupted one (or crash with a TypeError far from the cause). Every refusal names the
// file and the field; the one thing a crash itself leaves, a cut-short last line of the log, is
// dropped with a warning.

import { badInputError, type LightReasonerError } from '../errors.ts';
import { isObject, jsonKind, show } from '../util/json.ts';
import type { FinetuneSettings } from './settings.ts';

export interface Totals {
  tuned: number;
  tokens: number;
  unpacked: number;
  /** Seconds spent in optimizer steps, and wall time of all runs so far (both over resumes). */
  seconds: number;
  wall: number;
  lastLoss: number;
}

export interface TrainerState {
  version: 1;
  global_step: number;
  epoch: number;
  offset: number;
  seed: number;
  samples_sha256: string;
  settings: FinetuneSettings;
  totals: Totals;
}

const START_OVER = 'resume with the original --out contents, or use a new --out to start over';

/** latest_checkpoint's content: the plain name of a checkpoint directory inside --out. */
export function checkpointName(text: string, file: string): string {
  const name = text.trim();
  // A plain name only: the pointer must not lead outside --out (nor be an empty line from a crash).
  if (!/^checkpoint-\d+$/.test(name))
    throw badInputError(
      `${file}: holds ${show(name)}, not the name of a checkpoint directory ("checkpoint-<step>"); write the newest checkpoint's name into it, or ${START_OVER}`,
      file,
    );
  return name;
}

/**
 * Parse trainer_state.json, checked against the run it resumes: `maxSteps` of the settings and the
 * number of samples (an epoch's offset cannot pass it).
 */
export function parseTrainerState(text: string, file: string, limits: { maxSteps: number; samples: number }): TrainerState {
  const bad = (problem: string): LightReasonerError => badInputError(`${file}: ${problem} — the checkpoint is damaged or was edited; ${START_OVER}`, file);
  let j: unknown;
  try {
    j = JSON.parse(text);
  } catch {
    throw bad(text.trim() === '' ? 'empty' : 'not valid JSON (cut short?)');
  }
  if (!isObject(j)) throw bad(`must hold a JSON object, got ${jsonKind(j)}`);
  if (j.version !== 1) throw bad(`"version" must be 1, got ${show(j.version)}`);
  const int = (o: Record<string, unknown>, key: string, min: number, max: number, why = '') => {
    const v = o[key];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw bad(`"${key}" must be an integer in [${min}, ${max}]${why}, got ${show(v)}`);
  };
  int(j, 'global_step', 0, limits.maxSteps, " (the settings' max steps)");
  int(j, 'epoch', 0, Number.MAX_SAFE_INTEGER);
  int(j, 'offset', 0, limits.samples, ' (the number of samples)');
  int(j, 'seed', 0, Number.MAX_SAFE_INTEGER);
  if (typeof j.samples_sha256 !== 'string') throw bad(`"samples_sha256" must be a string, got ${show(j.samples_sha256)}`);
  if (!isObject(j.settings)) throw bad(`"settings" must be an object, got ${show(j.settings)}`);
  if (!isObject(j.totals)) throw bad(`"totals" must be an object, got ${show(j.totals)}`);
  const totals = j.totals;
  for (const key of ['tuned', 'tokens', 'unpacked', 'seconds', 'wall']) {
    const v = totals[key];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw bad(`"totals.${key}" must be a finite number ≥ 0, got ${show(v)}`);
  }
  // JSON has no NaN: a checkpoint saved before any step (lastLoss NaN) holds null.
  if (totals.lastLoss === null) totals.lastLoss = NaN;
  else if (typeof totals.lastLoss !== 'number' || !Number.isFinite(totals.lastLoss))
    throw bad(`"totals.lastLoss" must be a finite number, got ${show(totals.lastLoss)}`);
  return j as unknown as TrainerState;
}

/**
 * train_log.jsonl cut back to the lines of steps ≤ `step` (steps run after the checkpoint and
 * before the interruption are run again). An unterminated last line that does not parse is what a
 * crash during an append leaves: dropped, with a warning. Any other bad line is an error naming it.
 */
export function logUpTo(text: string, file: string, step: number, warn?: (message: string) => void): string {
  const lines = text.split('\n');
  const unterminated = text.endsWith('\n') ? -1 : lines.length - 1;
  const kept: string[] = [];
  for (const [i, raw] of lines.entries()) {
    if (raw.trim() === '') continue;
    let o: unknown;
    try {
      o = JSON.parse(raw);
    } catch {
      o = undefined;
    }
    if (!isObject(o) || !Number.isInteger(o.step)) {
      if (i === unterminated) {
        warn?.(`${file}:${i + 1}: the last line is cut short (the run was interrupted while writing it); dropped`);
        continue;
      }
      throw badInputError(
        `${file}:${i + 1}: not a log line (a JSON object with an integer "step"); remove that line (the log only records progress) and resume again`,
        file,
      );
    }
    if ((o.step as number) <= step) kept.push(raw);
  }
  return kept.map((l) => `${l}\n`).join('');
}

/** Refuse optimizer moments that would poison every later step: NaN/Inf, or a negative second moment. */
export function checkMoments(values: Float32Array, file: string, tensor: string, secondMoment: boolean): void {
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (Number.isFinite(v) && !(secondMoment && v < 0)) continue;
    throw badInputError(
      `${file}: tensor "${tensor}" holds ${v} (element ${i})${secondMoment && Number.isFinite(v) ? ', but a second moment is never negative' : ''} — the optimizer state is damaged; resume from an earlier checkpoint (write its name into latest_checkpoint) or use a new --out to start over`,
      file,
    );
  }
}
