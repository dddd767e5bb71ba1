// Causal grouped-query attention, one workgroup per (head, row). Row r attends to positions
// lo..position_r of its slot's cache (lo = 0, or position_r − window + 1 with a sliding window:
// Gemma 3's local layers) with an online (streaming) softmax: positions are taken in blocks of
// 64, one score per thread, and the running max / denominator / output are rescaled when the max
// grows, so no score array of length maxT is ever needed. Thread t owns output dimensions t,
// t + 64, t + 128 and t + 192, which covers headDim ≤ 256 (Gemma 3's). The backend requires
// headDim % 4 == 0 so cache rows can be read as vec4s.

struct Params {
  heads: u32,
  kvHeads: u32,
  maxT: u32,
  headDim: u32,
  slots: u32,
  scale: f32,
  window: u32, // 0: full causal attention
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> q: array<f32>;
@group(0) @binding(3) var<storage, read> kCache: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> vCache: array<f32>;
@group(0) @binding(5) var<storage, read> rows: array<i32>;

const WG = 64u;
const NEG = -3.0e38; // stands in for −∞, which WGSL cannot spell
var<workgroup> qs: array<vec4<f32>, 64>;
var<workgroup> sc: array<f32, WG>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let h = wg.x;
  let r = wg.y;
  let d4 = p.headDim / 4u;
  let qb = (r * p.heads + h) * p.headDim;
  // Both come from a read-only buffer at a workgroup-uniform index, so loop bounds stay uniform.
  let slot = rows[r * 2u];
  let pos = rows[r * 2u + 1u];
  var len = 0u;
  if (slot >= 0 && u32(slot) < p.slots && pos >= 0) { len = min(u32(pos) + 1u, p.maxT); }
  var lo = 0u;
  if (p.window > 0u && len > p.window) { lo = len - p.window; }
  let g = h / (p.heads / p.kvHeads);
  let cb = (u32(max(slot, 0)) * p.kvHeads + g) * p.maxT * p.headDim; // element offset of this KV head

  for (var j = t; j < d4; j += WG) {
    qs[j] = vec4<f32>(q[qb + 4u * j], q[qb + 4u * j + 1u], q[qb + 4u * j + 2u], q[qb + 4u * j + 3u]);
  }
  workgroupBarrier();

  var m = NEG;
  var l = 0.0;
  var acc = array<f32, 4>(0.0, 0.0, 0.0, 0.0);
  for (var s0 = lo; s0 < len; s0 += WG) {
    let s = s0 + t;
    var score = NEG;
    if (s < len) {
      let kb = (cb + s * p.headDim) / 4u;
      var dotv = vec4<f32>(0.0);
      for (var j = 0u; j < d4; j++) { dotv += qs[j] * kCache[kb + j]; }
      score = (dotv.x + dotv.y + dotv.z + dotv.w) * p.scale;
    }
    sc[t] = score;
    workgroupBarrier();
    // Every thread scans the 64 scores itself: cheaper than a reduction with more barriers.
    let cnt = min(WG, len - s0);
    var bm = m;
    for (var i = 0u; i < cnt; i++) { bm = max(bm, sc[i]); }
    let corr = exp(m - bm);
    l *= corr;
    for (var k = 0u; k < 4u; k++) { acc[k] *= corr; }
    for (var i = 0u; i < cnt; i++) {
      let pi = exp(sc[i] - bm);
      l += pi;
      let vb = cb + (s0 + i) * p.headDim;
      for (var k = 0u; k < 4u; k++) {
        if (t + k * WG < p.headDim) { acc[k] += pi * vCache[vb + t + k * WG]; }
      }
    }
    m = bm;
    workgroupBarrier(); // sc is overwritten by the next block
  }
  let inv = select(0.0, 1.0 / l, l > 0.0);
  for (var k = 0u; k < 4u; k++) {
    if (t + k * WG < p.headDim) { out[qb + t + k * WG] = acc[k] * inv; }
  }
}
