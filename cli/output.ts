// The CLI's one output convention, for every command (README "Output and exit codes"):
//   stdout  the command's result and nothing else: its human summary, or with --json exactly one
//           JSON document (one line), so `cmd --json | jq` and `cmd > result.txt` always work;
//   stderr  progress, notes and warnings (`--quiet` silences progress and notes, not warnings);
//   errors  one `error: …` line on stderr (cli/main.ts), exit 2 for bad input (a usage error adds
//           one line pointing at `--help`), 1 for the machine, 130 for Ctrl-C.
//
// A command adopts it in three lines:
//   addOutputOptions(program.command('x'), 'the summary {…}')      // --json and --quiet
//   .action(async (o) => { const out = commandOutput(o);
//     out.progress('loading…'); out.warn('3 lines skipped'); out.result(['human line'], { …json });
// `result` is called exactly once, at the end (a second call is a bug and throws). Redrawn progress
// bars on a TTY (cli/progress.ts) also write to stderr only. Register the command in
// cli/program.ts (it gets the usage-error hint there) and add a row to test/output-convention.test.ts.
import type { Command } from 'commander';

export interface OutputFlags {
  json?: boolean;
  quiet?: boolean;
}

export interface CommandOutput {
  /** --json: the result is one JSON document. */
  readonly json: boolean;
  /** --quiet: no progress or notes. */
  readonly quiet: boolean;
  /** A progress line or note on stderr, unless --quiet. */
  progress(line: string): void;
  /** `warning: <message>` on stderr, even with --quiet: it says what the result lacks. */
  warn(message: string): void;
  /**
   * The result, once: `human` on stdout (a string as is, lines one per line), or with --json
   * `json` as one JSON document on one line.
   */
  result(human: string | readonly string[], json: unknown): void;
}

/** A line (or lines) on stderr, in one write so that lines never interleave. */
function writeErr(text: string): void {
  process.stderr.write(`${text}\n`);
}

/** The result on stdout through console.log, which test/helpers/cli-in-process.ts captures. */
function writeOut(text: string): void {
  console.log(text.endsWith('\n') ? text.slice(0, -1) : text);
}

/** The output of one command run, from its parsed options (`json` and `quiet` when it has them). */
export function commandOutput(flags: OutputFlags): CommandOutput {
  const json = !!flags.json,
    quiet = !!flags.quiet;
  let done = false;
  return {
    json,
    quiet,
    progress(line) {
      if (!quiet) writeErr(line);
    },
    warn(message) {
      writeErr(`warning: ${message}`);
    },
    result(human, value) {
      if (done) throw new Error('a command printed its result twice (cli/output.ts allows one)');
      done = true;
      const text = json ? JSON.stringify(value) : typeof human === 'string' ? human : human.join('\n');
      if (text !== '') writeOut(text);
    },
  };
}

/**
 * `--json` (`what`: what the document holds) and `--quiet` (`quiet`: its help line when the
 * command says more than the usual) on a command; returns the command for chaining.
 */
export function addOutputOptions(command: Command, what: string, quiet = 'no progress output on stderr (results and warnings are still printed)'): Command {
  return command.option('--json', `print the result as one JSON document on stdout: ${what}`).option('--quiet', quiet);
}
