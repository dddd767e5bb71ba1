// out[r, colStart + c] = Σ_z part[z, r, colStart + c] for r < n, c < colCount: adds the split-K
// slices that kernels/matmul-large.wgsl wrote (slice z at element offset z * sliceStride, rows
// outStride apart, bias already in slice 0).

struct Params {
  n: u32,
  colStart: u32,
  colCount: u32,
  outStride: u32,
  slices: u32,
  sliceStride: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> part: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 64u;
  if (i >= p.n * p.colCount) { return; }
  let e = (i / p.colCount) * p.outStride + p.colStart + i % p.colCount;
  var s = 0.0;
  for (var z = 0u; z < p.slices; z++) {
    s += part[z * p.sliceStride + e];
  }
  out[e] = s;
}
