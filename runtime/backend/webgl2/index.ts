// Entry point of the WebGL2 backend: for browsers that have WebGL2 but no WebGPU (Firefox before
// 141, older Safari, many Android devices), the forward pass and stage 1 run on the GPU through
// gpu.js instead of on the CPU in Wasm. Browser only: in Node and Deno gpu.js would need the
// native headless-gl module, and those runtimes have WebGPU (Dawn / wgpu) or Wasm anyway.
//
// gpu.js is an optional peer dependency, loaded only here (gpujs.ts says from where). A software
// renderer (SwiftShader, llvmpipe — what a GPU-less machine or a blocklisted GPU gets) runs the
// shaders on the CPU far slower than the Wasm kernels: `auto` passes over it (probeWebGL2 tells
// it), an explicit `webgl2` uses it and says so in info.note.

import { LightReasonerError } from '../../errors.ts';
import type { Platform } from '../../platform/types.ts';
import type { Backend, BackendInfo } from '../types.ts';
import { WebGL2Backend } from './backend.ts';
import { type GpuJsModule, type GpuJsSource, loadGpuJs } from './gpujs.ts';
import { NATIVE } from './kernels.ts';

export { WebGL2Backend } from './backend.ts';
export type { GpuJsSource } from './gpujs.ts';

/** The same names softwareAdapterName (backend/index.ts) recognises for WebGPU adapters. */
const SOFTWARE_RENDERER = /swiftshader|lavapipe|llvmpipe|softpipe|microsoft basic render|\bwarp\b|software/i;

const CONTEXT: WebGLContextAttributes = {
  alpha: true,
  antialias: false,
  depth: false,
  stencil: false,
  premultipliedAlpha: false,
  preserveDrawingBuffer: false,
  powerPreference: 'high-performance',
};

export interface WebGL2Options {
  /** gpu.js's GPU class, or a loader such as `() => import('gpu.js')` (default: gpujs.ts's order). */
  gpujs?: GpuJsSource;
  /** Why this backend was picked (createBackend's `auto`), kept in `info.note`. */
  chosenBecause?: string;
}

export type WebGL2Probe = { ok: true; renderer: string; software: boolean; maxTextureSize: number } | { ok: false; why: string };

function canvas(): HTMLCanvasElement | OffscreenCanvas | null {
  if (typeof document !== 'undefined' && typeof document.createElement === 'function') return document.createElement('canvas');
  if (typeof OffscreenCanvas !== 'undefined') return new OffscreenCanvas(1, 1);
  return null;
}

/** The renderer's name: WEBGL_debug_renderer_info's unmasked one where the browser gives it. */
function rendererName(gl: WebGL2RenderingContext): string {
  const ext = gl.getExtension('WEBGL_debug_renderer_info');
  const name = ext ? gl.getParameter(ext.UNMASKED_RENDERER_WEBGL) : gl.getParameter(gl.RENDERER);
  return String(name || 'unknown WebGL2 renderer');
}

function openContext(): { c: HTMLCanvasElement | OffscreenCanvas; gl: WebGL2RenderingContext } | string {
  const c = canvas();
  if (!c) return 'no canvas in this browser context';
  const gl = (c as HTMLCanvasElement).getContext('webgl2', CONTEXT) as WebGL2RenderingContext | null;
  if (!gl) return 'this browser has no WebGL2 (or it is disabled)';
  // single-precision render targets: without them gpu.js would silently drop to 8-bit outputs
  if (!gl.getExtension('EXT_color_buffer_float')) {
    gl.getExtension('WEBGL_lose_context')?.loseContext();
    return 'WebGL2 here cannot render to float textures (no EXT_color_buffer_float)';
  }
  return { c, gl };
}

