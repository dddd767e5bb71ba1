// Loading the kernel module: the binary is embedded as base64 by scripts/embed-assets.mjs (no file
// or network I/O, so the same code runs in Node, Deno and browsers), compiled once per process and
// instantiated once per backend with a fresh imported memory.

import { kernelsSimd } from '../../generated/wasm.ts';

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
  packX(x: P, xp: P, K: number, r0: number, r1: number): void;
  matmulF32(x: P, w: P, bias: P, biasDt: number, out: P, K: number, N: number, r0: number, r1: number, c0: number, c1: number): void;
  matmulF16(x: P, w: P, bias: P, biasDt: number, out: P, K: number, N: number, r0: number, r1: number, c0: number, c1: number): void;
  matmulBf16(x: P, w: P, bias: P, biasDt: number, out: P, K: number, N: number, r0: number, r1: number, c0: number, c1: number): void;
  embedding(ids: P, table: P, dt: number, out: P, H: number, r0: number, r1: number): void;
  rmsNorm(x: P, w: P, dt: number, out: P, H: number, eps: number, r0: number, r1: number): void;
  rope(x: P, rows: P, invFreq: P, scratch: P, heads: number, headDim: number, r0: number, r1: number): void;
  kvWrite(k: P, v: P, kc: P, vc: P, rows: P, kvHeads: number, maxT: number, d: number, r0: number, r1: number): void;
  swiglu(g: P, u: P, out: P, i0: number, i1: number): void;
  addInPlace(x: P, y: P, i0: number, i1: number): void;
  gatherRows(x: P, index: P, out: P, H: number, j0: number, j1: number): void;
  softmax(x: P, out: P, V: number, r0: number, r1: number): void;
  argmax(x: P, out: P, V: number, r0: number, r1: number): void;
  attention(q: P, kc: P, vc: P, rows: P, out: P, scores: P, heads: number, kvHeads: number, maxT: number, d: number, scale: number, r0: number, r1: number): void;
}

function decodeBase64(b64: string): Uint8Array<ArrayBuffer> {
  // atob exists in browsers, Deno and Node ≥ 16; the binary is small, so the string detour is cheap
  const s = atob(b64);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

let compiled: Promise<WebAssembly.Module> | null = null;

function compile(): Promise<WebAssembly.Module> {
  compiled ??= WebAssembly.compile(decodeBase64(kernelsSimd)).catch((e: unknown) => {
    compiled = null;
    throw new Error('the Wasm backend needs WebAssembly SIMD128 (could not compile kernels-simd.wasm)', { cause: e });
  });
  return compiled;
}

export interface Instance {
  kernels: Kernels;
  memory: WebAssembly.Memory;
}

export async function instantiate(maxPages: number): Promise<Instance> {
  const module = await compile();
  const memory = new WebAssembly.Memory({ initial: 1, maximum: maxPages });
  const abort = () => {
    throw new Error('wasm kernel abort');
  };
  const instance = await WebAssembly.instantiate(module, { env: { memory, abort } });
  return { kernels: instance.exports as unknown as Kernels, memory };
}
