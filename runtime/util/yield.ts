// Cooperative yielding for long synchronous compute. The Wasm kernels run synchronously, and a
// stage's awaits (tensor reads, in-memory file writes) resolve as microtasks, so without this a
// stage never lets its thread's task queue run: in a Web Worker the page's abort message would
// only arrive after the job had finished, and on a page's main thread progress bars would not
// repaint. At step boundaries the stages call yieldToHost(signal): at most every YIELD_MS it
// gives the host one macrotask turn (setImmediate, else a MessageChannel message — neither is
// clamped to 4 ms as nested setTimeout is), then it checks the signal; with a signal it yields at
// every call, so an abort is seen at the next step boundary however short the steps are. A turn
// costs microseconds; a step (a decode or an optimizer step) milliseconds or more.
import { throwIfAborted } from '../errors.ts';

const YIELD_MS = 50;
let last = 0;

function macrotask(): Promise<void> {
  const g = globalThis as { setImmediate?: (f: () => void) => void; MessageChannel?: typeof MessageChannel };
  if (typeof g.setImmediate === 'function') return new Promise((r) => g.setImmediate!(r));
  if (typeof g.MessageChannel === 'function') {
    return new Promise((r) => {
      const c = new g.MessageChannel!();
      c.port1.onmessage = () => (c.port1.close(), r());
      c.port2.postMessage(0);
    });
  }
  return new Promise((r) => setTimeout(r, 0));
}

/** Let the host run pending tasks (every call with a signal, else at most every 50 ms), then throw ABORTED if `signal` is aborted. */
export async function yieldToHost(signal?: AbortSignal): Promise<void> {
  const now = performance.now();
  if (signal || now - last >= YIELD_MS) {
    last = now;
    await macrotask();
  }
  throwIfAborted(signal);
}
