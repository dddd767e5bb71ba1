// The Origin Private File System (navigator.storage.getDirectory()) as a FileSystem: persistent,
// per-origin storage that survives a reload, so a page can resume a run as the CLI does after a kill.
//
// How the contract maps onto OPFS:
// - writeFileAtomic, appendFile and truncate go through createWritable(): the browser writes to a
//   swap file and replaces the target only on close(), so readers never see a half-written file
//   and a reload mid-write leaves the old contents (the spec's atomicity, which is what the
//   runtime's crash safety needs). An append copies the file into the swap file first; samples
//   files are megabytes, so this costs little next to a sampling step.
// - rename: FileSystemFileHandle.move() where the browser has it; directories cannot be moved in
//   any browser yet, so a directory is copied and the source removed. The runtime only renames
//   directories it has finished writing (peft.ts writeDirAtomic, checkpoints), so an interrupted
//   copy leaves a temporary directory behind, never a half-complete target that it would trust.
import { notFoundError } from '../errors.ts';
import { joinPaths, normalizePath } from './memory-fs.ts';
import type { FileSystem } from './types.ts';

type Dir = FileSystemDirectoryHandle;
type MovableFile = FileSystemFileHandle & { move?: (parent: Dir, name: string) => Promise<void> };
type IterableDir = Dir & { entries(): AsyncIterable<[string, FileSystemHandle]> };

const isNotFound = (e: unknown) => (e as { name?: string })?.name === 'NotFoundError' || (e as { name?: string })?.name === 'TypeMismatchError';

/** Open the origin's private file system (optionally a sub-directory of it, created on demand). */
export async function opfsFileSystem(subdir = ''): Promise<OpfsFileSystem> {
  const storage = (globalThis as { navigator?: { storage?: { getDirectory?: () => Promise<Dir> } } }).navigator?.storage;
  if (typeof storage?.getDirectory !== 'function') {
    throw new Error('this browser has no Origin Private File System (navigator.storage.getDirectory); use the in-memory file system');
  }
  let root = await storage.getDirectory();
  for (const seg of normalizePath(subdir).split('/').filter(Boolean)) root = await root.getDirectoryHandle(seg, { create: true });
  return new OpfsFileSystem(root);
}

class OpfsFileSystem implements FileSystem {
  constructor(readonly root: Dir) {}

  join(...parts: string[]): string {
    return joinPaths(...parts);
  }

  /** The directory holding `path` and the last segment's name. */
  private async parent(path: string, create: boolean): Promise<{ dir: Dir; name: string }> {
    const segs = normalizePath(path).split('/').filter(Boolean);
    const name = segs.pop() ?? '';
    let dir = this.root;
    for (const seg of segs) dir = await dir.getDirectoryHandle(seg, { create });
    return { dir, name };
  }

  private async dirHandle(path: string, create = false): Promise<Dir> {
    let dir = this.root;
    for (const seg of normalizePath(path).split('/').filter(Boolean)) dir = await dir.getDirectoryHandle(seg, { create });
    return dir;
  }

  private async fileHandle(path: string, create = false): Promise<FileSystemFileHandle> {
    try {
      const { dir, name } = await this.parent(path, create);
      return await dir.getFileHandle(name, { create });
    } catch (e) {
      if (isNotFound(e)) throw notFoundError(path, 'no such file in the origin private file system');
      throw e;
    }
  }

  private async file(path: string): Promise<File> {
    return (await this.fileHandle(path)).getFile();
  }

  async readText(path: string): Promise<string> {
    return (await this.file(path)).text();
  }

  async readBytes(path: string, offset?: number, length?: number): Promise<Uint8Array> {
    const f = await this.file(path);
    const start = offset ?? 0;
    return new Uint8Array(await f.slice(start, length === undefined ? undefined : start + length).arrayBuffer());
  }

  async size(path: string): Promise<number> {
    return (await this.file(path)).size;
  }

