// Decode's rope(q), rope(k) and kvWrite(k, v) in one pass (the same arithmetic as kernels/rope and
// kernels/kv-write): one invocation per rotation pair (i, i + headDim/2) of each row's q heads and
// k heads. A q pair is rotated in place; a k pair is rotated, written back and stored in the k
// cache at the row's (slot, position), with the v elements of the same two dimensions. sincos
// (kernels/sincos.wgsl) is prepended by the backend.

struct Params {
  n: u32,
  heads: u32,
  kvHeads: u32,
  half: u32, // headDim / 2
  maxT: u32,
  slots: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> q: array<f32>;
@group(0) @binding(2) var<storage, read_write> k: array<f32>;
@group(0) @binding(3) var<storage, read_write> kCache: array<f32>;
@group(0) @binding(4) var<storage, read_write> vCache: array<f32>;
@group(0) @binding(5) var<storage, read> v: array<f32>;
@group(0) @binding(6) var<storage, read> rows: array<i32>; // [n, 2] = (slot, position)
@group(0) @binding(7) var<storage, read> invFreq: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = gid.x + gid.y * nwg.x * 64u;
  let perRow = (p.heads + p.kvHeads) * p.half;
  if (t >= p.n * perRow) { return; }
  let r = t / perRow;
  let hh = (t % perRow) / p.half; // q heads first, then k heads
  let i = t % p.half;
  let pos = rows[r * 2u + 1u];
  let sc = sincos(f32(pos) * invFreq[i]);
  let s = sc.x;
  let c = sc.y;
  if (hh < p.heads) {
    let base = (r * p.heads + hh) * 2u * p.half;
    let a = q[base + i];
    let b = q[base + i + p.half];
    q[base + i] = a * c - b * s;
    q[base + i + p.half] = b * c + a * s;
    return;
  }
  let h = hh - p.heads;
  let base = (r * p.kvHeads + h) * 2u * p.half;
  let a = k[base + i];
  let b = k[base + i + p.half];
  let ka = a * c - b * s;
  let kb = b * c + a * s;
  k[base + i] = ka;
  k[base + i + p.half] = kb;
  let slot = rows[r * 2u];
  if (slot < 0 || u32(slot) >= p.slots || pos < 0 || u32(pos) >= p.maxT) { return; }
  let dst = ((u32(slot) * p.kvHeads + h) * p.maxT + u32(pos)) * 2u * p.half;
  kCache[dst + i] = ka;
  kCache[dst + i + p.half] = kb;
  vCache[dst + i] = v[base + i];
  vCache[dst + i + p.half] = v[base + i + p.half];
}
