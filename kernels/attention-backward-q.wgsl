// Attention backward, part 1: dq, and the per-(row, head) softmax statistics part 2 needs. One
// workgroup per (head, row), as attention.wgsl. With p_s = softmax_s(scale · q·k_s) over the
// positions lo..position_r of the row's slot (lo = 0, or position_r − window + 1 with a sliding
// window), dp_s = dOut·v_s and D = Σ_s p_s dp_s = dOut·out:
//   dq = scale · Σ_s p_s (dp_s − D) k_s.
// Pass 1 finds lse = max + ln Σ exp (online, as the forward); pass 2 recomputes each p_s, writes
// ds_s = scale · p_s (dp_s − D) to workgroup memory a block of 64 positions at a time, and every
// thread accumulates its output dimensions t + 64k, k < 4 (headDim ≤ 256, a multiple of 4).
// stats[(r · heads + h) · 2 + {0, 1}] = (lse, D).

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
@group(0) @binding(1) var<storage, read_write> dq: array<f32>;
@group(0) @binding(2) var<storage, read_write> stats: array<f32>;
@group(0) @binding(3) var<storage, read> q: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> kCache: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read> vCache: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read> rows: array<i32>;
@group(0) @binding(7) var<storage, read> out: array<f32>;
@group(0) @binding(8) var<storage, read> dOut: array<vec4<f32>>;

const WG = 64u;
const NEG = -3.0e38;
var<workgroup> qs: array<vec4<f32>, 64>;
var<workgroup> gs: array<vec4<f32>, 64>;
var<workgroup> sc: array<f32, WG>;

fn el(a: vec4<f32>, i: u32) -> f32 { return a[i]; }

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let h = wg.x;
  let r = wg.y;
  let d = p.headDim;
  let d4 = d / 4u;
  let qb = (r * p.heads + h) * d;
  let slot = rows[r * 2u];
  let pos = rows[r * 2u + 1u];
  var len = 0u;
  if (slot >= 0 && u32(slot) < p.slots && pos >= 0) { len = min(u32(pos) + 1u, p.maxT); }
  var lo = 0u;
  if (p.window > 0u && len > p.window) { lo = len - p.window; }
  let g = h / (p.heads / p.kvHeads);
  let cb = (u32(max(slot, 0)) * p.kvHeads + g) * p.maxT * d;

  for (var j = t; j < d4; j += WG) {
    qs[j] = q[qb / 4u + j];
    gs[j] = dOut[qb / 4u + j];
  }
  // D = dOut · out, reduced through sc.
  var part = 0.0;
  for (var k = 0u; k < 4u; k++) {
    let e = qb + t + k * WG;
    if (t + k * WG < d) { part += el(dOut[e / 4u], e & 3u) * out[e]; }
  }
  sc[t] = part;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (t < s) { sc[t] += sc[t + s]; }
    workgroupBarrier();
  }
  let D = sc[0];
  workgroupBarrier();

  // Pass 1: lse of the scaled scores.
  var m = NEG;
  var l = 0.0;
  for (var s0 = lo; s0 < len; s0 += WG) {
    let s = s0 + t;
    var score = NEG;
    if (s < len) {
      let kb = (cb + s * d) / 4u;
      var dotv = vec4<f32>(0.0);
      for (var j = 0u; j < d4; j++) { dotv += qs[j] * kCache[kb + j]; }
      score = (dotv.x + dotv.y + dotv.z + dotv.w) * p.scale;
    }
    sc[t] = score;
    workgroupBarrier();
    let cnt = min(WG, len - s0);
    var bm = m;
    for (var i = 0u; i < cnt; i++) { bm = max(bm, sc[i]); }
    l *= exp(m - bm);
    for (var i = 0u; i < cnt; i++) { l += exp(sc[i] - bm); }
    m = bm;
    workgroupBarrier();
  }
  let lse = select(0.0, m + log(l), l > 0.0);

  // Pass 2: ds_s per position, then dq += ds_s · k_s.
  var acc = array<f32, 4>(0.0, 0.0, 0.0, 0.0);
  for (var s0 = lo; s0 < len; s0 += WG) {
    let s = s0 + t;
    var ds = 0.0;
    if (s < len) {
      let kb = (cb + s * d) / 4u;
      var dotk = vec4<f32>(0.0);
      var dotv = vec4<f32>(0.0);
      for (var j = 0u; j < d4; j++) {
        dotk += qs[j] * kCache[kb + j];
        dotv += gs[j] * vCache[kb + j];
      }
      let pr = exp((dotk.x + dotk.y + dotk.z + dotk.w) * p.scale - lse);
      ds = pr * ((dotv.x + dotv.y + dotv.z + dotv.w) - D) * p.scale;
    }
    sc[t] = ds;
    workgroupBarrier();
    let cnt = min(WG, len - s0);
    for (var i = 0u; i < cnt; i++) {
      let e = cb + (s0 + i) * d + t;
      for (var k = 0u; k < 4u; k++) {
        if (t + k * WG < d) { acc[k] += sc[i] * el(kCache[(e + k * WG) / 4u], e & 3u); }
      }
    }
    workgroupBarrier();
  }
  for (var k = 0u; k < 4u; k++) {
    if (t + k * WG < d) { dq[qb + t + k * WG] = acc[k]; }
  }
  if (t == 0u) {
    stats[(r * p.heads + h) * 2u] = lse;
    stats[(r * p.heads + h) * 2u + 1u] = D;
  }
}
