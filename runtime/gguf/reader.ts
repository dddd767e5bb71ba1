// GGUF header parsing (layout in format.ts): the key/values and tensor infos of a file's first
// bytes. Used by the tests to read exported files back, and the start of loading `.gguf` experts.

import { modelFormatError } from '../errors.ts';
import { alignUp, GGUF_ALIGNMENT, GGUF_MAGIC, VALUE_TYPE } from './format.ts';

export type GgufPlain = number | bigint | string | boolean | GgufPlain[];

export interface GgufTensorEntry {
  name: string;
  /** PyTorch order (the file's ggml order reversed). */
  shape: number[];
  /** ggml_type id. */
  ggmlType: number;
  /** Absolute byte offset of the data in the file. */
  offset: number;
}

export interface GgufHeader {
  version: number;
  metadata: Map<string, GgufPlain>;
  tensors: GgufTensorEntry[];
  dataOffset: number;
}

const KIND_BY_ID = new Map<number, string>(Object.entries(VALUE_TYPE).map(([k, v]) => [v, k]));

class Cursor {
  pos = 0;
  private readonly view: DataView;
  constructor(
    private readonly bytes: Uint8Array,
    private readonly file: string,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  need(n: number): void {
    if (this.pos + n > this.bytes.byteLength)
      throw modelFormatError(this.file, `GGUF header is truncated at byte ${this.pos} (the file is damaged or not GGUF)`);
  }
  u8() {
    this.need(1);
    return this.view.getUint8(this.pos++);
  }
  u32() {
    this.need(4);
    const v = this.view.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }
  u64(): number {
    this.need(8);
    const v = this.view.getBigUint64(this.pos, true);
    this.pos += 8;
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw modelFormatError(this.file, `GGUF count or offset ${v} is too large (the file is damaged)`);
    return Number(v);
  }
  string(): string {
    const n = this.u64();
    this.need(n);
    const s = new TextDecoder('utf-8', { fatal: false }).decode(this.bytes.subarray(this.pos, this.pos + n));
    this.pos += n;
    return s;
  }
  value(kind: string): GgufPlain {
    const v = this.view;
    const step = (n: number) => {
      this.need(n);
      const p = this.pos;
      this.pos += n;
      return p;
    };
    switch (kind) {
      case 'u8':
        return v.getUint8(step(1));
      case 'i8':
        return v.getInt8(step(1));
      case 'u16':
        return v.getUint16(step(2), true);
      case 'i16':
        return v.getInt16(step(2), true);
      case 'u32':
        return v.getUint32(step(4), true);
      case 'i32':
        return v.getInt32(step(4), true);
      case 'f32':
        return v.getFloat32(step(4), true);
      case 'f64':
        return v.getFloat64(step(8), true);
      case 'u64':
        return v.getBigUint64(step(8), true);
      case 'i64':
        return v.getBigInt64(step(8), true);
      case 'bool':
        return v.getUint8(step(1)) !== 0;
      case 'string':
        return this.string();
      case 'array': {
        const item = this.kind();
        const n = this.u64();
        const out: GgufPlain[] = [];
        for (let i = 0; i < n; i++) out.push(this.value(item));
        return out;
      }
    }
    throw modelFormatError(this.file, `unknown GGUF value type "${kind}"`);
  }
  kind(): string {
    const id = this.u32();
    const k = KIND_BY_ID.get(id);
    if (!k) throw modelFormatError(this.file, `unknown GGUF value type ${id} at byte ${this.pos - 4}`);
    return k;
  }
}

/** Parse the header of a GGUF file whose first bytes (at least the whole header) are `bytes`. */
export function parseGgufHeader(bytes: Uint8Array, file = 'GGUF file'): GgufHeader {
  const c = new Cursor(bytes, file);
  if (c.u32() !== GGUF_MAGIC) throw modelFormatError(file, 'not a GGUF file (no "GGUF" magic at the start)');
  const version = c.u32();
  if (version < 2 || version > 3) throw modelFormatError(file, `GGUF version ${version} is not supported (2 and 3 are)`);
  const tensorCount = c.u64();
  const kvCount = c.u64();
  const metadata = new Map<string, GgufPlain>();
  for (let i = 0; i < kvCount; i++) {
    const key = c.string();
    metadata.set(key, c.value(c.kind()));
  }
  const entries: { name: string; shape: number[]; ggmlType: number; rel: number }[] = [];
  for (let i = 0; i < tensorCount; i++) {
    const name = c.string();
    const dims = c.u32();
    const ggmlOrder: number[] = [];
    for (let d = 0; d < dims; d++) ggmlOrder.push(c.u64());
    entries.push({ name, shape: ggmlOrder.reverse(), ggmlType: c.u32(), rel: c.u64() });
  }
  const alignment = Number(metadata.get('general.alignment') ?? GGUF_ALIGNMENT);
  const dataOffset = alignUp(c.pos, alignment);
  return { version, metadata, dataOffset, tensors: entries.map((e) => ({ name: e.name, shape: e.shape, ggmlType: e.ggmlType, offset: dataOffset + e.rel })) };
}
