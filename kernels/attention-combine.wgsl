// The second pass of split attention decode (kernels/attention-decode): one invocation per output
// element (row, head, d) merges the splits' partials (max m_s, denominator l_s, unnormalised
// output a_s) as Σ_s a_s·e^(m_s − M) / Σ_s l_s·e^(m_s − M) with M = max_s m_s.

struct Params {
  n: u32,
  heads: u32,
  headDim: u32,
  splits: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> part: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 64u;
  if (i >= p.n * p.heads * p.headDim) { return; }
  let d = i % p.headDim;
  let rh = i / p.headDim; // r * heads + h
  let stride = p.headDim + 2u;
  let base = rh * p.splits * stride;
  var mx = -3.0e38;
  for (var s = 0u; s < p.splits; s++) { mx = max(mx, part[base + s * stride]); }
  var l = 0.0;
  var a = 0.0;
  for (var s = 0u; s < p.splits; s++) {
    let b = base + s * stride;
    let w = exp(part[b] - mx);
    l += part[b + 1u] * w;
    a += part[b + 2u + d] * w;
  }
  out[i] = select(0.0, a / l, l > 0.0);
}
