// out[j, :] = x[index[j], :] (picks the rows whose logits are needed, e.g. each sequence's last).
// An index outside x's rows yields a zero row.
struct Params {
  m: u32,
  H: u32,
  n: u32,
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
  let src = index[j];
  var v = 0.0;
  if (src >= 0 && u32(src) < p.n) { v = x[u32(src) * p.H + c]; }
  out[j * p.H + c] = v;
}