  /** 'file', 'directory' or null (missing) for the entry at `path`. */
  private async kindOf(path: string): Promise<'file' | 'directory' | null> {
    if (normalizePath(path) === '') return 'directory';
    try {
      const { dir, name } = await this.parent(path, false);
      for await (const [entry, h] of (dir as IterableDir).entries()) if (entry === name) return h.kind;
      return null;
    } catch (e) {
      if (isNotFound(e)) return null;
      throw e;
    }
  }

  async exists(path: string): Promise<boolean> {
    return (await this.kindOf(path)) !== null;
  }

  private async write(path: string, keep: boolean, edit: (w: FileSystemWritableFileStream, size: number) => Promise<void>): Promise<void> {
    const handle = await this.fileHandle(path, true);
    const size = keep ? (await handle.getFile()).size : 0;
    const w = await handle.createWritable({ keepExistingData: keep });
    try {
      await edit(w, size);
      await w.close(); // the commit: the swap file replaces the target here
    } catch (e) {
      await w.abort().catch(() => {});
      throw e;
    }
  }

  async writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
    await this.write(path, false, (w) => w.write(data as FileSystemWriteChunkType));
  }

  async mkdir(path: string): Promise<void> {
    await this.dirHandle(path, true);
  }

  async appendFile(path: string, data: Uint8Array | string): Promise<void> {
    await this.write(path, true, (w, size) => w.write({ type: 'write', position: size, data: data as FileSystemWriteChunkType } as WriteParams));
  }

  async truncate(path: string, length: number): Promise<void> {
    await this.fileHandle(path); // NOT_FOUND when missing, as on the other platforms
    await this.write(path, true, (w) => w.truncate(length));
  }

  async rename(from: string, to: string): Promise<void> {
    if (normalizePath(from) === normalizePath(to)) return;
    const kind = await this.kindOf(from);
    if (kind === null) throw notFoundError(from, 'nothing to rename');
    const src = await this.parent(from, false);
    const dst = await this.parent(to, true);
    if (kind === 'file') {
      const h = (await src.dir.getFileHandle(src.name)) as MovableFile;
      if (typeof h.move === 'function') return h.move(dst.dir, dst.name);
      await this.writeFileAtomic(to, await this.readBytes(from));
      await src.dir.removeEntry(src.name);
      return;
    }
    // POSIX rename onto an existing directory needs it empty; then copy the tree, then drop the source
    if (await this.exists(to)) {
      const existing = await dst.dir.getDirectoryHandle(dst.name);
      for await (const _ of (existing as IterableDir).entries()) throw new Error(`${to}: exists and is not an empty directory`);
      await dst.dir.removeEntry(dst.name);
    }
    await this.copyTree(await src.dir.getDirectoryHandle(src.name), await dst.dir.getDirectoryHandle(dst.name, { create: true }));
    await src.dir.removeEntry(src.name, { recursive: true });
  }

  private async copyTree(from: Dir, to: Dir): Promise<void> {
    for await (const [name, h] of (from as IterableDir).entries()) {
      if (h.kind === 'directory') await this.copyTree(h as Dir, await to.getDirectoryHandle(name, { create: true }));
      else {
        const w = await (await to.getFileHandle(name, { create: true })).createWritable();
        await w.write(await (h as FileSystemFileHandle).getFile());
        await w.close();
      }
    }
  }

  async rm(path: string): Promise<void> {
    if (normalizePath(path) === '') {
      for await (const [name] of (this.root as IterableDir).entries()) await this.root.removeEntry(name, { recursive: true });
      return;
    }
    try {
      const { dir, name } = await this.parent(path, false);
      await dir.removeEntry(name, { recursive: true });
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
  }

  async list(path: string): Promise<string[]> {
    try {
      const dir = await this.dirHandle(path);
      const names: string[] = [];
      for await (const [name] of (dir as IterableDir).entries()) names.push(name);
      return names.sort();
    } catch (e) {
      if (isNotFound(e)) throw notFoundError(path, 'no such directory in the origin private file system');
      throw e;
    }
  }
}
