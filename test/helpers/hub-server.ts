// A small Hugging Face Hub on 127.0.0.1 for tests: the endpoints runtime/hub/ uses, answered the
// way the Hub answers them (checked against huggingface_hub's client code):
//   GET  /api/{models|datasets}/{org}/{name}/revision/{rev}   → {_id, id, sha, siblings: [{rfilename}]}
//   HEAD/GET /{org}/{name}/resolve/{rev}/{file} (and /datasets/…) → LFS files (*.safetensors,
//        *.parquet, *.bin): 302 to {cdnUrl}/cdn/{sha256} (another host) with x-linked-etag (sha256) and x-linked-size;
//        other files: 200 with ETag = git blob sha1; both with x-repo-commit; Range honoured;
//        401 on a gated repository without the token.
//   CORS on everything (OPTIONS preflights allow Range and Authorization), for browser tests.
//   GET  {cdnUrl}/cdn/{sha256} → the blob, Range honoured (206 + Content-Range).
// Every request is recorded; a blob can be cut once mid-body (the connection dropped) or served
// corrupt, to test resume and verification.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';

export interface FakeRepo {
  type: 'model' | 'dataset';
  id: string;
  sha: string;
  files: Map<string, Buffer>;
  gated?: boolean;
}

export interface HubRequest {
  method: string;
  path: string;
  range?: string;
  auth?: string;
  /** Date.now() when it arrived. */
  time: number;
}

const LFS = /\.(safetensors|parquet|bin)$/;
export const TOKEN = 'hf_test_token';

export const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const gitSha1 = (b: Uint8Array) => createHash('sha1').update(`blob ${b.length}\0`).update(b).digest('hex');

/** A directory's files (recursively) as repository paths → bytes. */
export function filesOf(dir: string, prefix = ''): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) for (const [k, v] of filesOf(p, `${prefix}${name}/`)) out.set(k, v);
    else out.set(prefix + name, readFileSync(p));
  }
  return out;
}

/** A deterministic fake commit sha for a repository's content. */
export function commitOf(files: Map<string, Buffer>, salt = ''): string {
  const h = createHash('sha1').update(salt);
  for (const [k, v] of files) h.update(k).update(v);
  return h.digest('hex');
}

export class FakeHub {
  readonly requests: HubRequest[] = [];
  /** sha256 of a blob → bytes after which its next CDN response drops the connection (once). */
  readonly cutOnce = new Map<string, number>();
  /** sha256s of blobs whose next CDN request is refused with 403 (an expired signed link), once. */
  readonly refuseOnce = new Set<string>();
  /** sha256s of blobs the CDN serves with one byte flipped. */
  readonly corrupt = new Set<string>();
  /** Milliseconds the CDN waits before answering (to hold a download open while another starts). */
  cdnDelayMs = 0;
  private readonly repos = new Map<string, FakeRepo>();
  private readonly blobs = new Map<string, Buffer>();
  private servers: Server[] = [];
  url = '';
  /** The "CDN" LFS files redirect to: another host (127.0.0.2; another port where that loopback
   * address is missing), as on the Hub, so clients stop at the 302 (huggingface_hub follows
   * redirects to the same host only) and send it no token. */
  cdnUrl = '';

  add(repo: FakeRepo): FakeRepo {
    this.repos.set(`${repo.type}/${repo.id}`, repo);
    for (const [name, bytes] of repo.files) if (LFS.test(name)) this.blobs.set(sha256(bytes), bytes);
    return repo;
  }

  async start(): Promise<string> {
    const listen = async (cdn: boolean, host = '127.0.0.1'): Promise<string> => {
      const server = createServer((req, res) => {
        try {
          this.handle(req, res, cdn);
        } catch (e) {
          res.writeHead(500).end(String(e));
        }
      });
      try {
        await new Promise<void>((done, fail) => server.once('error', fail).listen(0, host, done));
      } catch (e) {
        if (host === '127.0.0.1') throw e;
        return listen(cdn);
      }
      this.servers.push(server);
      return `http://${host}:${(server.address() as AddressInfo).port}`;
    };
    this.url = await listen(false);
    this.cdnUrl = await listen(true, '127.0.0.2');
    return this.url;
  }

  async close(): Promise<void> {
    await Promise.all(
      this.servers.map((s) => {
        s.closeAllConnections();
        return new Promise<void>((done) => s.close(() => done()));
      }),
    );
  }

  /** Requests other than to the revision API (those that touch files). */
  fileRequests(): HubRequest[] {
    return this.requests.filter((r) => !r.path.startsWith('/api/'));
  }

