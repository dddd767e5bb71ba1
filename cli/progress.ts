// The CLI's one Ctrl-C → AbortSignal helper and its one progress renderer, shared by every command
// (issue 26: the handler was written 6 times and the renderer 4 times, and they had drifted).
// Progress goes to stderr only (cli/output.ts): a redrawn line (with a bar when the caller knows the
// fraction) on a TTY; when piped, the lines a caller marks for logs, at most one every 10 s plus the
// final one; nothing when disabled (--quiet). Warnings are not progress: they go through output.warn.

/** How often a piped progress line may be printed: logs stay readable, a stalled job still shows. */
const PIPED_LINE_MS = 10_000;

export interface Interrupt {
  /** Aborted on the first Ctrl-C (SIGINT), and on SIGTERM where asked. */
  readonly signal: AbortSignal;
  /** Removes the handlers: call it in `finally`. */
  dispose(): void;
}

/**
 * The first Ctrl-C aborts `signal` (jobs stop after the current step and keep what they
 * committed) and says so through `log`; a second one exits 130 at once. With `sigterm`, SIGTERM
 * aborts too (for commands that must never leave half a file, e.g. merge); without it SIGTERM keeps
 * Node's default (the process ends at once, leaving what a crash would, which --resume is built
 * for). `quiet`: no message, and a second Ctrl-C is not special.
 */
export function interruptOnSignals(log: (line: string) => void, options: { sigterm?: boolean; quiet?: boolean } = {}): Interrupt {
  const controller = new AbortController();
  const onSigint = () => {
    if (options.quiet) {
      controller.abort();
      return;
    }
    if (controller.signal.aborted) process.exit(130);
    log('\ninterrupting after the current step (Ctrl-C again to stop at once)…');
    controller.abort();
  };
  const onSigterm = () => controller.abort();
  process.on('SIGINT', onSigint);
  if (options.sigterm) process.on('SIGTERM', onSigterm);
  return {
    signal: controller.signal,
    dispose() {
      process.off('SIGINT', onSigint);
      if (options.sigterm) process.off('SIGTERM', onSigterm);
    },
  };
}

export interface ShowOptions {
  /** Draw a bar of this fraction (0–1) before the text on a TTY. */
  fraction?: number;
  /** Print the text when piped too (throttled to one line per 10 s). */
  piped?: boolean;
  /** The last update of a phase: printed when piped whatever the throttle says. */
  final?: boolean;
}

export interface ProgressRenderer {
  /** Whether stderr is a TTY and progress is enabled (the line is redrawn in place). */
  readonly tty: boolean;
  /** Shows `text` as the current progress: redrawn on a TTY; when piped, see ShowOptions. */
  show(text: string, options?: ShowOptions): void;
  /** A permanent line (the redrawn one is cleared first); nothing when disabled. */
  line(text: string): void;
  /** Restarts the piped throttle, as if a line had just been printed. */
  mark(): void;
  /** Clears the redrawn line, if one is shown. */
  done(): void;
}

/** The progress renderer (see the top of this file); `enabled` is false with --quiet. */
export function progressRenderer(enabled: boolean, options: { indent?: string } = {}): ProgressRenderer {
  const tty = enabled && !!process.stderr.isTTY;
  const indent = options.indent ?? '';
  let shown = false,
    last = 0;
  const clear = () => {
    if (shown) process.stderr.write('\r\x1b[2K');
    shown = false;
  };
  return {
    tty,
    show(text, o = {}) {
      if (!enabled) return;
      if (tty) {
        const width = 24,
          filled = o.fraction === undefined ? 0 : Math.round(width * Math.min(1, Math.max(0, o.fraction)));
        const bar = o.fraction === undefined ? '' : `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] `;
        process.stderr.write(`\r\x1b[2K${indent}${bar}${text}`);
        shown = true;
      } else if (o.piped && (o.final || performance.now() - last > PIPED_LINE_MS)) {
        last = performance.now();
        process.stderr.write(`${indent}${text}\n`);
      }
    },
    line(text) {
      if (!enabled) return;
      clear();
      process.stderr.write(`${text}\n`);
    },
    mark() {
      last = performance.now();
    },
    done: clear,
  };
}

/** A redrawn line on a TTY and nothing when piped (loading, downloading, merging): progressRenderer's TTY part. */
export function progressLine(enabled: boolean) {
  const r = progressRenderer(enabled);
  return { update: (text: string) => r.show(text), done: r.done };
}
