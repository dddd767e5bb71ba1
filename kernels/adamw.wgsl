// One AdamW step (torch.optim.AdamW, decoupled weight decay), elementwise. The bias corrections
// are folded on the CPU: stepSize = lr / (1 − β1^t), sqrtBc2 = √(1 − β2^t), decay = 1 − lr · wd.
struct Params {
  count: u32,
  beta1: f32,
  beta2: f32,
  eps: f32,
  decay: f32,
  stepSize: f32,
  sqrtBc2: f32,
  gradScale: f32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> param: array<f32>;
@group(0) @binding(2) var<storage, read_write> m: array<f32>;
@group(0) @binding(3) var<storage, read_write> v: array<f32>;
@group(0) @binding(4) var<storage, read> grad: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 64u;
  if (i >= p.count) { return; }
  let gr = grad[i] * p.gradScale;
  let mi = p.beta1 * m[i] + (1.0 - p.beta1) * gr;
  let vi = p.beta2 * v[i] + (1.0 - p.beta2) * gr * gr;
  m[i] = mi;
  v[i] = vi;
  param[i] = param[i] * p.decay - p.stepSize * (mi / (sqrt(vi) / p.sqrtBc2 + p.eps));
}
