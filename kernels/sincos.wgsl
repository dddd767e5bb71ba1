// sin and cos of a rotary angle to ~1 ulp, shared by kernels/rope.wgsl and kernels/rope-kv-write.wgsl.
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
