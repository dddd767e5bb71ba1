// Backend selection. `auto` takes WebGPU when the host has a hardware adapter, else Wasm: a
// software adapter (SwiftShader, lavapipe, llvmpipe, WARP — what a GPU-less machine or a
// blocklisted GPU gets) runs the kernels on the CPU through a shader emulator, about 100× slower
// than the Wasm kernels, so `auto` passes over it and says so in `info.note`; ask for `webgpu` to
// use it anyway (tests do, to run the WGSL kernels without a GPU). In a browser without a usable
// WebGPU adapter `auto` then tries WebGL2 (gpu.js) on a hardware renderer before Wasm; a software
// WebGL2 renderer is passed over the same way (ask for webgl2 to use it), and so is WebGL2 when the
// caller will load quantized weights (options.quantized: no WebGL2 kernel reads the blocks).
import { LightReasonerError } from '../errors.ts';
import type { Platform } from '../platform/types.ts';
import { ReferenceBackend } from './reference.ts';
import type { Backend } from './types.ts';
import { createWasmBackend } from './wasm/index.ts';
import { createWebGL2Backend, type GpuJsSource, probeWebGL2 } from './webgl2/index.ts';
import { createWebGPUBackend, WEBGPU_ADVICE, WebGPUUnavailableError } from './webgpu/index.ts';

export type BackendChoice = 'auto' | 'webgpu' | 'wasm' | 'reference' | 'webgl2';
/** webgl2 comes last so that the existing order (and messages listing it) stays as it was. */
export const BACKEND_CHOICES: readonly BackendChoice[] = ['auto', 'webgpu', 'wasm', 'reference', 'webgl2'];

export interface BackendOptions {
  /** Wasm: threads for the heavy kernels (default: the host's hardware concurrency). */
  threads?: number;
  /** WebGL2: gpu.js's GPU class or a loader (`() => import('gpu.js')`) for bundled apps; default:
   * `globalThis.GPU`, then an import of 'gpu.js' through the page's import map. */
  gpujs?: GpuJsSource;
  /** The caller will load block-quantized (q8_0 / q4_0) weights: `auto` passes over a backend
   * without kernels for them (WebGL2) rather than pick one that refuses them at load. */
  quantized?: boolean;
}

const SOFTWARE_GPU = /swiftshader|lavapipe|llvmpipe|softpipe|microsoft basic render|\bwarp\b|software/i;

/** The adapter's name when it is a software (CPU-emulated) GPU, else null. */
export function softwareAdapterName(adapter: GPUAdapter): string | null {
  const a = adapter as GPUAdapter & { isFallbackAdapter?: boolean; info?: GPUAdapterInfo & { isFallbackAdapter?: boolean } };
  const info = a.info;
  const fields = [info?.description, info?.vendor, info?.architecture, info?.device].filter(Boolean).join(' ');
  const name = info?.description || fields || 'unnamed adapter';
  if (a.isFallbackAdapter || info?.isFallbackAdapter) return name;
  return SOFTWARE_GPU.test(fields) ? name : null;
}

export async function createBackend(choice: BackendChoice, platform: Platform, options: BackendOptions = {}): Promise<Backend> {
  if (!BACKEND_CHOICES.includes(choice)) {
    throw new LightReasonerError('BAD_INPUT', `unknown backend "${choice}" (choose one of ${BACKEND_CHOICES.join(', ')})`);
  }
  if (options.threads !== undefined && (!Number.isInteger(options.threads) || options.threads < 1)) {
    throw new LightReasonerError('BAD_INPUT', `threads must be a whole number ≥ 1, got ${options.threads}`);
  }
  if (choice === 'reference') return new ReferenceBackend();
  if (choice === 'wasm') return createWasmBackend({ threads: options.threads });
  if (choice === 'webgl2') return createWebGL2Backend(platform, { gpujs: options.gpujs });
  const gpu = await platform.getGPU();
  const noGPU = gpu ? undefined : platform.whyNoGPU?.();
  const advice = (gpu ? undefined : platform.noGPUAdvice?.()) ?? WEBGPU_ADVICE;
  if (choice === 'auto') {
    const adapter = gpu ? await gpu.requestAdapter().catch(() => null) : null;
    const software = adapter ? softwareAdapterName(adapter) : null;
    const why = noGPU
      ? `auto: WebGPU has no adapter here (${noGPU}); ${advice}`
      : !gpu
        ? `auto: no WebGPU in this ${platform.name} runtime`
        : !adapter
          ? 'auto: WebGPU has no adapter here'
          : software
            ? `auto: the WebGPU adapter is a software GPU (${software}), slower than Wasm; ask for webgpu to use it anyway`
            : null;
    if (why)
      return platform.name === 'browser' ? autoWithoutWebGPU(why, platform, options) : createWasmBackend({ threads: options.threads, chosenBecause: why });
  }
  if (noGPU) throw new WebGPUUnavailableError(`no WebGPU adapter (${noGPU}). To use WebGPU, ${advice}; or use --backend wasm (or auto)`);
  if (!gpu) {
    throw new LightReasonerError('BACKEND_UNAVAILABLE', `WebGPU is not available in this ${platform.name} runtime; use --backend wasm (or auto)`);
  }
  return createWebGPUBackend(gpu);
}

/** A browser's `auto` when WebGPU is out: WebGL2 on a hardware renderer, else Wasm, saying why. */
async function autoWithoutWebGPU(why: string, platform: Platform, options: BackendOptions): Promise<Backend> {
  if (options.quantized) return createWasmBackend({ threads: options.threads, chosenBecause: `${why}; WebGL2 has no kernels for quantized weights` });
  const gl = probeWebGL2();
  let because = !gl.ok
    ? `${why}; ${gl.why}`
    : gl.software
      ? `${why}; the WebGL2 renderer is software (${gl.renderer}), slower than Wasm; ask for webgl2 to use it anyway`
      : null;
  if (gl.ok && !because) {
    try {
      return await createWebGL2Backend(platform, { gpujs: options.gpujs, chosenBecause: `${why}; WebGL2 on a hardware renderer (${gl.renderer})` });
    } catch (e) {
      because = `${why}; WebGL2 is there (${gl.renderer}) but ${(e as Error).message}`;
    }
  }
  return createWasmBackend({ threads: options.threads, chosenBecause: because ?? why });
}

export type { Backend, BackendInfo, Tensor } from './types.ts';