/** What `auto` needs to know, without loading gpu.js: is there WebGL2, and on what renderer. */
export function probeWebGL2(): WebGL2Probe {
  const opened = openContext();
  if (typeof opened === 'string') return { ok: false, why: opened };
  const { gl } = opened;
  const renderer = rendererName(gl);
  const maxTextureSize = gl.getParameter(gl.MAX_TEXTURE_SIZE) as number;
  gl.getExtension('WEBGL_lose_context')?.loseContext();
  return { ok: true, renderer, software: SOFTWARE_RENDERER.test(renderer), maxTextureSize };
}

const unavailable = (message: string, cause?: unknown) => new LightReasonerError('BACKEND_UNAVAILABLE', message, { cause });

export async function createWebGL2Backend(platform: Platform, options: WebGL2Options = {}): Promise<Backend> {
  if (platform.name !== 'browser')
    throw unavailable(`webgl2 needs a browser (gpu.js needs headless-gl in ${platform.name === 'deno' ? 'Deno' : 'Node'}); use wasm`);
  const opened = openContext();
  if (typeof opened === 'string') throw unavailable(`webgl2: ${opened}; use --backend wasm`);
  const { c, gl } = opened;
  let lib: GpuJsModule;
  try {
    lib = await loadGpuJs(options.gpujs);
  } catch (e) {
    gl.getExtension('WEBGL_lose_context')?.loseContext();
    throw unavailable(
      `webgl2: ${(e as Error).message}. Install the optional peer dependency (npm install gpu.js) and load it: a <script> of gpu.js/dist/gpu-browser.js, an import map entry for "gpu.js", or createBackend('webgl2', platform, { gpujs: () => import('gpu.js') })`,
      e,
    );
  }
  const gpu = new lib({ mode: 'webgl2', canvas: c, context: gl, nativeFunctions: NATIVE });
  const renderer = rendererName(gl);
  const software = SOFTWARE_RENDERER.test(renderer);
  const maxTextureSize = gl.getParameter(gl.MAX_TEXTURE_SIZE) as number;
  const notes = [options.chosenBecause, software ? `the WebGL2 renderer is software (${renderer}), slower than wasm: asked for explicitly` : undefined].filter(
    Boolean,
  );
  const info: BackendInfo = Object.freeze({
    kind: 'webgl2' as const,
    device: `WebGL2 ${renderer} (gpu.js)`,
    features: Object.freeze([
      'EXT_color_buffer_float',
      'packed-16-bit-weights',
      ...['OES_texture_float_linear', 'EXT_float_blend'].filter((e) => gl.getSupportedExtensions()?.includes(e)),
    ]),
    limits: Object.freeze({
      maxTextureSize,
      maxTextureImageUnits: gl.getParameter(gl.MAX_TEXTURE_IMAGE_UNITS) as number,
      maxActivationElements: 2 ** 24,
    }),
    ...(notes.length ? { note: notes.join('; ') } : {}),
  });
  const backend = new WebGL2Backend({ gl, gpu, lib, info, maxTextureSize });
  try {
    await selfCheck(backend);
  } catch (e) {
    backend.destroy();
    if (e instanceof LightReasonerError) throw e;
    throw unavailable(`webgl2: the GPU did not compute a test kernel correctly (${(e as Error).message}); use --backend wasm`, e);
  }
  return backend;
}

/** One upload, one kernel with a native helper, one readback: catches the CPU fallback (Runner
 * checks the kernel class) and a driver that renders garbage, before a model is loaded. */
async function selfCheck(b: WebGL2Backend): Promise<void> {
  const x = b.createTensor('f32', [3], Float32Array.of(1.5, -2, 1e-30));
  const w = b.createWeight('bf16', [2, 3], new Uint8Array(Uint16Array.of(0x3f80, 0x4000, 0, 0xbf80, 0, 0x3f00).buffer));
  const out = b.createTensor('f32', [1, 2]);
  try {
    b.matmul(b.view(x, [1, 3]), w, null, out);
    const got = (await b.read(out)) as Float32Array;
    if (got[0] !== -2.5 || got[1] !== -1.5) throw new Error(`expected [-2.5, -1.5], got [${Array.from(got)}]`);
  } finally {
    for (const t of [x, w, out]) b.dispose(t);
  }
}
