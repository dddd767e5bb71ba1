// Helpers for tests of runs on hostile input: a digest of a directory tree (to show that a refused
// run changed nothing), a small concurrency limit for CLI processes, and a preload that makes the
// file system refuse (EACCES, ENOSPC, …) where a test as root cannot arrange it for real.
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Every path under `dir` (relative) with a digest of its bytes ('dir' for folders, the target for
 * symbolic links, which are not followed); {} when `dir` does not exist.
 */
export function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (!existsSync(dir)) return out;
  const walk = (rel: string) => {
    for (const name of readdirSync(join(dir, rel)).sort()) {
      const p = join(rel, name);
      const st = lstatSync(join(dir, p));
      if (st.isSymbolicLink()) out[p] = `link:${readlinkSync(join(dir, p))}`;
      else if (st.isDirectory()) {
        out[p] = 'dir';
        walk(p);
      } else
        out[p] = createHash('sha256')
          .update(readFileSync(join(dir, p)))
          .digest('hex');
    }
  };
  walk('');
  return out;
}

/** Run at most `n` of the returned function's tasks at a time (CLI processes on a small machine). */
export function limiter(n: number): <T>(task: () => Promise<T>) => Promise<T> {
  let running = 0;
  const queue: (() => void)[] = [];
  return (task) =>
    new Promise((resolve, reject) => {
      const start = () => {
        running++;
        task()
          .then(resolve, reject)
          .finally(() => {
            running--;
            queue.shift()?.();
          });
      };
      if (running < n) start();
      else queue.push(start);
    });
}

// Loaded with NODE_OPTIONS=--import: node:fs/promises calls (those named in LR_FAKE_OPS) on a path
// containing LR_FAKE_PATH fail with LR_FAKE_ERRNO, as the operating system would fail them.
// syncBuiltinESMExports makes the runtime's named imports see the replaced functions.
const FAKE_FS = `import { syncBuiltinESMExports } from 'node:module';
import fsp from 'node:fs/promises';
const code = process.env.LR_FAKE_ERRNO, marker = process.env.LR_FAKE_PATH;
if (code && marker) {
  for (const name of process.env.LR_FAKE_OPS.split(',')) {
    const orig = fsp[name];
    fsp[name] = function (p, ...rest) {
      if (String(p).includes(marker)) return Promise.reject(Object.assign(new Error(code + ': simulated, ' + name + " '" + p + "'"), { code, syscall: name, path: String(p) }));
      return orig.call(this, p, ...rest);
    };
  }
  syncBuiltinESMExports();
}
`;

/** Every node:fs/promises call the runtime makes; writes alone are `open,writeFile,mkdir` (a disk that is full or read-only still reads). */
export const ALL_FS_OPS = 'open,readFile,writeFile,mkdir,rename,stat,readdir';

/**
 * The environment of a CLI process whose file operations `ops` (comma-separated) on paths
 * containing `marker` fail with the system error `code`. The preload is written into `tmp`.
 */
export function failingFs(tmp: string, code: string, marker: string, ops = ALL_FS_OPS): NodeJS.ProcessEnv {
  const file = join(tmp, 'fake-fs.mjs');
  if (!existsSync(file)) writeFileSync(file, FAKE_FS);
  return { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import=${file}`.trim(), LR_FAKE_ERRNO: code, LR_FAKE_PATH: marker, LR_FAKE_OPS: ops };
}
