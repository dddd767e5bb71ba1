// Which worker threads the host offers the Wasm backend. The default is the Web Worker API
// (browsers, Deno, Web-Worker-capable hosts) fed from a Blob URL; platform/node.ts registers
// Node's worker_threads when it is loaded (runtime/ itself never imports a `node:` module).
//
// Threads in a browser need SharedArrayBuffer, which a page only gets when it is cross-origin
// isolated: serve it with
//   Cross-Origin-Opener-Policy: same-origin
//   Cross-Origin-Embedder-Policy: require-corp   (or credentialless)
// Without them (`globalThis.crossOriginIsolated` false) the Wasm backend runs on one thread. Even
// then, the thread that creates the backend must be allowed to block (Atomics.wait), which a
// page's main thread is not: run the backend inside a Web Worker to get threads in a browser.
// (In Deno without platform/node.ts, Web Workers keep the process alive until backend.destroy().)
import type { ThreadWorker, WorkerHost } from './types.ts';

let registered: WorkerHost | null = null;

/** Installs the host's worker threads (platform adapters call this; last one wins). */
export function registerWorkerHost(host: WorkerHost): void {
  registered = host;
}

interface WebWorkerLike {
  postMessage(m: unknown): void;
  addEventListener(type: string, fn: (e: { data?: unknown; error?: unknown; message?: string }) => void): void;
  terminate(): void;
}
type WebWorkerCtor = new (url: string, options?: { type?: 'classic' | 'module'; name?: string }) => WebWorkerLike;

/** Web Workers from a Blob URL: a module worker (Deno accepts only those; the script has no imports). */
function webWorkerHost(): WorkerHost | null {
  const g = globalThis as { Worker?: WebWorkerCtor; Blob?: typeof Blob; URL?: typeof URL; navigator?: { hardwareConcurrency?: number } };
  if (typeof g.Worker !== 'function' || typeof g.Blob !== 'function' || typeof g.URL?.createObjectURL !== 'function') return null;
  const Ctor = g.Worker;
  return {
    concurrency: Math.max(1, g.navigator?.hardwareConcurrency ?? 1),
    spawn(source: string): ThreadWorker {
      const url = URL.createObjectURL(new Blob([source], { type: 'text/javascript' }));
      let revoked = false;
      // the script is loaded once the worker runs: its first message (or error) frees the URL
      const revoke = () => {
        if (!revoked) URL.revokeObjectURL(url);
        revoked = true;
      };
      let w: WebWorkerLike;
      try {
        w = new Ctor(url, { type: 'module', name: 'lightreasoner-wasm' });
      } catch (e) {
        revoke();
        throw e;
      }
      w.addEventListener('message', revoke);
      w.addEventListener('error', revoke);
      return {
        postMessage: (m) => w.postMessage(m),
        onMessage: (fn) => w.addEventListener('message', (e) => fn(e.data)),
        onError: (fn) => w.addEventListener('error', (e) => fn(e.error ?? new Error(e.message ?? 'worker error'))),
        unref: () => {},
        terminate: () => w.terminate(),
      };
    },
  };
}

/** The registered host, else Web Workers where the global API exists, else null (one thread). */
export function workerHost(): WorkerHost | null {
  return registered ?? webWorkerHost();
}
