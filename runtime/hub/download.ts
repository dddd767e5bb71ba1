// One file of a repository into the cache: resumable (HTTP Range into blobs/<etag>.incomplete),
// verified (size, and sha-256 against the ETag of LFS files / git's blob sha-1 for small ones),
// atomic (renamed to blobs/<etag> only once verified, then linked from the snapshot).
//
// Why not @huggingface/hub's downloadFileToCacheDir: it imports node:fs (runtime/hub/ must stay
// portable), names the snapshot folder after the file's last commit rather than the revision's,
// restarts an interrupted download from byte 0, checks no hash and reports no progress.
import { LightReasonerError, throwIfAborted } from '../errors.ts';
import { blobLinkTarget, snapshotFile } from './cache.ts';
import { causeText, fileMeta, type FileMeta, type HubContext, httpError, hubFetch } from './http.ts';
import { type RepoRef, repoLabel } from './ids.ts';
import type { HubOptions } from './types.ts';

export interface FileTask {
  repo: RepoRef;
  /** The repository's folder in the cache. */
  storage: string;
  sha: string;
  file: string;
}

/** A transfer that stopped half-way for a reason a retry may cure (network, 5xx, a short body). */
class Interrupted extends Error {
  constructor(
    readonly why: string,
    readonly error?: unknown,
  ) {
    super(why);
  }
}

const SHA256 = /^[0-9a-f]{64}$/;
const SHA1 = /^[0-9a-f]{40}$/;
/** Non-LFS files (the git sha-1 check holds them in memory) are small; past this only the size is checked. */
const GIT_HASH_MAX = 64 * 1024 * 1024;

/** Make `snapshots/<sha>/<file>` present; returns the bytes fetched (0 when the cache had it). */
export async function ensureFile(opts: HubOptions, ctx: HubContext, task: FileTask): Promise<number> {
  const { fs } = opts;
  const snap = snapshotFile(fs, task.storage, task.sha, task.file);
  if (await fs.exists(snap)) return 0;
  const meta = await fileMeta(ctx, task.repo, task.sha, task.file);
  const blobs = fs.join(task.storage, 'blobs');
  const blob = fs.join(blobs, meta.etag);
  let fetched = 0;
  if (!(await fs.exists(blob))) {
    await fs.mkdir(blobs);
    fetched = await underBlobLock(opts, ctx, blob, () => downloadBlob(opts, ctx, task, meta, blob));
  }
  await fs.mkdir(fs.join(task.storage, 'snapshots', task.sha, ...task.file.split('/').slice(0, -1)));
  await fs.link(blobLinkTarget(task.file, meta.etag), snap);
  return fetched;
}

/** How often a process waiting for another's download looks again. */
const LOCK_POLL_MS = 250;

/**
 * Run `download` holding `blobs/<etag>.lock`, so two processes sharing the cache never append to
 * one .incomplete file; one that finds the lock taken waits, and uses the blob the other finished
 * (0 bytes fetched) rather than downloading it again.
 */
async function underBlobLock(opts: HubOptions, ctx: HubContext, blob: string, download: () => Promise<number>): Promise<number> {
  const { fs } = opts;
  for (;;) {
    const lock = await fs.tryLock(`${blob}.lock`);
    if (lock) {
      try {
        return (await fs.exists(blob)) ? 0 : await download();
      } finally {
        await lock.release();
      }
    }
    if (await fs.exists(blob)) return 0;
    await sleep(LOCK_POLL_MS, ctx.signal);
  }
}

async function downloadBlob(opts: HubOptions, ctx: HubContext, task: FileTask, first: FileMeta, blob: string): Promise<number> {
  const partial = `${blob}.incomplete`;
  const retries = opts.retries ?? 3;
  const count = { fetched: 0 };
  let meta = first;
  for (let attempt = 0; ; attempt++) {
    try {
      // a retry asks the Hub again: the CDN link it redirected to is signed and may have expired
      if (attempt > 0) meta = { ...(await fileMeta(ctx, task.repo, task.sha, task.file)), etag: meta.etag };
      await transfer(opts, ctx, task, meta, partial, count);
      break;
    } catch (e) {
      if (!(e instanceof Interrupted)) throw e;
      if (attempt >= retries) {
        const kept = (await opts.fs.exists(partial)) ? await opts.fs.size(partial) : 0;
        throw new LightReasonerError(
          'ENVIRONMENT',
          `${repoLabel(task.repo)}: the download of ${task.file} was interrupted (${e.why}) after ${retries + 1} ${retries === 0 ? 'try' : 'tries'} — run the same command again to resume from the ${kept} bytes kept in ${partial}`,
          { file: partial, cause: e.error },
        );
      }
      await sleep((opts.retryDelayMs ?? 500) * 2 ** attempt, ctx.signal);
    }
  }
  await verify(opts, task, meta, partial);
  await opts.fs.rename(partial, blob);
  return count.fetched;
}

