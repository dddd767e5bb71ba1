// Builds and runs gpu.js kernels: one per (kernel, constants, argument kinds), built on first use
// and reused with a new output size (dynamicOutput) and new argument textures (dynamicArguments).
// Every kernel is checked to really be gpu.js's WebGL2Kernel in single precision: gpu.js falls
// back to its CPU kernel (or to 8-bit "unsigned" precision) silently when WebGL2 or float render
// targets fail, which would be slow and, for unsigned, wrong; this backend refuses instead.
//
// A kernel is never given its own current output texture as an argument (an in-place op such as
// x += y, run twice on the same x): gpu.js then swaps in the texture of an earlier call, which
// after a dynamic-output resize has the old size, and the new rows are lost. Such a call runs on a
// second instance of the kernel instead (its output is a different texture).

import { LightReasonerError } from '../../errors.ts';
import type { GpuInstance, GpuJsModule, GpuKernelRun, GpuTexture } from './gpujs.ts';
import { RawTexture } from './textures.ts';

export type KernelArg = GpuTexture | Float32Array | number;

interface Entry {
  run: GpuKernelRun;
  output: string;
}

/** The output texture gpu.js renders into next (its `texture` property), if built. */
function currentOutput(e: Entry): WebGLTexture | undefined {
  return (e.run.kernel as { texture?: { texture?: WebGLTexture } } | undefined)?.texture?.texture;
}

export class Runner {
  private readonly cache = new Map<string, Entry>();
  /** Kernel launches so far (benches and tests read it). */
  launches = 0;

  constructor(
    private readonly gpu: GpuInstance,
    private readonly lib: GpuJsModule,
    private readonly maxTextureSize: number,
  ) {}

  /** Shaders compiled so far; repeated ops of the same shapes must not add any. */
  get kernelCount(): number {
    return this.cache.size;
  }

  run(name: string, source: string, constants: Record<string, number>, output: readonly [number, number, number], args: KernelArg[]): GpuTexture {
    if (output[0] * output[1] * output[2] === 0) throw new RangeError(`${name}: empty output [${output}]`);
    // gpu.js renders [x, y, 1] as an x × y texture (anything else near-square): refuse what
    // WebGL2 cannot allocate here rather than render nothing
    const max = this.maxTextureSize;
    if (output[2] === 1 && output[1] > 1 && (output[0] > max || output[1] > max)) {
      throw new RangeError(`webgl2: ${name} would need a [${output[0]}, ${output[1]}] texture, over this WebGL2's ${max}; use --backend wasm`);
    }
    const e = this.entry(name, source, constants, output, args);
    let tex: GpuTexture;
    try {
      tex = e.run(...args);
    } catch (err) {
      throw new Error(`WebGL2 kernel ${name} failed: ${(err as Error)?.message ?? err}`, { cause: err });
    }
    this.launches++;
    // every call, not once: gpu.js may swap a shortcut's kernel later (an argument of another kind)
    this.verify(name, e.run);
    return tex;
  }

  /** The cached kernel for these constants and argument kinds whose output is none of the inputs
   * (instance 0, else 1, …: one more than the inputs at worst), sized for `output`. */
  private entry(name: string, source: string, constants: Record<string, number>, output: readonly [number, number, number], args: KernelArg[]): Entry {
    const base = `${name}|${JSON.stringify(constants)}|${args.map(kind).join(',')}`;
    const inputs = args.filter((a): a is GpuTexture => typeof a === 'object' && !(a instanceof Float32Array)).map((a) => a.texture);
    let key = base;
    let e = this.cache.get(key);
    for (let i = 1; e && inputs.includes(currentOutput(e) as WebGLTexture); i++) {
      key = `${base}|${i}`;
      e = this.cache.get(key);
    }
    if (e) {
      if (e.output !== output.join()) {
        e.run.setOutput([...output]);
        e.output = output.join();
      }
      return e;
    }
    const constantTypes: Record<string, 'Integer'> = {};
    for (const c of Object.keys(constants)) constantTypes[c] = 'Integer';
    const run = this.gpu.createKernel(source, {
      output: [...output],
      constants,
      constantTypes,
      pipeline: true,
      immutable: true,
      precision: 'single',
      tactic: 'precision',
      dynamicOutput: true,
      dynamicArguments: true,
      optimizeFloatMemory: false,
    });
    e = { run, output: output.join() };
    this.cache.set(key, e);
    return e;
  }

  private verify(name: string, run: GpuKernelRun): void {
    const k = run.kernel;
    if (!k || !(k instanceof this.lib.WebGL2Kernel) || k.precision !== 'single') {
      const what = k ? `${(k as object).constructor?.name ?? 'unknown'} (precision ${(k as { precision?: string }).precision})` : 'no kernel';
      throw new LightReasonerError(
        'BACKEND_UNAVAILABLE',
        `webgl2: gpu.js ran kernel ${name} as ${what}, not as a single-precision WebGL2 kernel (it falls back silently when WebGL2 or float textures fail); use --backend wasm`,
      );
    }
  }

  destroy(): void {
    for (const e of this.cache.values()) {
      try {
        e.run.destroy(false);
      } catch {
        // a kernel of a lost context cannot be destroyed cleanly; the context goes anyway
      }
    }
    this.cache.clear();
  }
}

/** What distinguishes arguments for gpu.js's compiled kernel: getter type and texture class. */
function kind(a: KernelArg): string {
  if (typeof a === 'number') return 'n';
  if (a instanceof Float32Array) return 'a';
  return `${a instanceof RawTexture ? 'raw' : 'out'}:${a.type}`;
}
