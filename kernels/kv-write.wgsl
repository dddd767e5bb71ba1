// Scatter this step's keys and values into the caches [slots, kvHeads, maxT, headDim] at each
// row's (slot, position). One thread per element; rows outside the cache are skipped.

struct Params {
  n: u32,
  kvHeads: u32,
  maxT: u32,
  headDim: u32,
  slots: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> kCache: array<f32>;
@group(0) @binding(2) var<storage, read_write> vCache: array<f32>;
@group(0) @binding(3) var<storage, read> k: array<f32>;
@group(0) @binding(4) var<storage, read> v: array<f32>;
@group(0) @binding(5) var<storage, read> rows: array<i32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = gid.x + gid.y * nwg.x * 64u;
  let width = p.kvHeads * p.headDim;
  if (t >= p.n * width) { return; }
  let r = t / width;
  let hd = t % width; // head * headDim + d
  let slot = rows[r * 2u];
  let pos = rows[r * 2u + 1u];
  if (slot < 0 || u32(slot) >= p.slots || pos < 0 || u32(pos) >= p.maxT) { return; }
  let h = hd / p.headDim;
  let d = hd % p.headDim;
  let dst = ((u32(slot) * p.kvHeads + h) * p.maxT + u32(pos)) * p.headDim + d;
  kCache[dst] = k[t];
  vCache[dst] = v[t];
}
