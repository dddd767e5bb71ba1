// The rejection-sampling SFT baseline's data (the paper's comparison): the expert's greedy
// trajectories on the training problems, each graded against the gold answer when there is one.
// Portable: no host imports.

import { gradeOutput } from '../eval/grade.ts';
import { generateGreedy } from '../model/generate.ts';
import type { CausalLM } from '../model/model.ts';
import { promptIds } from '../stage/sample.ts';
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
export async function sftTrajectories(expert: CausalLM, train: readonly { id: string; question: string; gold: string | null }[], o: TrajectoryOptions): Promise<{ lines: string[]; kept: number; trajTokens: number }> {
  const tok = expert.tokenizer;
  const lines: string[] = [];
  let kept = 0, trajTokens = 0;
  for (let start = 0; start < train.length; start += o.batchSize) {
    await yieldToHost(o.signal);
    const batch = train.slice(start, start + o.batchSize);
    const g = await generateGreedy(expert, batch.map((p) => promptIds(tok, o.system, p.question)), { maxNewTokens: o.maxNewTokens, signal: o.signal });
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
