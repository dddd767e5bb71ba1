// Accessor template for an absent optional operand (matmul without bias): reads as zeros and
// declares no binding, so the pipeline layout has no slot for it.
fn $name_at(e: u32) -> f32 { return 0.0; }
fn $name_at4(q: u32) -> vec4<f32> { return vec4<f32>(0.0); }
