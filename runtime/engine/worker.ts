// The engine across a Web Worker boundary. The page calls createWorkerEngine(worker); the worker
// script calls serveEngine(self, platform). Messages (structured clone):
//   page → worker  { kind: 'call', id, method, args }   { kind: 'abort', id }
//   worker → page  { kind: 'event', id, event }   { kind: 'result', id, value }   { kind: 'error', id, error }
// Errors keep their LightReasonerError code across the boundary; an AbortSignal given to a call
// aborts the worker's own controller for that call, so cancellation stops the stage there.
import { LightReasonerError, type ErrorCode } from '../errors.ts';
import type { Platform } from '../platform/types.ts';
import { createEngine, type Engine } from './engine.ts';

type Method = Exclude<keyof Engine, 'dispose'>;
const METHODS: readonly Method[] = [
  'info',
  'run',
  'sample',
  'finetune',
  'evaluate',
  'benchmark',
  'pairCheck',
  'merge',
  'exportGguf',
  'exportAdapter',
  'readFile',
  'remove',
  'exists',
];
/** Calls that take CallOptions (events and a signal) after their job. */
const WITH_OPTIONS = new Set<Method>(['run', 'sample', 'finetune', 'evaluate', 'benchmark', 'pairCheck', 'merge', 'exportGguf']);

type ToWorker = { kind: 'call'; id: number; method: Method; args: unknown[] } | { kind: 'abort'; id: number };
type FromWorker =
  | { kind: 'event'; id: number; event: unknown }
  | { kind: 'result'; id: number; value: unknown }
  | { kind: 'error'; id: number; error: { code?: ErrorCode; file?: string; name: string; message: string; stack?: string } };

/** The part of a Worker (or a MessagePort, or a worker's `self`) the protocol uses. */
export interface MessageEndpoint {
  postMessage(message: unknown, transfer?: Transferable[]): void;
  addEventListener(type: 'message', listener: (e: MessageEvent) => void): void;
  /** MessagePorts deliver to addEventListener listeners only once started. */
  start?(): void;
}

/** Byte arrays in a result travel as transfers (no copy of an adapter's weights); each buffer once. */
function transfers(value: unknown, out = new Set<ArrayBuffer>(), depth = 0): ArrayBuffer[] {
  if (value instanceof Uint8Array) {
    const shared = typeof SharedArrayBuffer === 'function' && value.buffer instanceof SharedArrayBuffer;
    if (!shared && value.byteOffset === 0 && value.byteLength === value.buffer.byteLength) out.add(value.buffer as ArrayBuffer);
  } else if (value && typeof value === 'object' && depth < 3) {
    for (const v of Object.values(value)) transfers(v, out, depth + 1);
  }
  return [...out];
}

/**
 * Run an engine inside a worker: answer the page's calls on `platform` (e.g.
 * createBrowserPlatform({ storage: 'opfs' }), promise and all). The listener is registered at once,
 * before the platform is ready: a worker drops messages that arrive while it has no listener.
 */
export function serveEngine(scope: MessageEndpoint, platform: Platform | Promise<Platform>): void {
  const ready = Promise.resolve(platform).then(createEngine);
  const running = new Map<number, AbortController>();
  scope.addEventListener('message', async (e: MessageEvent) => {
    const m = e.data as ToWorker;
    if (m?.kind === 'abort') return void running.get(m.id)?.abort();
    if (m?.kind !== 'call') return;
    const controller = new AbortController();
    running.set(m.id, controller);
    try {
      if (!METHODS.includes(m.method)) throw new LightReasonerError('BAD_INPUT', `unknown engine method "${m.method}"`);
      const args = [...m.args];
      if (WITH_OPTIONS.has(m.method))
        args[1] = { signal: controller.signal, onEvent: (event: unknown) => scope.postMessage({ kind: 'event', id: m.id, event } satisfies FromWorker) };
      const engine = await ready;
      const value = await (engine[m.method] as (...a: unknown[]) => Promise<unknown>)(...args);
      scope.postMessage({ kind: 'result', id: m.id, value } satisfies FromWorker, transfers(value));
    } catch (err) {
      const x = err as LightReasonerError;
      scope.postMessage({
        kind: 'error',
        id: m.id,
        error: { code: x?.code, file: x?.file, name: x?.name ?? 'Error', message: String(x?.message ?? err), stack: x?.code ? undefined : x?.stack },
      } satisfies FromWorker);
    } finally {
      running.delete(m.id);
    }
  });
  scope.start?.();
}

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
  onEvent?: (e: unknown) => void;
}

/** An Engine whose calls run in `worker` (a Worker whose script calls serveEngine). */
export function createWorkerEngine(worker: MessageEndpoint & { terminate?: () => void }): Engine {
  let next = 1;
  const pending = new Map<number, Pending>();
  worker.addEventListener('message', (e: MessageEvent) => {
    const m = e.data as FromWorker;
    const p = pending.get(m?.id);
    if (!p) return;
    if (m.kind === 'event') return void p.onEvent?.(m.event);
    pending.delete(m.id);
    if (m.kind === 'result') p.resolve(m.value);
    else {
      const err = m.error.code
        ? new LightReasonerError(m.error.code, m.error.message, { file: m.error.file })
        : Object.assign(new Error(m.error.message), { name: m.error.name, stack: m.error.stack });
      p.reject(err);
    }
  });
  // A worker whose script fails to load or throws at the top level would leave every call pending
  // forever: fail them with the reason instead (ErrorEvents of a Worker; a MessagePort has none).
  (worker as unknown as { addEventListener(t: 'error', l: (e: { message?: string }) => void): void }).addEventListener('error', (e) => {
    const err = new LightReasonerError(
      'BACKEND_UNAVAILABLE',
      `the engine's worker failed${e?.message ? `: ${e.message}` : ''} — check that its script loads (the browser console has details) and calls serveEngine`,
    );
    for (const p of pending.values()) p.reject(err);
    pending.clear();
  });
  worker.start?.();
  const call = (method: Method, args: unknown[], opts?: { onEvent?: (e: never) => void; signal?: AbortSignal }): Promise<never> =>
    new Promise((resolve, reject) => {
      if (opts?.signal?.aborted) return reject(new LightReasonerError('ABORTED', 'aborted by the caller'));
      const id = next++;
      pending.set(id, { resolve: resolve as (v: unknown) => void, reject, onEvent: opts?.onEvent as ((e: unknown) => void) | undefined });
      opts?.signal?.addEventListener('abort', () => worker.postMessage({ kind: 'abort', id } satisfies ToWorker), { once: true });
      worker.postMessage({ kind: 'call', id, method, args } satisfies ToWorker);
    });
  return {
    info: (job) => call('info', [job]),
    run: (job, o) => call('run', [job], o),
    sample: (job, o) => call('sample', [job], o),
    finetune: (job, o) => call('finetune', [job], o),
    evaluate: (job, o) => call('evaluate', [job], o),
    benchmark: (job, o) => call('benchmark', [job], o),
    pairCheck: (job, o) => call('pairCheck', [job], o),
    merge: (job, o) => call('merge', [job], o),
    exportGguf: (job, o) => call('exportGguf', [job], o),
    exportAdapter: (dir) => call('exportAdapter', [dir]),
    readFile: (path) => call('readFile', [path]),
    remove: (path) => call('remove', [path]),
    exists: (path) => call('exists', [path]),
    dispose: async () => {
      for (const p of pending.values()) p.reject(new LightReasonerError('ABORTED', 'the engine was disposed'));
      pending.clear();
      worker.terminate?.();
    },
  };
}