/** One request: from what `partial` holds to the end; `count.fetched` grows by what it appends. */
async function transfer(opts: HubOptions, ctx: HubContext, task: FileTask, meta: FileMeta, partial: string, count: { fetched: number }): Promise<void> {
  const { fs } = opts;
  const known = Number.isFinite(meta.size);
  let have = (await fs.exists(partial)) ? await fs.size(partial) : 0;
  if (known && have > meta.size) {
    await fs.rm(partial);
    have = 0;
  }
  if (known && have === meta.size) return;
  let res: Response;
  try {
    res = await hubFetch(ctx, task.repo, meta.url, { headers: have > 0 ? { Range: `bytes=${have}-` } : {} });
  } catch (e) {
    if (e instanceof LightReasonerError && e.code === 'ENVIRONMENT') throw new Interrupted(causeText(e.cause ?? e), e);
    throw e;
  }
  if (res.status === 416) {
    // what we kept disagrees with the server's file: start again from byte 0
    await fs.rm(partial);
    throw new Interrupted('the server refused to resume (HTTP 416)');
  }
  if (res.status === 429 || res.status >= 500) throw new Interrupted(`HTTP ${res.status}`);
  const offHub = new URL(meta.url).origin !== new URL(ctx.endpoint).origin;
  if (offHub && (res.status === 401 || res.status === 403)) throw new Interrupted(`the download link expired (HTTP ${res.status})`);
  if (!res.ok || !res.body) throw httpError(ctx, task.repo, res.status, task.file);
  let offset = have;
  if (have > 0 && res.status === 206 && rangeStart(res) !== have) {
    await res.body.cancel().catch(() => undefined);
    await fs.rm(partial);
    throw new Interrupted('the server answered another range than the one asked for');
  }
  if (have > 0 && res.status !== 206) {
    // the server ignored the Range: its body is the whole file
    await fs.rm(partial);
    offset = 0;
  }
  const total = known ? meta.size : offset + Number(res.headers.get('content-length') ?? NaN);
  await appendBody(opts, ctx, task, res.body, partial, offset, total, count);
}

function rangeStart(res: Response): number {
  const m = /^bytes (\d+)-/.exec(res.headers.get('content-range') ?? '');
  return m ? Number(m[1]) : NaN;
}

async function appendBody(
  opts: HubOptions,
  ctx: HubContext,
  task: FileTask,
  body: ReadableStream<Uint8Array>,
  partial: string,
  offset: number,
  total: number,
  count: { fetched: number },
): Promise<void> {
  const out = await opts.fs.appendStream(partial);
  const label = repoLabel(task.repo);
  let loaded = offset,
    last = 0;
  const report = (done: boolean) =>
    opts.onProgress?.({ repo: label, file: task.file, loaded, total: Number.isFinite(total) ? total : 0, fetched: count.fetched, done });
  const reader = body.getReader();
  try {
    for (;;) {
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await reader.read();
      } catch (e) {
        throwIfAborted(ctx.signal);
        throw new Interrupted(causeText(e), e);
      }
      if (chunk.done) break;
      await out.write(chunk.value);
      loaded += chunk.value.length;
      count.fetched += chunk.value.length;
      const now = Date.now();
      if (now - last >= 100) {
        last = now;
        report(false);
      }
    }
  } finally {
    reader.releaseLock();
    await out.close();
  }
  if (Number.isFinite(total) && loaded < total) throw new Interrupted(`the connection closed after ${loaded} of ${total} bytes`);
  report(true);
}

/** A blob is used only when its size and hash are what the Hub says; otherwise it is deleted. */
async function verify(opts: HubOptions, task: FileTask, meta: FileMeta, partial: string): Promise<void> {
  const { fs } = opts;
  const size = await fs.size(partial);
  let problem: string | null = null;
  if (Number.isFinite(meta.size) && size !== meta.size) problem = `${size} bytes, the Hub says ${meta.size}`;
  else if (SHA256.test(meta.etag)) {
    const got = await fs.sha256File(partial);
    if (got !== meta.etag) problem = `its sha256 is ${got}, the Hub's ETag says ${meta.etag}`;
  } else if (SHA1.test(meta.etag) && size <= GIT_HASH_MAX) {
    const got = await gitBlobSha1(await fs.readBytes(partial));
    if (got !== meta.etag) problem = `its git sha1 is ${got}, the Hub's ETag says ${meta.etag}`;
  }
  if (problem === null) return;
  await fs.rm(partial);
  throw new LightReasonerError(
    'MODEL_FORMAT',
    `${repoLabel(task.repo)}: the downloaded ${task.file} is corrupt (${problem}); it was deleted, not used — run the command again to download it afresh (if this repeats, a proxy or mirror is altering it)`,
    { file: task.file },
  );
}

/** git's object id of a file: sha1("blob <size>\0" + bytes), the Hub's ETag of non-LFS files. */
async function gitBlobSha1(bytes: Uint8Array): Promise<string> {
  const head = new TextEncoder().encode(`blob ${bytes.length}\0`);
  const all = new Uint8Array(head.length + bytes.length);
  all.set(head);
  all.set(bytes, head.length);
  const digest = await crypto.subtle.digest('SHA-1', all);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  }).then(() => throwIfAborted(signal));
}
