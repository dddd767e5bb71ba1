// Rotary embedding in place, HF rotate_half convention: within each head the pair is
// (x[i], x[i + headDim/2]), rotated by θ = position · invFreq[i]. One thread per pair.
// `direction` −1 rotates by −θ instead: that is rope's backward pass (the rotation's transpose).

struct Params {
  n: u32,
  heads: u32,
  half: u32, // headDim / 2
  direction: f32, // +1 forward, −1 backward
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> x: array<f32>;
@group(0) @binding(2) var<storage, read> rows: array<i32>; // [n, 2] = (slot, position)
@group(0) @binding(3) var<storage, read> invFreq: array<f32>;

// sincos (kernels/sincos.wgsl) is prepended by the backend.

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = gid.x + gid.y * nwg.x * 64u;
  if (t >= p.n * p.heads * p.half) { return; }
  let i = t % p.half;
  let rh = t / p.half; // row * heads + head
  let r = rh / p.heads;
  let theta = f32(rows[r * 2u + 1u]) * invFreq[i];
  let sc = sincos(theta);
  let s = sc.x * p.direction;
  let c = sc.y;
  let base = rh * 2u * p.half;
  let a = x[base + i];
  let b = x[base + i + p.half];
  x[base + i] = a * c - b * s;
  x[base + i + p.half] = b * c + a * s;
}
