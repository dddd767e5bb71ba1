// The Wasm backend's thread pool: N − 1 workers, each instantiating the shared-memory kernel
// module (build/kernels-threads.wasm) over the SAME WebAssembly.Memory as the main thread, plus the
// main thread itself as thread 0. An op is split into N jobs (kernel, arguments with its own range
// and its own scratch region); the main thread publishes the workers' jobs in a control block, wakes
// them, runs its own job, then waits for them, so every op stays synchronous and the Backend
// interface does not change.
//
// Synchronisation is one control block in the shared linear memory (Int32 words + Float64 args):
//   SEQ    bumped by the main thread for each dispatch (workers Atomics.wait on it);
//   DONE   incremented by each worker when its job is over (the main thread waits on it);
//   QUIT   set by destroy(); ERR set by a worker whose kernel threw (the op then throws);
//   FN[t]  the kernel index of thread t's job (−1: nothing this time), ARGS[t][0..MAX_ARGS) its arguments.
// Both sides spin briefly before Atomics.wait: a wake-up through the futex costs tens of µs.
//
// Waiting: Atomics.wait is forbidden on a browser's main thread, so the pool is only created where
// the creating thread may block (Node and Deno main threads, any worker). A page that wants
// threads runs the backend inside a Web Worker (and must be cross-origin isolated, see
// runtime/platform/threads.ts); on a page's main thread the backend keeps the single-thread path.
// If a worker died while the main thread waits (it cannot: kernels are wrapped in try/catch and
// only the process's own termination kills workers), the op would hang.

import type { ThreadWorker, WorkerHost } from '../../platform/types.ts';

/** Arguments per job (the longest kernel signatures, attentionBackwardQ/KV, have 17; run() refuses more). */
const MAX_ARGS = 20;
const SEQ = 0,
  DONE = 1,
  QUIT = 2,
  ERR = 3,
  READY = 4,
  FN = 8;
/** Spin iterations before sleeping in Atomics.wait (a few µs). */
const SPIN = 4000;

/** Bytes of the control block for `threads` threads. */
export function controlBytes(threads: number): number {
  return (FN + threads) * 4 + 8 + threads * MAX_ARGS * 8 + 8; // Int32 header + pad to 8 + Float64 args
}

function argsOffset(threads: number): number {
  const b = (FN + threads) * 4;
  return b + (b & 7 ? 8 - (b & 7) : 0);
}

// The worker: a self-contained classic script (no imports), started from source text. Web Workers
// talk through `self`; a host whose workers have no `self` (Node's worker_threads) prepends a line
// setting globalThis.__lightreasonerPort to its message port (see platform/node.ts).
const WORKER_SOURCE = `'use strict';
const SEQ = ${SEQ}, DONE = ${DONE}, QUIT = ${QUIT}, ERR = ${ERR}, READY = ${READY}, FN = ${FN}, MAX_ARGS = ${MAX_ARGS}, SPIN = ${SPIN};
const port = globalThis.__lightreasonerPort || null;
function post(m) { if (port) port.postMessage(m); else self.postMessage(m); }
function init(d) {
  let exports;
  try {
    const abort = () => { throw new Error('wasm kernel abort'); };
    exports = new WebAssembly.Instance(d.module, { env: { memory: d.memory, abort } }).exports;
  } catch (e) {
    post({ error: String(e && e.stack || e) });
    return;
  }
  const fns = d.names.map((n) => exports[n]);
  const ctl = new Int32Array(d.memory.buffer, d.control, FN + d.threads);
  const a = new Float64Array(d.memory.buffer, d.control + d.argsOffset, d.threads * MAX_ARGS);
  const me = d.index, base = me * MAX_ARGS;
  let seen = Atomics.load(ctl, SEQ);
  Atomics.add(ctl, READY, 1);
  Atomics.notify(ctl, READY);
  post({ ready: me });
  for (;;) {
    let s = Atomics.load(ctl, SEQ);
    for (let i = 0; s === seen; i++) {
      if (i < SPIN) s = Atomics.load(ctl, SEQ);
      else { Atomics.wait(ctl, SEQ, seen); s = Atomics.load(ctl, SEQ); }
    }
    seen = s;
    if (Atomics.load(ctl, QUIT)) break;
    const f = ctl[FN + me];
    if (f >= 0) {
      try {
        fns[f](a[base], a[base + 1], a[base + 2], a[base + 3], a[base + 4], a[base + 5], a[base + 6], a[base + 7],
          a[base + 8], a[base + 9], a[base + 10], a[base + 11], a[base + 12], a[base + 13], a[base + 14], a[base + 15],
          a[base + 16], a[base + 17], a[base + 18], a[base + 19]);
      } catch (e) {
        Atomics.store(ctl, ERR, 1);
      }
    }
    Atomics.add(ctl, DONE, 1);
    Atomics.notify(ctl, DONE);
  }
  // Node's parentPort has close(); Deno's worker_threads port does not (the worker ends on its own)
  if (port) { if (typeof port.close === 'function') port.close(); } else self.close();
}
if (port) port.once('message', init); else self.onmessage = (e) => { self.onmessage = null; init(e.data); };
`;

/** Whether this thread may block in Atomics.wait (false on a browser's main thread). */
export function canBlock(): boolean {
  try {
    const i = new Int32Array(new SharedArrayBuffer(4));
    Atomics.wait(i, 0, 1, 0); // value differs: returns 'not-equal' at once where waiting is allowed
    return true;
  } catch {
    return false;
  }
}

