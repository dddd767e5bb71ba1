// An in-memory FileSystem with the full write contract (atomic writes, append, truncate, rename,
// rm): for tests, one-shot pages and workers that hand their results back as bytes. Paths are
// '/'-separated and relative to the store's root ('.' and '..' segments resolved, a leading '/'
// ignored). Directories exist explicitly (mkdir) or implicitly (a file below them).
import { notFoundError } from '../errors.ts';
import type { FileSystem } from './types.ts';

/** '/'-joined path segments with '.', '..' and empty segments resolved; '' is the root. */
export function normalizePath(path: string): string {
  const out: string[] = [];
  for (const seg of path.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') out.pop();
    else out.push(seg);
  }
  return out.join('/');
}

export const joinPaths = (...parts: string[]): string => normalizePath(parts.join('/'));

const encode = (data: Uint8Array | string): Uint8Array => (typeof data === 'string' ? new TextEncoder().encode(data) : data.slice());

export class MemoryFileSystem implements FileSystem {
  private readonly files = new Map<string, Uint8Array>();
  private readonly dirs = new Set<string>(['']);

  join(...parts: string[]): string {
    return joinPaths(...parts);
  }

  private file(path: string): Uint8Array {
    const f = this.files.get(normalizePath(path));
    if (f === undefined) throw notFoundError(path, 'no such file in the in-memory file system');
    return f;
  }

  private isDir(p: string): boolean {
    if (this.dirs.has(p)) return true;
    const prefix = `${p}/`;
    for (const k of this.files.keys()) if (k.startsWith(prefix)) return true;
    return false;
  }

  /** Every path (files and directories) at or below `p`. */
  private below(p: string): string[] {
    const prefix = p === '' ? '' : `${p}/`;
    return [...this.files.keys(), ...this.dirs].filter((k) => k === p || k.startsWith(prefix));
  }

  async readText(path: string): Promise<string> {
    return new TextDecoder().decode(this.file(path));
  }

  async readBytes(path: string, offset?: number, length?: number): Promise<Uint8Array> {
    const f = this.file(path);
    const start = offset ?? 0;
    return f.slice(start, length === undefined ? undefined : start + length);
  }

  async size(path: string): Promise<number> {
    return this.file(path).byteLength;
  }

  async exists(path: string): Promise<boolean> {
    const p = normalizePath(path);
    return this.files.has(p) || this.isDir(p);
  }

  async writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
    const p = normalizePath(path);
    if (this.isDir(p)) throw new Error(`${path}: is a directory`);
    this.files.set(p, encode(data));
  }

  async mkdir(path: string): Promise<void> {
    const p = normalizePath(path);
    const segs = p.split('/');
    for (let i = 1; i <= segs.length; i++) {
      const d = segs.slice(0, i).join('/');
      if (this.files.has(d)) throw new Error(`${path}: the file ${d} is in the way`);
      this.dirs.add(d);
    }
  }

  async appendFile(path: string, data: Uint8Array | string): Promise<void> {
    const p = normalizePath(path);
    const old = this.files.get(p) ?? new Uint8Array(0);
    const add = encode(data);
    const next = new Uint8Array(old.byteLength + add.byteLength);
    next.set(old);
    next.set(add, old.byteLength);
    this.files.set(p, next);
  }

  async truncate(path: string, length: number): Promise<void> {
    const f = this.file(path);
    this.files.set(normalizePath(path), f.slice(0, length));
  }

  async rename(from: string, to: string): Promise<void> {
    const src = normalizePath(from),
      dst = normalizePath(to);
    if (src === dst) return;
    if (this.files.has(src)) {
      if (this.isDir(dst)) throw new Error(`${to}: is a directory`);
      this.files.set(dst, this.files.get(src)!);
      this.files.delete(src);
      return;
    }
    if (!this.isDir(src)) throw notFoundError(from, 'nothing to rename');
    // POSIX: a directory replaces a missing or empty directory, never a file or a non-empty one
    if (this.files.has(dst) || this.below(dst).some((k) => k !== dst)) throw new Error(`${to}: exists and is not an empty directory`);
    this.dirs.delete(dst);
    for (const k of this.below(src)) {
      const moved = dst + k.slice(src.length);
      if (this.files.has(k)) {
        this.files.set(moved, this.files.get(k)!);
        this.files.delete(k);
      } else {
        this.dirs.add(moved);
        this.dirs.delete(k);
      }
    }
  }

  async rm(path: string): Promise<void> {
    const p = normalizePath(path);
    for (const k of this.below(p)) {
      this.files.delete(k);
      if (k !== '') this.dirs.delete(k);
    }
  }

  /** The names directly inside a directory (files and directories), sorted. */
  async list(path: string): Promise<string[]> {
    const p = normalizePath(path);
    if (!this.isDir(p)) throw notFoundError(path, 'no such directory in the in-memory file system');
    const prefix = p === '' ? '' : `${p}/`;
    const names = new Set<string>();
    for (const k of this.below(p)) if (k !== p) names.add(k.slice(prefix.length).split('/')[0]);
    return [...names].sort();
  }
}
