// safetensors reader/writer. Written here rather than taken from a package because the format is
// ~100 lines (8-byte length, JSON header, raw bytes) and the maintained JS readers either load the
// whole file into memory or depend on Node; we need ranged reads through the platform adapter so a
// multi-GB checkpoint streams tensor by tensor in Node, Deno and the browser alike.

import { modelFormatError, unsupportedError } from '../errors.ts';
import type { FileSystem } from '../platform/types.ts';

export type SafetensorsDType = 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'F64' | 'I8' | 'U8' | 'I16' | 'BOOL' | 'F8_E4M3' | 'F8_E5M2';

const DTYPE_BYTES: Record<string, number> = { F64: 8, I64: 8, F32: 4, I32: 4, F16: 2, BF16: 2, I16: 2, I8: 1, U8: 1, BOOL: 1, F8_E4M3: 1, F8_E5M2: 1 };

export interface TensorEntry {
  name: string;
  dtype: SafetensorsDType;
  shape: number[];
  /** Absolute byte offset of the data in the file. */
  offset: number;
  byteLength: number;
  file: string;
}

export interface SafetensorsHeader {
  file: string;
  tensors: Map<string, TensorEntry>;
  metadata: Record<string, string>;
}

// JSON headers of real checkpoints are ~100 KB; anything beyond this is a corrupt length field.
const MAX_HEADER_BYTES = 100 * 1024 * 1024;

export async function readSafetensorsHeader(fs: FileSystem, file: string): Promise<SafetensorsHeader> {
  const fileSize = await fs.size(file);
  if (fileSize < 8) throw modelFormatError(file, `truncated safetensors file (${fileSize} bytes; a valid file has an 8-byte header length first)`);
  const lenBytes = await fs.readBytes(file, 0, 8);
  const view = new DataView(lenBytes.buffer, lenBytes.byteOffset, 8);
  const headerLen = Number(view.getBigUint64(0, true));
  if (headerLen > MAX_HEADER_BYTES || 8 + headerLen > fileSize) {
    throw modelFormatError(file, `safetensors header claims ${headerLen} bytes but the file has ${fileSize}: the file is truncated or not safetensors (re-download it)`);
  }
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(new TextDecoder().decode(await fs.readBytes(file, 8, headerLen)));
  } catch (e) {
    throw modelFormatError(file, 'safetensors header is not valid JSON (the file is corrupt; re-download it)', e);
  }
  const dataStart = 8 + headerLen;
  const dataSize = fileSize - dataStart;
  const tensors = new Map<string, TensorEntry>();
  let metadata: Record<string, string> = {};
  for (const [name, raw] of Object.entries(json)) {
    if (name === '__metadata__') {
      metadata = (raw ?? {}) as Record<string, string>;
      continue;
    }
    const e = raw as { dtype?: string; shape?: number[]; data_offsets?: [number, number] };
    const where = `tensor "${name}"`;
    if (typeof e?.dtype !== 'string' || !Array.isArray(e.shape) || !Array.isArray(e.data_offsets) || e.data_offsets.length !== 2) {
      throw modelFormatError(file, `${where} has a malformed header entry (needs dtype, shape, data_offsets)`);
    }
    const bytes = DTYPE_BYTES[e.dtype];
    if (bytes === undefined) throw modelFormatError(file, `${where} has unknown dtype ${e.dtype}`);
    const [begin, end] = e.data_offsets;
    const count = e.shape.reduce((a, b) => a * b, 1);
    if (!Number.isSafeInteger(begin) || !Number.isSafeInteger(end) || begin < 0 || end < begin || end > dataSize) {
      throw modelFormatError(file, `${where} data_offsets [${begin}, ${end}] lie outside the ${dataSize}-byte data section (the file is truncated or corrupt)`);
    }
    if (end - begin !== count * bytes) {
      throw modelFormatError(file, `${where} is ${e.dtype} [${e.shape.join(', ')}] = ${count * bytes} bytes but its data_offsets span ${end - begin}`);
    }
    tensors.set(name, { name, dtype: e.dtype as SafetensorsDType, shape: e.shape, offset: dataStart + begin, byteLength: end - begin, file });
  }
  return { file, tensors, metadata };
}

export async function readTensorBytes(fs: FileSystem, entry: TensorEntry): Promise<Uint8Array> {
  const bytes = await fs.readBytes(entry.file, entry.offset, entry.byteLength);
  if (bytes.byteLength !== entry.byteLength) throw modelFormatError(entry.file, `tensor "${entry.name}": file ended after ${bytes.byteLength} of ${entry.byteLength} bytes (truncated)`);
  return bytes;
}

export function checkDType(entry: TensorEntry, allowed: readonly string[]): void {
  if (!allowed.includes(entry.dtype)) {
    throw unsupportedError(entry.file, `tensor "${entry.name}" has dtype ${entry.dtype}; supported: ${allowed.join(', ')} (convert the checkpoint, e.g. with transformers' save_pretrained in bfloat16)`);
  }
}

export interface TensorToWrite {
  name: string;
  dtype: 'F32' | 'F16' | 'BF16';
  shape: number[];
  data: Uint8Array;
}

/** Serialise tensors (sorted by name, as the Python library does) with optional string metadata. */
export function encodeSafetensors(tensors: TensorToWrite[], metadata?: Record<string, string>): Uint8Array {
  const sorted = [...tensors].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let off = 0;
  for (const t of sorted) {
    const want = t.shape.reduce((a, b) => a * b, 1) * DTYPE_BYTES[t.dtype];
    if (want !== t.data.byteLength) throw new RangeError(`tensor ${t.name}: ${t.data.byteLength} bytes for ${t.dtype} [${t.shape}]`);
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [off, off + t.data.byteLength] };
    off += t.data.byteLength;
  }
  let json = new TextEncoder().encode(JSON.stringify(header));
  // Pad the header with spaces to a multiple of 8 so the data section is aligned.
  const padded = Math.ceil(json.byteLength / 8) * 8;
  if (padded !== json.byteLength) {
    const p = new Uint8Array(padded).fill(0x20);
    p.set(json);
    json = p;
  }
  const out = new Uint8Array(8 + json.byteLength + off);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.byteLength), true);
  out.set(json, 8);
  let pos = 8 + json.byteLength;
  for (const t of sorted) {
    out.set(t.data, pos);
    pos += t.data.byteLength;
  }
  return out;
}
