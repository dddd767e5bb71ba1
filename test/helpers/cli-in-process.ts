// Run CLI commands inside the test process: the same command code as `runCli`, without starting a
// Node process and transpiling the CLI each time (seconds per call on a loaded machine). Calls must
// not overlap (stdout/stderr are captured globally: results go through console.log, see
// cli/output.ts); exit codes follow cli/main.ts.
import { CommanderError } from 'commander';
import { createProgram } from '../../cli/program.ts';
import { LightReasonerError } from '../../runtime/errors.ts';
import { memoryDigestCache, setDefaultDigestCache } from '../../runtime/platform/digest-cache.ts';
import type { CliResult } from './cli.ts';

// Fingerprint digests stay in this process (not in the user's cache directory).
setDefaultDigestCache(memoryDigestCache());

let busy = false;

/** `env`: variables set for the call (undefined: unset), restored after it. */
export async function runInProcess(args: string[], env: Record<string, string | undefined> = {}): Promise<CliResult> {
  if (busy) throw new Error('runInProcess calls must not overlap');
  busy = true;
  // every command, as cli/main.ts has them (commander's own lines captured too)
  const program = createProgram({ writeErr: (s) => void (stderr += s), writeOut: (s) => void (stdout += s) });
  let stdout = '',
    stderr = '',
    code = 0;
  const saved = { log: console.log, write: process.stderr.write, env: { ...process.env } };
  console.log = (...a: unknown[]) => void (stdout += `${a.join(' ')}\n`);
  process.stderr.write = ((s: string | Uint8Array) => ((stderr += typeof s === 'string' ? s : Buffer.from(s).toString()), true)) as typeof process.stderr.write;
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  try {
    await program.parseAsync(args, { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) code = e.exitCode === 0 ? 0 : 2;
    else if (e instanceof LightReasonerError) {
      stderr += `error: ${e.message}\n`;
      code = e.exitCode;
    } else throw e;
  } finally {
    console.log = saved.log;
    process.stderr.write = saved.write;
    for (const k of Object.keys(process.env)) if (!(k in saved.env)) delete process.env[k];
    Object.assign(process.env, saved.env);
    busy = false;
  }
  return { code, signal: null, stdout, stderr };
}

/** Several command lines one after another (in-process calls must not overlap), results in order. */
export async function runEachInProcess(list: string[][]): Promise<CliResult[]> {
  const out: CliResult[] = [];
  for (const args of list) out.push(await runInProcess(args));
  return out;
}
