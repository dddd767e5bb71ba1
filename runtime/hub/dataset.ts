// Data sets by name: `hf://datasets/org/name[@rev][/config[/split]]` → the repository's parquet
// files for that config and split (downloaded into the same cache as models, as
// `datasets--org--name`), read with hyparquet and written as our JSONL (`{id, question, answer}`)
// — the same text a JSONL file of those problems would give the parsers.
//
// Where the parquet files are: in the repository itself as `{config}/{split}-00000-of-00001.parquet`
// (openai/gsm8k: main/train-…, main/test-…) or `data/{split}-….parquet` (the "default" config
// that datasets' push_to_hub writes); otherwise in the Hub's conversion branch
// `refs/convert/parquet` as `{config}/{split}/0000.parquet`.
import { parquetMetadataAsync, parquetReadObjects, type AsyncBuffer } from 'hyparquet';
import { badInputError, LightReasonerError } from '../errors.ts';
import type { FileSystem } from '../platform/types.ts';
import { cachedCommit, snapshotDir, snapshotFile, snapshotFiles, storageDir, writeRef } from './cache.ts';
import { ensureFile } from './download.ts';
import { hubContext, revisionInfo } from './http.ts';
import { parseDatasetUri, type RepoRef, safeRepoPath } from './ids.ts';
import type { HubOptions } from './types.ts';

export interface ResolvedDataset {
  /** `hf://datasets/org/name/config/split` with what was chosen filled in. */
  name: string;
  /** `org/name` */
  id: string;
  sha: string;
  config: string;
  split: string;
  /** Local parquet files, in order. */
  files: string[];
  fromCache: boolean;
}

const CONVERT = 'refs/convert/parquet';

interface Choice {
  config: string;
  files: string[];
}

/**
 * The parquet files of `split` (and `config`, or the only config that has the split) among a
 * revision's files. `complete` is false when shard names say some `-of-N` shards are missing.
 */
function chooseParquet(
  files: string[],
  split: string,
  config: string | undefined,
): { choice: Choice | null; configs: string[]; splits: string[]; complete: boolean } {
  const byConfig = new Map<string, Map<string, string[]>>();
  for (const f of files) {
    if (!f.endsWith('.parquet') || !safeRepoPath(f)) continue;
    const parts = f.split('/');
    // {config}/{split}-….parquet, data/{split}-….parquet (config "default"), {config}/{split}/*.parquet
    let cfg: string, sp: string;
    if (parts.length === 2) [cfg, sp] = [parts[0] === 'data' ? 'default' : parts[0], parts[1].replace(/(-\d{5}-of-\d{5}(-[0-9a-f]+)?)?\.parquet$/, '')];
    else if (parts.length === 3) [cfg, sp] = [parts[0], parts[1]];
    else continue;
    const splits = byConfig.get(cfg) ?? new Map<string, string[]>();
    byConfig.set(cfg, splits);
    splits.set(sp, [...(splits.get(sp) ?? []), f]);
  }
  const configs = [...byConfig.keys()].sort();
  const withSplit = configs.filter((c) => byConfig.get(c)!.has(split));
  const cfg = config ?? (withSplit.length === 1 ? withSplit[0] : withSplit.includes('default') ? 'default' : undefined);
  const splits = cfg !== undefined ? [...(byConfig.get(cfg)?.keys() ?? [])].sort() : [];
  const chosen = cfg !== undefined ? byConfig.get(cfg)?.get(split) : undefined;
  if (!chosen) return { choice: null, configs, splits, complete: false };
  const sorted = [...chosen].sort();
  const of = /-\d{5}-of-(\d{5})/.exec(sorted[0]);
  return { choice: { config: cfg!, files: sorted }, configs, splits, complete: !of || sorted.length === Number(of[1]) };
}

