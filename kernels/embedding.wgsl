// out[r, :] = table[ids[r], :] · scale (an f32 multiply; Gemma scales by √hidden, 1 copies) for the ids that fall in this dispatch's row-chunk of the table
// (rowStart .. rowStart + rowCount). A table larger than one storage binding is split into chunks
// and this kernel runs once per chunk; each output row is written by exactly one chunk.
// w_at (table dtype) is prepended by the backend. Ids outside the vocabulary leave the row as is.

struct Params {
  n: u32,
  H: u32,
  rowStart: u32,
  rowCount: u32,
  scale: f32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> ids: array<i32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let j = gid.x;
  let r = gid.y;
  if (j >= p.H || r >= p.n) { return; }
  let id = ids[r];
  if (id < 0) { return; }
  let local = u32(id) - p.rowStart; // wraps for ids below rowStart, so one comparison suffices
  if (u32(id) < p.rowStart || local >= p.rowCount) { return; }
  out[r * p.H + j] = w_at(local * p.H + j) * p.scale;
}
