#!/usr/bin/env node
// The `lightreasoner-wasm` command (Node: `npx lightreasoner-wasm`, Deno: `deno run -A cli/main.ts`).
import { Command, CommanderError } from 'commander';
import { LightReasonerError } from '../runtime/errors.ts';
import { registerEval } from './commands/eval.ts';
import { registerFinetune } from './commands/finetune.ts';
import { registerGather } from './commands/gather.ts';
import { registerGenerate } from './commands/generate.ts';
import { registerInfo } from './commands/info.ts';
import { registerMerge } from './commands/merge.ts';
import { registerRun } from './commands/run.ts';
import { registerSample } from './commands/sample.ts';
import { exit } from './io.ts';

const program = new Command()
  .name('lightreasoner-wasm')
  .description('LightReasoner on WebGPU and WebAssembly: small amateur models teach large expert models where to learn.')
  .version('0.1.0')
  .exitOverride();

registerEval(program);
registerFinetune(program);
registerGather(program);
registerGenerate(program);
registerInfo(program);
registerMerge(program);
registerRun(program);
registerSample(program);

// A usage error is two lines on stderr: commander's `error: …` and where the help is (the whole
// help after it would scroll the error away). Commands registered above all get theirs.
program.showHelpAfterError(`see \`${program.name()} --help\``);
for (const command of program.commands) command.showHelpAfterError(`see \`${program.name()} ${command.name()} --help\``);

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
