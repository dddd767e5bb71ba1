// out[r] = index of the largest x[r, :], the first one on ties (as torch.argmax), one workgroup
// per row. Each thread scans its strided elements in increasing order keeping the first maximum;
// the reduction prefers the larger value and, on equal values, the smaller index.
struct Params { V: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<i32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;

const WG = 256u;
const NONE = 0xffffffffu;
var<workgroup> bv: array<f32, WG>;
var<workgroup> bi: array<u32, WG>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let base = wg.x * p.V;
  // Seed with the thread's first element (not a sentinel value) so rows of −∞ still give index 0.
  var best = NONE;
  var v = 0.0;
  if (li < p.V) {
    best = li;
    v = x[base + li];
  }
  for (var j = li + WG; j < p.V; j += WG) {
    let y = x[base + j];
    if (y > v) { v = y; best = j; }
  }
  bv[li] = v;
  bi[li] = best;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (li < s) {
      let oi = bi[li + s];
      let ov = bv[li + s];
      let mi = bi[li];
      if (oi != NONE && (mi == NONE || ov > bv[li] || (ov == bv[li] && oi < mi))) {
        bv[li] = ov;
        bi[li] = oi;
      }
    }
    workgroupBarrier();
  }
  if (li == 0u) { out[wg.x] = i32(bi[0]); }
}
