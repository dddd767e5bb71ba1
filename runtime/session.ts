// One call that turns "a model directory and a backend choice" into a ready model: the common path
// for the CLI and for apps. The backend is created per model (each Wasm backend owns one memory).
// openModels opens several (the expert and amateur of a pair, or one model) and is the one place
// that decides which models share a backend: the sample and pair-check jobs, the run pipeline and
// the CLI all open their models through it (issue 26: the rule was written in 3 places).
import { type BackendChoice, createBackend } from './backend/index.ts';
import type { Backend, QuantDType } from './backend/types.ts';
import { quantizationPolicy, typeBytes } from './quant/index.ts';
import { quantizeOption } from './quant/option.ts';
import { type CausalLM, loadModel } from './model/model.ts';
import { indexCheckpoint, type LoadProgress, placementOf } from './model/weights.ts';
import { planShards, ShardedWasmBackend } from './backend/sharded.ts';
import { createWasmBackend, WasmBackend } from './backend/wasm/index.ts';
import type { Platform } from './platform/types.ts';
import { LightReasonerError } from './errors.ts';
import { sizeText } from './util/units.ts';

export interface OpenModelOptions {
  platform: Platform;
  backend?: BackendChoice;
  onProgress?: (p: LoadProgress) => void;
  signal?: AbortSignal;
  /** Told when an optional model file (generation_config.json, chat_template.jinja…) is taken as absent. */
  onWarning?: (message: string) => void;
  /** Quantize the model's attention and MLP projections at load: 'q8_0' or 'q4_0' (issue 30). */
  quantize?: QuantDType;
}

export async function openModel(dir: string, opts: OpenModelOptions): Promise<CausalLM> {
  const quantize = quantizeOption(opts.quantize, 'quantize');
  let backend = await createBackend(opts.backend ?? 'auto', opts.platform, { quantized: quantize !== undefined });
  try {
    backend = await shardIfNeeded(dir, backend, { ...opts, quantize });
    return await loadModel(dir, { fs: opts.platform.fs, backend, onProgress: opts.onProgress, signal: opts.signal, onWarning: opts.onWarning, quantize });
  } catch (e) {
    backend.destroy();
    throw e;
  }
}

export interface OpenModelsOptions extends Omit<OpenModelOptions, 'quantize'> {
  /** Per directory (same order), the block format to quantize that model to at load, or none. */
  quantize?: readonly (QuantDType | undefined)[];
  /** Wasm threads per model (default: the host's hardware concurrency). */
  threads?: number;
  /**
   * Wasm: weight bytes one memory takes before the model is spread over several (default: 85 % of
   * a memory's 4 GiB, the rest for KV caches and activations). Tests and benches set it small.
   */
  wasmShardBytes?: number;
}

export interface OpenedModels {
  /** The models, in the order of the directories. */
  models: CausalLM[];
  /** The backends they run on (one, or one per model): backends[0].info.kind is the run's backend. */
  backends: Backend[];
  /** Frees every backend (the models with them). */
  close(): void;
}

/**
 * Opens the models in `dirs` on the chosen backend. WebGPU and the reference share one backend
 * (a contrast needs both logits on one device, and one GPUDevice avoids a copy per step); Wasm
 * gives each model its own backend, so its own linear memory (4 GiB each at most) — the sampling
 * stage copies the amateur's logits rows over. On failure, what was opened is freed again.
 */
