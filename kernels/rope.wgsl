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

// Positions reach tens of thousands of radians, and GPU sin/cos are only specified to ~2^-11
// absolute error even on [-π, π] (SwiftShader really is that coarse). So reduce θ by multiples of
// π/2 with a three-part constant (Cody–Waite: j·P1 is exact in f32 for j < 2^15, i.e. θ ≲ 51k)
// and evaluate the Cephes single-precision minimax polynomials on |r| ≤ π/4 (~1 ulp).
const P1 = 1.5703125;
const P2 = 4.837512969970703125e-4;
const P3 = 7.54978995489188216e-8;

fn sincos(theta: f32) -> vec2<f32> {
  let j = round(theta * 0.63661977236758134); // θ · 2/π
  let r = ((theta - j * P1) - j * P2) - j * P3;
  let z = r * r;
  let s = r + r * z * (-1.6666654611e-1 + z * (8.3321608736e-3 + z * -1.9515295891e-4));
  let c = 1.0 - 0.5 * z + z * z * (4.166664568298827e-2 + z * (-1.388731625493765e-3 + z * 2.443315711809948e-5));
  // sin(r + qπ/2), cos(r + qπ/2) for the quadrant q = j mod 4 (two's complement handles j < 0).
  switch (i32(j) & 3) {
    case 0: { return vec2<f32>(s, c); }
    case 1: { return vec2<f32>(c, -s); }
    case 2: { return vec2<f32>(-s, -c); }
    default: { return vec2<f32>(-c, s); }
  }
}

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
