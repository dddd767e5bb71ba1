// Attention backward, part 2: dk and dv of the cache rows this call wrote, without write races.
// One workgroup per (KV head g, row r'), owning the k/v vectors at (slot_r', g, position_r'). It
// loops over the call's rows r with the same slot and position_r ≥ position_r' (the only ones
// whose softmax saw that key), for every head h of the group, 64 rows at a time: thread t
// recomputes p = exp(scale · q_rh·k − lse_rh) and ds = scale · p (dOut_rh·v − D_rh) for row r0 + t
// (lse and D from part 1), then every thread accumulates its dimensions t and t + 64 of
//   dk += ds · q_rh,  dv += p · dOut_rh.

struct Params {
  heads: u32,
  kvHeads: u32,
  maxT: u32,
  headDim: u32,
  slots: u32,
  scale: f32,
  n: u32,
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
var<workgroup> ks: array<vec4<f32>, 32>;
var<workgroup> vs: array<vec4<f32>, 32>;
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
  if (t < d4 && valid) {
    ks[t] = kCache[kb + t];
    vs[t] = vCache[kb + t];
  }
  workgroupBarrier();

  var dk0 = 0.0;
  var dk1 = 0.0;
  var dv0 = 0.0;
  var dv1 = 0.0;
  for (var r0 = 0u; r0 < p.n; r0 += WG) {
    let r = r0 + t;
    var rowOk = false;
    if (valid && r < p.n) { rowOk = rows[r * 2u] == slot && rows[r * 2u + 1u] >= pos; }
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
        if (t < d) {
          dk0 += di * el(q[e / 4u], e & 3u);
          dv0 += pi * el(dOut[e / 4u], e & 3u);
        }
        if (t + WG < d) {
          dk1 += di * el(q[(e + WG) / 4u], e & 3u);
          dv1 += pi * el(dOut[(e + WG) / 4u], e & 3u);
        }
      }
      workgroupBarrier();
    }
  }
  let ob = (rk * p.kvHeads + g) * d;
  if (t < d) {
    dk[ob + t] = dk0;
    dv[ob + t] = dv0;
  }
  if (t + WG < d) {
    dk[ob + t + WG] = dk1;
    dv[ob + t + WG] = dv1;
  }
}
