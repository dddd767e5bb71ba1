// out = alpha · aᵀ · b, or out += alpha · aᵀ · b: a [n, M], b [n, N], out [M, N]. LoRA's weight
// gradients, whose outputs are small (one side is the rank r): one thread per output element
// reducing over the n rows; consecutive threads read consecutive elements of b's rows.
struct Params {
  n: u32,
  M: u32,
  N: u32,
  alpha: f32,
  accumulate: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> a: array<f32>;
@group(0) @binding(3) var<storage, read> b: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = gid.x + gid.y * nwg.x * 64u;
  if (t >= p.M * p.N) { return; }
  let m = t / p.N;
  let c = t % p.N;
  var s = 0.0;
  for (var r = 0u; r < p.n; r++) {
    s += a[r * p.M + m] * b[r * p.N + c];
  }
  var v = p.alpha * s;
  if (p.accumulate == 1u) { v += out[t]; }
  out[t] = v;
}
