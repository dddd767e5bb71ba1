// Accessor template for an f16 weight on a device with shader-f16 (the module gets `enable f16;`).
// Same bytes as the packed variant, read as native halves and widened to f32 for the arithmetic.
@group(0) @binding($binding) var<storage, read> $name_data: array<vec4<f16>>;
fn $name_at(e: u32) -> f32 { return f32($name_data[e >> 2u][e & 3u]); }
fn $name_at4(q: u32) -> vec4<f32> { return vec4<f32>($name_data[q]); }
