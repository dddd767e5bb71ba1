// Output directories that never cost a user a file. A command writes into `--out DIR` only when DIR
// is missing, empty, holds the same command's interrupted run (resume), or the user said
// --overwrite — and then it replaces only the entries it writes itself (`owned`), leaving
// everything else in DIR alone. So a typo'd --out pointing at someone's folder is refused, and a
// second run into the same DIR never mixes stale checkpoints with new ones.
import { badInputError, LightReasonerError } from '../errors.ts';
import type { FileSystem } from '../platform/types.ts';

export interface ClaimOptions {
  /** Continue a run in DIR: its files are kept (the command checks they match). */
  resume?: boolean;
  /** Replace this command's own entries in DIR. */
  overwrite?: boolean;
  /** The option that named DIR, for messages ("--out"). */
  flag?: string;
  /** The top-level names in DIR this command writes (and may replace with overwrite). */
  owned: (name: string) => boolean;
}

/**
 * Refuse a non-empty `dir` unless resuming or overwriting; reads only. Returns its entries
 * (null when it does not exist) so the caller can clear its own ones when it starts writing.
 */
export async function checkOutDir(fs: FileSystem, dir: string, o: Omit<ClaimOptions, 'owned'>): Promise<string[] | null> {
  if (!fs.list) throw new LightReasonerError('UNSUPPORTED', `${dir}: this platform's file system cannot list directories`);
  const flag = o.flag ?? '--out';
  if (!(await fs.exists(dir))) return null;
  let names: string[];
  try {
    names = await fs.list(dir);
  } catch (e) {
    if (e instanceof LightReasonerError && (e.code === 'NOT_FOUND' || e.code === 'BAD_INPUT'))
      throw badInputError(`${flag} ${dir}: exists and is not a directory — choose another ${flag}`, dir);
    throw e;
  }
  if (names.length === 0 || o.resume || o.overwrite) return names;
  const shown = names.slice(0, 5).join(', ') + (names.length > 5 ? `, … (${names.length} entries)` : '');
  throw badInputError(
    `${flag} ${dir} is not empty (${shown}): pass --resume to continue the run there, --overwrite to replace this command's files in it (others are kept), or choose another ${flag}`,
    dir,
  );
}

/** Remove the entries of `dir` that `owned` claims (the command's own files from an earlier run). */
export async function clearOwned(fs: FileSystem, dir: string, names: readonly string[], owned: (name: string) => boolean): Promise<void> {
  for (const name of names) if (owned(name)) await fs.rm!(fs.join(dir, name));
}

/** Make `dir` ready for a fresh or resumed run now (check, create, clear with overwrite); returns the entries that were in it. */
export async function claimOutDir(fs: FileSystem, dir: string, o: ClaimOptions): Promise<string[]> {
  if (!fs.mkdir || !fs.rm) throw new LightReasonerError('UNSUPPORTED', `${dir}: this platform's file system cannot create and remove directories`);
  const names = await checkOutDir(fs, dir, o);
  if (names === null) {
    await fs.mkdir(dir);
    return [];
  }
  if (o.overwrite && !o.resume) await clearOwned(fs, dir, names, o.owned);
  return names;
}

/** A file output (`--out FILE`): refused when it exists unless resuming or overwriting. */
export async function claimOutFile(fs: FileSystem, file: string, o: { resume?: boolean; overwrite?: boolean; flag?: string }): Promise<void> {
  if (o.resume || o.overwrite || !(await fs.exists(file))) return;
  throw badInputError(`${o.flag ?? '--out'} ${file} already exists: pass --overwrite to replace it, or choose another file`, file);
}
