// Loading the kernel module: the binary is embedded as base64 by scripts/embed-assets.mjs (no file
// or network I/O, so the same code runs in Node, Deno and browsers), compiled once per process and
// instantiated once per backend with a fresh imported memory.
//
// Four builds of the same kernels (asconfig.json): `simd` over a plain memory, and `threads`
// (SIMD + threads, `--sharedMemory`) over a shared memory that worker threads instantiate the
// module on too (pool.ts); the plain build is the fallback wherever SharedArrayBuffer or Wasm
// threads are unavailable (e.g. a page that is not cross-origin isolated). `relaxed` and
// `relaxed-threads` are the same two with relaxed SIMD enabled: the matmul's multiply-adds become
// f32x4.relaxed_madd (one FMA instruction where the CPU has it; wasm/matmul.ts). They are used
// wherever the host validates relaxed SIMD (Chrome ≥ 114, Deno, Node ≥ 22; Node 20 once
// platform/node.ts has set V8's --experimental-wasm-relaxed-simd), unless the caller asks for
// plain SIMD. Results differ from the plain builds by rounding only; within one flavour they are
// the same for any thread count, so the single-thread and shared builds are always picked in the
// same flavour.

import { kernelsRelaxed, kernelsRelaxedThreads, kernelsSimd, kernelsThreads } from '../../generated/wasm.ts';
import { relaxedSimdSupported } from './features.ts';

/** Weight dtype codes understood by the kernels (wasm/unpack.ts). */
export const DT_CODE = Object.freeze({ f32: 0, f16: 1, bf16: 2 } as const);

/** 64 KiB Wasm pages; 65536 of them (4 GiB) is the most a wasm32 memory can address. */
export const PAGE_BYTES = 65536;
export const MAX_PAGES = 65536;

// Pointers are byte offsets passed as JS numbers; offsets ≥ 2 GiB wrap to negative i32 on the way
// in, which the kernels read back as the same unsigned usize.
type P = number;

