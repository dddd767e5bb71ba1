// GGUF header encoding (layout in format.ts). The tensor data is not held here: the header needs
// only each tensor's name, shape, type and byte size, so an exporter writes the header first and
// then streams the tensors one by one, each padded to the alignment (tensorPadding).

import { alignUp, GGML_TYPE, GGUF_ALIGNMENT, GGUF_MAGIC, GGUF_VERSION, type GgufValue, type ScalarKind, VALUE_TYPE } from './format.ts';
import type { WeightType } from '../quant/index.ts';

export interface GgufTensorInfo {
  name: string;
  /** PyTorch order ([out, in] for a weight); written reversed, as ggml counts dimensions. */
  shape: readonly number[];
  type: WeightType;
  byteLength: number;
}

/** A growable little-endian byte buffer. */
class ByteSink {
  private buf = new Uint8Array(1 << 16);
  private view = new DataView(this.buf.buffer);
  length = 0;
  private reserve(n: number): void {
    if (this.length + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.length + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }
  u32(v: number): void {
    this.reserve(4);
    this.view.setUint32(this.length, v, true);
    this.length += 4;
  }
  u64(v: number): void {
    if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`GGUF: ${v} is not a u64 this writer can hold`);
    this.reserve(8);
    this.view.setBigUint64(this.length, BigInt(v), true);
    this.length += 8;
  }
  scalar(kind: ScalarKind, v: number | string | boolean): void {
    const num = () => {
      if (typeof v !== 'number') throw new TypeError(`GGUF: a ${kind} value must be a number, got ${typeof v}`);
      return v;
    };
    switch (kind) {
      case 'string': {
        if (typeof v !== 'string') throw new TypeError(`GGUF: a string value must be a string, got ${typeof v}`);
        const bytes = new TextEncoder().encode(v);
        this.u64(bytes.length);
        this.bytes(bytes);
        return;
      }
      case 'bool':
        this.reserve(1);
        this.buf[this.length++] = v ? 1 : 0;
        return;
      case 'u8':
        this.reserve(1);
        this.view.setUint8(this.length, num());
        this.length += 1;
        return;
      case 'i8':
        this.reserve(1);
        this.view.setInt8(this.length, num());
        this.length += 1;
        return;
      case 'u16':
        this.reserve(2);
        this.view.setUint16(this.length, num(), true);
        this.length += 2;
        return;
      case 'i16':
        this.reserve(2);
        this.view.setInt16(this.length, num(), true);
        this.length += 2;
        return;
      case 'u32':
        this.u32(num());
        return;
      case 'i32':
        this.reserve(4);
        this.view.setInt32(this.length, num(), true);
        this.length += 4;
        return;
      case 'f32':
        this.reserve(4);
        this.view.setFloat32(this.length, num(), true);
        this.length += 4;
        return;
      case 'f64':
        this.reserve(8);
        this.view.setFloat64(this.length, num(), true);
        this.length += 8;
        return;
      case 'u64':
        this.u64(num());
        return;
      case 'i64':
        this.reserve(8);
        this.view.setBigInt64(this.length, BigInt(num()), true);
        this.length += 8;
        return;
    }
  }
  string(s: string): void {
    this.scalar('string', s);
  }
  bytes(b: Uint8Array): void {
    this.reserve(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
  }
  zeros(n: number): void {
    this.reserve(n);
    this.buf.fill(0, this.length, this.length + n);
    this.length += n;
  }
  result(): Uint8Array {
    return this.buf.slice(0, this.length);
  }
}

/**
 * The header of a GGUF v3 file: magic, counts, key/values (in the order given), tensor infos with
 * data offsets (each tensor aligned), and the padding up to the data section.
 */
export function encodeGgufHeader(metadata: ReadonlyArray<[string, GgufValue]>, tensors: readonly GgufTensorInfo[]): Uint8Array {
  const keys = new Set<string>();
  for (const [k] of metadata) {
    if (keys.has(k)) throw new Error(`GGUF: metadata key "${k}" given twice`);
    keys.add(k);
  }
  const s = new ByteSink();
  s.u32(GGUF_MAGIC);
  s.u32(GGUF_VERSION);
  s.u64(tensors.length);
  s.u64(metadata.length);
  for (const [key, v] of metadata) {
    s.string(key);
    s.u32(VALUE_TYPE[v.kind]);
    if (v.kind === 'array') {
      s.u32(VALUE_TYPE[v.itemKind]);
      s.u64(v.values.length);
      for (const item of v.values) s.scalar(v.itemKind, item);
    } else {
      s.scalar(v.kind, v.value);
    }
  }
  let offset = 0;
  for (const t of tensors) {
    s.string(t.name);
    s.u32(t.shape.length);
    for (let i = t.shape.length - 1; i >= 0; i--) s.u64(t.shape[i]);
    s.u32(GGML_TYPE[t.type]);
    s.u64(offset);
    offset = alignUp(offset + t.byteLength);
  }
  s.zeros(alignUp(s.length) - s.length);
  return s.result();
}

/** Zero bytes that follow a tensor of `byteLength` bytes so the next one starts aligned. */
export const tensorPadding = (byteLength: number) => new Uint8Array(alignUp(byteLength, GGUF_ALIGNMENT) - byteLength);
