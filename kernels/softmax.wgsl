// Row-wise softmax, one workgroup per row (V up to the ~152k vocabulary). Pass 1: each thread
// keeps an online (max, sum of exp) over its strided elements; the pairs are merged by a tree
// reduction. Pass 2 writes exp(x − max) / sum.
struct Params { V: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;

const WG = 256u;
const NEG = -3.0e38;
var<workgroup> rm: array<f32, WG>;
var<workgroup> rl: array<f32, WG>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let base = wg.x * p.V;
  var m = NEG;
  var l = 0.0;
  for (var j = li; j < p.V; j += WG) {
    let v = x[base + j];
    if (v > m) {
      l = l * exp(m - v) + 1.0;
      m = v;
    } else {
      l += exp(v - m);
    }
  }
  rm[li] = m;
  rl[li] = l;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (li < s) {
      let m2 = max(rm[li], rm[li + s]);
      rl[li] = rl[li] * exp(rm[li] - m2) + rl[li + s] * exp(rm[li + s] - m2);
      rm[li] = m2;
    }
    workgroupBarrier();
  }
  let mx = rm[0];
  let inv = 1.0 / rl[0];
  for (var j = li; j < p.V; j += WG) {
    out[base + j] = exp(x[base + j] - mx) * inv;
  }
}
