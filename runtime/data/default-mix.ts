// The embedded pair's problems (issue 27): a third the generator's plain word problems, a third
// shallow-cue problems whose cue holds, a third whose cue misleads (cue-problems.ts) — the regime
// the pair was built for (scripts/build-cue-pair.ts: an amateur that follows the cues, an expert
// that partly resists them) next to the plain problems it must not lose. Every line names its
// kind ("plain", "keyword (misleads)", …), so `run` reports the change per kind.
// Portable: no host imports.

import { cueProblemsToJsonl, generateCueProblems } from './cue-problems.ts';
import { generateProblems, type ProblemSet } from './problems.ts';

/** How `count` problems split into plain, holds and misleads (the remainder goes to the first). */
export function mixCounts(count: number): { plain: number; holds: number; misleads: number } {
  const third = Math.floor(count / 3);
  return { plain: count - 2 * third, holds: third, misleads: third };
}

/** `count` problems of `set` as JSONL ({id, question, answer, kind[, variant, cue, cue_answer]}), deterministic; a prefix of a longer mix only per part. */
export function defaultMixJsonl(count: number, set: ProblemSet, seed = 0): string {
  const n = mixCounts(count);
  const plain = generateProblems(seed, n.plain, { set }).map((p) => JSON.stringify({ id: p.id, question: p.question, answer: p.answer, kind: 'plain' }));
  const cue = (variant: 'holds' | 'misleads', k: number) =>
    k > 0
      ? cueProblemsToJsonl(generateCueProblems(seed, k, { set, variant }))
          .trim()
          .split('\n')
      : [];
  return [...plain, ...cue('holds', n.holds), ...cue('misleads', n.misleads)].join('\n') + '\n';
}
