// Browser adapter. Two kinds of path meet here:
// - URLs (http:, https:, blob:, data:): model directories and data served to the page, read with
//   fetch (HTTP Range requests for slices, so a multi-GB safetensors file is never held whole);
// - everything else: paths in a writable storage — in memory by default, or the Origin Private
//   File System (persistent: a reload can resume) — where the stages write their outputs.
// So `runPipeline({ expert: 'https://…/expert', out: 'runs/first', … })` reads the models over
// HTTP and writes the run into the storage. Relative model URLs must be made absolute first
// (new URL('models/expert', location.href).href): a bare relative path means the storage.
import { LightReasonerError } from '../errors.ts';
import { browserHubFileSystem, type BrowserHubOptions } from './browser-hub.ts';
import { httpFileSystem } from './http-fs.ts';
import { MemoryFileSystem } from './memory-fs.ts';
import { opfsFileSystem } from './opfs-fs.ts';
import type { FileSystem, Platform } from './types.ts';

export { httpFileSystem };

const URL_SCHEME = /^(https?|blob|data):/i;
export const isUrl = (path: string): boolean => URL_SCHEME.test(path);

/** URLs go to fetch, other paths to `storage` (which must implement the whole write contract). */
export function routedFileSystem(storage: FileSystem, http: FileSystem = httpFileSystem): FileSystem {
  const pick = (path: string) => (isUrl(path) ? http : storage);
  const writable = (path: string, op: string): FileSystem => {
    if (isUrl(path))
      throw new LightReasonerError('BAD_INPUT', `${path}: cannot ${op} a URL; write outputs to a storage path (e.g. "runs/first"), not an http(s) address`, {
        file: path,
      });
    return storage;
  };
  return {
    readText: (p) => pick(p).readText(p),
    readBytes: (p, o, l) => pick(p).readBytes(p, o, l),
    size: (p) => pick(p).size(p),
    exists: (p) => pick(p).exists(p),
    join: (...parts) => (parts.length && isUrl(parts[0]) ? http.join(...parts) : storage.join(...parts)),
    writeFileAtomic: (p, d) => writable(p, 'write').writeFileAtomic!(p, d),
    mkdir: (p) => writable(p, 'create a directory in').mkdir!(p),
    appendFile: (p, d) => writable(p, 'append to').appendFile!(p, d),
    truncate: (p, l) => writable(p, 'truncate').truncate!(p, l),
    rename: (a, b) => {
      writable(a, 'rename');
      return writable(b, 'rename onto').rename!(a, b);
    },
    rm: (p) => writable(p, 'remove').rm!(p),
    list: (p) => {
      const s = pick(p);
      if (!s.list) throw new LightReasonerError('UNSUPPORTED', `${p}: this storage cannot list directories`, { file: p });
      return s.list(p);
    },
  };
}

export type BrowserStorage = 'memory' | 'opfs' | FileSystem;

export interface BrowserPlatformOptions {
  /** Where outputs go: 'memory' (default; gone on reload), 'opfs' (persistent) or your own FileSystem. */
  storage?: BrowserStorage;
  /** With 'opfs': the sub-directory of the origin's private file system to use (default: its root). */
  opfsDirectory?: string;
  /**
   * Hub models (hubModelUrl's URLs): a token for gated and private ones, the endpoint, and the
   * Cache API cache their files are kept in, so a reload does not download them again. Without it
   * the files are cached all the same (no token, https://huggingface.co).
   */
  hub?: BrowserHubOptions;
}

/** A browser platform whose storage can write (the stages' outputs) and whose URLs are fetched. */
export async function createBrowserPlatform(options: BrowserPlatformOptions = {}): Promise<Platform> {
  const s = options.storage ?? 'memory';
  const storage = s === 'memory' ? new MemoryFileSystem() : s === 'opfs' ? await opfsFileSystem(options.opfsDirectory) : s;
  return { name: 'browser', fs: routedFileSystem(storage, browserHubFileSystem(options.hub)), getGPU: browserGPU };
}

async function browserGPU(): Promise<GPU | null> {
  return (globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu ?? null;
}

/** The default browser platform: URLs fetched (Hub files cached), outputs kept in memory. */
export const browserPlatform: Platform = { name: 'browser', fs: routedFileSystem(new MemoryFileSystem(), browserHubFileSystem()), getGPU: browserGPU };
