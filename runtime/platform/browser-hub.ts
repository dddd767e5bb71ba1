// Hub models in browsers: the browser platform's URL reads (platform/browser.ts httpFileSystem),
// with a token and a cache. A file under `…/resolve/<commit sha>/` (what hubModelUrl gives) never
// changes, so it is fetched in chunks with HTTP Range requests and each chunk kept in the Cache API
// (with the file's size, or that it is missing): a second load, a reload, or another tab of the
// origin reads the cache and sends no request. Other URLs (a branch, another server) go to
// httpFileSystem as they are. The token is sent as `Authorization: Bearer` to the Hub
// endpoint only (the CDN an LFS file redirects to has a signed URL of its own), and a 401/403 names
// the model and says to pass a token.
import { LightReasonerError, notFoundError } from '../errors.ts';
import { hubContext, httpError } from '../hub/http.ts';
import type { RepoRef } from '../hub/ids.ts';
import { DEFAULT_ENDPOINT } from '../hub/types.ts';
import { httpFileSystem } from './http-fs.ts';
import type { FileSystem } from './types.ts';

export interface BrowserHubOptions {
  /** The Hub or a mirror (https://huggingface.co by default). */
  endpoint?: string;
  /** A user access token (what HF_TOKEN is elsewhere), for gated and private models. */
  token?: string;
  /** The Cache API cache files are kept in ('lightreasoner-hub' by default); null: no cache. */
  cacheName?: string | null;
  /** Bytes per Range request and cache entry (16 MiB by default). */
  chunkBytes?: number;
  fetch?: typeof fetch;
}

const TOKEN_NAME = 'the `token` option';
const PINNED = /^(.*?)\/(datasets\/)?([^/]+\/[^/]+)\/resolve\/([0-9a-f]{40})\/(.+)$/;

type Meta = { size: number } | { missing: true };

