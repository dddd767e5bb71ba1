// out[r] = index of the largest x[r, :], the first one on ties (as torch.argmax), for few rows of
// a modest vocabulary (decode): one invocation per row scans it in order, with no workgroup memory
// and no barriers (kernels/argmax.wgsl's tree reduction serves long rows).
struct Params { V: u32, n: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<i32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let r = gid.x;
  if (r >= p.n) { return; }
  let base = r * p.V;
  // Seeded with element 0 (not a sentinel value) so a row of −∞ still gives index 0.
  var best = 0u;
  var v = x[base];
  for (var j = 1u; j < p.V; j++) {
    let y = x[base + j];
    if (y > v) { v = y; best = j; }
  }
  out[r] = i32(best);
}
