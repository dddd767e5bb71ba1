// Headless Chromium (Debian's, driven by playwright-core) with WebGPU on SwiftShader, plus a tiny
// static server on 127.0.0.1 that answers HTTP Range requests as a CDN would.
import type { Test } from 'tap';
import { createServer, type Server } from 'node:http';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, normalize } from 'node:path';
import { execSync } from 'node:child_process';

/** A runtime a test needs is not installed: a failure in CI (which installs it), else a visible skip. */
export function missingRuntime(t: Test, what: string): void {
  if (process.env.CI) t.fail(`${what} is missing in CI`);
  else t.pass(`${what} not found: this runtime is NOT tested here`, { skip: true });
}

export function chromiumPath(): string | null {
  try {
    const p = execSync('command -v chromium || command -v chromium-browser', { encoding: 'utf8', shell: '/bin/bash' }).trim();
    return p || null;
  } catch {
    return null;
  }
}

export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--enable-unsafe-webgpu',
  '--enable-features=Vulkan',
  '--use-vulkan=swiftshader',
  '--use-webgpu-adapter=swiftshader',
];

const TYPES: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.json': 'application/json', '.wasm': 'application/wasm' };

/**
 * A single-page-app fallback, as Vite's servers, Netlify/Vercel rewrites or `serve -s` have: every
 * unknown path is answered with this page and status 200 (Range requests honoured, as for a file),
 * labelled `contentType` (text/html by default; null: no content-type header).
 */
export interface SpaFallback {
  body: string;
  contentType?: string | null;
}

/** Serve `routes` (exact path → body) and files under `mounts` (url prefix → directory); unknown paths: 404, or `fallback`. */
export async function serve(
  routes: Record<string, string | Uint8Array>,
  mounts: Record<string, string>,
  fallback?: SpaFallback,
): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    const ext = path.endsWith('/') ? '.html' : path.slice(path.lastIndexOf('.'));
    const base = { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp', 'accept-ranges': 'bytes' };
    const headers = { 'content-type': TYPES[ext] ?? 'application/octet-stream', ...base };
    if (routes[path] !== undefined) {
      res.writeHead(200, headers).end(routes[path]);
      return;
    }
    const send = (body: Buffer, h: Record<string, string>) => {
      const range = /bytes=(\d+)-(\d*)/.exec(req.headers.range ?? '');
      if (range) {
        const start = Number(range[1]);
        const end = Math.min(range[2] ? Number(range[2]) : body.length - 1, body.length - 1);
        res.writeHead(206, { ...h, 'content-range': `bytes ${start}-${end}/${body.length}`, 'content-length': end - start + 1 });
        res.end(req.method === 'HEAD' ? undefined : body.subarray(start, end + 1));
      } else {
        res.writeHead(200, { ...h, 'content-length': body.length });
        res.end(req.method === 'HEAD' ? undefined : body);
      }
    };
    for (const [prefix, dir] of Object.entries(mounts)) {
      if (!path.startsWith(prefix + '/')) continue;
      const file = normalize(join(dir, path.slice(prefix.length)));
      if (!file.startsWith(dir) || !existsSync(file) || !statSync(file).isFile()) break;
      send(readFileSync(file), headers);
      return;
    }
    if (fallback) {
      const type = fallback.contentType === undefined ? 'text/html' : fallback.contentType;
      send(Buffer.from(fallback.body), type === null ? base : { ...base, 'content-type': type });
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  if (!addr || typeof addr === 'string') throw new Error('no address');
  return { url: `http://127.0.0.1:${addr.port}`, server };
}
