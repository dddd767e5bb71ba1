// Inverted dropout with a stateless counter-based mask (training.ts dropoutHash): element i is
// kept iff (h(i ^ h(stream ^ h(seed))) >> 8) ≥ threshold, where threshold = ⌈p · 2^24⌉ is the
// integer form of (hash >> 8) / 2^24 ≥ p, so the mask matches every backend bit for bit.
struct Params {
  count: u32,
  seed: u32,
  stream: u32,
  threshold: u32,
  keepScale: f32, // 1 / (1 − p)
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;

// lowbias32 (u32 multiplication wraps in WGSL, as Math.imul does).
fn lowbias32(v: u32) -> u32 {
  var h = v;
  h ^= h >> 16u;
  h *= 0x7feb352du;
  h ^= h >> 15u;
  h *= 0x846ca68bu;
  h ^= h >> 16u;
  return h;
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 64u;
  if (i >= p.count) { return; }
  let key = lowbias32(p.stream ^ lowbias32(p.seed));
  let keep = (lowbias32(i ^ key) >> 8u) >= p.threshold;
  out[i] = select(0.0, x[i] * p.keepScale, keep);
}
