// Accessor template for an absent optional operand (matmul without bias): reads as zeros and
// declares no binding, so the pipeline layout has no slot for it.
fn $name_at(e: u32) -> f32 { return 0.0; }