/** The kernel exports (wasm/index.ts). Ranges are [start, end) of rows / columns / elements. */
export interface Kernels {
  heapBase(): number;
  contrast(e: P, a: P, stats: P, ids: P, w: P, Ve: number, Va: number, n: number, alpha: number, K: number, r0: number, r1: number): void;
  packX(x: P, xp: P, K: number, n: number, perm: boolean, r0: number, r1: number): void;
  matmulF32(
    x: P,
    xp: P,
    w: P,
    bias: P,
    biasDt: number,
    out: P,
    scratch: P,
    K: number,
    N: number,
    n: number,
    r0: number,
    r1: number,
    c0: number,
    c1: number,
    strip: P,
    flags: number,
  ): void;
  matmulIlvF32(
    x: P,
    xp: P,
    w: P,
    bias: P,
    biasDt: number,
    out: P,
    scratch: P,
    K: number,
    N: number,
    n: number,
    r0: number,
    r1: number,
    c0: number,
    c1: number,
    strip: P,
    flags: number,
  ): void;
  matmulIlvF16(
    x: P,
    xp: P,
    w: P,
    bias: P,
    biasDt: number,
    out: P,
    scratch: P,
    K: number,
    N: number,
    n: number,
    r0: number,
    r1: number,
    c0: number,
    c1: number,
    strip: P,
    flags: number,
  ): void;
  matmulIlvBf16(
    x: P,
    xp: P,
    w: P,
    bias: P,
    biasDt: number,
    out: P,
    scratch: P,
    K: number,
    N: number,
    n: number,
    r0: number,
    r1: number,
    c0: number,
    c1: number,
    strip: P,
    flags: number,
  ): void;
  interleaveWeight(w: P, scratch: P, N: number, K: number, dt: number): void;
  packQ(x: P, xq: P, K: number, q4: boolean, r0: number, r1: number): void;
  qmatmulQ8(xq: P, w: P, bias: P, biasDt: number, out: P, K: number, N: number, r0: number, r1: number, c0: number, c1: number): void;
  qmatmulQ4(xq: P, w: P, bias: P, biasDt: number, out: P, K: number, N: number, r0: number, r1: number, c0: number, c1: number): void;
  qmatmulNNQ8(x: P, w: P, out: P, acc: P, N: number, K: number, accumulate: boolean, r0: number, r1: number, b0: number, b1: number): void;
  qmatmulNNQ4(x: P, w: P, out: P, acc: P, N: number, K: number, accumulate: boolean, r0: number, r1: number, b0: number, b1: number): void;
  deinterleaveWeight(w: P, dst: P, N: number, K: number, dt: number): void;
  embedding(ids: P, table: P, dt: number, ilv: boolean, V: number, out: P, H: number, scale: number, r0: number, r1: number): void;
  rmsNorm(x: P, w: P, dt: number, out: P, H: number, eps: number, r0: number, r1: number): void;
  rope(x: P, rows: P, invFreq: P, scratch: P, heads: number, headDim: number, r0: number, r1: number): void;
  kvWrite(k: P, v: P, kc: P, vc: P, rows: P, kvHeads: number, maxT: number, d: number, r0: number, r1: number): void;
  swiglu(g: P, u: P, out: P, i0: number, i1: number): void;
  geglu(g: P, u: P, out: P, i0: number, i1: number): void;
  addInPlace(x: P, y: P, i0: number, i1: number): void;
  gatherRows(x: P, index: P, out: P, H: number, j0: number, j1: number): void;
  softmax(x: P, out: P, V: number, r0: number, r1: number): void;
  argmax(x: P, out: P, V: number, r0: number, r1: number): void;
  attention(
    q: P,
    kc: P,
    vc: P,
    rows: P,
    out: P,
    scores: P,
    heads: number,
    kvHeads: number,
    maxT: number,
    d: number,
    scale: number,
    window: number,
    r0: number,
    r1: number,
  ): void;
  attentionGroups(
    q: P,
    kc: P,
    vc: P,
    rows: P,
    out: P,
    scores: P,
    heads: number,
    kvHeads: number,
    maxT: number,
    d: number,
    scale: number,
    window: number,
    i0: number,
    i1: number,
  ): void;
  attentionScratchFloats(heads: number, kvHeads: number, maxT: number): number;
  /** expv (wasm/expv.ts) on one value, for tests. */
  expOne(x: number): number;
  /** 96·iters flops on registers only (wasm/probe.ts), for the bench. */
  fmaPeak(iters: number, seed: number): number;
  /** Sums bytes [i0, i1) of x into out[0] (wasm/probe.ts): the bench's read-bandwidth probe. */
  readSum(x: P, out: P, i0: number, i1: number): void;
  /** 16·iters dependent 1-cycle integer ops (wasm/probe.ts): the bench's clock estimate. */
  clockChain(iters: number, seed: number): number;
  // training (wasm/train*.ts)
  matmulNNF32(x: P, w: P, ilv: boolean, out: P, scratch: P, N: number, K: number, acc: boolean, r0: number, r1: number, c0: number, c1: number): void;
  matmulNNF16(x: P, w: P, ilv: boolean, out: P, scratch: P, N: number, K: number, acc: boolean, r0: number, r1: number, c0: number, c1: number): void;
  matmulNNBf16(x: P, w: P, ilv: boolean, out: P, scratch: P, N: number, K: number, acc: boolean, r0: number, r1: number, c0: number, c1: number): void;
  matmulNNScratchBytes(): number;
  matmulTN(a: P, b: P, out: P, n: number, M: number, N: number, alpha: number, acc: boolean, m0: number, m1: number, c0: number, c1: number): void;
  fill(x: P, value: number, i0: number, i1: number): void;
  axpy(x: P, y: P, alpha: number, i0: number, i1: number): void;
  rmsNormBackward(x: P, w: P, dt: number, dy: P, dx: P, H: number, eps: number, r0: number, r1: number): void;
  swigluBackward(g: P, u: P, dy: P, dg: P, du: P, i0: number, i1: number): void;
  gegluBackward(g: P, u: P, dy: P, dg: P, du: P, i0: number, i1: number): void;
  ropeBackward(x: P, rows: P, invFreq: P, scratch: P, heads: number, headDim: number, r0: number, r1: number): void;
  scatterAddRows(x: P, index: P, out: P, H: number, j0: number, j1: number): void;
  softLabelLoss(z: P, ids: P, w: P, scale: number, loss: P, g: P, V: number, K: number, r0: number, r1: number): void;
  dropout(x: P, out: P, threshold: number, keep: number, seed: number, stream: number, i0: number, i1: number): void;
  sumSquares(x: P, i0: number, i1: number): number;
  adamw(
    p: P,
    g: P,
    m: P,
    v: P,
    gradScale: number,
    b1: number,
    b2: number,
    eps: number,
    decay: number,
    stepSize: number,
    sqrtBc2: number,
    i0: number,
    i1: number,
  ): void;
  attentionBackwardQ(
    q: P,
    kc: P,
    vc: P,
    rows: P,
    dOut: P,
    dq: P,
    stats: P,
    scratch: P,
    heads: number,
    kvHeads: number,
    maxT: number,
    d: number,
    scale: number,
    window: number,
    r0: number,
    r1: number,
  ): void;
  attentionBackwardKV(
    q: P,
    kc: P,
    vc: P,
    rows: P,
    rowAt: P,
    dOut: P,
    stats: P,
    dk: P,
    dv: P,
    heads: number,
    kvHeads: number,
    maxT: number,
    d: number,
    scale: number,
    window: number,
    r0: number,
    r1: number,
  ): void;
}

