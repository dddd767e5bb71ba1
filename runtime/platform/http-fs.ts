// Read-only access to URLs through fetch, for the browser platform (platform/browser.ts): HTTP
// Range requests for slices, so a multi-GB safetensors file is never held whole.
//
// Many static hosts answer a path they do not have with their index.html and status 200 (Vite's
// dev and preview servers by default, Netlify/Vercel rewrites, `serve -s`, CDNs set up for
// single-page apps). Such an answer must not pass for a model file: a chat template or a config
// that is really a web page gives wrong results without an error. No file this runtime reads is
// an HTML document, so an HTML answer for a path that does not end in .html is the file missing:
// exists() says false (as for a 404), and a read throws HtmlFallbackError (NOT_FOUND, naming the
// URL and the likely cause).
import { HtmlFallbackError, LightReasonerError, notFoundError } from '../errors.ts';
import type { FileSystem } from './types.ts';

const HTML_TYPE = /^\s*text\/html\s*(;|$)/i;
const HTML_PATH = /\.html?$/i;
// The bytes a read from 0 asks for at least, enough to see an HTML document's start.
const SNIFF_BYTES = 64;
// An HTML document's start, after an optional byte-order mark and white space (as the WHATWG
// sniffing rules look at it): what every SPA fallback's index.html begins with.
const HTML_START = /^\uFEFF?\s*<(!doctype\s+html|html[\s>]|head[\s>])/i;

function pathOf(url: string): string {
  try {
    return new URL(url).pathname;
  } catch {
    return url;
  }
}

/** True when `url` got an HTML page for a file that is not one; `start`: the body's first bytes, when seen. */
function isHtmlAnswer(url: string, res: Response, start?: Uint8Array | string): boolean {
  if (HTML_PATH.test(pathOf(url))) return false;
  if (HTML_TYPE.test(res.headers.get('content-type') ?? '')) return true;
  if (start === undefined) return false;
  // A fallback whose server labels it otherwise (or not at all) still starts as a web page.
  return HTML_START.test(typeof start === 'string' ? start.slice(0, 256) : new TextDecoder().decode(start.subarray(0, 256)));
}

async function get(url: string, init?: RequestInit): Promise<Response> {
  const res = await fetch(url, init);
  if (res.status === 404) throw notFoundError(url, 'HTTP 404');
  if (!res.ok) throw new LightReasonerError('NOT_FOUND', `${url}: HTTP ${res.status} ${res.statusText}`.trim(), { file: url });
  return res;
}

/** Read-only access to URLs through fetch. */
export const httpFileSystem: FileSystem = {
  async readText(url) {
    const res = await get(url);
    const text = await res.text();
    if (isHtmlAnswer(url, res, text)) throw new HtmlFallbackError(url);
    return text;
  },
  async readBytes(url, offset, length) {
    if (offset === undefined && length === undefined) {
      const res = await get(url);
      const buf = new Uint8Array(await res.arrayBuffer());
      if (isHtmlAnswer(url, res, buf)) throw new HtmlFallbackError(url);
      return buf;
    }
    const start = offset ?? 0;
    // A slice from 0 asks for at least SNIFF_BYTES, so that a page can be told from the file's
    // start (a safetensors header's length field is 8 bytes: "<!doctyp" alone would not tell).
    const end = length === undefined ? '' : String(start + (start === 0 ? Math.max(length, SNIFF_BYTES) : length) - 1);
    const res = await get(url, { headers: { Range: `bytes=${start}-${end}` } });
    const buf = new Uint8Array(await res.arrayBuffer());
    // The body's start is seen on a whole-file answer or a slice from 0.
    if (isHtmlAnswer(url, res, res.status === 200 || start === 0 ? buf : undefined)) throw new HtmlFallbackError(url);
    // A server that ignores Range answers 200 with the whole body: slice it ourselves.
    if (res.status === 200) return buf.subarray(start, length === undefined ? undefined : start + length);
    return length === undefined ? buf : buf.subarray(0, length);
  },
  async size(url) {
    const res = await get(url, { method: 'HEAD' });
    if (isHtmlAnswer(url, res)) throw new HtmlFallbackError(url);
    const len = res.headers.get('content-length');
    if (len !== null) return Number(len);
    return (await this.readBytes(url)).byteLength;
  },
  async exists(url) {
    try {
      const res = await fetch(url, { method: 'HEAD' });
      // An HTML page for a file that is not one is a single-page-app fallback: the file is missing.
      return res.ok && !isHtmlAnswer(url, res);
    } catch {
      return false;
    }
  },
  join: (...parts) => parts.map((p, i) => (i === 0 ? p.replace(/\/+$/, '') : p.replace(/^\/+|\/+$/g, ''))).join('/'),
};
