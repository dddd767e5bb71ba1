#!/usr/bin/env node
// The `lightreasoner-wasm` command (Node: `npx lightreasoner-wasm`, Deno: `deno run -A cli/main.ts`).
// Output and exit codes: cli/output.ts (results on stdout, the rest on stderr) and fail() below.
import { CommanderError } from 'commander';
import { LightReasonerError } from '../runtime/errors.ts';
import { exit } from './io.ts';
import { createProgram } from './program.ts';

const program = createProgram();

/**
 * The one way out on failure. A LightReasonerError is the user's to fix (its message names the file
 * or field and what to do): the message alone. Anything else is ours: the stack, marked as a bug.
 */
function fail(e: unknown): never {
  if (e instanceof CommanderError) exit(e.exitCode === 0 ? 0 : 2);
  if (e instanceof LightReasonerError) {
    console.error(`error: ${e.message}`);
    exit(e.exitCode);
  }
  const trace = e instanceof Error ? (e.stack ?? `${e.name}: ${e.message}`) : String(e);
  console.error(`internal error (a bug in lightreasoner-wasm — please report it with this trace):\n${trace}`);
  exit(1);
}

// A throw or rejection outside the awaited chain (a worker, a stray promise) takes the same way out.
process.on('unhandledRejection', fail);
process.on('uncaughtException', fail);

try {
  await program.parseAsync();
} catch (e) {
  fail(e);
}
