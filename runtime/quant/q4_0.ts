// Q4_0, llama.cpp's 4-bit block format (ggml-common.h `block_q4_0`; ggml-quants.c
// `quantize_row_q4_0_ref`): each run of 32 values along a row becomes 18 bytes,
//   d   f16 (little-endian)  the scale: the value of largest magnitude (its sign kept) / -8
//   qs  16 bytes             q = trunc(x/d + 8.5) clamped to 0..15 (x ≈ d·(q − 8)); byte j holds
//                            value j in its low nibble and value j+16 in its high nibble
// The signed scale maps the extreme value to q = 0 exactly (−8·d) and leaves q = 15 for +7·d, so a
// block spends its 16 levels asymmetrically toward its largest value. When several values share the
// largest magnitude, the first one (in row order) sets the sign, as numpy's argmax in gguf-py does.
// Written here (no JS package produces these bytes); every step is rounded to f32 as the reference
// does in float32, including the add of 8.5 before truncation, so the bytes equal
// `gguf.quants.quantize(…, GGMLQuantizationType.Q4_0)` (checked in test/quant.test.ts).

import { f16ToF32, f32ToF16 } from '../util/dtype.ts';

export const QK4_0 = 32;
export const Q4_0_BLOCK_BYTES = 2 + QK4_0 / 2;

const fround = Math.fround;

/** Quantize `values` (row-major, rows a multiple of 32 long) to Q4_0 blocks; values must be finite. */
export function quantizeQ4_0(values: Float32Array): Uint8Array {
  if (values.length % QK4_0 !== 0) throw new RangeError(`Q4_0: ${values.length} values is not a multiple of ${QK4_0}`);
  const blocks = values.length / QK4_0;
  const out = new Uint8Array(blocks * Q4_0_BLOCK_BYTES);
  const view = new DataView(out.buffer);
  const q = new Uint8Array(QK4_0);
  for (let b = 0; b < blocks; b++) {
    const base = b * QK4_0;
    let amax = 0;
    let max = 0;
    for (let j = 0; j < QK4_0; j++) {
      const v = values[base + j];
      if (!Number.isFinite(v)) throw new RangeError(`Q4_0: block ${b} holds a non-finite value`);
      // Strictly greater: the first of equal magnitudes wins.
      if (Math.abs(v) > amax) {
        amax = Math.abs(v);
        max = v;
      }
    }
    const d = fround(max / -8);
    const id = d === 0 ? 0 : fround(1 / d);
    for (let j = 0; j < QK4_0; j++) {
      const t = Math.trunc(fround(fround(values[base + j] * id) + 8.5));
      q[j] = t < 0 ? 0 : t > 15 ? 15 : t;
    }
    const o = b * Q4_0_BLOCK_BYTES;
    view.setUint16(o, f32ToF16(d), true);
    for (let j = 0; j < QK4_0 / 2; j++) out[o + 2 + j] = q[j] | (q[j + QK4_0 / 2] << 4);
  }
  return out;
}

/** Q4_0 blocks → f32: d (f16 → f32) × (q − 8), in f32. */
export function dequantizeQ4_0(bytes: Uint8Array, count: number): Float32Array {
  if (count % QK4_0 !== 0 || bytes.byteLength !== (count / QK4_0) * Q4_0_BLOCK_BYTES) {
    throw new RangeError(`Q4_0: ${bytes.byteLength} bytes do not hold ${count} values`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(count);
  const half = QK4_0 / 2;
  for (let b = 0; b < count / QK4_0; b++) {
    const o = b * Q4_0_BLOCK_BYTES;
    const d = f16ToF32(view.getUint16(o, true));
    for (let j = 0; j < half; j++) {
      const byte = bytes[o + 2 + j];
      out[b * QK4_0 + j] = fround(d * ((byte & 0x0f) - 8));
      out[b * QK4_0 + j + half] = fround(d * ((byte >> 4) - 8));
    }
  }
  return out;
}
