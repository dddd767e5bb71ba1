// The slice of gpu.js (https://gpu.rocks, 2.24) this backend uses, typed structurally so that no
// type of ours refers to the package: gpu.js is an optional peer dependency, and consumers who
// never ask for webgl2 install neither it nor what it pulls in (webgpu@0.2.9's Dawn binaries, the
// native `gl` module). It is loaded lazily, in browsers only, by loadGpuJs.

/** A texture gpu.js can bind as a kernel argument: its own outputs, or the raw weight textures of
 * textures.ts (gpu.js reads `type` to pick the GLSL getter, `size`/`output` for the addressing). */
export interface GpuTexture {
  readonly texture: WebGLTexture;
  readonly size: readonly number[];
  readonly output: readonly number[];
  readonly type: string;
  delete(): void;
}

/** What gpu.js's createKernel returns (a callable "run shortcut"). */
export interface GpuKernelRun {
  (...args: unknown[]): GpuTexture;
  /** The kernel instance behind the shortcut: must be a WebGL2Kernel, not the silent CPU fallback. */
  readonly kernel: { readonly precision?: string; readonly compiledFragmentShader?: string } | undefined;
  setOutput(output: number[]): GpuKernelRun;
  destroy(removeCanvasReferences?: boolean): void;
}

export interface GpuKernelSettings {
  output: number[];
  constants?: Record<string, number>;
  constantTypes?: Record<string, 'Integer' | 'Float'>;
  pipeline: true;
  immutable: true;
  precision: 'single';
  tactic: 'precision';
  dynamicOutput: true;
  dynamicArguments: true;
  optimizeFloatMemory?: boolean;
}

export interface GpuInstance {
  readonly mode: string;
  createKernel(source: string, settings: GpuKernelSettings): GpuKernelRun;
  destroy(): Promise<void> | void;
}

export interface GpuNativeFunction {
  name: string;
  source: string;
  returnType?: string;
}

/** The GPU class (the module's default export, or `globalThis.GPU` after a <script> tag). */
export interface GpuJsModule {
  new (settings: { mode: 'webgl2'; canvas: unknown; context: WebGL2RenderingContext; nativeFunctions?: GpuNativeFunction[] }): GpuInstance;
  readonly WebGL2Kernel: abstract new (...args: never[]) => unknown;
}

/** True for gpu.js's GPU class (Chrome's native `GPU` WebGPU interface has no createKernel). */
function isGpuJs(x: unknown): x is GpuJsModule {
  const p = (x as { prototype?: { createKernel?: unknown } } | null)?.prototype;
  return typeof x === 'function' && typeof p?.createKernel === 'function' && typeof (x as { WebGL2Kernel?: unknown }).WebGL2Kernel === 'function';
}

/**
 * Where gpu.js comes from, in order: a module or loader given to createBackend; `globalThis.GPU`
 * (a <script src=".../gpu-browser.js"> tag, or an app that imported gpu.js itself); a dynamic
 * import of the bare specifier 'gpu.js', resolved by the page's import map. The specifier is a
 * variable on purpose: a literal would make every bundler of this package resolve gpu.js, so
 * consumers who never use webgl2 would have to install it (or mark it external).
 */
export type GpuJsSource = GpuJsModule | (() => Promise<unknown>);

const SPECIFIER = 'gpu.js';

export async function loadGpuJs(given?: GpuJsSource): Promise<GpuJsModule> {
  if (given && isGpuJs(given)) return given;
  const candidates: unknown[] = [];
  if (typeof given === 'function') candidates.push(await given());
  candidates.push((globalThis as { GPU?: unknown }).GPU);
  for (const c of candidates) {
    const found = pick(c);
    if (found) return found;
  }
  let mod: unknown;
  try {
    mod = await import(/* webpackIgnore: true */ /* @vite-ignore */ SPECIFIER);
  } catch (e) {
    throw new Error(`gpu.js could not be loaded (${(e as Error)?.message ?? e})`);
  }
  // gpu-browser.js is UMD: imported as a module it has no exports but defines globalThis.GPU.
  const found = pick(mod) ?? pick((globalThis as { GPU?: unknown }).GPU);
  if (!found) throw new Error('gpu.js loaded, but neither its default export nor globalThis.GPU is its GPU class');
  return found;
}

function pick(x: unknown): GpuJsModule | null {
  if (isGpuJs(x)) return x;
  const m = x as { default?: unknown; GPU?: unknown } | null;
  if (m && typeof m === 'object') {
    if (isGpuJs(m.default)) return m.default;
    if (isGpuJs(m.GPU)) return m.GPU;
  }
  return null;
}
