// safetensors reader/writer. Written here rather than taken from a package because the format is
// ~100 lines (8-byte length, JSON header, raw bytes) and the maintained JS readers either load the
// whole file into memory or depend on Node; we need ranged reads through the platform adapter so a
// multi-GB checkpoint streams tensor by tensor in Node, Deno and the browser alike.

import { modelFormatError, unsupportedError } from '../errors.ts';
import type { FileSystem } from '../platform/types.ts';
import { isObject, jsonKind, show } from '../util/json.ts';

export type SafetensorsDType = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U64' | 'U32' | 'U16' | 'U8' | 'BOOL' | 'F8_E4M3' | 'F8_E5M2';

// Every dtype of the format's reference implementation (safetensors' `Dtype`), so a valid file with
// one we cannot compute in gets UNSUPPORTED from checkDType rather than "unknown dtype".
const DTYPE_BYTES: Readonly<Record<string, number>> = Object.freeze({
  F64: 8,
  I64: 8,
  U64: 8,
  F32: 4,
  I32: 4,
  U32: 4,
  F16: 2,
  BF16: 2,
  I16: 2,
  U16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
  F8_E4M3: 1,
  F8_E5M2: 1,
});

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

// The reference implementation's limit (MAX_HEADER_SIZE); real headers are ~100 KB, so anything
// beyond is a corrupt length field.
const MAX_HEADER_BYTES = 100_000_000;

async function readHeaderLength(fs: FileSystem, file: string, fileSize: number): Promise<number> {
  if (fileSize < 8) throw modelFormatError(file, `truncated safetensors file (${fileSize} bytes; a valid file has an 8-byte header length first)`);
  const lenBytes = await fs.readBytes(file, 0, 8);
  const headerLen = new DataView(lenBytes.buffer, lenBytes.byteOffset, 8).getBigUint64(0, true);
  if (headerLen < 2n)
    throw modelFormatError(
      file,
      `safetensors header length is ${headerLen} bytes; even an empty header ("{}") needs 2 (the file is corrupt or not safetensors)`,
    );
  if (headerLen > BigInt(MAX_HEADER_BYTES)) {
    throw modelFormatError(
      file,
      `safetensors header length ${headerLen} exceeds the format's ${MAX_HEADER_BYTES}-byte limit (the file is corrupt or not safetensors)`,
    );
  }
  if (8n + headerLen > BigInt(fileSize)) {
    throw modelFormatError(
      file,
      `safetensors header claims ${headerLen} bytes but the file has ${fileSize}: the file is truncated or not safetensors (re-download it)`,
    );
  }
  return Number(headerLen);
}

function parseHeaderJson(file: string, bytes: Uint8Array): { json: Record<string, unknown>; text: string } {
  // The format: the header MUST begin with "{" (so no byte-order mark, no leading space).
  if (bytes[0] !== 0x7b) throw modelFormatError(file, 'safetensors header must be a JSON object beginning with "{" (the file is corrupt or not safetensors)');
  let text: string, json: unknown;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch (e) {
    throw modelFormatError(file, 'safetensors header is not valid UTF-8 (the file is corrupt; re-download it)', e);
  }
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw modelFormatError(file, 'safetensors header is not valid JSON (the file is corrupt; re-download it)', e);
  }
  if (!isObject(json)) throw modelFormatError(file, `safetensors header must be a JSON object, got ${jsonKind(json)}`);
  return { json, text };
}

/**
 * The first key that the header object holds twice, or null. JSON.parse keeps the last of equal
 * keys without a word, so a header naming one tensor twice would load one of them and leave the
 * other's bytes unexplained. The text is valid JSON here (JSON.parse accepted it), so a scan that
 * tracks strings and nesting depth is enough: a string at depth 1 followed by ":" is a key.
 */
function duplicateKey(text: string): string | null {
  const seen = new Set<string>();
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === '"') {
      const start = i;
      for (i++; text[i] !== '"'; i++) if (text[i] === '\\') i++;
      if (depth !== 1) continue;
      let j = i + 1;
      while (text[j] === ' ' || text[j] === '\t' || text[j] === '\n' || text[j] === '\r') j++;
      if (text[j] !== ':') continue;
      // Decode the escapes: "a" and "\u0061" are the same key to JSON.parse.
      const key = JSON.parse(text.slice(start, i + 1)) as string;
      if (seen.has(key)) return key;
      seen.add(key);
    } else if (ch === '{' || ch === '[') depth++;
    else if (ch === '}' || ch === ']') depth--;
  }
  return null;
}

interface Span {
  name: string;
  dtype: SafetensorsDType;
  shape: number[];
  begin: number;
  end: number;
}

const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;

