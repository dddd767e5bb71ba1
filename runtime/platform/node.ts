// Node and Deno adapter (Deno runs node:fs through its Node compatibility layer). WebGPU comes
// from `navigator.gpu` where the host has it (Deno) and from the `webgpu` package (Dawn) in Node.
import { open, readFile, stat, mkdir, rename, writeFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { setFlagsFromString } from 'node:v8';
import { relaxedSimdSupported } from '../backend/wasm/features.ts';
import { notFoundError } from '../errors.ts';
import { registerWorkerHost } from './threads.ts';
import type { FileSystem, Platform, ThreadWorker, WorkerHost } from './types.ts';

function missing(e: unknown): boolean {
  return (e as { code?: string })?.code === 'ENOENT' || (e as { code?: string })?.code === 'ENOTDIR';
}

export const nodeFileSystem: FileSystem = {
  async readText(path) {
    try {
      return await readFile(path, 'utf8');
    } catch (e) {
      if (missing(e)) throw notFoundError(path, 'no such file');
      throw e;
    }
  },
  async readBytes(path, offset, length) {
    try {
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
    } catch (e) {
      if (missing(e)) throw notFoundError(path, 'no such file');
      throw e;
    }
  },
  async size(path) {
    try {
      return (await stat(path)).size;
    } catch (e) {
      if (missing(e)) throw notFoundError(path, 'no such file');
      throw e;
    }
  },
  async exists(path) {
    try {
      await stat(path);
      return true;
    } catch {
      return false;
    }
  },
  join: (...parts) => join(...parts),
  async writeFileAtomic(path, data) {
    const tmp = `${path}.tmp-${process.pid}`;
    try {
      await writeFile(tmp, data);
      await rename(tmp, path);
    } catch (e) {
      await rm(tmp, { force: true });
      throw e;
    }
  },
  async mkdir(path) {
    await mkdir(path, { recursive: true });
  },
  async appendFile(path, data) {
    const fh = await open(path, 'a');
    try {
      await fh.writeFile(data);
      await fh.datasync();
    } finally {
      await fh.close();
    }
  },
  async rename(from, to) {
    await rename(from, to);
  },
  async rm(path) {
    await rm(path, { recursive: true, force: true });
  },
  async truncate(path, length) {
    const fh = await open(path, 'r+');
    try {
      await fh.truncate(length);
      await fh.datasync();
    } catch (e) {
      if (missing(e)) throw notFoundError(path, 'no such file');
      throw e;
    } finally {
      await fh.close();
    }
  },
};

const isDeno = typeof (globalThis as { Deno?: unknown }).Deno !== 'undefined';
let dawn: Promise<GPU | null> | undefined;

export const nodePlatform: Platform = {
  name: isDeno ? 'deno' : 'node',
  fs: nodeFileSystem,
  getGPU() {
    const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
    if (nav?.gpu) return Promise.resolve(nav.gpu);
    dawn ??= import('webgpu').then(
      (m) => {
        Object.assign(globalThis, m.globals);
        return m.create([]) as GPU;
      },
      () => null,
    );
    return dawn;
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
