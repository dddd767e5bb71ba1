// Accessor template for a bf16 weight kept packed on the GPU: element e is half (e & 1) of u32
// word e >> 1 (little-endian, so the even element is the low half). A bf16 is the top 16 bits of
// an f32, so unpacking is a shift or a mask. Declared as vec2<u32> so at4 is one 8-byte load.
@group(0) @binding($binding) var<storage, read> $name_data: array<vec2<u32>>;
fn $name_at(e: u32) -> f32 {
  let word = $name_data[e >> 2u][(e >> 1u) & 1u];
  return bitcast<f32>(select(word << 16u, word & 0xffff0000u, (e & 1u) == 1u));
}
fn $name_at4(q: u32) -> vec4<f32> {
  let w = $name_data[q];
  return bitcast<vec4<f32>>(vec4<u32>(w.x << 16u, w.x & 0xffff0000u, w.y << 16u, w.y & 0xffff0000u));
}
