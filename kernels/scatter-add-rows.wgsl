// Backward of gatherRows: out[index[j], :] += x[j, :]. Indices are distinct, so no two threads
// touch one element; an index outside out's rows is skipped.
struct Params {
  m: u32,
  H: u32,
  n: u32, // rows of out
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read> index: array<i32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let c = gid.x;
  let j = gid.y;
  if (c >= p.H || j >= p.m) { return; }
  let dst = index[j];
  if (dst < 0 || u32(dst) >= p.n) { return; }
  out[u32(dst) * p.H + c] += x[j * p.H + c];
}
