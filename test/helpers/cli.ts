// Run the CLI from source in a child process, with the same TypeScript loader tap gave this test.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
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

function newestSource(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) t = Math.max(t, newestSource(p));
    else if (e.name.endsWith('.ts')) t = Math.max(t, statSync(p).mtimeMs);
  }
  return t;
}

const DIST_CLI = join(ROOT, 'dist', 'cli', 'main.js');
/** Whether dist/ was built after the last change to cli/ and runtime/ (as `npm ci` leaves it in CI). */
export const DIST_FRESH =
  process.env.LR_TEST_SOURCE_CLI !== '1' &&
  existsSync(DIST_CLI) &&
  statSync(DIST_CLI).mtimeMs >= Math.max(newestSource(join(ROOT, 'cli')), newestSource(join(ROOT, 'runtime')));
/**
 * The CLI the tests spawn: the compiled dist/cli/main.js when it is up to date — the same code,
 * without the TypeScript loader compiling the whole CLI again in every process (seconds each on a
 * loaded 2-core machine) — else the sources. LR_TEST_SOURCE_CLI=1 forces the sources.
 */
export const TEST_CLI = DIST_FRESH ? [process.execPath, DIST_CLI] : SOURCE_CLI;

/** `cli`: another command line for the CLI; default TEST_CLI. */
export function runCli(args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number; cli?: string[] } = {}): Promise<CliResult> {
  const cli = opts.cli ?? TEST_CLI;
  return new Promise((resolve, reject) => {
    const child = spawn(cli[0], [...cli.slice(1), ...args], {
      cwd: ROOT,
      env: { ...process.env, ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '',
      stderr = '';
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
