// The `lightreasoner-wasm` command tree: every command registered, and the usage-error hint. One
// place for cli/main.ts (the process) and test/helpers/cli-in-process.ts (tests in one process).
// A new command: write cli/commands/<name>.ts with register<Name>(program) and call it below.
import { Command, type OutputConfiguration } from 'commander';
import { registerCopyModels } from './commands/copy-models.ts';
import { registerEval } from './commands/eval.ts';
import { registerExportGguf } from './commands/export-gguf.ts';
import { registerFinetune } from './commands/finetune.ts';
import { registerGather } from './commands/gather.ts';
import { registerGenerate } from './commands/generate.ts';
import { registerGrade } from './commands/grade.ts';
import { registerInfo } from './commands/info.ts';
import { registerMerge } from './commands/merge.ts';
import { registerPairCheck } from './commands/pair-check.ts';
import { registerRun } from './commands/run.ts';
import { registerSample } from './commands/sample.ts';

/** The program; `output` redirects commander's own writes (help, usage errors) — set before the
 * commands are created, since each command copies its parent's settings when it is added. */
export function createProgram(output?: OutputConfiguration): Command {
  const program = new Command()
    .name('lightreasoner-wasm')
    .description('LightReasoner on WebGPU and WebAssembly: small amateur models teach large expert models where to learn.')
    .version('0.1.0')
    .exitOverride();
  if (output) program.configureOutput(output);

  registerCopyModels(program);
  registerEval(program);
  registerExportGguf(program);
  registerFinetune(program);
  registerGather(program);
  registerGenerate(program);
  registerGrade(program);
  registerInfo(program);
  registerMerge(program);
  registerPairCheck(program);
  registerRun(program);
  registerSample(program);

  // A usage error is two lines on stderr: commander's `error: …` and where the help is (the whole
  // help after it would scroll the error away). Set after the commands: each gets its own.
  program.showHelpAfterError(`see \`${program.name()} --help\``);
  for (const command of program.commands) command.showHelpAfterError(`see \`${program.name()} ${command.name()} --help\``);
  return program;
}
