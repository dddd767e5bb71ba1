// A Hub model id → a local model directory (a snapshot in huggingface_hub's cache), downloading
// only the files this runtime reads. The cache is trusted first: a complete snapshot for the
// revision (from us or from Python) is used without a request — that is what makes a second run,
// and HF_HUB_OFFLINE=1, free. To pick up a newer `main`, pin `@<sha>` or delete refs/main.
import { badInputError, LightReasonerError, unsupportedError } from '../errors.ts';
import { checkWeightMap } from '../model/weights.ts';
import { cachedCommit, snapshotDir, snapshotFile, storageDir, writeRef } from './cache.ts';
import { ensureFile } from './download.ts';
import { hubContext, revisionInfo } from './http.ts';
import { isCommitSha, parseModelId, type RepoRef, repoLabel } from './ids.ts';
import type { HubFileSystem, HubOptions } from './types.ts';

const SINGLE = 'model.safetensors';
const INDEX = 'model.safetensors.index.json';
const REQUIRED = ['config.json', 'tokenizer.json'];
/** Read when present (runtime/model/tokenizer.ts, config.ts, generate.ts). */
const OPTIONAL = [
  'generation_config.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'chat_template.jinja',
  'chat_template.json',
  'added_tokens.json',
];

export interface ResolvedModel {
  /** `org/name` */
  id: string;
  revision: string;
  /** The commit the snapshot is of (pin it with `org/name@<sha>`). */
  sha: string;
  /** The local model directory: `<cacheDir>/models--org--name/snapshots/<sha>`. */
  dir: string;
  /** Bytes downloaded by this call (0: all from the cache). */
  fetched: number;
  /** True when the cache had everything and no request was made. */
  fromCache: boolean;
}

/** A string the CLI takes for a Hub model id rather than a path (call only when no such path exists). */
export function isModelId(s: string): boolean {
  return parseModelId(s) !== null;
}

/** Resolve `org/name[@revision]` to a local snapshot directory, downloading what is missing. */
export async function resolveModel(name: string, opts: HubOptions): Promise<ResolvedModel> {
  const repo = parseModelId(name);
  if (!repo) throw badInputError(`${name}: not a Hub model id (org/name or org/name@revision)`);
  const { fs } = opts;
  const storage = storageDir(fs, opts.cacheDir, repo);
  const cached = await cachedCommit(fs, storage, repo);
  const result = (sha: string, fetched: number, fromCache: boolean): ResolvedModel => ({
    id: repo.id,
    revision: repo.revision,
    sha,
    dir: snapshotDir(fs, storage, sha),
    fetched,
    fromCache,
  });
  if (cached !== null && (await missingModelFiles(fs, snapshotDir(fs, storage, cached))).length === 0) return result(cached, 0, true);
  if (opts.offline) throw notCachedError(repo, opts.cacheDir, cached !== null);

  const ctx = hubContext(opts);
  const info = await revisionInfo(ctx, repo);
  const listed = new Set(info.files);
  const files = modelFiles(repo, listed);
  await fs.mkdir(storage);
  await writeRef(fs, storage, repo.revision, info.sha);
  const get = (file: string) => ensureFile(opts, ctx, { repo, storage, sha: info.sha, file });
  let fetched = 0;
  for (const file of files) fetched += await get(file);
  if (files.includes(INDEX)) {
    for (const shard of await shardNames(fs, snapshotFile(fs, storage, info.sha, INDEX))) {
      if (!listed.has(shard))
        throw new LightReasonerError('NOT_FOUND', `${repoLabel(repo)}: ${INDEX} names the shard ${shard}, which the repository does not have`, { file: shard });
      fetched += await get(shard);
    }
  }
  return result(info.sha, fetched, false);
}

