// Accessor template for an f32 tensor (a weight or an activation). The backend substitutes $name
// and $binding. Buffers are padded to 16 bytes so the data can be declared as vec4s: at4(q) is one
// 16-byte load of elements 4q..4q+3, used when a row length is a multiple of 4.
@group(0) @binding($binding) var<storage, read> $name_data: array<vec4<f32>>;
fn $name_at(e: u32) -> f32 { return $name_data[e >> 2u][e & 3u]; }
fn $name_at4(q: u32) -> vec4<f32> { return $name_data[q]; }
