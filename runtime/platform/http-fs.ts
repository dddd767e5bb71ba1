// Read-only access to URLs through fetch, for the browser platform (platform/browser.ts): HTTP
// Range requests for slices, so a multi-GB safetensors file is never held whole.
import { LightReasonerError, notFoundError } from '../errors.ts';
import type { FileSystem } from './types.ts';

async function get(url: string, init?: RequestInit): Promise<Response> {
  const res = await fetch(url, init);
  if (res.status === 404) throw notFoundError(url, 'HTTP 404');
  if (!res.ok) throw new LightReasonerError('NOT_FOUND', `${url}: HTTP ${res.status} ${res.statusText}`.trim(), { file: url });
  return res;
}

/** Read-only access to URLs through fetch. */
export const httpFileSystem: FileSystem = {
  async readText(url) {
    return (await get(url)).text();
  },
  async readBytes(url, offset, length) {
    if (offset === undefined && length === undefined) return new Uint8Array(await (await get(url)).arrayBuffer());
    const start = offset ?? 0;
    const end = length === undefined ? '' : String(start + length - 1);
    const res = await get(url, { headers: { Range: `bytes=${start}-${end}` } });
    const buf = new Uint8Array(await res.arrayBuffer());
    // A server that ignores Range answers 200 with the whole body: slice it ourselves.
    if (res.status === 200) return buf.subarray(start, length === undefined ? undefined : start + length);
    return buf;
  },
  async size(url) {
    const res = await get(url, { method: 'HEAD' });
    const len = res.headers.get('content-length');
    if (len !== null) return Number(len);
    return (await this.readBytes(url)).byteLength;
  },
  async exists(url) {
    try {
      const res = await fetch(url, { method: 'HEAD' });
      return res.ok;
    } catch {
      return false;
    }
  },
  join: (...parts) => parts.map((p, i) => (i === 0 ? p.replace(/\/+$/, '') : p.replace(/^\/+|\/+$/g, ''))).join('/'),
};
