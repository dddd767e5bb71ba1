// Accessor template for a Q8_0 weight (llama.cpp's block_q8_0, runtime/quant/q8_0.ts) kept as the
// file's bytes: block b (values 32b..32b+31 of the row-major matrix, rows a multiple of 32 long) is
// 34 bytes at byte 34b, an f16 scale d then 32 int8 quants q, and value = f32(q) · f32(d) exactly as
// the reference dequantizes. The file layout is kept, unaligned, rather than repacked into aligned
// arrays: the GPU holds exactly the bytes the weight-memory checks count (34/32 per value), the
// upload is a plain copy in pieces (memory.ts) with no CPU-side repacking pass, and a chunk of
// whole rows starts at a block boundary, so a split weight needs nothing more. The cost is a few
// shifts: 34b is even, so d is one half of a u32 word (unpack2x16float, no shader-f16 needed), and
// four consecutive quants either fill one word or straddle two words at a 16-bit offset.
@group(0) @binding($binding) var<storage, read> $name_data: array<u32>;
fn $name_scale(b: u32) -> f32 {
  let byte = b * 34u;
  return unpack2x16float($name_data[byte >> 2u])[(byte >> 1u) & 1u];
}
// The 4 bytes starting at even byte offset `byte` (a word, or two half-words) as one u32.
fn $name_word(byte: u32) -> u32 {
  let lo = $name_data[byte >> 2u];
  if ((byte & 2u) == 0u) { return lo; }
  return (lo >> 16u) | ($name_data[(byte >> 2u) + 1u] << 16u);
}
fn $name_at(e: u32) -> f32 {
  let b = e >> 5u;
  let byte = b * 34u + 2u + (e & 31u);
  let q = extractBits(bitcast<i32>($name_data[byte >> 2u]), (byte & 3u) * 8u, 8u);
  return f32(q) * $name_scale(b);
}
fn $name_at4(q: u32) -> vec4<f32> {
  let b = q >> 3u;
  let v = bitcast<i32>($name_word(b * 34u + 2u + (q & 7u) * 4u));
  // each byte moved to the top, then an arithmetic shift back: the int8 sign-extended
  let s = vec4<i32>(v << 24u, v << 16u, v << 8u, v) >> vec4<u32>(24u);
  return vec4<f32>(s) * $name_scale(b);
}
