// Fingerprints that tie a sampling or evaluation run to its models and data, so a resume, a
// resubmitted shard or a gather with other models is refused — on this machine or another one. A
// model's fingerprint hashes config.json, generation_config.json and the tokenizer files (they
// decide the prompt ids and EOS) plus the sha-256 of each safetensors file's bytes, so a fine-tuned
// expert and its base (same config, same headers) differ. The weight digests cost little:
//   - a file in the Hugging Face cache is a link to blobs/<sha-256 of its bytes> (runtime/hub/cache.ts):
//     the blob's name is the digest, read off the link without reading the file;
//   - any other file is hashed once, streamed (FileSystem.sha256, else read whole where the platform
//     cannot stream), and its digest remembered per (real path, size, mtime) in a DigestCache
//     (runtime/platform/digest-cache.ts: a file in the user's cache directory in Node, memory elsewhere).
// The same bytes give the same fingerprint whether they sit in the Hub cache or in a plain folder.

import { modelFormatError } from '../errors.ts';
import { readOptionalBytes } from '../io/optional-file.ts';
import { checkWeightMap } from '../model/weights.ts';
import { type DigestCache, defaultDigestCache } from '../platform/digest-cache.ts';
import type { FileSystem } from '../platform/types.ts';

export async function sha256Hex(data: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', data as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}

const META_FILES = ['config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json', 'chat_template.jinja'];

/** A Hub-cache blob path: …/blobs/<64 hex digits> (LFS files, which every safetensors file is, are named by their sha-256). */
const HUB_BLOB = /[/\\]blobs[/\\]([0-9a-f]{64})$/;

async function safetensorsFiles(fs: FileSystem, dir: string): Promise<string[]> {
  if (await fs.exists(fs.join(dir, 'model.safetensors'))) return ['model.safetensors'];
  const indexPath = fs.join(dir, 'model.safetensors.index.json');
  if (!(await fs.exists(indexPath))) return [];
  let index: unknown;
  try {
    index = JSON.parse(await fs.readText(indexPath));
  } catch (e) {
    throw modelFormatError(indexPath, 'not valid JSON', e);
  }
  // The loader's check (plain shard names in the model directory), so both report a bad index alike.
  return [...new Set(Object.values(checkWeightMap(indexPath, index)))].sort();
}

export interface FingerprintOptions {
  /** Where digests of files outside the Hub cache are remembered (default: defaultDigestCache()). */
  cache?: DigestCache;
}

/** sha-256 (hex) of a file's bytes: a Hub blob's name, a remembered digest, or hashed now. */
export async function fileDigest(fs: FileSystem, path: string, opts: FingerprintOptions = {}): Promise<string> {
  const real = fs.realPath ? await fs.realPath(path) : path;
  const blob = HUB_BLOB.exec(real);
  if (blob) return blob[1];
  const cache = opts.cache ?? defaultDigestCache();
  const st = fs.stat ? await fs.stat(path) : null;
  const key = st ? `${real}\0${st.size}\0${st.mtimeMs}` : null;
  const known = key ? await cache.get(key) : undefined;
  if (known) return known;
  const digest = fs.sha256 ? await fs.sha256(path) : await sha256Hex(await fs.readBytes(path));
  if (key) await cache.set(key, digest);
  return digest;
}

/** sha-256 over named parts: each as name, NUL, length, NUL, bytes (so no two lists collide). */
async function hashParts(parts: [string, Uint8Array][]): Promise<string> {
  const enc = new TextEncoder();
  const chunks = parts.flatMap(([name, bytes]) => [enc.encode(`${name}\0${bytes.length}\0`), bytes]);
  const all = new Uint8Array(chunks.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of chunks) {
    all.set(p, o);
    o += p.length;
  }
  return sha256Hex(all);
}

/** sha-256 (hex) over the model directory's metadata files and its weight files' digests. */
export async function modelFingerprint(fs: FileSystem, dir: string, opts: FingerprintOptions = {}): Promise<string> {
  const parts: [string, Uint8Array][] = [];
  for (const name of META_FILES) {
    const bytes = await readOptionalBytes(fs, fs.join(dir, name)); // the loader warns about a fallback page
    if (bytes) parts.push([name, bytes]);
  }
  const enc = new TextEncoder();
  for (const name of await safetensorsFiles(fs, dir)) parts.push([`${name}#sha256`, enc.encode(await fileDigest(fs, fs.join(dir, name), opts))]);
  return hashParts(parts);
}

/** sha-256 (hex) over a PEFT adapter directory: its config and its weights' digest. */
export async function adapterFingerprint(fs: FileSystem, dir: string, opts: FingerprintOptions = {}): Promise<string> {
  const parts: [string, Uint8Array][] = [];
  const enc = new TextEncoder();
  for (const name of ['adapter_config.json', 'adapter_model.safetensors']) {
    const path = fs.join(dir, name);
    if (!(await fs.exists(path))) continue;
    parts.push(name.endsWith('.json') ? [name, await fs.readBytes(path)] : [`${name}#sha256`, enc.encode(await fileDigest(fs, path, opts))]);
  }
  return hashParts(parts);
}
