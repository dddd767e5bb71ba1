// The small adapter between the portable runtime and the host's I/O. runtime/ never imports a
// `node:` module: the Node/Deno adapter (platform/node.ts) and the browser adapter
// (platform/browser.ts) are chosen by the package's `exports` conditions (runtime/entry/*).

export interface FileSystem {
  /** Whole file as text (UTF-8). Throws LightReasonerError NOT_FOUND when missing. */
  readText(path: string): Promise<string>;
  /** `length` bytes from `offset` (whole file when both are omitted). Throws NOT_FOUND when missing. */
  readBytes(path: string, offset?: number, length?: number): Promise<Uint8Array>;
  /** File size in bytes. Throws NOT_FOUND when missing. */
  size(path: string): Promise<number>;
  exists(path: string): Promise<boolean>;
  /** Join path segments the platform's way ('/' for URLs). */
  join(...parts: string[]): string;
  /** Write a whole file atomically (temp file + rename): readers never see a half-written file. */
  writeFileAtomic?(path: string, data: Uint8Array | string): Promise<void>;
  mkdir?(path: string): Promise<void>;
  /** Append to a file (created when missing) and flush it to stable storage (fsync) before
   * resolving, so appended data survives a crash once this resolves. */
  appendFile?(path: string, data: Uint8Array | string): Promise<void>;
  /** Cut a file to its first `length` bytes (and flush). */
  truncate?(path: string, length: number): Promise<void>;
  /** Rename a file or directory (POSIX rename: replaces an existing file or empty directory). */
  rename?(from: string, to: string): Promise<void>;
  /** Remove a file or a directory tree; no error when it is missing. */
  rm?(path: string): Promise<void>;
  /** The names directly inside a directory, sorted. Throws NOT_FOUND when it is missing. */
  list?(path: string): Promise<string[]>;
  /** Size and modification time (ms since the epoch) of a file, links followed. Throws NOT_FOUND when missing.
   * Lets fingerprints remember a weight file's digest per (path, size, mtime). */
  stat?(path: string): Promise<{ size: number; mtimeMs: number }>;
  /** The path with every symbolic link resolved: a Hub snapshot file's is blobs/<sha-256> (its digest, for free). */
  realPath?(path: string): Promise<string>;
  /** sha-256 (hex) of a file's bytes, streamed rather than read whole. Throws NOT_FOUND when missing. */
  sha256?(path: string): Promise<string>;
}

export interface Platform {
  readonly name: 'node' | 'deno' | 'browser';
  readonly fs: FileSystem;
  /** The host's WebGPU entry point, or null when this host has none. */
  getGPU(): Promise<GPU | null>;
  /** Why getGPU resolved null, with the driver's own words, when the platform knows (Node). */
  whyNoGPU?(): string | undefined;
  /** What to do about it when the usual driver advice does not apply (Node without the optional
   * `webgpu` package: `npm install webgpu`). */
  noGPUAdvice?(): string | undefined;
  /** Bytes of RAM this process could still take (Linux: MemAvailable), where the host says; browsers do not. */
  availableMemory?(): number | undefined;
}

/**
 * A worker thread as the Wasm backend's thread pool (runtime/backend/wasm/pool.ts) sees it: Node's
 * worker_threads.Worker or a Web Worker, behind the same four calls.
 */
export interface ThreadWorker {
  postMessage(message: unknown): void;
  /** Called with each message the worker posts. */
  onMessage(listener: (message: unknown) => void): void;
  /** Called when the worker fails to start or throws outside the dispatch loop. */
  onError(listener: (error: unknown) => void): void;
  /** Lets the host exit while the worker is alive (Node; call it after onMessage/onError, which
   * ref the worker again); a no-op elsewhere. */
  unref(): void;
  terminate(): void;
}

/**
 * How a host starts worker threads for the Wasm backend: `spawn` runs a self-contained classic
 * script given as source text (no file path resolution: the same code runs from source and from
 * dist/, in Node, Deno and browsers); `concurrency` is the default thread count.
 */
export interface WorkerHost {
  spawn(source: string): ThreadWorker;
  readonly concurrency: number;
}

/**
 * The embedded default pair, where this host reads it: absolute paths in Node and Deno (inside the
 * installed package), absolute URLs in a browser (under the folder the app serves it from).
 */
export interface DefaultPair {
  /** The folder holding expert/, amateur/ and settings.json (a URL ends with '/'). */
  dir: string;
  expert: string;
  amateur: string;
  /** The sampling and fine-tuning settings chosen on the generator's dev set (scripts/sweep-default.ts). */
  settings: string;
}

/** The files of the embedded default pair that a run reads, relative to its folder: what
 * `lightreasoner-wasm copy-models` copies and what a web app serves. */
export const DEFAULT_PAIR_FILES: readonly string[] = Object.freeze([
  ...['expert', 'amateur'].flatMap((m) =>
    ['config.json', 'generation_config.json', 'model.safetensors', 'special_tokens_map.json', 'tokenizer.json', 'tokenizer_config.json'].map(
      (f) => `${m}/${f}`,
    ),
  ),
  'settings.json',
]);
