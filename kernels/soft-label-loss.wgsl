// Soft-label KL loss and its gradient, one workgroup per row (V up to the ~152k vocabulary):
//   loss[r] = Σ_k w_k · (ln w_k − (z_{id_k} − lse)),  dLogits[r, :] = scale · (softmax(z) − v_r).
// Pass 1 is softmax.wgsl's online (max, Σ exp) reduction; pass 2 writes scale · softmax; then,
// after a storage barrier, thread 0 walks the K labels (skipping (-1, 0) padding), subtracting
// scale · w_k at each label id (in order, so repeated ids would add up as in the reference).
struct Params {
  V: u32,
  K: u32,
  scale: f32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> loss: array<f32>;
@group(0) @binding(2) var<storage, read_write> dLogits: array<f32>;
@group(0) @binding(3) var<storage, read> logits: array<f32>;
@group(0) @binding(4) var<storage, read> labelIds: array<i32>;
@group(0) @binding(5) var<storage, read> labelWeights: array<f32>;

const WG = 256u;
const NEG = -3.0e38;
var<workgroup> rm: array<f32, WG>;
var<workgroup> rl: array<f32, WG>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let r = wg.x;
  let base = r * p.V;
  var m = NEG;
  var l = 0.0;
  for (var j = li; j < p.V; j += WG) {
    let v = logits[base + j];
    if (v > m) {
      l = l * exp(m - v) + 1.0;
      m = v;
    } else {
      l += exp(v - m);
    }
  }
  rm[li] = m;
  rl[li] = l;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (li < s) {
      let m2 = max(rm[li], rm[li + s]);
      rl[li] = rl[li] * exp(rm[li] - m2) + rl[li + s] * exp(rm[li + s] - m2);
      rm[li] = m2;
    }
    workgroupBarrier();
  }
  let mx = rm[0];
  let sum = rl[0];
  let k = p.scale / sum;
  for (var j = li; j < p.V; j += WG) {
    dLogits[base + j] = exp(logits[base + j] - mx) * k;
  }
  storageBarrier();
  if (li == 0u) {
    let lse = mx + log(sum);
    var acc = 0.0;
    for (var i = 0u; i < p.K; i++) {
      let id = labelIds[r * p.K + i];
      let w = labelWeights[r * p.K + i];
      if (id < 0 || u32(id) >= p.V || w == 0.0) { continue; }
      acc += w * (log(w) - (logits[base + u32(id)] - lse));
      dLogits[base + u32(id)] -= p.scale * w;
    }
    loss[r] = acc;
  }
}