/** Resolve an hf:// data set URI to local parquet files; `defaultSplit` when the URI names none. */
export async function resolveDataset(uri: string, opts: HubOptions & { defaultSplit: string }): Promise<ResolvedDataset> {
  const ref = parseDatasetUri(uri);
  if (!ref)
    throw badInputError(
      `${uri}: not a data set name — write hf://datasets/org/name, optionally with /config and /split (e.g. hf://datasets/openai/gsm8k/main/test)`,
    );
  const split = ref.split ?? opts.defaultSplit;
  const { fs } = opts;
  const storage = storageDir(fs, opts.cacheDir, ref.repo);
  const done = (sha: string, c: Choice, fromCache: boolean): ResolvedDataset => ({
    name: `hf://datasets/${ref.repo.id}${ref.repo.revision === 'main' ? '' : `@${ref.repo.revision}`}/${c.config}/${split}`,
    id: ref.repo.id,
    sha,
    config: c.config,
    split,
    fromCache,
    files: c.files.map((f) => snapshotFile(fs, storage, sha, f)),
  });
  for (const repo of [ref.repo, { ...ref.repo, revision: CONVERT }]) {
    const cached = await cachedCommit(fs, storage, repo);
    if (cached === null) continue;
    const found = chooseParquet(await snapshotFiles(fs, snapshotDir(fs, storage, cached)), split, ref.config);
    if (found.choice && found.complete) return done(cached, found.choice, true);
  }
  if (opts.offline) {
    throw new LightReasonerError(
      'NOT_FOUND',
      `${uri}: split "${split}" is not in the Hugging Face cache ${opts.cacheDir}, and HF_HUB_OFFLINE is set so nothing is downloaded — run once without HF_HUB_OFFLINE, or point HF_HUB_CACHE / HF_HOME at the cache that has it`,
    );
  }
  const ctx = hubContext(opts);
  let repo: RepoRef = ref.repo;
  let info = await revisionInfo(ctx, repo);
  let found = chooseParquet(info.files, split, ref.config);
  if (!found.choice && found.configs.length === 0) {
    // no parquet files of its own (a script or JSON data set): the Hub's converted copy
    repo = { ...ref.repo, revision: CONVERT };
    info = await revisionInfo(ctx, repo);
    found = chooseParquet(info.files, split, ref.config);
  }
  if (!found.choice) throw noSplitError(uri, split, ref.config, found.configs, found.splits);
  await fs.mkdir(storage);
  await writeRef(fs, storage, repo.revision, info.sha);
  for (const file of found.choice.files) await ensureFile(opts, ctx, { repo, storage, sha: info.sha, file });
  return done(info.sha, found.choice, false);
}

function noSplitError(uri: string, split: string, config: string | undefined, configs: string[], splits: string[]): LightReasonerError {
  const base = uri.replace(/\/+$/, '').split('/').slice(0, 5).join('/');
  if (configs.length === 0)
    return new LightReasonerError('NOT_FOUND', `${uri}: the data set has no parquet files (neither its own nor the Hub's ${CONVERT} conversion)`);
  if (config !== undefined && !configs.includes(config))
    return badInputError(`${uri}: no config "${config}"; it has ${configs.join(', ')} (e.g. ${base}/${configs[0]}/${split})`);
  if (config === undefined && splits.length === 0)
    return badInputError(`${uri}: several configs (${configs.join(', ')}) — name one, e.g. ${base}/${configs[0]}/${split}`);
  return badInputError(
    `${uri}: no split "${split}"${config ? ` in config "${config}"` : ''}; it has ${splits.join(', ')} — name one, e.g. ${base}/${config ?? configs[0]}/${splits[0]}`,
  );
}

/** A FileSystem file as hyparquet's AsyncBuffer (read in slices: no whole-file copy). */
async function asyncBuffer(fs: FileSystem, path: string): Promise<AsyncBuffer> {
  const byteLength = await fs.size(path);
  return {
    byteLength,
    async slice(start: number, end?: number) {
      const b = await fs.readBytes(path, start, (end ?? byteLength) - start);
      return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
    },
  };
}

const QUESTION = ['question', 'problem'];
const ANSWER = ['answer', 'solution'];

/** JSON has no BigInt: parquet int64 values become numbers (strings past 2^53). */
function plain(v: unknown): unknown {
  if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) ? Number(v) : String(v);
  return v;
}

/**
 * Parquet rows as our JSONL: one `{id, question, answer}` line per row, `id` the row's own id or
 * its 0-based position over all files (what a JSONL file without ids gives: the line index).
 */
export async function parquetToJsonl(fs: FileSystem, paths: string[], source: string): Promise<string> {
  const lines: string[] = [];
  for (const path of paths) {
    const file = await asyncBuffer(fs, path);
    let rows: Record<string, unknown>[];
    try {
      const metadata = await parquetMetadataAsync(file);
      const columns = metadata.schema.slice(1).map((e) => e.name);
      const q = QUESTION.find((c) => columns.includes(c));
      if (q === undefined) throw badInputError(`${source}: ${path} has no "question" (or "problem") column; its columns: ${columns.join(', ')}`, path);
      const wanted = [q, ...ANSWER.filter((c) => columns.includes(c)).slice(0, 1), ...(columns.includes('id') ? ['id'] : [])];
      rows = await parquetReadObjects({ file, metadata, columns: wanted });
    } catch (e) {
      if (e instanceof LightReasonerError) throw e;
      throw badInputError(
        `${source}: cannot read ${path} as parquet (${(e as Error).message}) — is it a parquet file (compressions read: uncompressed, snappy)?`,
        path,
      );
    }
    for (const r of rows) {
      const id = r.id === undefined || r.id === null ? String(lines.length) : plain(r.id);
      const question = r.question ?? r.problem;
      const answer = plain(r.answer ?? r.solution);
      lines.push(JSON.stringify(answer === undefined || answer === null ? { id, question } : { id, question, answer }));
    }
  }
  return lines.join('\n') + '\n';
}

/** hf:// URI → JSONL text (resolveDataset + parquetToJsonl). */
export async function datasetJsonl(uri: string, opts: HubOptions & { defaultSplit: string }): Promise<{ text: string; dataset: ResolvedDataset }> {
  const dataset = await resolveDataset(uri, opts);
  return { text: await parquetToJsonl(opts.fs, dataset.files, dataset.name), dataset };
}
