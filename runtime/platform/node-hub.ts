// The Hub cache's file operations for Node and Deno (runtime/hub/types.ts HubFileSystem): symlinks
// from snapshots to blobs as huggingface_hub makes them, a buffered append stream for downloads,
// sha-256 of multi-GB files by streaming; and the Hub settings from the environment, read the way
// huggingface_hub reads them (so both share one cache, one token and one endpoint).
import { createReadStream, existsSync, readFileSync } from 'node:fs';
import { copyFile, open, rm, symlink } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { DEFAULT_ENDPOINT, type AppendStream, type HubFileSystem } from '../hub/types.ts';
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
  await rm(path, { force: true }).catch((e) => Promise.reject(fileSystemError(e, path)));
  try {
    await symlink(target, path);
    return 'symlink';
  } catch (e) {
    if (!NO_SYMLINKS.has((e as { code?: string }).code ?? '')) throw fileSystemError(e, path);
    await copyFile(resolve(dirname(path), target), path).catch((err) => Promise.reject(fileSystemError(err, path)));
    return 'copy';
  }
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

export const nodeHubFileSystem: HubFileSystem = {
  ...(nodeFileSystem as HubFileSystem),
  appendStream,
  link,
  sha256File,
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
