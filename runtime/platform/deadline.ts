// A wall-clock deadline for synchronous work on untrusted model files: chat-template rendering and
// tokenization. Both run third-party interpreters (@huggingface/jinja, the tokenizer's regexes from
// tokenizer.json) synchronously on the calling thread, where nothing else can interrupt them: a
// pre-tokenizer regex with catastrophic backtracking is one `RegExp.exec` that can run for hours.
//
// Why a deadline and not static checks or a probe: whether a regex backtracks catastrophically
// depends on the text it meets (a hostile pattern can be tame on any probe string and explode on
// one question), and deciding it statically needs a ReDoS analyser that still misses cases. A
// deadline on every call catches all of them, whatever the pattern or input.
//
// Why in-thread and not a worker: the calls are synchronous and frequent (one per prompt), their
// results feed the caller immediately, and a worker would need its own copy of the tokenizer and
// of both libraries' code. The host's runner interrupts the running JavaScript itself — on Node
// and Deno, `node:vm`'s `timeout` (V8 TerminateExecution, which also stops a running regex), in
// platform/node.ts, which registers it when loaded (runtime/ never imports a `node:` module).
// Browsers have no such facility: there the work runs without a deadline, and an app that takes
// models from untrusted sources should run the Engine in a Web Worker, which it can terminate.
// The chat template's memory is bounded separately (model/chat-template.ts), in every host.

/** Runs `fn` and returns its result, or throws DeadlineExceeded once `ms` have passed. */
export type DeadlineRunner = <T>(fn: () => T, ms: number) => T;

/** The work ran past its deadline and was stopped (thrown by withDeadline). */
export class DeadlineExceeded extends Error {
  constructor(readonly ms: number) {
    super(`stopped after ${ms} ms`);
    this.name = 'DeadlineExceeded';
  }
}

let runner: DeadlineRunner | null = null;
let depth = 0;

/** Installs the host's runner (platform adapters call this; last one wins). */
export function registerDeadlineRunner(r: DeadlineRunner): void {
  runner = r;
}

/**
 * `fn()` under a deadline of `ms` where the host can enforce one (else plainly). Re-entrant: work
 * already under a deadline runs inside it (one deadline, the outer one).
 */
export function withDeadline<T>(fn: () => T, ms: number): T {
  if (!runner || depth > 0) return fn();
  depth++;
  try {
    return runner(fn, ms);
  } finally {
    depth--;
  }
}