export class Pool {
  private readonly workers: ThreadWorker[] = [];
  private readonly index = new Map<string, number>();
  private ctl: Int32Array;
  private args: Float64Array;
  private closed = false;
  /** Set when a worker failed after it started: every later op throws it. */
  private failure: Error | null = null;

  private constructor(
    readonly threads: number,
    memory: WebAssembly.Memory,
    control: number,
    private readonly names: readonly string[],
  ) {
    names.forEach((n, i) => {
      this.index.set(n, i);
    });
    this.ctl = new Int32Array(memory.buffer, control, FN + threads);
    this.args = new Float64Array(memory.buffer, control + argsOffset(threads), threads * MAX_ARGS);
  }

  /**
   * Starts `threads − 1` workers over `memory` (shared) with the control block at byte offset
   * `control` (controlBytes(threads) bytes, zeroed, 8-aligned). Rejects (after terminating what
   * started) when a worker cannot start or instantiate within `timeoutMs`.
   */
  static async start(
    host: WorkerHost,
    module: WebAssembly.Module,
    memory: WebAssembly.Memory,
    control: number,
    threads: number,
    timeoutMs = 30_000,
  ): Promise<Pool> {
    const names = WebAssembly.Module.exports(module)
      .filter((e) => e.kind === 'function')
      .map((e) => e.name);
    const pool = new Pool(threads, memory, control, names);
    const started: Promise<void>[] = [];
    try {
      for (let t = 1; t < threads; t++) {
        const w = host.spawn(WORKER_SOURCE);
        pool.workers.push(w);
        started.push(
          new Promise<void>((resolve, reject) => {
            let ready = false;
            w.onMessage((m) => {
              const msg = m as { ready?: number; error?: string };
              if (msg.ready !== undefined) {
                ready = true;
                resolve();
              } else if (msg.error) reject(new Error(`wasm worker ${t}: ${msg.error}`));
            });
            w.onError((e) => {
              const error = e instanceof Error ? e : new Error(String(e));
              if (ready) pool.workerFailed(t, error);
              else reject(error);
            });
          }),
        );
        // after the listeners: in Node, adding a 'message' listener refs the worker again
        w.unref();
        w.postMessage({ module, memory, control, argsOffset: argsOffset(threads), threads, index: t, names });
      }
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`wasm workers did not start within ${timeoutMs} ms`)), timeoutMs);
      });
      try {
        await Promise.race([Promise.all(started), timeout]);
      } finally {
        clearTimeout(timer);
      }
    } catch (e) {
      pool.close();
      throw e;
    }
    return pool;
  }

  /**
   * Runs kernel `name` once per job: jobs[0] on this thread, jobs[t] on worker t (null or missing:
   * that thread sits this one out). Returns when all are done; throws if a kernel threw.
   */
  run(kernels: object, name: string, jobs: readonly (readonly number[] | null)[]): void {
    if (this.closed) throw new Error('wasm thread pool used after destroy()');
    if (this.failure) throw this.failure;
    const f = this.index.get(name);
    if (f === undefined) throw new Error(`no kernel ${name}`);
    const ctl = this.ctl,
      a = this.args,
      T = this.threads;
    let others = 0;
    for (let t = 1; t < T; t++) {
      const job = jobs[t];
      if (job) {
        if (job.length > MAX_ARGS) throw new Error(`wasm thread pool: kernel ${name} takes ${job.length} arguments, more than ${MAX_ARGS}`);
        for (let i = 0; i < job.length; i++) a[t * MAX_ARGS + i] = job[i];
        ctl[FN + t] = f;
        others++;
      } else {
        ctl[FN + t] = -1;
      }
    }
    const own = jobs[0];
    if (others === 0) {
      if (own) (kernels as Record<string, (...x: readonly number[]) => unknown>)[name](...own);
      return;
    }
    Atomics.store(ctl, DONE, 0);
    Atomics.store(ctl, ERR, 0);
    Atomics.add(ctl, SEQ, 1);
    Atomics.notify(ctl, SEQ);
    let error: unknown = null;
    try {
      if (own) (kernels as Record<string, (...x: readonly number[]) => unknown>)[name](...own);
    } catch (e) {
      error = e;
    }
    // every worker answers each dispatch (also those without a job), so wait for all of them
    const want = T - 1;
    let d = Atomics.load(ctl, DONE);
    for (let i = 0; d < want; i++) {
      if (i >= SPIN) Atomics.wait(ctl, DONE, d);
      d = Atomics.load(ctl, DONE);
    }
    if (error) throw error;
    if (Atomics.load(ctl, ERR)) throw new Error(`wasm kernel ${name} failed on a worker thread`);
  }

  /**
   * A worker's uncaught error after it started (never expected: kernels are wrapped in try/catch).
   * Caught here it would vanish and the process would exit 0 as if all went well, so it is thrown
   * again outside any promise chain: the host's uncaught-exception handling takes it (the CLI
   * prints it as an internal error and exits 1; a browser logs it), and the next op throws it too.
   */
  private workerFailed(t: number, error: Error): void {
    const failure = new Error(`wasm worker ${t} failed: ${error.message}`, { cause: error });
    this.failure ??= failure;
    setTimeout(() => {
      throw failure;
    }, 0);
  }

  /** Stops the workers (they exit their loop, then are terminated); idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    Atomics.store(this.ctl, QUIT, 1);
    Atomics.add(this.ctl, SEQ, 1);
    Atomics.notify(this.ctl, SEQ);
    for (const w of this.workers) w.terminate();
    this.workers.length = 0;
  }
}
