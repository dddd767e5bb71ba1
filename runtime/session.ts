// One call that turns "a model directory and a backend choice" into a ready model: the common path
// for the CLI and for apps. The backend is created per model (each Wasm backend owns one memory).
import { type BackendChoice, createBackend } from './backend/index.ts';
import { type CausalLM, loadModel } from './model/model.ts';
import type { LoadProgress } from './model/weights.ts';
import type { Platform } from './platform/types.ts';

export interface OpenModelOptions {
  platform: Platform;
  backend?: BackendChoice;
  onProgress?: (p: LoadProgress) => void;
  signal?: AbortSignal;
  /** Told when an optional model file (generation_config.json, chat_template.jinja…) is taken as absent. */
  onWarning?: (message: string) => void;
}

export async function openModel(dir: string, opts: OpenModelOptions): Promise<CausalLM> {
  const backend = await createBackend(opts.backend ?? 'auto', opts.platform);
  try {
    return await loadModel(dir, { fs: opts.platform.fs, backend, onProgress: opts.onProgress, signal: opts.signal, onWarning: opts.onWarning });
  } catch (e) {
    backend.destroy();
    throw e;
  }
}
