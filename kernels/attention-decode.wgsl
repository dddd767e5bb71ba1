// Causal grouped-query attention for the few-row case (decode), with no workgroup memory and no
// barriers: one invocation per (row, head, split) walks its split's cache positions with an online
// softmax, keeping q and the output (headDim ≤ 4·D4_MAX: D4_MAX, 32 or 64, is prepended by the
// backend, so headDim ≤ 128 keeps its smaller arrays and Gemma 3's 256 gets its own pipeline) in
// registers. With a sliding window (window > 0) only positions lo = position − window + 1 …
// position are taken. Flash-decoding: the positions from lo are cut into `splits` pieces of
// `chunk` (a split past the row's last position writes an empty partial: m = NEG, l = 0); with
// one split the invocation writes the output, with several it writes (max, denominator,
// unnormalised output) to `out` as partials [n, heads, splits, headDim + 2] and
// kernels/attention-combine merges them.

struct Params {
  heads: u32,
  kvHeads: u32,
  maxT: u32,
  headDim: u32,
  slots: u32,
  scale: f32,
  n: u32,
  splits: u32,
  chunk: u32,
  window: u32, // 0: full causal attention
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> q: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> kCache: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> vCache: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read> rows: array<i32>;

const NEG = -3.0e38; // stands in for −∞, which WGSL cannot spell

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 64u;
  if (i >= p.n * p.heads * p.splits) { return; }
  let s = i % p.splits;
  let h = (i / p.splits) % p.heads;
  let r = i / (p.splits * p.heads);
  let d4 = p.headDim / 4u;
  let slot = rows[r * 2u];
  let pos = rows[r * 2u + 1u];
  var len = 0u;
  if (slot >= 0 && u32(slot) < p.slots && pos >= 0) { len = min(u32(pos) + 1u, p.maxT); }
  var lo = 0u;
  if (p.window > 0u && len > p.window) { lo = len - p.window; }
  let g = h / (p.heads / p.kvHeads);
  let cb = (u32(max(slot, 0)) * p.kvHeads + g) * p.maxT * d4; // vec4 offset of this KV head
  let qb = (r * p.heads + h) * d4;
  var qv: array<vec4<f32>, D4_MAX>;
  for (var j = 0u; j < d4; j++) { qv[j] = q[qb + j]; }
  var m = NEG;
  var l = 0.0;
  var acc: array<vec4<f32>, D4_MAX>;
  let t0 = lo + s * p.chunk;
  let t1 = min(len, t0 + p.chunk);
  for (var t = t0; t < t1; t++) {
    let kb = cb + t * d4;
    var dv = vec4<f32>(0.0);
    for (var j = 0u; j < d4; j++) { dv += qv[j] * kCache[kb + j]; }
    let score = (dv.x + dv.y + dv.z + dv.w) * p.scale;
    if (score > m) {
      let corr = exp(m - score);
      l *= corr;
      for (var j = 0u; j < d4; j++) { acc[j] *= corr; }
      m = score;
    }
    let e = exp(score - m);
    l += e;
    for (var j = 0u; j < d4; j++) { acc[j] += e * vCache[kb + j]; }
  }
  if (p.splits == 1u) {
    let inv = select(0.0, 1.0 / l, l > 0.0);
    let ob = (r * p.heads + h) * p.headDim;
    for (var j = 0u; j < d4; j++) {
      let o = acc[j] * inv;
      out[ob + 4u * j] = o.x;
      out[ob + 4u * j + 1u] = o.y;
      out[ob + 4u * j + 2u] = o.z;
      out[ob + 4u * j + 3u] = o.w;
    }
    return;
  }
  let pb = i * (p.headDim + 2u);
  out[pb] = m;
  out[pb + 1u] = l;
  for (var j = 0u; j < d4; j++) {
    out[pb + 2u + 4u * j] = acc[j].x;
    out[pb + 3u + 4u * j] = acc[j].y;
    out[pb + 4u + 4u * j] = acc[j].z;
    out[pb + 5u + 4u * j] = acc[j].w;
  }
}