/** A read-only FileSystem for URLs that knows the Hub: a token, Range chunks kept in the Cache API. */
export function browserHubFileSystem(opts: BrowserHubOptions = {}): FileSystem {
  const hub = new HubChunks(opts);
  const pinned = (url: string) => PINNED.test(url.split(/[?#]/)[0]);
  return {
    async readText(url) {
      if (!pinned(url)) return httpFileSystem.readText(url);
      return new TextDecoder().decode(await hub.readRange(url));
    },
    async readBytes(url, offset, length) {
      if (!pinned(url)) return httpFileSystem.readBytes(url, offset, length);
      return hub.readRange(url, offset, length);
    },
    async size(url) {
      return pinned(url) ? hub.sizeOf(url) : httpFileSystem.size(url);
    },
    async exists(url) {
      if (!pinned(url)) return httpFileSystem.exists(url);
      return !('missing' in (await hub.meta(url)));
    },
    join: httpFileSystem.join,
  };
}

/** Pinned Hub files read in chunks: each chunk and each file's size fetched once, kept in the Cache API (or in memory without one). */
class HubChunks {
  private readonly ctx: ReturnType<typeof hubContext>;
  private readonly chunk: number;
  private readonly cacheName: string | null;
  // opened on first use: a platform made at load time touches no storage until a Hub file is read
  private opened: Promise<Cache | null> | null = null;
  private readonly inFlight = new Map<string, Promise<unknown>>();
  // what was learnt without a cache (cacheName null, or no Cache API): kept for this page only
  private readonly known = new Map<string, Meta>();
  private readonly chunks = new Map<string, Uint8Array>();

  constructor(opts: BrowserHubOptions) {
    this.ctx = hubContext({ endpoint: opts.endpoint ?? DEFAULT_ENDPOINT, token: opts.token, fetch: opts.fetch }, TOKEN_NAME);
    this.chunk = opts.chunkBytes ?? 16 * 1024 * 1024;
    this.cacheName = opts.cacheName === undefined ? 'lightreasoner-hub' : opts.cacheName;
  }

  private openCache(): Promise<Cache | null> {
    const name = this.cacheName;
    return (this.opened ??= name !== null && typeof caches !== 'undefined' ? caches.open(name).catch(() => null) : Promise.resolve(null));
  }

  private once<T>(key: string, make: () => Promise<T>): Promise<T> {
    let p = this.inFlight.get(key) as Promise<T> | undefined;
    if (!p) {
      p = make().finally(() => this.inFlight.delete(key));
      this.inFlight.set(key, p);
    }
    return p;
  }

  /** fetch with the token (to the endpoint only) and the Hub's refusals as errors naming the model. */
  private async get(url: string, init: RequestInit = {}): Promise<Response> {
    const ctx = this.ctx;
    const onHub = new URL(url).origin === new URL(ctx.endpoint).origin;
    const headers = { ...(init.headers as Record<string, string> | undefined), ...(ctx.token && onHub ? { Authorization: `Bearer ${ctx.token}` } : {}) };
    let res: Response;
    try {
      res = await ctx.fetch(url, { ...init, headers });
    } catch (e) {
      throw new LightReasonerError(
        'ENVIRONMENT',
        `${url}: cannot fetch (${(e as Error).message}) — check the network, and that the server allows this page's origin (CORS)`,
        { file: url, cause: e },
      );
    }
    const repo = repoOf(url);
    if ((res.status === 401 || res.status === 403) && repo) throw httpError(ctx, repo, res.status);
    return res;
  }

  /** The file's size or that it is missing, from the cache or from the first chunk's answer. */
  meta(url: string): Promise<Meta> {
    return this.once(`${url}?lr=meta`, async () => {
      const c = await this.openCache();
      const hit = await c?.match(`${url}?lr=meta`);
      if (hit) return (await hit.json()) as Meta;
      await this.readChunk(url, 0);
      const m = await c?.match(`${url}?lr=meta`);
      return m ? ((await m.json()) as Meta) : (this.known.get(url) ?? { missing: true });
    });
  }

  private async remember(url: string, m: Meta, parts: [number, Uint8Array][]): Promise<void> {
    this.known.set(url, m);
    const c = await this.openCache();
    for (const [k, bytes] of parts) {
      if (c) await c.put(`${url}?lr=chunk-${k}`, new Response(bytes as Uint8Array<ArrayBuffer>));
      else this.chunks.set(`${url}#${k}`, bytes);
    }
    // the size last: a cached size means its chunks were stored before it
    if (c) await c.put(`${url}?lr=meta`, new Response(JSON.stringify(m), { headers: { 'content-type': 'application/json' } }));
  }

  /** Chunk `k` of the file (empty past its end), from the cache or one Range request. */
  private readChunk(url: string, k: number): Promise<Uint8Array> {
    return this.once(`${url}?lr=chunk-${k}`, async () => {
      const c = await this.openCache();
      const hit = c ? await c.match(`${url}?lr=chunk-${k}`) : undefined;
      if (hit) return new Uint8Array(await hit.arrayBuffer());
      const kept = this.chunks.get(`${url}#${k}`);
      if (kept) return kept;
      const chunk = this.chunk;
      const res = await this.get(url, { headers: { Range: `bytes=${k * chunk}-${(k + 1) * chunk - 1}` } });
      if (res.status === 404) {
        await this.remember(url, { missing: true }, []);
        return new Uint8Array(0);
      }
      if (res.status === 416) {
        if (k === 0) await this.remember(url, { size: 0 }, []); // an empty file
        return new Uint8Array(0);
      }
      if (!res.ok) throw new LightReasonerError('NOT_FOUND', `${url}: HTTP ${res.status} ${res.statusText}`.trim(), { file: url });
      return this.keepAnswer(url, k, res);
    });
  }

  /** A Range request's answer kept: its chunk (206), or the whole file as chunks when the server ignored the Range (200). */
  private async keepAnswer(url: string, k: number, res: Response): Promise<Uint8Array> {
    const chunk = this.chunk;
    const body = new Uint8Array(await res.arrayBuffer());
    if (res.status === 206) {
      const total = Number(/\/(\d+)$/.exec(res.headers.get('content-range') ?? '')?.[1] ?? NaN);
      if (!Number.isFinite(total))
        throw new LightReasonerError(
          'ENVIRONMENT',
          `${url}: the server answered a Range request without a usable Content-Range header (is it exposed to this page? Access-Control-Expose-Headers)`,
          { file: url },
        );
      await this.remember(url, { size: total }, [[k, body]]);
      return body;
    }
    const parts: [number, Uint8Array][] = [];
    for (let i = 0; i * chunk < body.length || i === 0; i++) parts.push([i, body.subarray(i * chunk, (i + 1) * chunk)]);
    await this.remember(url, { size: body.length }, parts);
    return parts[k]?.[1] ?? new Uint8Array(0);
  }

  async sizeOf(url: string): Promise<number> {
    const m = await this.meta(url);
    if ('missing' in m) throw notFoundError(url, 'HTTP 404');
    return m.size;
  }

  async readRange(url: string, offset = 0, length?: number): Promise<Uint8Array> {
    const chunk = this.chunk;
    const size = await this.sizeOf(url);
    const end = Math.min(size, length === undefined ? size : offset + length);
    if (end <= offset) return new Uint8Array(0);
    const first = Math.floor(offset / chunk),
      last = Math.floor((end - 1) / chunk);
    const out = new Uint8Array(end - offset);
    for (let k = first; k <= last; k++) {
      const bytes = await this.readChunk(url, k);
      const from = Math.max(offset, k * chunk),
        to = Math.min(end, (k + 1) * chunk);
      out.set(bytes.subarray(from - k * chunk, to - k * chunk), from - offset);
    }
    return out;
  }
}

/** The repository a Hub file URL belongs to (for messages), or null for other URLs. */
function repoOf(url: string): RepoRef | null {
  const m = /^(.*?)\/(datasets\/)?([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(url.split(/[?#]/)[0]);
  return m ? { type: m[2] ? 'dataset' : 'model', id: m[3], revision: m[4] } : null;
}
