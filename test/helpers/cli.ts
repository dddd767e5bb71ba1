// Run the CLI from source in a child process, with the same TypeScript loader tap gave this test.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const FIXTURES = fileURLToPath(new URL('../fixtures', import.meta.url));

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** The CLI from source, as a command line: node, the loader flags tap gave this test, cli/main.ts. */
export const SOURCE_CLI = [process.execPath, ...process.execArgv, fileURLToPath(new URL('../../cli/main.ts', import.meta.url))];

/** `cli`: another command line for the CLI (the compiled dist/cli/main.js); default SOURCE_CLI. */
export function runCli(args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number; cli?: string[] } = {}): Promise<CliResult> {
  const cli = opts.cli ?? SOURCE_CLI;
  return new Promise((resolve, reject) => {
    const child = spawn(cli[0], [...cli.slice(1), ...args], {
      cwd: ROOT,
      env: { ...process.env, ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '', stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}
