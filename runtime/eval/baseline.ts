// What pairs one evaluation with another: the records of an earlier evaluation (a baseline, e.g.
// the base model's `eval --out`) checked to cover exactly the same problems, and the identity an
// evaluation's summary records (fingerprints of the model, the adapter and the data).
import { badInputError } from '../errors.ts';
import type { FileSystem } from '../platform/types.ts';
import { adapterFingerprint, modelFingerprint } from '../stage/fingerprint.ts';
import type { EvalIdentity } from './results.ts';

/** The records of an earlier evaluation's output (`--paired-with` in the CLI), checked to cover exactly these problems. */
export async function readBaseRecords(fs: FileSystem, file: string, problems: readonly { id: string }[]): Promise<{ id: string; correct: boolean }[]> {
  if (!(await fs.exists(file))) throw badInputError(`--paired-with ${file}: no such file`);
  const out: { id: string; correct: boolean }[] = [];
  for (const [i, line] of (await fs.readText(file)).split('\n').entries()) {
    if (!line.trim()) continue;
    let o: { id?: unknown; correct?: unknown };
    try {
      o = JSON.parse(line);
    } catch {
      throw badInputError(`--paired-with ${file}:${i + 1}: not valid JSON (give a file written by eval --out)`, file);
    }
    if (!o || typeof o !== 'object' || typeof o.id !== 'string' || typeof o.correct !== 'boolean')
      throw badInputError(`--paired-with ${file}:${i + 1}: no "id" and "correct" (give a file written by eval --out)`, file);
    out.push({ id: o.id, correct: o.correct });
  }
  const ids = new Set(out.map((r) => r.id));
  const missing = problems.filter((p) => !ids.has(p.id));
  if (missing.length || ids.size !== problems.length) {
    throw badInputError(
      `--paired-with ${file}: it holds ${ids.size} problems, these are ${problems.length}${missing.length ? ` (e.g. id "${missing[0].id}" is not in it)` : ''}; a paired test needs the same problems on both sides`,
      file,
    );
  }
  return out;
}

/** What an evaluation's summary ties it to: the model's and adapter's fingerprints, and the data's digest. */
export async function evalIdentity(fs: FileSystem, model: string, adapter: string | undefined, dataDigest: string): Promise<Omit<EvalIdentity, 'backend'>> {
  const [mf, af] = await Promise.all([modelFingerprint(fs, model), adapter === undefined ? null : adapterFingerprint(fs, adapter)]);
  return {
    model: { source: model, fingerprint: mf },
    adapter: adapter === undefined || af === null ? null : { source: adapter, fingerprint: af },
    data: dataDigest,
  };
}
