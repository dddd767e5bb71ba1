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
}

export interface Platform {
  readonly name: 'node' | 'deno' | 'browser';
  readonly fs: FileSystem;
  /** The host's WebGPU entry point, or null when this host has none. */
  getGPU(): Promise<GPU | null>;
}
