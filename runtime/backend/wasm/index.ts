// The WebAssembly backend's entry: createWasmBackend instantiates the kernel module (module.ts),
// starts the thread pool where the host allows (pool.ts) and picks the matmul variant (tune.ts);
// the backend itself (ops, tensors, splitting work across threads) is backend.ts.
//
// The WebAssembly backend: AssemblyScript SIMD128 kernels (wasm/*.ts) over one linear memory per
// backend instance. Ops run immediately and synchronously; `read` only copies out. Weights stay in
// their 16-bit file dtype in linear memory and are unpacked in registers by the kernels.
//
// This file checks shapes and indices (the kernels trust their inputs: a bad index would silently
// read or overwrite another tensor), allocates, and dispatches. Every kernel takes explicit
// [start, end) ranges, so the heavy ones are split across a thread pool (pool.ts) when the host
// has one: matmul / matmulNN / matmulTN by rows or columns (whichever is larger; decode has 1–8
// rows, so its matmuls split by columns; matmul's rows go in whole 8-row panels of its packed x),
// attention by (row, head), contrast / softmax / argmax / softLabelLoss by rows, each part computed exactly as the single-thread kernel would (every
// output element by one thread, same summation order), so results are bit-identical for any
// thread count. Small ops stay on the calling thread (a dispatch costs ~5–50 µs).
//
// Threads need the shared-memory build, SharedArrayBuffer and a thread that may block in
// Atomics.wait: Node and Deno (main thread or workers), and a browser page only inside a Web
// Worker of a cross-origin-isolated page (COOP: same-origin + COEP: require-corp); a page's main
// thread, or a page without those headers, gets the single-thread build.

import type { MatmulVariant } from './variants.ts';
import { chooseVariant } from './tune.ts';
import { MAX_PAGES, PAGE_BYTES, instantiate } from './module.ts';
import { Pool, canBlock, controlBytes } from './pool.ts';
import { WasmBackend } from './backend.ts';
import { workerHost } from '../../platform/threads.ts';
import type { WorkerHost } from '../../platform/types.ts';

export { WasmBackend } from './backend.ts';

export interface WasmBackendOptions {
  /** Upper bound on the linear memory in 64 KiB pages (default and maximum 65536 = 4 GiB). */
  maxMemoryPages?: number;
  /**
   * Threads for the heavy kernels, this one included (default: the host's hardware concurrency;
   * 1: the single-thread build). Where threads are unavailable (no worker host, no
   * SharedArrayBuffer, a browser page's main thread) the backend uses one; `info.device` says how
   * many it got and `info.note` why.
   */
  threads?: number;
  /** Where worker threads come from (default: platform/threads.ts workerHost(), which the Node adapter fills). */
  workerHost?: WorkerHost | null;
  /**
   * Use the relaxed-SIMD kernel builds (fused multiply-add in the matmul; default: wherever the host
   * supports relaxed SIMD). false forces plain SIMD128; true where unsupported silently gives plain
   * SIMD too. `info.features` lists 'relaxed-simd' when the relaxed build runs.
   */
  relaxedSimd?: boolean;
  /**
   * The matmul variant (variants.ts): 'auto' (default) takes this host's choice — remembered, or
   * measured once by a short autotune (tune.ts) — unless LIGHTREASONER_WASM_VARIANT forces one;
   * a variant or its text form (`unpack=once,prefetch=none`) forces it. Outputs are the same bits
   * whichever runs.
   */
  matmulVariant?: MatmulVariant | string;
  /** Why this backend was picked (createBackend's `auto`), kept in `info.note`. */
  chosenBecause?: string;
}

/** Most threads a backend will start. */
const MAX_THREADS = 64;

export async function createWasmBackend(options: WasmBackendOptions = {}): Promise<WasmBackend> {
  const maxPages = options.maxMemoryPages ?? MAX_PAGES;
  if (!Number.isInteger(maxPages) || maxPages < 1 || maxPages > MAX_PAGES) throw new RangeError(`maxMemoryPages must be 1..${MAX_PAGES}`);
  const host = options.workerHost === undefined ? workerHost() : options.workerHost;
  const want = Math.min(MAX_THREADS, options.threads ?? host?.concurrency ?? 1);
  if (!Number.isInteger(want) || want < 1) throw new RangeError(`threads must be an integer ≥ 1, got ${options.threads}`);
  const threaded = want > 1 && host !== null && canBlock();
  const { kernels, memory, module, shared, relaxed } = await instantiate(maxPages, threaded, options.relaxedSimd);
  let pool: Pool | null = null;
  let heapStart = kernels.heapBase() >>> 0;
  let note: string | undefined;
  if (want > 1 && !threaded) note = host === null ? 'no worker threads in this runtime' : singleThreadReason();
  else if (threaded && !shared) note = singleThreadReason();
  if (threaded && shared && host) {
    // the control block sits right below the heap, in the (zeroed) first page of the fresh memory
    const control = Math.ceil(Math.max(heapStart, 64) / 64) * 64;
    const end = control + controlBytes(want);
    const need = Math.ceil(end / PAGE_BYTES) - memory.buffer.byteLength / PAGE_BYTES;
    if (need > 0) memory.grow(need);
    try {
      pool = await Pool.start(host, module, memory, control, want);
      heapStart = end;
    } catch (e) {
      pool = null; // no workers after all: one thread, same kernels
      note = `worker threads failed to start (${String((e as Error)?.message ?? e)})`;
    }
  }
  if (note) note = `1 thread of ${want} asked: ${note}`;
  if (options.chosenBecause) note = note ? `${options.chosenBecause}; ${note}` : options.chosenBecause;
  const backend = new WasmBackend(kernels, memory, maxPages, pool, heapStart, relaxed, note);
  backend.matmulVariant = await chooseVariant(backend, options.matmulVariant);
  return backend;
}

/** Why a browser (or other host) gives the single-thread build, in words a web developer can act on. */
function singleThreadReason(): string {
  const g = globalThis as { crossOriginIsolated?: boolean; SharedArrayBuffer?: unknown; document?: unknown };
  if (typeof g.SharedArrayBuffer !== 'function' || g.crossOriginIsolated === false) {
    return 'no SharedArrayBuffer — serve the page cross-origin isolated (Cross-Origin-Opener-Policy: same-origin, Cross-Origin-Embedder-Policy: require-corp)';
  }
  if (!canBlock()) {
    return g.document !== undefined
      ? "a page's main thread may not block (Atomics.wait) — run the engine in a Web Worker (createWorkerEngine)"
      : 'this thread may not block (Atomics.wait)';
  }
  return 'this runtime has no shared-memory Wasm (threads)';
}
