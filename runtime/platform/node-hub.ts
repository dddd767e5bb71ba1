// The Hub cache's file operations for Node and Deno (runtime/hub/types.ts HubFileSystem): symlinks
// from snapshots to blobs as huggingface_hub makes them, a buffered append stream for downloads,
// sha-256 of multi-GB files by streaming; and the Hub settings from the environment, read the way
// huggingface_hub reads them (so both share one cache, one token and one endpoint).
import { createReadStream, existsSync, readFileSync } from 'node:fs';
import { copyFile, link as hardLink, open, readFile, rename, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { homedir, hostname } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { DEFAULT_ENDPOINT, type AppendStream, type HubFileSystem, type HubLock } from '../hub/types.ts';
import { fileSystemError, nodeFileSystem } from './node.ts';

/** Downloads are written in blocks of this size (one write and no fsync per network chunk). */
const BLOCK = 8 * 1024 * 1024;

async function appendStream(path: string): Promise<AppendStream> {
  const fh = await open(path, 'a').catch((e) => Promise.reject(fileSystemError(e, path)));
  let parts: Uint8Array[] = [];
  let pending = 0;
  const flush = async () => {
    if (pending === 0) return;
    const block = Buffer.concat(parts, pending);
    parts = [];
    pending = 0;
    await fh.appendFile(block).catch((e) => Promise.reject(fileSystemError(e, path)));
  };
  return {
    async write(chunk) {
      parts.push(chunk);
      pending += chunk.length;
      if (pending >= BLOCK) await flush();
    },
    async close() {
      try {
        await flush();
        // what a resume finds must be on disk, not in a cache the power cut lost
        await fh.datasync();
      } finally {
        await fh.close();
      }
    },
  };
}

// Refusals that mean "no symlinks here" (Windows without developer mode, some network and FAT
// file systems): huggingface_hub copies the blob into the snapshot then, and so do we.
const NO_SYMLINKS = new Set(['EPERM', 'EACCES', 'ENOTSUP', 'ENOSYS', 'EINVAL', 'EXDEV']);

async function link(target: string, path: string): Promise<'symlink' | 'copy'> {
  // Made under a temporary name and renamed over `path`: another process may be reading `path`
  // (it linked the same file a moment ago and went on to load the model), and rename replaces
  // it atomically where rm + symlink would leave it missing in between.
  const tmp = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  let how: 'symlink' | 'copy' = 'symlink';
  try {
    await symlink(target, tmp);
  } catch (e) {
    if (!NO_SYMLINKS.has((e as { code?: string }).code ?? '')) throw fileSystemError(e, path);
    await copyFile(resolve(dirname(path), target), tmp).catch((err) => Promise.reject(fileSystemError(err, path)));
    how = 'copy';
  }
  try {
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true }).catch(() => {});
    throw fileSystemError(e, path);
  }
  return how;
}

function sha256File(path: string): Promise<string> {
  return new Promise((done, fail) => {
    const hash = createHash('sha256');
    createReadStream(path, { highWaterMark: BLOCK })
      .on('data', (b) => hash.update(b))
      .on('error', (e) => fail(fileSystemError(e, path)))
      .on('end', () => done(hash.digest('hex')));
  });
}

// Download locks: `blobs/<etag>.lock`, created with O_EXCL and holding "<host> <pid> <time> <nonce>".
// The holder touches it every LOCK_REFRESH_MS; a lock untouched for LOCK_STALE_MS (a holder on
// another machine that died), or whose process is gone (this machine), is broken. (Python's
// huggingface_hub locks with flock on .locks/…/<etag>.lock, which Node cannot take: the two do not
// see each other's downloads in progress, though each reuses the other's finished blobs.)
const LOCK_REFRESH_MS = 15_000;
const LOCK_STALE_MS = 120_000;
const code = (e: unknown) => (e as { code?: string }).code;

