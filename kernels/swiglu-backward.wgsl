// Backward of out = act(gate) · up: dup = dy · act(gate), dgate = dy · up · act'(gate).
// silu (act 0): silu'(g) = σ(g) · (1 + g · (1 − σ(g))).
// gelu_tanh (act 1): with σ = σ(2z), z = √(2/π)(a + 0.044715a³) (kernels/swiglu.wgsl: gelu_tanh(a)
// = a·σ(2z)), act' = σ + a·σ(1 − σ)·2√(2/π)(1 + 3·0.044715a²); gates below −10 are taken as −10
// as in the forward (both act and act' are below 1e−35 there), so exp never overflows.
// Elementwise, two outputs.
struct Params { count: u32, act: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> dgate: array<f32>;
@group(0) @binding(2) var<storage, read_write> dup: array<f32>;
@group(0) @binding(3) var<storage, read> gate: array<f32>;
@group(0) @binding(4) var<storage, read> up: array<f32>;
@group(0) @binding(5) var<storage, read> dy: array<f32>;

const K2 = 1.5957691216057308; // 2·√(2/π)
const C = 0.044715;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 64u;
  if (i >= p.count) { return; }
  let g = gate[i];
  let d = dy[i];
  if (p.act == 1u) {
    let a = max(g, -10.0);
    let sig = 1.0 / (1.0 + exp(-(K2 * a * (1.0 + C * a * a))));
    let s1 = sig * (1.0 - sig); // 0 where σ saturates: skip the product, which could be 0·∞ there
    dup[i] = d * a * sig;
    dgate[i] = d * up[i] * select(sig + a * s1 * K2 * (1.0 + 3.0 * C * a * a), sig, s1 == 0.0);
    return;
  }
  let sig = 1.0 / (1.0 + exp(-g));
  dup[i] = d * g * sig;
  dgate[i] = d * up[i] * sig * (1.0 + g * (1.0 - sig));
}
