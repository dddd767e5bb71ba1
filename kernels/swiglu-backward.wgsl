// Backward of out = silu(gate) · up: dup = dy · silu(gate), dgate = dy · up · silu'(gate) with
// silu'(g) = σ(g) · (1 + g · (1 − σ(g))). Elementwise, two outputs.
struct Params { count: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> dgate: array<f32>;
@group(0) @binding(2) var<storage, read_write> dup: array<f32>;
@group(0) @binding(3) var<storage, read> gate: array<f32>;
@group(0) @binding(4) var<storage, read> up: array<f32>;
@group(0) @binding(5) var<storage, read> dy: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 64u;
  if (i >= p.count) { return; }
  let g = gate[i];
  let d = dy[i];
  let sig = 1.0 / (1.0 + exp(-g));
  dup[i] = d * g * sig;
  dgate[i] = d * up[i] * sig * (1.0 + g * (1.0 - sig));
}
