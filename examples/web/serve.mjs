// Serves the built example (examples/web/dist) and the package's embedded models (models/) with the
// headers that make the page cross-origin isolated (COOP + COEP: SharedArrayBuffer, so the Wasm
// backend can use threads in the worker) and HTTP Range support (the loader reads slices).
// Prints the URL on a free port (PORT=… to choose one).
import { createServer } from 'node:http';
import { createReadStream, existsSync, statSync } from 'node:fs';
import { dirname, extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const roots = { '/models/': join(here, '..', '..', 'models'), '/': join(here, 'dist') };
const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.jinja': 'text/plain',
};

function resolve(urlPath) {
  for (const [prefix, dir] of Object.entries(roots)) {
    if (!urlPath.startsWith(prefix)) continue;
    const file = normalize(join(dir, urlPath.slice(prefix.length) || 'index.html'));
    if (file !== dir && !file.startsWith(dir + sep)) return null; // no escaping the roots
    return existsSync(file) && statSync(file).isFile() ? file : null;
  }
  return null;
}

const server = createServer((req, res) => {
  const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
  const file = resolve(path);
  const headers = {
    'cross-origin-opener-policy': 'same-origin',
    'cross-origin-embedder-policy': 'require-corp',
    'accept-ranges': 'bytes',
    'cache-control': 'no-cache',
  };
  if (!file) return void res.writeHead(404, headers).end('not found');
  const size = statSync(file).size;
  const type = TYPES[extname(file)] ?? 'application/octet-stream';
  const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
  if (range) {
    const start = Number(range[1]),
      end = range[2] ? Math.min(Number(range[2]), size - 1) : size - 1;
    if (start > end) return void res.writeHead(416, { ...headers, 'content-range': `bytes */${size}` }).end();
    res.writeHead(206, { ...headers, 'content-type': type, 'content-range': `bytes ${start}-${end}/${size}`, 'content-length': end - start + 1 });
    return void (req.method === 'HEAD' ? res.end() : createReadStream(file, { start, end }).pipe(res));
  }
  res.writeHead(200, { ...headers, 'content-type': type, 'content-length': size });
  if (req.method === 'HEAD') res.end();
  else createReadStream(file).pipe(res);
});

server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  const { port } = server.address();
  console.log(`LightReasoner example: http://127.0.0.1:${port}/   (?auto=1 starts at once; Ctrl-C stops)`);
});
