// Scalar conversions between the 16-bit checkpoint dtypes and f32. Used by the reference backend
// and by tests; the real backends unpack inside their kernels.

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

export function bf16ToF32(bits: number): number {
  u32[0] = (bits & 0xffff) << 16;
  return f32[0];
}

/** Round-to-nearest-even, as torch does when casting to bfloat16. */
export function f32ToBf16(x: number): number {
  f32[0] = x;
  const b = u32[0];
  if ((b & 0x7f800000) === 0x7f800000 && (b & 0x007fffff) !== 0) return 0x7fc0; // NaN
  return ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) & 0xffff;
}

export function f16ToF32(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >>> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/** Round-to-nearest-even f32 → f16 bits. */
export function f32ToF16(x: number): number {
  f32[0] = x;
  const b = u32[0];
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  let mant = b & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    let r = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    if (rem > half || (rem === half && r & 1)) r++;
    return sign | r;
  }
  let r = mant >>> 13;
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && r & 1)) {
    r++;
    if (r === 0x400) {
      r = 0;
      e++;
      if (e >= 31) return sign | 0x7c00;
    }
  }
  return sign | (e << 10) | r;
}

/** Decode raw little-endian weight bytes of any checkpoint dtype into f32. */
export function decodeToF32(dtype: 'f32' | 'f16' | 'bf16', bytes: Uint8Array): Float32Array {
  if (dtype === 'f32') {
    const out = new Float32Array(bytes.byteLength / 4);
    new Uint8Array(out.buffer).set(bytes);
    return out;
  }
  const n = bytes.byteLength / 2;
  const u16 = new Uint16Array(n);
  new Uint8Array(u16.buffer).set(bytes);
  const out = new Float32Array(n);
  const conv = dtype === 'bf16' ? bf16ToF32 : f16ToF32;
  for (let i = 0; i < n; i++) out[i] = conv(u16[i]);
  return out;
}

/** Encode f32 values as raw little-endian bytes of the given dtype (tests, adapters, merge). */
export function encodeFromF32(dtype: 'f32' | 'f16' | 'bf16', values: Float32Array): Uint8Array {
  if (dtype === 'f32') return new Uint8Array(values.slice().buffer);
  const u16 = new Uint16Array(values.length);
  const conv = dtype === 'bf16' ? f32ToBf16 : f32ToF16;
  for (let i = 0; i < values.length; i++) u16[i] = conv(values[i]);
  return new Uint8Array(u16.buffer);
}

/**
 * Index of the first NaN or ±Inf in raw little-endian values of `dtype`, or -1: the exponent bits
 * all set. On the encoded bytes, so an f32 value that overflowed when rounded to f16/bf16 counts.
 *
 * Hand-written because it runs on every weight at load (no library scans raw half-float bits): bit
 * tests on whole 32-bit words, no float conversion. A 16-bit dtype packs two values a word; for
 * each half h, (h & E) + lowest bit of E carries into bit 15 exactly when h's exponent field E is
 * all ones, and cannot carry into the other half, so one add and one test check both values.
 */
export function firstNonFinite(dtype: 'f32' | 'f16' | 'bf16', bytes: Uint8Array): number {
  const unit = dtype === 'f32' ? 4 : 2;
  const n = Math.floor(bytes.byteLength / unit);
  // Word view when the bytes are 4-aligned (fresh reads are); otherwise the per-value fallback.
  if (bytes.byteOffset % 4 !== 0) return firstNonFiniteSlow(dtype, bytes, 0, n);
  const words = new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength >>> 2);
  // f32: one value a word, the same carry trick into bit 31.
  const exp = dtype === 'f32' ? 0x7f800000 : dtype === 'bf16' ? 0x7f807f80 : 0x7c007c00;
  const carry = dtype === 'f32' ? 0x00800000 : dtype === 'bf16' ? 0x00800080 : 0x04000400; // the lowest exponent bit of each value
  const top = dtype === 'f32' ? 0x80000000 : 0x80008000;
  const perWord = 4 / unit;
  // Four words a test (their carries OR-ed), then the slow scan finds the exact value.
  const end4 = words.length & ~3;
  let i = 0;
  for (; i < end4; i += 4) {
    const hit = ((words[i] & exp) + carry) | ((words[i + 1] & exp) + carry) | ((words[i + 2] & exp) + carry) | ((words[i + 3] & exp) + carry);
    if ((hit & top) !== 0) return firstNonFiniteSlow(dtype, bytes, perWord * i, n);
  }
  return firstNonFiniteSlow(dtype, bytes, perWord * i, n); // the last words (and an odd last value)
}

function firstNonFiniteSlow(dtype: 'f32' | 'f16' | 'bf16', bytes: Uint8Array, from: number, n: number): number {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (dtype === 'f32') {
    for (let i = from; i < n; i++) if ((dv.getUint32(4 * i, true) & 0x7f800000) === 0x7f800000) return i;
    return -1;
  }
  const exp = dtype === 'bf16' ? 0x7f80 : 0x7c00;
  for (let i = from; i < n; i++) if ((dv.getUint16(2 * i, true) & exp) === exp) return i;
  return -1;
}

/** The value at element `i` of raw little-endian bytes of `dtype`, as a number (for messages). */
export function valueAt(dtype: 'f32' | 'f16' | 'bf16', bytes: Uint8Array, i: number): number {
  const size = dtype === 'f32' ? 4 : 2;
  return decodeToF32(dtype, bytes.subarray(i * size, (i + 1) * size))[0];
}
