// Backward of HF LlamaRMSNorm with a frozen weight, one workgroup per row:
//   inv = 1 / √(mean x² + eps),  dx = inv · dy · w − inv³ · x · (Σ dy · w · x) / H.
// Both sums are reduced together in workgroup memory. w_at (weight dtype or f32) is prepended.
struct Params {
  H: u32,
  eps: f32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> dx: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(4) var<storage, read> dy: array<f32>;

const WG = 256u;
var<workgroup> red: array<vec2<f32>, WG>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let base = wg.x * p.H;
  var acc = vec2<f32>(0.0);
  for (var j = li; j < p.H; j += WG) {
    let v = x[base + j];
    acc += vec2<f32>(v * v, dy[base + j] * w_at(j) * v);
  }
  red[li] = acc;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (li < s) { red[li] += red[li + s]; }
    workgroupBarrier();
  }
  let inv = 1.0 / sqrt(red[0].x / f32(p.H) + p.eps);
  let c = inv * inv * inv * red[0].y / f32(p.H);
  for (var j = li; j < p.H; j += WG) {
    dx[base + j] = inv * dy[base + j] * w_at(j) - c * x[base + j];
  }
}