/** Which of a repository's files to fetch; refuses a repository this runtime cannot load. */
function modelFiles(repo: RepoRef, listed: Set<string>): string[] {
  const what = repoLabel(repo);
  if (!listed.has('config.json'))
    throw new LightReasonerError(
      'NOT_FOUND',
      `${what}: the repository has no config.json — not a transformers model (or a folder of one: give that as the model)`,
      { file: 'config.json' },
    );
  const weights = listed.has(SINGLE) ? SINGLE : listed.has(INDEX) ? INDEX : null;
  if (weights === null) {
    const other = [...listed].filter((f) => /\.(bin|pt|pth|gguf|onnx)$/.test(f)).slice(0, 3);
    throw unsupportedError(
      what,
      `no model.safetensors or ${INDEX} in the repository${other.length ? ` (it has ${other.join(', ')})` : ''} — this runtime reads safetensors weights only; choose a revision or a repository that has them`,
    );
  }
  if (!listed.has('tokenizer.json'))
    throw unsupportedError(
      what,
      'no tokenizer.json in the repository — this runtime needs the fast tokenizer file (save the tokenizer with transformers to make one)',
    );
  return [...REQUIRED, weights, ...OPTIONAL.filter((f) => listed.has(f))];
}

async function shardNames(fs: HubFileSystem, indexPath: string): Promise<string[]> {
  let index: unknown;
  try {
    index = JSON.parse(await fs.readText(indexPath));
  } catch (e) {
    if (e instanceof LightReasonerError) throw e;
    throw new LightReasonerError('MODEL_FORMAT', `${indexPath}: not valid JSON`, { file: indexPath, cause: e });
  }
  // the loader's own check: plain shard names only, so none can point outside the snapshot
  return [...new Set(Object.values(checkWeightMap(indexPath, index)))].sort();
}

/** What a snapshot lacks to be loaded (empty: complete). */
async function missingModelFiles(fs: HubFileSystem, dir: string): Promise<string[]> {
  const missing: string[] = [];
  for (const f of REQUIRED) if (!(await fs.exists(fs.join(dir, f)))) missing.push(f);
  if (await fs.exists(fs.join(dir, SINGLE))) return missing;
  const indexPath = fs.join(dir, INDEX);
  if (!(await fs.exists(indexPath))) return [...missing, SINGLE];
  for (const shard of await shardNames(fs, indexPath)) if (!(await fs.exists(fs.join(dir, shard)))) missing.push(shard);
  return missing;
}

function notCachedError(repo: RepoRef, cacheDir: string, partly: boolean): LightReasonerError {
  return new LightReasonerError(
    'NOT_FOUND',
    `${repoLabel(repo)}: ${partly ? 'only partly' : 'not'} in the Hugging Face cache ${cacheDir}, and HF_HUB_OFFLINE is set so nothing is downloaded — run once without HF_HUB_OFFLINE (or \`huggingface-cli download ${repo.id}\`), or point HF_HUB_CACHE / HF_HOME at the cache that has it`,
  );
}

/**
 * For browsers, which read URLs instead of keeping a cache folder: the base URL of the model's
 * files, `${endpoint}/${id}/resolve/${sha}` (the revision resolved to its commit, so every file
 * comes from one commit; no request when it is a sha already). Pass it as the model directory to
 * openModel with the browser platform, which fetches those files with Range requests and keeps
 * them in the Cache API (platform/browser-hub.ts); for a gated or private model give the same
 * `token` to both (createBrowserPlatform({ hub: { token } })).
 */
export async function hubModelUrl(name: string, opts: Pick<HubOptions, 'endpoint' | 'token' | 'fetch' | 'signal'> = {}): Promise<{ url: string; sha: string }> {
  const repo = parseModelId(name);
  if (!repo) throw badInputError(`${name}: not a Hub model id (org/name or org/name@revision)`);
  const ctx = hubContext(opts, 'the `token` option');
  const sha = isCommitSha(repo.revision) ? repo.revision : (await revisionInfo(ctx, repo)).sha;
  return { url: `${ctx.endpoint}/${repo.id}/resolve/${sha}`, sha };
}