export async function openModels(dirs: readonly string[], opts: OpenModelsOptions): Promise<OpenedModels> {
  const backends: Backend[] = [];
  const models: CausalLM[] = [];
  const close = () => {
    for (const b of backends) b.destroy();
  };
  try {
    const quantize = dirs.map((_, i) => quantizeOption(opts.quantize?.[i], `quantize[${i}]`));
    for (const [i, dir] of dirs.entries()) {
      if (backends.length === 0)
        backends.push(await createBackend(opts.backend ?? 'auto', opts.platform, { threads: opts.threads, quantized: quantize.some((q) => q !== undefined) }));
      else if (backends[0].info.kind === 'wasm') backends.push(await createBackend('wasm', opts.platform, { threads: opts.threads }));
      backends[backends.length - 1] = await shardIfNeeded(dir, backends[backends.length - 1], { ...opts, quantize: quantize[i] });
      models.push(
        await loadModel(dir, {
          fs: opts.platform.fs,
          backend: backends[backends.length - 1],
          onProgress: opts.onProgress,
          signal: opts.signal,
          onWarning: opts.onWarning,
          quantize: quantize[i],
        }),
      );
    }
  } catch (e) {
    close();
    throw e;
  }
  return { models, backends, close };
}

/**
 * The Wasm backend keeps the weights in this process's RAM: refuse, before reading any, a model the
 * host cannot hold (it would otherwise swap for minutes or be killed), naming what would fit.
 */
function checkHostMemory(dir: string, weightBytes: number, platform: Platform): void {
  const available = platform.availableMemory?.();
  // 10 % over the weights: the KV cache, activations, one tensor in flight while loading.
  if (available === undefined || weightBytes * 1.1 <= available) return;
  throw new LightReasonerError(
    'ENVIRONMENT',
    `${dir}: the model's weights take ${sizeText(weightBytes)}, but this machine has ${sizeText(available)} of memory available (the Wasm backend holds the weights in RAM) — use a model of at most about ${sizeText(available / 1.1)} (a smaller one, or a 16-bit copy of an f32 checkpoint), close other programs, or use --backend webgpu on a GPU with enough memory`,
    { file: dir },
  );
}

/** Share of a Wasm memory given to weights by default; the rest holds KV caches, activations, scratch. */
const WEIGHT_SHARE = 0.85;

/**
 * A Wasm backend for the model in `dir`: `single` when the weights fit one memory, else a
 * ShardedWasmBackend over enough memories (issue 29), each layer whole in one of them. Reads only
 * the checkpoint's headers.
 */
export async function shardIfNeeded(
  dir: string,
  single: Backend,
  opts: Omit<OpenModelOptions, 'quantize'> & { wasmShardBytes?: number; quantize?: QuantDType },
): Promise<Backend> {
  if (!(single instanceof WasmBackend)) return single;
  const capacity = opts.wasmShardBytes ?? Math.floor((single.info.limits.maxMemoryBytes ?? 2 ** 32) * WEIGHT_SHARE);
  const entries = await indexCheckpoint(opts.platform.fs, dir);
  const layerBytes: number[] = [];
  let embed = 0,
    head = 0;
  for (const [name, e] of entries) {
    const g = placementOf(name);
    // what the backend will hold: quantized projections take their block format's bytes
    const bytes = opts.quantize && quantizationPolicy(name, e.shape) ? typeBytes(opts.quantize, e.shape[0] * e.shape[1]) : e.byteLength;
    if (g === null) embed += bytes;
    else if (g === 'head') head += bytes;
    else layerBytes[g] = (layerBytes[g] ?? 0) + bytes;
  }
  const total = embed + head + layerBytes.reduce((a, b) => a + (b ?? 0), 0);
  checkHostMemory(dir, total, opts.platform);
  if (total <= capacity) return single;
  const plan = planShards(
    Array.from(layerBytes, (b) => b ?? 0),
    embed,
    head,
    capacity,
  );
  const count = Math.max(plan.head, ...plan.layers) + 1;
  const parts: WasmBackend[] = [single];
  try {
    while (parts.length < count)
      parts.push((await createWasmBackend({ threads: single.threads, maxMemoryPages: single.info.limits.maxMemoryPages })) as WasmBackend);
  } catch (e) {
    for (const p of parts) p.destroy();
    throw e;
  }
  return new ShardedWasmBackend(parts, plan);
}
