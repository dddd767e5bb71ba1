// What every job shares: the context an engine gives it (platform, cancellation), the backend
// options, the warning event, the check of an output path, and the opening and freeing of models.
// Its own module so that jobs.ts and benchmark-job.ts both use it without importing each other.
import type { BackendChoice } from '../backend/index.ts';
import type { Backend, QuantDType } from '../backend/types.ts';
import { pairQuantize, quantizeOption } from '../quant/option.ts';
import { badInputError } from '../errors.ts';
import type { CausalLM } from '../model/model.ts';
import type { LoadProgress } from '../model/weights.ts';
import { isUrl } from '../platform/browser.ts';
import type { Platform } from '../platform/types.ts';
import { openModels } from '../session.ts';

export interface BackendJob {
  backend?: BackendChoice;
  /** Wasm threads per model (default: the host's hardware concurrency). */
  threads?: number;
  /** Quantize every model the job loads to this block format at load: 'q8_0' or 'q4_0' (issue 30). */
  quantize?: QuantDType;
}

export interface JobContext {
  platform: Platform;
  signal?: AbortSignal;
}

/** A warning a job reports as an event: `{ status: 'warning', message }` (e.g. an optional model file taken as absent). */
export type WarningEvent = { status: 'warning'; message: string };

/** Outputs go to the platform's storage: a URL there is a mistake best named before any work. */
export function checkOut(out: unknown, what: string): asserts out is string {
  if (typeof out !== 'string' || out === '') throw badInputError(`${what}: out must be a path in the engine's storage (e.g. "runs/first")`);
  if (isUrl(out))
    throw badInputError(`${what}: out is a URL (${out}); outputs cannot be written to a URL — give a path in the engine's storage (e.g. "runs/first")`, out);
}

/** Opens the models on one backend or one each (runtime/session.ts openModels decides), runs `body`, frees them. */
export async function withModels<T>(
  ctx: JobContext,
  job: BackendJob,
  dirs: string[],
  body: (models: CausalLM[], backends: Backend[]) => Promise<T>,
  onWarning?: (m: string) => void,
  onProgress?: (p: LoadProgress) => void,
): Promise<T> {
  // a pair's models each take their own quantization (quantizeExpert / quantizeAmateur), else `quantize`
  const quantize = dirs.length === 2 ? pairQuantize(job, '') : dirs.map(() => quantizeOption(job.quantize, 'quantize'));
  const opened = await openModels(dirs, {
    platform: ctx.platform,
    backend: job.backend,
    threads: job.threads,
    signal: ctx.signal,
    onWarning,
    onProgress,
    quantize,
  });
  try {
    return await body(opened.models, opened.backends);
  } finally {
    opened.close();
  }
}