async function tryLock(path: string): Promise<HubLock | null> {
  const token = `${hostname()} ${process.pid} ${Date.now()} ${Math.random().toString(36).slice(2)}`;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      await writeFile(path, token, { flag: 'wx' });
    } catch (e) {
      if (code(e) !== 'EEXIST') throw fileSystemError(e, path);
      if (!(await breakIfStale(path))) return null;
      continue;
    }
    const refresh = setInterval(() => void utimes(path, new Date(), new Date()).catch(() => undefined), LOCK_REFRESH_MS);
    refresh.unref();
    return {
      async release() {
        clearInterval(refresh);
        // ours only: a lock broken as stale and taken by another process is theirs now
        if ((await readFile(path, 'utf8').catch(() => null)) === token) await rm(path, { force: true });
      },
    };
  }
  return null;
}

/** Remove the lock at `path` if its holder is gone; true when the caller should try to take it again. */
async function breakIfStale(path: string): Promise<boolean> {
  const seen = await readFile(path, 'utf8').catch(() => null);
  const st = await stat(path).catch(() => null);
  if (seen === null || st === null) return true; // released meanwhile
  if (!lockIsStale(seen, st.mtimeMs)) return false;
  // moved aside atomically, so of two processes breaking it only one succeeds
  const aside = `${path}.stale-${process.pid}-${Math.random().toString(36).slice(2)}`;
  if (
    !(await rename(path, aside).then(
      () => true,
      () => false,
    ))
  )
    return true;
  const moved = await readFile(aside, 'utf8').catch(() => null);
  // a fresh lock taken between our look and the move: give it back (unless a third took the place)
  if (moved !== seen) await hardLink(aside, path).catch(() => undefined);
  await rm(aside, { force: true });
  return true;
}

function lockIsStale(content: string, mtimeMs: number): boolean {
  if (Date.now() - mtimeMs > LOCK_STALE_MS) return true;
  const [host, pid] = content.split(' ');
  return host === hostname() && !processAlive(Number(pid));
}

function processAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return code(e) === 'EPERM'; // alive, another user's
  }
}

export const nodeHubFileSystem: HubFileSystem = {
  ...(nodeFileSystem as HubFileSystem),
  appendStream,
  link,
  sha256File,
  tryLock,
};

export interface HubEnvironment {
  cacheDir: string;
  endpoint: string;
  token?: string;
  offline: boolean;
}

const expandHome = (p: string) => (p === '~' || p.startsWith('~/') ? join(homedir(), p.slice(1)) : p);

/**
 * huggingface_hub's settings: HF_HUB_CACHE, else HF_HOME/hub (HF_HOME defaults to
 * $XDG_CACHE_HOME/huggingface, else ~/.cache/huggingface); HF_ENDPOINT; HF_HUB_OFFLINE (1, ON,
 * YES, TRUE); HF_TOKEN, else the token file `huggingface-cli login` writes (HF_TOKEN_PATH, else
 * HF_HOME/token). An empty variable counts as unset.
 */
export function hubEnvironment(env: Record<string, string | undefined> = process.env): HubEnvironment {
  const home = expandHome(env.HF_HOME || join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'huggingface'));
  const cacheDir = expandHome(env.HF_HUB_CACHE || env.HUGGINGFACE_HUB_CACHE || join(home, 'hub'));
  const endpoint = (env.HF_ENDPOINT || DEFAULT_ENDPOINT).replace(/\/+$/, '');
  const offline = ['1', 'ON', 'YES', 'TRUE'].includes((env.HF_HUB_OFFLINE ?? '').trim().toUpperCase());
  let token = env.HF_TOKEN || env.HUGGING_FACE_HUB_TOKEN || undefined;
  const tokenPath = expandHome(env.HF_TOKEN_PATH || join(home, 'token'));
  if (!token && existsSync(tokenPath)) {
    try {
      token = readFileSync(tokenPath, 'utf8').trim() || undefined;
    } catch {
      // an unreadable token file is as if there were none: public models still work
    }
  }
  return { cacheDir, endpoint, token, offline };
}