function parseEntry(file: string, name: string, raw: unknown, dataSize: number): Span {
  const where = `tensor "${name}"`;
  if (!isObject(raw)) throw modelFormatError(file, `${where}: header entry must be an object with dtype, shape and data_offsets, got ${show(raw)}`);
  const { dtype, shape, data_offsets: offsets } = raw;
  // hasOwn: a plain lookup would take "constructor" or "toString" for a dtype.
  if (typeof dtype !== 'string' || !Object.hasOwn(DTYPE_BYTES, dtype)) {
    throw modelFormatError(file, `${where}: dtype must be one of ${Object.keys(DTYPE_BYTES).join(', ')}, got ${show(dtype)}`);
  }
  if (!Array.isArray(shape) || !shape.every(isCount))
    throw modelFormatError(file, `${where}: shape must be a list of non-negative integers, got ${show(shape)}`);
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount)) {
    throw modelFormatError(file, `${where}: data_offsets must be [begin, end] with two non-negative integers, got ${show(offsets)}`);
  }
  const [begin, end] = offsets as [number, number];
  if (begin > end) throw modelFormatError(file, `${where}: data_offsets [${begin}, ${end}] end before they begin`);
  if (end > dataSize)
    throw modelFormatError(file, `${where}: data_offsets [${begin}, ${end}] lie outside the ${dataSize}-byte data section (the file is truncated or corrupt)`);
  const count = shape.reduce((a: number, b: number) => a * b, 1);
  const bytes = count * DTYPE_BYTES[dtype];
  if (!Number.isSafeInteger(bytes)) throw modelFormatError(file, `${where}: shape [${shape.join(', ')}] is too large to be real (the header is corrupt)`);
  if (end - begin !== bytes)
    throw modelFormatError(file, `${where} is ${dtype} [${shape.join(', ')}] = ${bytes} bytes but its data_offsets span ${end - begin}`);
  return { name, dtype: dtype as SafetensorsDType, shape: shape as number[], begin, end };
}

/**
 * The format requires the data section to be the tensors' bytes back to back: "the byte buffer
 * needs to be entirely indexed, and cannot contain holes". An overlap would make two tensors read
 * the same bytes (a silently wrong model); a gap or trailing bytes mean corrupted offsets.
 */
function checkCoverage(file: string, spans: Span[], dataSize: number): void {
  const sorted = [...spans].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let pos = 0;
  let prev = 'the start of the data section';
  for (const s of sorted) {
    const where = `tensor "${s.name}" data_offsets [${s.begin}, ${s.end}]`;
    if (s.begin < pos) throw modelFormatError(file, `${where} overlap ${prev}, which ends at ${pos} (tensors must not share bytes)`);
    if (s.begin > pos) throw modelFormatError(file, `${where} leave a ${s.begin - pos}-byte hole after ${prev} (the format allows no holes)`);
    pos = s.end;
    prev = `tensor "${s.name}"`;
  }
  if (pos !== dataSize) {
    throw modelFormatError(
      file,
      `the data section has ${dataSize} bytes but the tensors' data_offsets cover ${pos}: ${dataSize - pos} bytes after ${prev} belong to no tensor (corrupt header or appended data)`,
    );
  }
}

function parseMetadata(file: string, raw: unknown): Record<string, string> {
  // The reference reader takes null as "no metadata" (an Option in Rust).
  if (raw === null) return {};
  if (!isObject(raw)) throw modelFormatError(file, `__metadata__ must be an object of string values, got ${show(raw)}`);
  for (const [k, v] of Object.entries(raw)) {
    if (typeof v !== 'string') throw modelFormatError(file, `__metadata__["${k}"] must be a string (metadata holds only strings), got ${show(v)}`);
  }
  return raw as Record<string, string>;
}

export async function readSafetensorsHeader(fs: FileSystem, file: string): Promise<SafetensorsHeader> {
  const fileSize = await fs.size(file);
  const headerLen = await readHeaderLength(fs, file, fileSize);
  const { json, text } = parseHeaderJson(file, await fs.readBytes(file, 8, headerLen));
  const dup = duplicateKey(text);
  if (dup !== null) throw modelFormatError(file, `safetensors header names "${dup}" twice (each tensor name must appear once; the file is corrupt)`);
  const dataStart = 8 + headerLen;
  const dataSize = fileSize - dataStart;
  const spans: Span[] = [];
  let metadata: Record<string, string> = {};
  for (const [name, raw] of Object.entries(json)) {
    if (name === '__metadata__') metadata = parseMetadata(file, raw);
    else spans.push(parseEntry(file, name, raw, dataSize));
  }
  checkCoverage(file, spans, dataSize);
  const tensors = new Map<string, TensorEntry>();
  for (const s of spans) tensors.set(s.name, { name: s.name, dtype: s.dtype, shape: s.shape, offset: dataStart + s.begin, byteLength: s.end - s.begin, file });
  return { file, tensors, metadata };
}

export async function readTensorBytes(fs: FileSystem, entry: TensorEntry): Promise<Uint8Array> {
  const bytes = await fs.readBytes(entry.file, entry.offset, entry.byteLength);
  if (bytes.byteLength !== entry.byteLength)
    throw modelFormatError(entry.file, `tensor "${entry.name}": file ended after ${bytes.byteLength} of ${entry.byteLength} bytes (truncated)`);
  return bytes;
}

export function checkDType(entry: TensorEntry, allowed: readonly string[]): void {
  if (!allowed.includes(entry.dtype)) {
    throw unsupportedError(
      entry.file,
      `tensor "${entry.name}" has dtype ${entry.dtype}; supported: ${allowed.join(', ')} (convert the checkpoint, e.g. with transformers' save_pretrained in bfloat16)`,
    );
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
