// Fingerprints that tie a sampling run to its models and data, so a resume with other models is
// refused. A model's fingerprint hashes config.json, generation_config.json and the tokenizer
// files (they decide the prompt ids and EOS) plus each safetensors file's header (names, dtypes,
// shapes and offsets) — not the weight bytes: hashing gigabytes per resume would cost minutes,
// and a re-saved or re-quantised checkpoint changes its header anyway.

import { modelFormatError } from '../errors.ts';
import { checkWeightMap } from '../model/weights.ts';
import type { FileSystem } from '../platform/types.ts';

export async function sha256Hex(data: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', data as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}

const META_FILES = ['config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json', 'chat_template.jinja'];

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

/** sha-256 (hex) over the model directory's metadata files and safetensors headers. */
export async function modelFingerprint(fs: FileSystem, dir: string): Promise<string> {
  const parts: Uint8Array[] = [];
  const enc = new TextEncoder();
  const add = (name: string, bytes: Uint8Array) => parts.push(enc.encode(`${name}\0${bytes.length}\0`), bytes);
  for (const name of META_FILES) {
    const path = fs.join(dir, name);
    if (await fs.exists(path)) add(name, await fs.readBytes(path));
  }
  for (const name of await safetensorsFiles(fs, dir)) {
    const path = fs.join(dir, name);
    const len = await fs.readBytes(path, 0, 8);
    if (len.length < 8) throw modelFormatError(path, 'truncated safetensors file');
    const headerLen = Number(new DataView(len.buffer, len.byteOffset, 8).getBigUint64(0, true));
    add(name, await fs.readBytes(path, 8, Math.min(headerLen, 100 * 1024 * 1024)));
  }
  const all = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    all.set(p, o);
    o += p.length;
  }
  return sha256Hex(all);
}
