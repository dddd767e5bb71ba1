// Accessor template for an f16 weight on a device without shader-f16: the same packed layout as
// bf16 (element e is half (e & 1) of word e >> 1), unpacked with unpack2x16float.
@group(0) @binding($binding) var<storage, read> $name_data: array<vec2<u32>>;
fn $name_at(e: u32) -> f32 {
  return unpack2x16float($name_data[e >> 2u][(e >> 1u) & 1u])[e & 1u];
}
fn $name_at4(q: u32) -> vec4<f32> {
  let w = $name_data[q];
  return vec4<f32>(unpack2x16float(w.x), unpack2x16float(w.y));
}