  private handle(req: IncomingMessage, res: ServerResponse, cdn: boolean): void {
    const url = new URL(req.url!, 'http://x');
    const path = decodeURIComponent(url.pathname);
    this.requests.push({ method: req.method!, path, range: req.headers.range, auth: req.headers.authorization, time: Date.now() });
    // CORS as the Hub and its CDN answer it, so a page on another origin can read both
    res.setHeader('access-control-allow-origin', '*');
    res.setHeader(
      'access-control-expose-headers',
      'ETag, X-Repo-Commit, Content-Range, Content-Length, Accept-Ranges, X-Linked-Etag, X-Linked-Size, X-Error-Code',
    );
    if (req.method === 'OPTIONS') {
      res
        .writeHead(204, {
          'access-control-allow-headers': 'Range, Authorization',
          'access-control-allow-methods': 'GET, HEAD',
          'access-control-max-age': '600',
        })
        .end();
      return;
    }
    const m0 = /^\/cdn\/([0-9a-f]{64})$/.exec(path);
    if (cdn) {
      if (m0 && this.blobs.has(m0[1])) return void setTimeout(() => this.cdn(req, res, m0[1]), this.cdnDelayMs);
      return void res.writeHead(404).end();
    }
    let m = /^\/api\/(models|datasets)\/([^/]+\/[^/]+)\/revision\/(.+)$/.exec(path);
    if (m && req.method === 'GET') {
      this.revision(res, m[1] === 'models' ? 'model' : 'dataset', m[2], m[3]);
      return;
    }
    m = /^\/(datasets\/)?([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(path);
    if (m) {
      this.resolve(req, res, m[1] ? 'dataset' : 'model', m[2], m[3], m[4]);
      return;
    }
    res.writeHead(404, { 'x-error-code': 'EntryNotFound' }).end();
  }

  private find(res: ServerResponse, type: string, id: string, rev: string): FakeRepo | null {
    const repo = this.repos.get(`${type}/${id}`);
    if (!repo) {
      res.writeHead(404, { 'content-type': 'application/json', 'x-error-code': 'RepoNotFound' }).end(JSON.stringify({ error: 'Repository not found' }));
      return null;
    }
    if (rev !== 'main' && rev !== repo.sha) {
      res.writeHead(404, { 'content-type': 'application/json', 'x-error-code': 'RevisionNotFound' }).end(JSON.stringify({ error: `Invalid rev id: ${rev}` }));
      return null;
    }
    return repo;
  }

  private revision(res: ServerResponse, type: 'model' | 'dataset', id: string, rev: string): void {
    const repo = this.find(res, type, id, rev);
    if (!repo) return;
    const body = {
      _id: `id-${repo.sha.slice(0, 12)}`,
      id: repo.id,
      sha: repo.sha,
      private: false,
      gated: repo.gated ? 'manual' : false,
      downloads: 0,
      likes: 0,
      siblings: [...repo.files.keys()].map((rfilename) => ({ rfilename })),
    };
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  }

  private resolve(req: IncomingMessage, res: ServerResponse, type: 'model' | 'dataset', id: string, rev: string, file: string): void {
    const repo = this.find(res, type, id, rev);
    if (!repo) return;
    if (repo.gated && req.headers.authorization !== `Bearer ${TOKEN}`) {
      res
        .writeHead(401, { 'content-type': 'application/json', 'x-error-code': 'GatedRepo' })
        .end(JSON.stringify({ error: 'Access to this model is restricted' }));
      return;
    }
    const bytes = repo.files.get(file);
    if (!bytes) {
      res.writeHead(404, { 'x-error-code': 'EntryNotFound' }).end();
      return;
    }
    const common = { 'x-repo-commit': repo.sha };
    if (LFS.test(file)) {
      const oid = sha256(bytes);
      res
        .writeHead(302, {
          ...common,
          location: `${this.cdnUrl}/cdn/${oid}`,
          'x-linked-etag': `"${oid}"`,
          'x-linked-size': String(bytes.length),
          etag: `"${gitSha1(bytes)}"`,
          'content-length': '0',
        })
        .end();
      return;
    }
    this.send(req, res, bytes, { ...common, etag: `"${gitSha1(bytes)}"` });
  }

  private cdn(req: IncomingMessage, res: ServerResponse, oid: string): void {
    if (this.refuseOnce.delete(oid)) return void res.writeHead(403).end('Request has expired');
    let bytes = this.blobs.get(oid)!;
    if (this.corrupt.has(oid)) {
      bytes = Buffer.from(bytes);
      bytes[bytes.length >> 1] ^= 0xff;
    }
    const cut = this.cutOnce.get(oid);
    if (cut !== undefined) this.cutOnce.delete(oid);
    this.send(req, res, bytes, { etag: `"${oid}"` }, cut);
  }

  /** 200 or 206 (Range), optionally dropping the connection after `cut` bytes of the body. */
  private send(req: IncomingMessage, res: ServerResponse, bytes: Buffer, headers: Record<string, string>, cut?: number): void {
    let start = 0,
      end = bytes.length - 1,
      status = 200;
    const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    if (range) {
      start = Number(range[1]);
      end = range[2] ? Math.min(Number(range[2]), end) : end;
      if (start >= bytes.length) {
        res.writeHead(416, { 'content-range': `bytes */${bytes.length}` }).end();
        return;
      }
      status = 206;
      headers = { ...headers, 'content-range': `bytes ${start}-${end}/${bytes.length}` };
    }
    const body = bytes.subarray(start, end + 1);
    res.writeHead(status, { ...headers, 'accept-ranges': 'bytes', 'content-length': String(body.length), 'content-type': 'application/octet-stream' });
    if (req.method === 'HEAD') return void res.end();
    if (cut === undefined || cut >= body.length) return void res.end(body);
    // drop the connection a moment after the bytes went out: the client has read them by then (a
    // fetch body stream that errors discards what it had queued but not yet handed over)
    res.write(body.subarray(0, cut), () => setTimeout(() => res.socket?.destroy(), 300));
  }
}
