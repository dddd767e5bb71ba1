// Typed errors whose messages say what went wrong, where, and what to do. The CLI prints
// `message` alone and exits with `exitCode` (2: the user's arguments or data, 1: the model files or
// the machine, 130: interrupted); API users can switch on `code`. Anything else that escapes to the
// CLI is a bug and is printed with its stack.

export type ErrorCode =
  | 'MODEL_FORMAT' // a file exists but its content is wrong (bad JSON, lying safetensors header…)
  | 'UNSUPPORTED' // valid but not something this runtime implements (architecture, dtype, rope type)
  | 'NOT_FOUND' // a required file is missing
  | 'BAD_INPUT' // user arguments or data
  | 'BACKEND_UNAVAILABLE' // the requested compute backend cannot start here
  | 'ENVIRONMENT' // the machine refused: permissions, a full or read-only disk, too many open files
  | 'ABORTED';

export class LightReasonerError extends Error {
  readonly code: ErrorCode;
  /** The file (or field) the problem is in, when there is one. */
  readonly file?: string;
  /** The operating system's error code (EACCES, EEXIST, …) when a file operation failed. */
  readonly systemCode?: string;
  constructor(code: ErrorCode, message: string, options?: { file?: string; cause?: unknown; systemCode?: string }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'LightReasonerError';
    this.code = code;
    this.file = options?.file;
    this.systemCode = options?.systemCode;
  }
  get exitCode(): number {
    return this.code === 'BAD_INPUT' ? 2 : this.code === 'ABORTED' ? 130 : 1;
  }
}

export const modelFormatError = (file: string, problem: string, cause?: unknown) =>
  new LightReasonerError('MODEL_FORMAT', `${file}: ${problem}`, { file, cause });
export const unsupportedError = (file: string, problem: string) => new LightReasonerError('UNSUPPORTED', `${file}: ${problem}`, { file });
export const notFoundError = (file: string, what: string) => new LightReasonerError('NOT_FOUND', `${file}: not found (${what})`, { file });
/**
 * A URL answered with an HTML page where a model or data file was expected: the single-page-app
 * fallback of Vite's dev and preview servers (appType 'spa'), Netlify/Vercel rewrites, `serve -s` and
 * many CDNs, which answer every unknown path with index.html and status 200. The file is not there.
 */
export class HtmlFallbackError extends LightReasonerError {
  constructor(url: string) {
    super(
      'NOT_FOUND',
      `${url}: the server answered with an HTML page, not this file — a single-page-app fallback for a file that is not there? ` +
        "Check the URL (in Vite, files under public/ are served from the site's root), serve the model folder as static files, or set appType: 'mpa'",
      { file: url },
    );
  }
}

export const badInputError = (message: string, file?: string) => new LightReasonerError('BAD_INPUT', message, { file });

export function throwIfAborted(signal?: AbortSignal): void {
  if (signal?.aborted) throw new LightReasonerError('ABORTED', 'aborted by the caller', { cause: signal.reason });
}
