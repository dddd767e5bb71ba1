// out[0] += Σ x² for the global gradient norm. One workgroup: strided per-thread sums (four
// independent accumulators over vec4s) and a tree reduction; the tensors summed are LoRA-sized.
struct Params { count: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<vec4<f32>>; // padded to 16 bytes

const WG = 256u;
var<workgroup> red: array<f32, WG>;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) li: u32) {
  let full = p.count / 4u;
  var acc = vec4<f32>(0.0);
  for (var q = li; q < full; q += WG) {
    let v = x[q];
    acc += v * v;
  }
  // The last partial vec4 (its padding is not necessarily zero: views share a larger buffer).
  if (li < p.count - full * 4u) {
    let v = x[full][li];
    acc.x += v * v;
  }
  red[li] = (acc.x + acc.y) + (acc.z + acc.w);
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (li < s) { red[li] += red[li + s]; }
    workgroupBarrier();
  }
  if (li == 0u) { out[0] += red[0]; }
}
