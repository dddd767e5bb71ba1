// Accessor template for a Q4_0 weight (llama.cpp's block_q4_0, runtime/quant/q4_0.ts) kept as the
// file's bytes: block b (values 32b..32b+31, rows a multiple of 32 long) is 18 bytes at byte 18b,
// an f16 scale d then 16 bytes whose byte j holds value j in its low nibble and value j + 16 in its
// high nibble; value = f32(q − 8) · f32(d), as the reference dequantizes. The file layout is kept
// for the reasons load-q8-0.wgsl gives (exact byte count, plain upload, chunks at block
// boundaries); 18b is even, so d is half of a u32 word and four consecutive quant bytes fill one
// word or straddle two at a 16-bit offset.
@group(0) @binding($binding) var<storage, read> $name_data: array<u32>;
fn $name_scale(b: u32) -> f32 {
  let byte = b * 18u;
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
  let i = e & 31u;
  let byte = b * 18u + 2u + (i & 15u);
  let q = extractBits($name_data[byte >> 2u], (byte & 3u) * 8u + (i >> 4u) * 4u, 4u);
  return (f32(q) - 8.0) * $name_scale(b);
}
fn $name_at4(q: u32) -> vec4<f32> {
  let b = q >> 3u;
  let i = (q & 7u) * 4u; // first of the 4 values in the block: 0, 4, …, 28
  // bytes i..i+3 (low nibbles) for values 0..15, bytes i−16..i−13 (high nibbles) for 16..31
  let v = ($name_word(b * 18u + 2u + (i & 15u)) >> ((i >> 4u) * 4u)) & 0x0f0f0f0fu;
  let n = vec4<u32>(v, v >> 8u, v >> 16u, v >> 24u) & vec4<u32>(0xffu);
  return (vec4<f32>(n) - 8.0) * $name_scale(b);
}
