// Node and Deno adapter (Deno runs node:fs through its Node compatibility layer). WebGPU comes
// from `navigator.gpu` where the host has it (Deno) and from the `webgpu` package (Dawn) in Node.
import { open, readFile, readdir, realpath, stat, mkdir, rename, writeFile, rm } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { dirname, join } from 'node:path';
import { availableParallelism, cpus, homedir } from 'node:os';
import { Worker } from 'node:worker_threads';
import { createContext, Script } from 'node:vm';
import { setFlagsFromString } from 'node:v8';
import { relaxedSimdSupported } from '../backend/wasm/features.ts';
import { type ErrorCode, LightReasonerError, notFoundError } from '../errors.ts';
import { DeadlineExceeded, registerDeadlineRunner } from './deadline.ts';
import { fileDigestCache, setDefaultDigestCache } from './digest-cache.ts';
import { ensureRuntimeDir, probeDawn } from './node-gpu.ts';
import { registerWorkerHost } from './threads.ts';
import { registerHostTuning } from '../backend/wasm/variants.ts';
import type { FileSystem, Platform, ThreadWorker, WorkerHost } from './types.ts';

function missing(e: unknown): boolean {
  return (e as { code?: string })?.code === 'ENOENT' || (e as { code?: string })?.code === 'ENOTDIR';
}

// What the operating system's refusals mean for the user. BAD_INPUT (exit 2): the path given is the
// wrong kind of thing; ENVIRONMENT (exit 1): the machine refuses (permissions, disk, limits).
const SYSTEM_ERRORS: Record<string, [ErrorCode, string, string]> = {
  EACCES: ['ENVIRONMENT', 'permission denied', "fix its permissions (or its folder's) or choose another path"],
  EPERM: ['ENVIRONMENT', 'operation not permitted', "fix its permissions (or its folder's) or choose another path"],
  EROFS: ['ENVIRONMENT', 'read-only file system', 'choose a path on a writable file system'],
  ENOSPC: ['ENVIRONMENT', 'no space left on the device', 'free some space or choose a path on another disk'],
  EDQUOT: ['ENVIRONMENT', 'disk quota exceeded', 'free some space or choose a path on another disk'],
  EMFILE: ['ENVIRONMENT', 'too many open files', 'raise the limit (ulimit -n) or close other programs'],
  ENFILE: ['ENVIRONMENT', 'too many open files in the system', 'close other programs and try again'],
  EIO: ['ENVIRONMENT', 'input/output error', 'check the disk (it may be failing or disconnected)'],
  EBUSY: ['ENVIRONMENT', 'resource busy', 'close the program using it and try again'],
  ELOOP: ['BAD_INPUT', 'too many levels of symbolic links', 'fix the symbolic link loop or choose another path'],
  EEXIST: ['BAD_INPUT', 'already exists', 'remove it or choose another path'],
  ENOTDIR: ['BAD_INPUT', 'a part of the path is a file, not a directory', 'choose another path'],
  EISDIR: ['BAD_INPUT', 'is a directory, not a file', 'give the path of a file'],
  ENOTEMPTY: ['BAD_INPUT', 'is a directory that is not empty', 'remove it or choose another path'],
  ENAMETOOLONG: ['BAD_INPUT', 'the name is too long', 'choose a shorter path'],
  // Reads turn ENOENT into NOT_FOUND first (op's `what`); a write gets this: its folder is missing.
  ENOENT: ['BAD_INPUT', 'no such file or directory', 'check the path (does its folder exist?)'],
};

/**
 * A Node file-system error as a LightReasonerError naming `path` (the path the caller gave, not a
 * temp file's when Node's error names none) and what to do; other errors are returned unchanged.
 */
