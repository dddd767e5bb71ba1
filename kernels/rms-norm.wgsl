// HF LlamaRMSNorm, one workgroup per row: out = (x * rsqrt(mean(x²) + eps)) * weight. The sum of
// squares is a strided per-thread sum followed by a tree reduction in workgroup memory.
// w_at (weight dtype) is prepended by the backend.

struct Params {
  H: u32,
  eps: f32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;

const WG = 256u;
var<workgroup> red: array<f32, WG>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let base = wg.x * p.H;
  var ss = 0.0;
  for (var j = li; j < p.H; j += WG) {
    let v = x[base + j];
    ss += v * v;
  }
  red[li] = ss;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (li < s) { red[li] += red[li + s]; }
    workgroupBarrier();
  }
  // Not rsqrt(): its precision is implementation-defined and the reference is exact.
  let inv = 1.0 / sqrt(red[0] / f32(p.H) + p.eps);
  for (var j = li; j < p.H; j += WG) {
    out[base + j] = (x[base + j] * inv) * w_at(j);
  }
}
