// The rejection-sampling SFT baseline's data (the paper's comparison): the expert's greedy
// trajectories on the training problems, each graded against the gold answer when there is one.
// sftTrajectoriesToFile keeps them for a resumed run. Portable: no host imports.

import { badInputError } from '../errors.ts';
import { gradeOutput } from '../eval/grade.ts';
import { generateGreedy } from '../model/generate.ts';
import type { CausalLM } from '../model/model.ts';
import type { FileSystem } from '../platform/types.ts';
import { promptIds } from '../stage/sample.ts';
import { describeChanges, isObject } from '../util/json.ts';
import { yieldToHost } from '../util/yield.ts';

export interface TrajectoryOptions {
  system: string;
  maxNewTokens: number;
  batchSize: number;
  signal?: AbortSignal;
  onProgress?: (done: number, kept: number) => void;
}

/** JSONL lines {id, question, output, output_token_ids, finish, gold, correct} (`correct: null`
 * without a gold answer: kept, since parseSftSamples rejects only `false`). */
async function sftTrajectories(
  expert: CausalLM,
  train: readonly { id: string; question: string; gold: string | null }[],
  o: TrajectoryOptions,
): Promise<{ lines: string[]; kept: number; trajTokens: number }> {
  const tok = expert.tokenizer;
  const lines: string[] = [];
  let kept = 0,
    trajTokens = 0;
  for (let start = 0; start < train.length; start += o.batchSize) {
    await yieldToHost(o.signal);
    const batch = train.slice(start, start + o.batchSize);
    const g = await generateGreedy(
      expert,
      batch.map((p) => promptIds(tok, o.system, p.question)),
      { maxNewTokens: o.maxNewTokens, signal: o.signal },
    );
    for (const [j, p] of batch.entries()) {
      const output = tok.decode(g.tokens[j], true);
      const correct = p.gold === null ? null : gradeOutput(output, p.gold).correct;
      if (correct !== false) kept++;
      trajTokens += g.tokens[j].length;
      lines.push(JSON.stringify({ id: p.id, question: p.question, output, output_token_ids: g.tokens[j], finish: g.finish[j], gold: p.gold, correct }));
    }
    o.onProgress?.(Math.min(start + o.batchSize, train.length), kept);
  }
  return { lines, kept, trajTokens };
}

/** What decides the trajectories: a resumed run keeps them only when all of it is the same. */
export interface TrajectoryKey {
  system: string;
  maxNewTokens: number;
  batchSize: number;
  expert: { source: string; fingerprint: string };
  /** sha-256 of the training problems. */
  data: string;
}

export interface TrajectoryFileResult {
  file: string;
  kept: number;
  trajTokens: number;
  seconds: number;
  /** Kept from the interrupted run (nothing decoded). */
  reused: boolean;
}

const trajectorySummaryPath = (file: string) => `${file}.summary.json`;

/**
 * The trajectories in `dir`/trajectories.jsonl (written atomically), then their summary beside it,
 * the mark that they are finished. With `resume`, finished trajectories of the same key are kept;
 * of another key, refused naming the fields. They are written whole, not journaled: they are one
 * greedy pass over the training problems, short beside fine-tuning and evaluation.
 */
export async function sftTrajectoriesToFile(
  fs: FileSystem,
  dir: string,
  expert: CausalLM,
  train: readonly { id: string; question: string; gold: string | null }[],
  o: TrajectoryOptions & { resume: boolean; key: TrajectoryKey },
): Promise<TrajectoryFileResult> {
  const file = fs.join(dir, 'trajectories.jsonl'),
    summaryFile = trajectorySummaryPath(file);
  if (o.resume && (await fs.exists(file)) && (await fs.exists(summaryFile))) {
    let s: unknown;
    try {
      s = JSON.parse(await fs.readText(summaryFile));
    } catch {
      s = null;
    }
    if (!isObject(s) || !isObject(s.key) || typeof s.kept !== 'number' || typeof s.trajectory_tokens !== 'number' || typeof s.seconds !== 'number') {
      throw badInputError(`${summaryFile}: not the summary of SFT trajectories (was it edited?); remove ${dir} to generate them again`, summaryFile);
    }
    const changed = describeChanges(s.key, o.key as unknown as Record<string, unknown>);
    if (changed.length)
      throw badInputError(
        `cannot resume ${file}: the trajectories were generated with other settings, model or data (${changed.join('; ')}); use the original options, or remove ${dir} to start the SFT baseline over`,
        file,
      );
    return { file, kept: s.kept, trajTokens: s.trajectory_tokens, seconds: s.seconds, reused: true };
  }
  const t0 = performance.now();
  const { lines, kept, trajTokens } = await sftTrajectories(expert, train, o);
  // `correct: null` (no gold answer): keep; parseSftSamples reads booleans only.
  await fs.writeFileAtomic!(file, lines.map((l) => `${l}\n`).join(''));
  const seconds = (performance.now() - t0) / 1000;
  await fs.writeFileAtomic!(summaryFile, `${JSON.stringify({ key: o.key, kept, trajectory_tokens: trajTokens, seconds }, null, 2)}\n`);
  return { file, kept, trajTokens, seconds, reused: false };
}