export function fileSystemError(e: unknown, path: string): unknown {
  if (e instanceof LightReasonerError) return e;
  const code = (e as { code?: unknown })?.code;
  const known = typeof code === 'string' ? SYSTEM_ERRORS[code] : undefined;
  if (!known) return e;
  const [kind, problem, advice] = known;
  return new LightReasonerError(kind, `${path}: ${problem} (${code}) — ${advice}`, { file: path, cause: e, systemCode: code as string });
}

/** Run a file operation; a missing file becomes NOT_FOUND (`what`), other refusals fileSystemError. */
async function op<T>(path: string, run: () => Promise<T>, what?: string): Promise<T> {
  try {
    return await run();
  } catch (e) {
    if (what && missing(e)) throw notFoundError(path, what);
    throw fileSystemError(e, path);
  }
}

async function readRange(path: string, offset: number | undefined, length: number | undefined): Promise<Uint8Array> {
  if (offset === undefined && length === undefined) return new Uint8Array(await readFile(path));
  const fh = await open(path, 'r');
  try {
    const len = length ?? (await fh.stat()).size - (offset ?? 0);
    const out = new Uint8Array(len);
    let done = 0;
    while (done < len) {
      const { bytesRead } = await fh.read(out, done, len - done, (offset ?? 0) + done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    return done === len ? out : out.subarray(0, done);
  } finally {
    await fh.close();
  }
}

/** Whole text/JSON files at most this big: far above any tokenizer, config or data file. */
const MAX_WHOLE_FILE = 2 ** 30;

/**
 * Inputs are regular files: a FIFO would block forever on open, a device such as /dev/zero or
 * /dev/urandom would be read until memory runs out. Whole-file reads are capped (1 GiB).
 */
async function checkReadable(path: string, whole = true): Promise<void> {
  const st = await stat(path); // follows symlinks: a link to a device is a device
  if (st.isDirectory()) return; // the read fails with EISDIR, mapped like every other system error
  if (!st.isFile()) {
    const kind = st.isFIFO()
      ? 'a FIFO (named pipe)'
      : st.isCharacterDevice() || st.isBlockDevice()
        ? 'a device'
        : st.isSocket()
          ? 'a socket'
          : 'not a regular file';
    throw new LightReasonerError('BAD_INPUT', `${path}: is ${kind}, not a regular file — inputs are read from regular files; save the data to a file first`, {
      file: path,
    });
  }
  if (whole && st.size > MAX_WHOLE_FILE) {
    throw new LightReasonerError(
      'BAD_INPUT',
      `${path}: ${(st.size / 2 ** 30).toFixed(1)} GiB is more than the 1 GiB a text or JSON input may hold — split the data, or check that this is the right file`,
      { file: path },
    );
  }
}

/**
 * The text of a data input (--data, --train-data, --eval-data): a regular file as readText reads it,
 * or a stream — a pipe (`--data <(zcat x.jsonl.gz)`, /dev/stdin), a FIFO, a character device — read
 * once to its end, as `cat` would (a FIFO without a writer waits for one, as with `cat`). A stream
 * has no size to check first, so it is refused as soon as a line passes `maxLineChars` (/dev/zero is
 * one endless line) or the whole passes the 1 GiB cap; nothing is read twice.
 */
export async function readDataText(path: string, maxLineChars: number): Promise<string> {
  const st = await op(path, () => stat(path), 'no such file');
  if (st.isFile() || st.isDirectory()) return nodeFileSystem.readText(path);
  const chunks: string[] = [];
  let total = 0,
    line = 1,
    lineChars = 0;
  const tooBig = (what: string) => new LightReasonerError('BAD_INPUT', `${path}:${line}: ${what} — is this the right input?`, { file: path });
  const stream = createReadStream(path, { encoding: 'utf8', highWaterMark: 1 << 20 });
  try {
    for await (const chunk of stream as AsyncIterable<string>) {
      total += chunk.length;
      if (total > MAX_WHOLE_FILE) throw tooBig(`the stream goes on past the 1 GiB a text input may hold`);
      for (let from = 0; ; ) {
        const nl = chunk.indexOf('\n', from);
        lineChars += (nl < 0 ? chunk.length : nl) - from;
        if (lineChars > maxLineChars) throw tooBig(`the line has more than the ${maxLineChars} (${maxLineChars / 2 ** 20} Mi) characters this tool accepts`);
        if (nl < 0) break;
        line++;
        lineChars = 0;
        from = nl + 1;
      }
      chunks.push(chunk);
    }
  } catch (e) {
    throw fileSystemError(e, path);
  } finally {
    stream.destroy();
  }
  return chunks.join('');
}

/**
 * `mkdir -p`, one level at a time. Not `mkdir(path, { recursive: true })`: under /proc (and other
 * pseudo file systems) mkdir says ENOENT while the parent exists, and Node's recursive mkdir then
 * retries forever on a thread-pool thread (`merge --out /proc/x` never ended). Here each missing
 * parent is created once and the path tried once more: bounded by the path's depth.
 */
async function mkdirParents(path: string): Promise<void> {
  try {
    await mkdir(path);
  } catch (e) {
    const code = (e as { code?: string })?.code;
    if (code === 'EEXIST' && (await stat(path).catch(() => null))?.isDirectory()) return;
    const parent = dirname(path);
    if (code !== 'ENOENT' || parent === path) throw e;
    await mkdirParents(parent);
    try {
      await mkdir(path);
    } catch (again) {
      if ((again as { code?: string })?.code === 'EEXIST' && (await stat(path).catch(() => null))?.isDirectory()) return; // made meanwhile
      throw again;
    }
  }
}

export const nodeFileSystem: FileSystem = {
  readText: (path) => op(path, async () => (await checkReadable(path), readFile(path, 'utf8')), 'no such file'),
  readBytes: (path, offset, length) =>
    op(path, async () => (await checkReadable(path, offset === undefined && length === undefined), readRange(path, offset, length)), 'no such file'),
  size: (path) => op(path, async () => (await stat(path)).size, 'no such file'),
  async exists(path) {
    try {
      await stat(path);
      return true;
    } catch (e) {
      // Only "not there" is false: a path we may not look at (EACCES, ELOOP) is an error, not a
      // missing file — taking it for missing could start a fresh run over an existing one.
      if (missing(e)) return false;
      throw fileSystemError(e, path);
    }
  },
  join: (...parts) => join(...parts),
  async writeFileAtomic(path, data) {
    // Temp file + rename, so readers never see half a file — except where the target is not a
    // regular file: a symlink is followed (its target is replaced, the link stays), and a device,
    // FIFO or socket (say /dev/stdout) is written through, since renaming over it would replace
    // the device node with a regular file.
    let target = path;
    try {
      target = await realpath(path);
      if (!(await stat(target)).isFile()) {
        await writeFile(target, data);
        return;
      }
    } catch (e) {
      if (!missing(e)) throw fileSystemError(e, path);
    }
    const tmp = `${target}.tmp-${process.pid}`;
    try {
      await writeFile(tmp, data);
      await rename(tmp, target);
    } catch (e) {
      await rm(tmp, { force: true }).catch(() => undefined);
      throw fileSystemError(e, path);
    }
  },
  async mkdir(path) {
    try {
      await mkdirParents(path);
    } catch (e) {
      // recursive mkdir of an existing *file* says EEXIST, which reads as if the folder were the problem
      if ((e as { code?: string })?.code !== 'EEXIST') throw fileSystemError(e, path);
      throw new LightReasonerError('BAD_INPUT', `${path}: exists and is a file, not a directory (EEXIST) — remove it or choose another path`, {
        file: path,
        cause: e,
        systemCode: 'EEXIST',
      });
    }
  },
  appendFile: (path, data) =>
    op(path, async () => {
      const fh = await open(path, 'a');
      try {
        await fh.writeFile(data);
        await fh.datasync();
      } finally {
        await fh.close();
      }
    }),
  rename: (from, to) => op(to, () => rename(from, to)),
  rm: (path) => op(path, () => rm(path, { recursive: true, force: true })),
  list: (path) => op(path, async () => (await readdir(path)).sort(), 'no such directory'),
  stat: (path) =>
    op(
      path,
      async () => {
        const st = await stat(path);
        return { size: st.size, mtimeMs: st.mtimeMs };
      },
      'no such file',
    ),
  realPath: (path) => op(path, () => realpath(path), 'no such file'),
  sha256: (path) =>
    op(
      path,
      async () => {
        await checkReadable(path, false);
        const hash = createHash('sha256');
        for await (const chunk of createReadStream(path, { highWaterMark: 1 << 22 })) hash.update(chunk as Buffer);
        return hash.digest('hex');
      },
      'no such file',
    ),
  truncate: (path, length) =>
    op(
      path,
      async () => {
        const fh = await open(path, 'r+');
        try {
          await fh.truncate(length);
          await fh.datasync();
        } finally {
          await fh.close();
        }
      },
      'no such file',
    ),
};

const isDeno = typeof (globalThis as { Deno?: unknown }).Deno !== 'undefined';
/** Dawn for Node: the `webgpu` package, an optional peer dependency (package.json "//webgpu"). */
const DAWN_PACKAGE = 'webgpu';

/** What loading Dawn gave: a GPU, or null with why (and, when the user can fix it, what to do). */
export interface DawnLoad {
  gpu: GPU | null;
  why?: string;
  /** Replaces the driver advice when the remedy is different (the package is not installed). */
  advice?: string;
}

/**
 * Dawn in this process, only once a child process has found it an adapter (see node-gpu.ts).
 * `specifier` is the package to load it from (tests name one that does not resolve).
 */
export async function loadDawn(specifier = DAWN_PACKAGE): Promise<DawnLoad> {
  let url: string;
  try {
    url = import.meta.resolve(specifier);
  } catch {
    return { gpu: null, why: `WebGPU in Node needs the optional package ${specifier} (Dawn), which is not installed`, advice: `npm install ${specifier}` };
  }
  // Deno's Node layer cannot run the probe's `node -e`; Deno has its own WebGPU (navigator.gpu).
  if (!isDeno) {
    const probe = await probeDawn(url);
    if (!probe.adapter) return { gpu: null, why: probe.driverSays.length ? `the driver says: ${probe.driverSays.join(' / ')}` : 'no driver offered one' };
  }
  ensureRuntimeDir();
  try {
    const m = (await import(url)) as typeof import('webgpu');
    Object.assign(globalThis, m.globals);
    return { gpu: m.create([]) as GPU };
  } catch (e) {
    return { gpu: null, why: `the ${specifier} package failed to load (${(e as Error).message})` };
  }
}

let dawn: Promise<DawnLoad> | undefined;
let dawnResult: DawnLoad | undefined;

export const nodePlatform: Platform = {
  name: isDeno ? 'deno' : 'node',
  fs: nodeFileSystem,
  async getGPU() {
    // Deno's navigator.gpu loads the Vulkan drivers in this process: Mesa's must find XDG_RUNTIME_DIR
    if (isDeno) ensureRuntimeDir();
    const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
    if (nav?.gpu) return nav.gpu;
    dawn ??= loadDawn();
    dawnResult = await dawn;
    return dawnResult.gpu;
  },
  whyNoGPU: () => dawnResult?.why,
  noGPUAdvice: () => dawnResult?.advice,
  availableMemory() {
    const deno = (globalThis as { Deno?: { systemMemoryInfo?(): { available: number } } }).Deno;
    if (deno?.systemMemoryInfo) return deno.systemMemoryInfo().available;
    // Node ≥ 20.13 (MemAvailable, or the cgroup's limit when lower).
    const p = process as { availableMemory?(): number };
    return p.availableMemory?.();
  },
};

/**
 * Worker threads for the Wasm backend's thread pool: Node's worker_threads with the script given
 * as source (`eval: true`, so nothing is resolved on disk and the same code runs from source and
 * from dist/). Workers are unref'd: they never keep the process alive. Deno runs the same through
 * its Node compatibility layer (its Web Workers cannot be unref'd and would keep it alive until
 * backend.destroy()).
 */
export const nodeWorkerHost: WorkerHost = {
  concurrency: Math.max(1, availableParallelism()),
  spawn(source: string): ThreadWorker {
    // no inherited execArgv: loader hooks (e.g. a TypeScript loader) are not needed for plain JS
    // Node workers have no `self`: hand the worker script its message port (see wasm/pool.ts).
    const prelude = "'use strict'; globalThis.__lightreasonerPort = require('node:worker_threads').parentPort;\n";
    const w = new Worker(prelude + source, { eval: true, execArgv: [], name: 'lightreasoner-wasm' });
    return {
      postMessage: (m) => w.postMessage(m),
      onMessage: (fn) => w.on('message', fn),
      onError: (fn) => w.on('error', fn),
      unref: () => w.unref(),
      terminate: () => void w.terminate(),
    };
  },
};

registerWorkerHost(nodeWorkerHost);

// The deadline of runtime/platform/deadline.ts: a vm script that calls back into `fn`, run with
// `timeout`. V8 then terminates whatever JavaScript runs past it — `fn`'s own code and a regex in
// the middle of backtracking alike — and the script throws ERR_SCRIPT_EXECUTION_TIMEOUT. One
// context and one compiled script serve every call (≈ 0.1 ms each: a watchdog thread per call).
const deadlineContext = createContext({ call: () => {} });
const deadlineScript = new Script('call()');
registerDeadlineRunner(<T>(fn: () => T, ms: number): T => {
  let result: T | undefined;
  deadlineContext.call = () => void (result = fn());
  try {
    deadlineScript.runInContext(deadlineContext, { timeout: ms });
  } catch (e) {
    if ((e as { code?: unknown } | null)?.code === 'ERR_SCRIPT_EXECUTION_TIMEOUT') throw new DeadlineExceeded(ms);
    throw e;
  } finally {
    deadlineContext.call = () => {};
  }
  return result as T;
});

// Weight-file digests outlive the process in the user's cache directory (XDG; ~/.cache otherwise),
// so a model outside the Hub cache is hashed once per machine, not once per run. The Wasm matmul
// variant this host chose (runtime/backend/wasm/variants.ts) is kept beside them, in
// wasm-tuning.json ({host key: variant}); LIGHTREASONER_WASM_VARIANT forces one.
{
  const folder = join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'lightreasoner-wasm');
  setDefaultDigestCache(fileDigestCache(nodeFileSystem, join(folder, 'fingerprints.json'), folder));
  registerHostTuning({
    hostKey: () => `${cpus()[0]?.model?.trim() || 'unknown CPU'}|${availableParallelism()} threads|${isDeno ? 'deno' : 'node'} ${process.versions.v8}`,
    forced: () => process.env.LIGHTREASONER_WASM_VARIANT,
    // any string: a value parseVariant cannot read is measured again (tune.ts)
    store: fileDigestCache(nodeFileSystem, join(folder, 'wasm-tuning.json'), folder, () => true),
  });
}

// Relaxed SIMD (the Wasm matmul's fused multiply-add, runtime/backend/wasm/module.ts) ships in
// Node ≥ 22 and Deno but sits behind a V8 flag in Node 20. V8 flags are process-wide, so setting it
// here, before the backend compiles its kernels, covers the pool's worker threads too (they only
// instantiate the module compiled here). Hosts that refuse the flag keep plain SIMD128.
if (!isDeno && !relaxedSimdSupported()) {
  try {
    setFlagsFromString('--experimental-wasm-relaxed-simd');
  } catch {
    // not this host's flag: plain SIMD128
  }
}
