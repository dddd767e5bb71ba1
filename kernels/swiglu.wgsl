// out = act(gate) * up, elementwise, act = silu (act 0) or gelu_tanh (act 1, Gemma's
// gelu_pytorch_tanh). Large tensors spill into a second dispatch dimension.
struct Params { count: u32, act: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> gate: array<f32>;
@group(0) @binding(3) var<storage, read> up: array<f32>;

// gelu_tanh(g) = 0.5·g·(1 + tanh(z)), z = √(2/π)(g + 0.044715g³), written as g·σ(2z) = g / (1 +
// e^(−2z)) (1 + tanh(z) = 2σ(2z)): WGSL's tanh may be imprecise for large |z| on some drivers,
// and exp here never overflows: gates below −10 (where gelu is below 1e−36) are taken as −10, so
// −2z ≤ 87.3; a large positive gate makes e^(−2z) 0 and gives g.
fn gelu_tanh(g: f32) -> f32 {
  let a = max(g, -10.0);
  let z2 = 1.5957691216057308 * a * (1.0 + 0.044715 * a * a);
  return a / (1.0 + exp(-z2));
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 64u;
  if (i >= p.count) { return; }
  let g = gate[i];
  if (p.act == 1u) {
    out[i] = gelu_tanh(g) * up[i];
  } else {
    out[i] = g / (1.0 + exp(-g)) * up[i];
  }
}
