// Q8_0, llama.cpp's 8-bit block format (ggml-common.h `block_q8_0`; ggml-quants.c
// `quantize_row_q8_0_ref`): each run of 32 values along a row becomes 34 bytes,
//   d   f16 (little-endian)  the scale, max|x| / 127
//   qs  32 × int8            round(x / d), rounded half away from zero
// Written here rather than taken from a package: no maintained JS package produces these bytes, and
// the rule is a dozen lines. Every step is rounded to f32 as the reference does in float32 (C `float`
// in ggml, numpy float32 in gguf-py's `quants.Q8_0`), so the bytes equal `gguf.quants.quantize(…,
// GGMLQuantizationType.Q8_0)` bit for bit (test/quant.test.ts checks it on committed fixtures).
//
// Note the reference's detail kept here: the values are divided by the f32 scale (1/d in f32), and
// only then is d rounded to f16 for storage, so dequantization (f16 d × q) differs from x by more
// than the rounding of q alone.

import { f16ToF32, f32ToF16 } from '../util/dtype.ts';

export const QK8_0 = 32;
export const Q8_0_BLOCK_BYTES = 2 + QK8_0;

const fround = Math.fround;

/** Round half away from zero (C `roundf`, gguf-py's np_roundf). Exact here: |v| ≤ ~127 is an f32,
 * so |v| + 0.5 is exact in f64 wherever it could reach the next integer. */
function roundHalfAway(v: number): number {
  return v < 0 ? -Math.floor(-v + 0.5) : Math.floor(v + 0.5);
}

/**
 * Quantize `values` (row-major; a multiple of 32 long, rows a multiple of 32 so blocks never
 * straddle rows) to Q8_0 blocks. Values must be finite (a NaN/±Inf block throws RangeError).
 */
export function quantizeQ8_0(values: Float32Array): Uint8Array {
  if (values.length % QK8_0 !== 0) throw new RangeError(`Q8_0: ${values.length} values is not a multiple of ${QK8_0}`);
  const blocks = values.length / QK8_0;
  const out = new Uint8Array(blocks * Q8_0_BLOCK_BYTES);
  const view = new DataView(out.buffer);
  for (let b = 0; b < blocks; b++) {
    const base = b * QK8_0;
    let amax = 0;
    for (let j = 0; j < QK8_0; j++) {
      const a = Math.abs(values[base + j]);
      if (a > amax) amax = a;
      else if (Number.isNaN(a)) amax = a; // NaN: caught below
    }
    if (!Number.isFinite(amax)) throw new RangeError(`Q8_0: block ${b} holds a non-finite value`);
    const d = fround(amax / 127);
    const id = d === 0 ? 0 : fround(1 / d);
    const o = b * Q8_0_BLOCK_BYTES;
    view.setUint16(o, f32ToF16(d), true);
    for (let j = 0; j < QK8_0; j++) view.setInt8(o + 2 + j, roundHalfAway(fround(values[base + j] * id)));
  }
  return out;
}

/** Q8_0 blocks → f32 (d as f16 → f32, times each int8, in f32): what a Q8_0 kernel must compute with. */
export function dequantizeQ8_0(bytes: Uint8Array, count: number): Float32Array {
  if (count % QK8_0 !== 0 || bytes.byteLength !== (count / QK8_0) * Q8_0_BLOCK_BYTES) {
    throw new RangeError(`Q8_0: ${bytes.byteLength} bytes do not hold ${count} values`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(count);
  for (let b = 0; b < count / QK8_0; b++) {
    const o = b * Q8_0_BLOCK_BYTES;
    const d = f16ToF32(view.getUint16(o, true));
    for (let j = 0; j < QK8_0; j++) out[b * QK8_0 + j] = fround(d * view.getInt8(o + 2 + j));
  }
  return out;
}
