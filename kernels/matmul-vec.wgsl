// out[r, colStart + c] = x'[r, :] · w[c, :] + bias[colStart + c] for the few-row case (decode,
// n ≤ 8), with no workgroup memory and no barriers: each invocation owns one output column for all
// n rows and streams its weight row once (software GPUs such as SwiftShader run a workgroup's
// invocations as coroutines and pay a switch at every barrier; this kernel has none). x' is x, or
// with the RMSNorm prologue (p.norm = 1) x' = (x · rsqrt(mean(x²) + eps)) · g, as kernels/rms-norm
// computes it: each invocation sums the squares of its rows itself (x is tiny at decode).
// GLU (a WGSL const the backend prepends): u_at/u_at4 is a second weight of w's shape (up_proj
// beside gate_proj) and the output is act(x'·w) · (x'·u), the gated MLP in one pass: act is silu
// (SwiGLU), or gelu_tanh where the backend prepends GELU = true (Gemma's GeGLU).
// QKV (likewise): the columns are those of three weights side by side, w (q_proj, nq columns), u
// (k_proj, nk) and t (v_proj), biases b, bk, bv, written through store_qkv (the backend prepends
// it: q to out, k and v to their own bindings): one pass for the three projections of a layer.
// With p.accumulate = 1 the result is added to out (o-proj or down-proj plus the residual).
// Split-K: grid.y = slice z covers k in [z·kSlice, (z+1)·kSlice); with several slices each writes
// its partial sums at element offset z · sliceStride (bias in slice 0) and kernels/sum-slices adds
// them. Accessors x_at/x_at4 (f32), w_at/w_at4 (weight dtype), b_at and g_at/g_at4 (norm weight,
// or zeros) are prepended by the backend; w is one row-chunk of the weight.

struct Params {
  n: u32,          // rows of x (≤ MAX_ROWS)
  K: u32,
  colStart: u32,   // first output column covered by this weight chunk
  colCount: u32,   // rows in this weight chunk
  outStride: u32,  // N of the full weight = row stride of out
  kSlice: u32,     // K per split-K slice (a multiple of 4; ≥ K when not split)
  sliceStride: u32,
  norm: u32,       // 1: apply the RMSNorm prologue with weight g and eps
  eps: f32,
  accumulate: u32, // 1: out += result (a residual add; one slice only)
  nq: u32,         // QKV: columns of q, and of k (= of v): colCount = nq + 2·nk
  nk: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;

const MAX_ROWS = 8u;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let c = gid.x;
  let z = gid.y;
  if (c >= p.colCount) { return; }
  var inv: array<f32, MAX_ROWS>;
  for (var r = 0u; r < p.n; r++) {
    inv[r] = 1.0;
    if (p.norm == 1u) {
      var ss = 0.0;
      for (var k = 0u; k < p.K; k++) {
        let v = x_at(r * p.K + k);
        ss += v * v;
      }
      // Not rsqrt(): its precision is implementation-defined and the reference is exact.
      inv[r] = 1.0 / sqrt(ss / f32(p.K) + p.eps);
    }
  }
  let k0 = z * p.kSlice;
  let k1 = min(p.K, k0 + p.kSlice);
  var acc: array<f32, MAX_ROWS>;
  var accU: array<f32, MAX_ROWS>;
  // QKV: which of the three weights this column is in (0 q, 1 k, 2 v) and its row there.
  var part = 0u;
  var wc = c;
  if (QKV) {
    if (c >= p.nq + p.nk) { part = 2u; wc = c - p.nq - p.nk; } else if (c >= p.nq) { part = 1u; wc = c - p.nq; }
  }
  if ((p.K & 3u) == 0u) {
    // Rows start on a vec4 boundary: 16-byte loads of x and 4-element loads of w.
    let K4 = p.K >> 2u;
    for (var k = k0 >> 2u; k < (k1 >> 2u); k++) {
      var wv = w_at4(wc * K4 + k);
      if (QKV) {
        if (part == 1u) { wv = u_at4(wc * K4 + k); } else if (part == 2u) { wv = t_at4(wc * K4 + k); }
      }
      var uv = vec4<f32>(0.0);
      if (GLU) { uv = u_at4(c * K4 + k); }
      let gv = g_at4(k);
      for (var r = 0u; r < p.n; r++) {
        var xv = x_at4(r * K4 + k);
        if (p.norm == 1u) { xv = (xv * inv[r]) * gv; }
        acc[r] += dot(wv, xv);
        if (GLU) { accU[r] += dot(uv, xv); }
      }
    }
  } else {
    for (var k = k0; k < k1; k++) {
      var wv = w_at(wc * p.K + k);
      if (QKV) {
        if (part == 1u) { wv = u_at(wc * p.K + k); } else if (part == 2u) { wv = t_at(wc * p.K + k); }
      }
      var uv = 0.0;
      if (GLU) { uv = u_at(c * p.K + k); }
      let gv = g_at(k);
      for (var r = 0u; r < p.n; r++) {
        var xv = x_at(r * p.K + k);
        if (p.norm == 1u) { xv = (xv * inv[r]) * gv; }
        acc[r] += wv * xv;
        if (GLU) { accU[r] += uv * xv; }
      }
    }
  }
  var b = select(0.0, b_at(p.colStart + c), z == 0u);
  if (QKV) {
    b = select(select(bv_at(wc), bk_at(wc), part == 1u), b_at(wc), part == 0u);
    for (var r = 0u; r < p.n; r++) { store_qkv(part, r, wc, acc[r] + b); }
    return;
  }
  for (var r = 0u; r < p.n; r++) {
    let e = z * p.sliceStride + r * p.outStride + p.colStart + c;
    var o = acc[r] + b;
    if (GLU) { o = glu_act(o) * accU[r]; }
    if (p.accumulate == 1u) { o += out[e]; }
    out[e] = o;
  }
}

// The GLU's activation, as kernels/swiglu.wgsl computes it.
fn glu_act(g: f32) -> f32 {
  if (GELU) {
    let a = max(g, -10.0);
    return a / (1.0 + exp(-(1.5957691216057308 * a * (1.0 + 0.044715 * a * a))));
  }
  return g / (1.0 + exp(-g));
}
