// What the Hub client needs from its host. runtime/hub/ stays portable (no `node:` import): the
// cache's file operations that the FileSystem interface lacks (symlinks, a buffered append
// stream, hashing a multi-GB file without holding it) come in through HubFileSystem, which
// runtime/platform/node-hub.ts implements for Node and Deno. Browsers do not download into a
// cache: they read the Hub's URLs directly with Range requests (hubModelUrl in model.ts).
import type { FileSystem } from '../platform/types.ts';

export interface AppendStream {
  /** Append bytes (buffered: written in large blocks). */
  write(chunk: Uint8Array): Promise<void>;
  /** Write what is buffered, flush it to stable storage and close. */
  close(): Promise<void>;
}

/** The FileSystem's optional writes are required here: the cache is written in place. */
export interface HubFileSystem
  extends Omit<FileSystem, 'mkdir' | 'rename' | 'rm' | 'writeFileAtomic' | 'list'>,
    Required<Pick<FileSystem, 'mkdir' | 'rename' | 'rm' | 'writeFileAtomic' | 'list'>> {
  /** Open `path` for appending (created when missing). */
  appendStream(path: string): Promise<AppendStream>;
  /**
   * Make `path` point at `target` (relative to path's folder, as huggingface_hub writes
   * `snapshots/<sha>/file → ../../blobs/<etag>`), replacing what is there. Where the platform cannot
   * make symlinks (Windows without developer mode) the target is copied: 'copy'.
   */
  link(target: string, path: string): Promise<'symlink' | 'copy'>;
  /** sha-256 (hex) of a whole file, read in blocks. */
  sha256File(path: string): Promise<string>;
  /**
   * Take the lock file `path` (created exclusively, so other processes sharing the cache see it),
   * or null while another live holder has it. A lock whose holder is gone (its process died, or it
   * stopped refreshing the lock) is broken, not waited on forever.
   */
  tryLock(path: string): Promise<HubLock | null>;
}

export interface HubLock {
  release(): Promise<void>;
}

export interface HubProgress {
  /** The model id or hf:// data set being fetched. */
  repo: string;
  /** The file inside the repository. */
  file: string;
  /** Bytes of this file on disk so far (a resumed download starts at what was kept). */
  loaded: number;
  /** The file's size (0 when the server did not say). */
  total: number;
  /** Bytes of this file fetched by this call (loaded less what a resume found on disk). */
  fetched: number;
  done: boolean;
}

export interface HubOptions {
  /** The cache's file system (Node/Deno: nodeHubFileSystem from runtime/platform/node-hub.ts). */
  fs: HubFileSystem;
  /** huggingface_hub's cache folder: `$HF_HUB_CACHE`, or `$HF_HOME/hub` (hubEnvironment() reads them). */
  cacheDir: string;
  /** The Hub or a mirror (`HF_ENDPOINT`); https://huggingface.co by default. */
  endpoint?: string;
  /** A user access token (`HF_TOKEN`), sent as `Authorization: Bearer` to the endpoint only. */
  token?: string;
  /** Use the cache only (`HF_HUB_OFFLINE=1`): no request at all. */
  offline?: boolean;
  fetch?: typeof fetch;
  onProgress?: (p: HubProgress) => void;
  signal?: AbortSignal;
  /** Retries of an interrupted transfer within this call, each resuming with Range (default 3). */
  retries?: number;
  /** Milliseconds before the first retry (doubled each time; default 500). */
  retryDelayMs?: number;
}

export const DEFAULT_ENDPOINT = 'https://huggingface.co';
