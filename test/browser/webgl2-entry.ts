// Browser side of test/webgl2.test.ts: bundled by esbuild, loaded in headless Chromium, where
// gpu.js comes from the page's import map (the backend's own lazy import, as an app would get it).

import { createBackend } from '../../runtime/backend/index.ts';
import type { Backend } from '../../runtime/backend/types.ts';
import { browserPlatform } from '../../runtime/platform/browser.ts';
import { type Check, checkModelParity } from '../portable/model-parity.ts';
import { checkWebGL2Ops } from './webgl2-ops.ts';
import { checkSampling, type SamplingOptions } from './webgl2-sampling.ts';

const fixtures = () => new URL('/fixtures', location.href).href;
const webgl2 = (): Promise<Backend> => createBackend('webgl2', browserPlatform);

async function collect(what: string, body: (log: (c: Check) => void) => Promise<void>): Promise<Check[]> {
  const results: Check[] = [];
  try {
    await body((c) => results.push(c));
  } catch (e) {
    results.push({ name: `${what} threw`, ok: false, detail: String((e as Error)?.stack ?? e) });
  }
  return results;
}

const api = {
  /** info of an explicit webgl2 backend and of `auto`, with whether WebGPU has an adapter here, and
   * what createWeight says to a q8_0 weight. */
  async choice() {
    const b = await webgl2();
    const info = { ...b.info };
    // issue 30: no WebGL2 kernel reads q8_0 / q4_0 blocks, so a block weight is refused by name
    let quantized = 'accepted';
    try {
      b.dispose(b.createWeight('q8_0', [1, 32], new Uint8Array(34)));
    } catch (e) {
      quantized = String((e as Error).message);
    }
    b.destroy();
    const auto = await createBackend('auto', browserPlatform, { threads: 1 });
    const autoInfo = { ...auto.info };
    auto.destroy();
    // issue 30: a caller that will load quantized weights never gets WebGL2 from auto
    const autoQ = await createBackend('auto', browserPlatform, { threads: 1, quantized: true });
    const autoQuantized = { ...autoQ.info };
    autoQ.destroy();
    const gpu = (navigator as Navigator & { gpu?: GPU }).gpu;
    const adapter = gpu ? await gpu.requestAdapter().catch(() => null) : null;
    return { webgl2: info, auto: autoInfo, autoQuantized, webgpuAdapter: !!adapter, quantized };
  },
  /** gpu.js forced onto its CPU kernels (what it falls back to silently when WebGL2 fails; with a
   * context given it would always pick WebGL2, so the subclass drops it): the backend must refuse. */
  async cpuFallback() {
    (await webgl2()).destroy(); // loads gpu.js through the import map: globalThis.GPU is now gpu.js's
    const Base = (globalThis as unknown as { GPU: new (s: Record<string, unknown>) => object }).GPU;
    class CpuGPU extends Base {
      constructor(settings: Record<string, unknown>) {
        super({ mode: 'cpu', nativeFunctions: settings.nativeFunctions });
      }
    }
    try {
      const b = await createBackend('webgl2', browserPlatform, { gpujs: CpuGPU as never });
      b.destroy();
      return { code: 'none', message: 'created a backend on CPU kernels' };
    } catch (e) {
      return { code: (e as { code?: string }).code ?? 'none', message: String((e as Error).message) };
    }
  },
  runOps: () =>
    collect('ops', async (log) => {
      const b = await webgl2();
      try {
        await checkWebGL2Ops(b, (name, ok, detail) => log({ name, ok, detail }));
      } finally {
        b.destroy();
      }
    }),
  runParity: (models?: string[]) =>
    collect('parity', (log) => checkModelParity({ platform: browserPlatform, backend: 'webgl2', fixtures: fixtures(), models }, log)),
  runSampling: (o: SamplingOptions) => collect('sampling', (log) => checkSampling(webgl2, fixtures(), o, log)),
};

(globalThis as unknown as { webgl2Tests: typeof api }).webgl2Tests = api;
