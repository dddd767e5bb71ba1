// Attention backward, part 2: dk and dv of the cache rows this call wrote, without write races.
// One workgroup per (KV head g, row r'), owning the k/v vectors at (slot_r', g, position_r'). It
// loops over the call's rows r with the same slot and position_r' ≤ position_r (< position_r' +
// window with a sliding window): the only ones whose softmax saw that key, for every head h of
// the group, 64 rows at a time: thread t recomputes p = exp(scale · q_rh·k − lse_rh) and
// ds = scale · p (dOut_rh·v − D_rh) for row r0 + t (lse and D from part 1), then every thread
// accumulates its dimensions t + 64k, k < 4 (headDim ≤ 256) of
//   dk += ds · q_rh,  dv += p · dOut_rh.

struct Params {
  heads: u32,
  kvHeads: u32,
  maxT: u32,
  headDim: u32,
  slots: u32,
  scale: f32,
  n: u32,
  window: u32, // 0: full causal attention
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> dk: array<f32>;
@group(0) @binding(2) var<storage, read_write> dv: array<f32>;
@group(0) @binding(3) var<storage, read> q: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> kCache: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read> vCache: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read> rows: array<i32>;
@group(0) @binding(7) var<storage, read> dOut: array<vec4<f32>>;
@group(0) @binding(8) var<storage, read> stats: array<vec2<f32>>;

const WG = 64u;
var<workgroup> ks: array<vec4<f32>, 64>;
var<workgroup> vs: array<vec4<f32>, 64>;
var<workgroup> pb: array<f32, WG>;
var<workgroup> db: array<f32, WG>;

fn el(a: vec4<f32>, i: u32) -> f32 { return a[i]; }

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let g = wg.x;
  let rk = wg.y;
  let d = p.headDim;
  let d4 = d / 4u;
  let group = p.heads / p.kvHeads;
  let slot = rows[rk * 2u];
  let pos = rows[rk * 2u + 1u];
  let valid = slot >= 0 && u32(slot) < p.slots && pos >= 0 && u32(pos) < p.maxT;
  let kb = ((u32(max(slot, 0)) * p.kvHeads + g) * p.maxT + u32(max(pos, 0))) * d4;
  for (var j = t; j < d4 && valid; j += WG) {
    ks[j] = kCache[kb + j];
    vs[j] = vCache[kb + j];
  }
  workgroupBarrier();

  var dka = array<f32, 4>(0.0, 0.0, 0.0, 0.0);
  var dva = array<f32, 4>(0.0, 0.0, 0.0, 0.0);
  for (var r0 = 0u; r0 < p.n; r0 += WG) {
    let r = r0 + t;
    var rowOk = false;
    if (valid && r < p.n) {
      let qpos = rows[r * 2u + 1u];
      rowOk = rows[r * 2u] == slot && qpos >= pos && (p.window == 0u || u32(qpos - pos) < p.window);
    }
    let cnt = min(WG, p.n - r0);
    for (var hh = 0u; hh < group; hh++) {
      let h = g * group + hh;
      var pr = 0.0;
      var ds = 0.0;
      if (rowOk) {
        let qb = (r * p.heads + h) * d4;
        var dotk = vec4<f32>(0.0);
        var dotv = vec4<f32>(0.0);
        for (var j = 0u; j < d4; j++) {
          dotk += q[qb + j] * ks[j];
          dotv += dOut[qb + j] * vs[j];
        }
        let st = stats[r * p.heads + h]; // (lse, D)
        pr = exp((dotk.x + dotk.y + dotk.z + dotk.w) * p.scale - st.x);
        ds = pr * ((dotv.x + dotv.y + dotv.z + dotv.w) - st.y) * p.scale;
      }
      pb[t] = pr;
      db[t] = ds;
      workgroupBarrier();
      for (var i = 0u; i < cnt; i++) {
        let pi = pb[i];
        let di = db[i];
        if (pi == 0.0 && di == 0.0) { continue; }
        let e = ((r0 + i) * p.heads + h) * d + t;
        for (var k = 0u; k < 4u; k++) {
          if (t + k * WG < d) {
            dka[k] += di * el(q[(e + k * WG) / 4u], e & 3u);
            dva[k] += pi * el(dOut[(e + k * WG) / 4u], e & 3u);
          }
        }
      }
      workgroupBarrier();
    }
  }
  let ob = (rk * p.kvHeads + g) * d;
  for (var k = 0u; k < 4u; k++) {
    if (t + k * WG < d) {
      dk[ob + t + k * WG] = dka[k];
      dv[ob + t + k * WG] = dva[k];
    }
  }
}
