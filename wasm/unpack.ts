// Unpacking of the 16-bit checkpoint dtypes to f32, done in registers: weights live in linear
// memory in their file dtype and are never widened in memory.
//
// Two layouts are offered:
//  * natural order (`unpack4`): four consecutive elements → one f32x4, used where element order
//    matters (embedding rows, norm weights, biases);
//  * pair-split order (`evenOf` / `oddOf`): one 16-byte load of eight 16-bit values gives the four
//    even-indexed and the four odd-indexed elements with only 2–3 ops each, because each i32 lane
//    already holds a pair. Dot products do not care about order, so matmul uses this layout and
//    permutes the (much smaller) activation row the same way once (see packX in matmul.ts).

// dtype codes shared with runtime/backend/wasm/module.ts
export const F32: i32 = 0;
export const F16: i32 = 1;
export const BF16: i32 = 2;

// f16 → f32 by the magic-multiply trick: put the 15 magnitude bits where an f32's exponent and
// mantissa start (<< 13) and multiply by 2^112 to rebias the exponent (15 → 127). Subnormals and
// zero come out exact, because the f32 product of a subnormal pattern is exact too. Inf/NaN are
// NOT special-cased (they would become huge finite numbers): checkpoint weights never hold them.
// The sign is carried by an arithmetic shift: shr_s by 3 of a value whose f16 sits in the top 16
// bits replicates the sign into bits 31..28 and leaves the magnitude in bits 27..13; the mask keeps
// the sign bit and the magnitude, and the multiply preserves the sign.
const F16_MASK: i32 = 0x8fffe000;
const F16_SCALE: f32 = reinterpret<f32>(0x77800000); // 2^112

@inline export function f16HighToF32x4(v: v128): v128 {
  // each i32 lane holds an f16 in bits 31..16
  return f32x4.mul(v128.and(i32x4.shr_s(v, 3), i32x4.splat(F16_MASK)), f32x4.splat(F16_SCALE));
}

/** Even elements (0, 2, 4, 6) of eight 16-bit values loaded as one v128. */
@inline export function evenOf(v: v128, dt: i32): v128 {
  if (dt == BF16) return i32x4.shl(v, 16);
  if (dt == F16) return f16HighToF32x4(i32x4.shl(v, 16));
  return v;
}

/** Odd elements (1, 3, 5, 7) of eight 16-bit values loaded as one v128. */
@inline export function oddOf(v: v128, dt: i32): v128 {
  if (dt == BF16) return v128.and(v, i32x4.splat(<i32>0xffff0000));
  if (dt == F16) return f16HighToF32x4(v);
  return v;
}

/** Four consecutive elements in natural order starting at byte address p. */
@inline export function unpack4(p: usize, dt: i32): v128 {
  if (dt == F32) return v128.load(p);
  const v = i32x4.shl(v128.load16x4_u(p), 16);
  return dt == BF16 ? v : f16HighToF32x4(v);
}

/** Element i of a weight array at p. */
@inline export function unpack1(p: usize, i: i32, dt: i32): f32 {
  if (dt == F32) return load<f32>(p + (<usize>i << 2));
  const h = <i32>load<u16>(p + (<usize>i << 1)) << 16;
  if (dt == BF16) return reinterpret<f32>(h);
  return reinterpret<f32>((h >> 3) & F16_MASK) * F16_SCALE;
}

@inline export function bytesOf(dt: i32): usize {
  return dt == F32 ? 4 : 2;
}

/** Decode 8 consecutive elements at src into f32 at dst (natural order). */
@inline export function widen8(src: usize, dt: i32, dst: usize): void {
  if (dt == F32) {
    v128.store(dst, v128.load(src));
    v128.store(dst, v128.load(src, 16), 16);
    return;
  }
  const v = v128.load(src);
  const lo = i32x4.shl(i32x4.extend_low_i16x8_u(v), 16), hi = i32x4.shl(i32x4.extend_high_i16x8_u(v), 16);
  v128.store(dst, dt == BF16 ? lo : f16HighToF32x4(lo));
  v128.store(dst, dt == BF16 ? hi : f16HighToF32x4(hi), 16);
}

/** Decode n elements of a weight row into f32 at dst (natural order). */
export function widenRow(src: usize, dt: i32, dst: usize, n: i32): void {
  if (dt == F32) {
    memory.copy(dst, src, <usize>n << 2);
    return;
  }
  let j = 0;
  for (; j + 8 <= n; j += 8) widen8(src + (<usize>j << 1), dt, dst + (<usize>j << 2));
  for (; j < n; j++) store<f32>(dst + (<usize>j << 2), unpack1(src, j, dt));
}

/** Horizontal sums of four accumulators: [Σa, Σb, Σc, Σd]. */
@inline export function hsum4(a: v128, b: v128, c: v128, d: v128): v128 {
  const t0 = f32x4.add(f32x4.shuffle(a, b, 0, 4, 1, 5), f32x4.shuffle(a, b, 2, 6, 3, 7));
  const t1 = f32x4.add(f32x4.shuffle(c, d, 0, 4, 1, 5), f32x4.shuffle(c, d, 2, 6, 3, 7));
  return f32x4.add(f32x4.shuffle(t0, t1, 0, 1, 4, 5), f32x4.shuffle(t0, t1, 2, 3, 6, 7));
}

@inline export function hsum(a: v128): f32 {
  const t = f32x4.add(a, f32x4.shuffle(a, a, 2, 3, 0, 1));
  return f32x4.extract_lane(t, 0) + f32x4.extract_lane(t, 1);
}
