// HF LlamaRMSNorm for few rows (decode) with no workgroup memory and no barriers: one invocation
// per element, each summing its row's squares itself (rows are short at decode; kernels/rms-norm
// reduces in workgroup memory for long or many rows). Same formula as kernels/rms-norm:
// out = (x * (1 / sqrt(mean(x²) + eps))) * weight. w_at (weight dtype) is prepended by the backend.

struct Params {
  H: u32,
  eps: f32,
  n: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x;
  if (i >= p.n * p.H) { return; }
  let j = i % p.H;
  let base = i - j;
  var ss = 0.0;
  for (var k = 0u; k < p.H; k++) {
    let v = x[base + k];
    ss += v * v;
  }
  let inv = 1.0 / sqrt(ss / f32(p.H) + p.eps);
  out[i] = (x[i] * inv) * w_at(j);
}