function decodeBase64(b64: string): Uint8Array<ArrayBuffer> {
  // atob exists in browsers, Deno and Node ≥ 16; the binary is small, so the string detour is cheap
  const s = atob(b64);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

type Flavour = 'simd' | 'relaxed';
const compiled = new Map<Flavour, Promise<WebAssembly.Module | null>>();
const compiledThreads = new Map<Flavour, Promise<WebAssembly.Module | null>>();

/** The single-memory build of a flavour, or null where this host cannot compile it. */
function compile(flavour: Flavour): Promise<WebAssembly.Module | null> {
  let m = compiled.get(flavour);
  if (!m) compiled.set(flavour, (m = WebAssembly.compile(decodeBase64(flavour === 'relaxed' ? kernelsRelaxed : kernelsSimd)).catch(() => null)));
  return m;
}

/** The shared-memory build of a flavour, or null where this host cannot compile it (no Wasm threads). */
function compileThreads(flavour: Flavour): Promise<WebAssembly.Module | null> {
  let m = compiledThreads.get(flavour);
  if (!m)
    compiledThreads.set(flavour, (m = WebAssembly.compile(decodeBase64(flavour === 'relaxed' ? kernelsRelaxedThreads : kernelsThreads)).catch(() => null)));
  return m;
}

/** A shared memory of up to maxPages, or null where SharedArrayBuffer is unavailable. */
function sharedMemory(maxPages: number): WebAssembly.Memory | null {
  if (typeof SharedArrayBuffer !== 'function' || typeof Atomics !== 'object') return null;
  try {
    return new WebAssembly.Memory({ initial: 1, maximum: maxPages, shared: true });
  } catch {
    return null;
  }
}

export interface Instance {
  kernels: Kernels;
  memory: WebAssembly.Memory;
  module: WebAssembly.Module;
  /** Whether this is the shared-memory (threads) build, which worker threads may instantiate too. */
  shared: boolean;
  /** Whether this is a relaxed-SIMD build (fused multiply-add in the matmul). */
  relaxed: boolean;
}

const abort = () => {
  throw new Error('wasm kernel abort');
};

/**
 * Instantiates the kernels over a fresh memory: the threads build over a shared memory when
 * `wantShared` and the host allows it, else the single-memory build; the relaxed-SIMD flavour of
 * either when `relaxed` (default: where the host supports it), falling back to plain SIMD.
 */
export async function instantiate(maxPages: number, wantShared = false, relaxed = relaxedSimdSupported()): Promise<Instance> {
  const flavours: Flavour[] = relaxed ? ['relaxed', 'simd'] : ['simd'];
  for (const flavour of flavours) {
    if (wantShared) {
      const [module, memory] = [await compileThreads(flavour), sharedMemory(maxPages)];
      if (module && memory) {
        try {
          const instance = await WebAssembly.instantiate(module, { env: { memory, abort } });
          return { kernels: instance.exports as unknown as Kernels, memory, module, shared: true, relaxed: flavour === 'relaxed' };
        } catch {
          // fall through to the single-memory build
        }
      }
    }
    const module = await compile(flavour);
    if (!module) continue;
    const memory = new WebAssembly.Memory({ initial: 1, maximum: maxPages });
    const instance = await WebAssembly.instantiate(module, { env: { memory, abort } });
    return { kernels: instance.exports as unknown as Kernels, memory, module, shared: false, relaxed: flavour === 'relaxed' };
  }
  throw new Error('the Wasm backend needs WebAssembly SIMD128 (could not compile kernels-simd.wasm)');
}
