// The run directory of a cluster run on the shared filesystem: cluster/ holds the problems every
// stage reads, the run's settings (so a rerun that changed them is refused instead of mixing two
// runs' files), the batch scripts and the jobs' logs.
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { badInputError } from '../../runtime/errors.ts';
import { nodePlatform } from '../../runtime/platform/node.ts';
import { describeChanges } from '../../runtime/util/json.ts';
import type { ClusterRun } from './plan.ts';

/** Create `out`/cluster with the problems and settings, or check that an earlier submission's match. */
export async function prepareClusterDir(r: ClusterRun, data: { train: string; eval: string }): Promise<void> {
  const dir = join(r.out, 'cluster'),
    runFile = join(dir, 'run.json');
  const files: [string, string][] = [
    [r.trainData, data.train],
    [r.evalData, data.eval],
    [runFile, `${JSON.stringify(r, null, 2)}\n`],
  ];
  if (existsSync(runFile)) {
    const before = JSON.parse(readFileSync(runFile, 'utf8')) as Record<string, unknown>;
    const changes = describeChanges(before, r as unknown as Record<string, unknown>);
    if (changes.length)
      throw badInputError(
        `${r.out} holds a cluster run with other settings (${changes.join('; ')}): give the original options to continue it, or another --out`,
        runFile,
      );
    for (const [file, text] of files.slice(0, 2))
      if (readFileSync(file, 'utf8') !== text)
        throw badInputError(`${file}: not the problems of this run (the data changed since it was submitted): give the original data, or another --out`, file);
    return;
  }
  if (existsSync(r.out) && readdirSync(r.out).length > 0)
    throw badInputError(`--out ${r.out}: not empty and not a cluster run (no cluster/run.json); choose a new or empty folder`, r.out);
  mkdirSync(dir, { recursive: true });
  for (const [file, text] of files) await nodePlatform.fs.writeFileAtomic!(file, text);
}
