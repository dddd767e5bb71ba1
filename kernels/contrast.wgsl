// LightReasoner's per-step contrast of an expert and an amateur row of logits (Backend.contrast),
// one workgroup per row, so vocabulary-sized rows never leave the GPU: only stats [m, 2] and the
// K compacted labels per row are written.
//
// Pass A (strided): online (max, Σexp) over the expert's Ve and the amateur's Va logits, and the
//   expert's max over the shared ids < n; tree-reduced.
// Pass B (strided, i < n): ln p = (x − max) − ln Σ, exact-equivalent to ln softmax without forming
//   p, so it keeps full f32 precision where p is tiny. The reference's ln(p + ε), ε = 1e-12, is
//   then evaluated as logaddexp(ln p, ln ε) = max + log1p(exp(−|ln p − ln ε|)), which is the same
//   function, needs no p + ε sum (that rounds to ε once p < ~6e-20 in f32, and loses p's low bits
//   earlier) and never underflows: a p that underflows in f32 gives exactly ln ε, as p + ε would.
//   KL accumulates exp(ln pE) · (ln(pE+ε) − ln(pA+ε)) (terms whose pE underflows are < 1e-38).
//   The mask pE ≥ alpha · max pE is tested in log space, (x − max_{j<n} x) ≥ ln alpha, so it
//   also never underflows; the scores d of masked ids feed an online (max, Σexp) for the softmax.
// Pass C (contiguous): thread t owns ids [t·S, (t+1)·S), S = ⌈n / 256⌉, counts its masked ids, a
//   workgroup prefix sum gives each thread its first output slot, and the threads whose slots are
//   < K walk their range again writing (id, weight) in ascending id order. Slots past the mask
//   count are padded with (-1, 0); stats = (kl, count). Fully deterministic.
struct Params { Ve: u32, Va: u32, n: u32, K: u32, lnAlpha: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> stats: array<f32>;
@group(0) @binding(2) var<storage, read_write> labelIds: array<i32>;
@group(0) @binding(3) var<storage, read_write> labelWeights: array<f32>;
@group(0) @binding(4) var<storage, read> expert: array<f32>;
@group(0) @binding(5) var<storage, read> amateur: array<f32>;

const WG = 256u;
const NEG = -3.0e38;
const LN_EPS = -27.631021115928547; // ln(1e-12)

var<workgroup> s0: array<f32, WG>;
var<workgroup> s1: array<f32, WG>;
var<workgroup> s2: array<f32, WG>;
var<workgroup> s3: array<f32, WG>;
var<workgroup> s4: array<f32, WG>;
var<workgroup> sc: array<u32, WG>;

// log(1 + t) for t in [0, 1], accurate for small t too (WGSL has no log1p).
fn log1p01(t: f32) -> f32 {
  if (t < 1e-3) { return t * (1.0 - t * (0.5 - t * (1.0 / 3.0))); }
  return log(1.0 + t);
}

// ln(exp(lp) + 1e-12), computed without forming exp(lp).
fn lnEps(lp: f32) -> f32 {
  if (lp >= LN_EPS) { return lp + log1p01(exp(LN_EPS - lp)); }
  return LN_EPS + log1p01(exp(lp - LN_EPS));
}

// Merge of two online (max, Σexp(x − max)) pairs.
fn mergeSum(m1: f32, l1: f32, m2: f32, l2: f32) -> f32 {
  let m = max(m1, m2);
  return l1 * exp(m1 - m) + l2 * exp(m2 - m);
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let r = wg.x;
  let eb = r * p.Ve;
  let ab = r * p.Va;
  let n = p.n;

  // ---- pass A: normalisers of both rows, expert max over the shared ids.
  var me = NEG;
  var le = 0.0;
  var xs = NEG;
  for (var j = li; j < p.Ve; j += WG) {
    let v = expert[eb + j];
    if (v > me) { le = le * exp(me - v) + 1.0; me = v; } else { le += exp(v - me); }
    if (j < n) { xs = max(xs, v); }
  }
  var ma = NEG;
  var la = 0.0;
  for (var j = li; j < p.Va; j += WG) {
    let v = amateur[ab + j];
    if (v > ma) { la = la * exp(ma - v) + 1.0; ma = v; } else { la += exp(v - ma); }
  }
  s0[li] = me; s1[li] = le; s2[li] = ma; s3[li] = la; s4[li] = xs;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (li < s) {
      s1[li] = mergeSum(s0[li], s1[li], s0[li + s], s1[li + s]);
      s0[li] = max(s0[li], s0[li + s]);
      s3[li] = mergeSum(s2[li], s3[li], s2[li + s], s3[li + s]);
      s2[li] = max(s2[li], s2[li + s]);
      s4[li] = max(s4[li], s4[li + s]);
    }
    workgroupBarrier();
  }
  let mE = s0[0];
  let lnSE = log(s1[0]);
  let mA = s2[0];
  let lnSA = log(s3[0]);
  let xmax = s4[0];
  workgroupBarrier(); // everyone has read the results before the arrays are reused

  // ---- pass B: KL over the shared ids and the mask's softmax normaliser.
  var kl = 0.0;
  var dm = NEG;
  var dl = 0.0;
  for (var j = li; j < n; j += WG) {
    let e = expert[eb + j];
    let lpe = (e - mE) - lnSE;
    let d = lnEps(lpe) - lnEps((amateur[ab + j] - mA) - lnSA);
    kl += exp(lpe) * d;
    if (e - xmax >= p.lnAlpha) {
      if (d > dm) { dl = dl * exp(dm - d) + 1.0; dm = d; } else { dl += exp(d - dm); }
    }
  }
  s0[li] = kl; s1[li] = dm; s2[li] = dl;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (li < s) {
      s0[li] += s0[li + s];
      s2[li] = mergeSum(s1[li], s2[li], s1[li + s], s2[li + s]);
      s1[li] = max(s1[li], s1[li + s]);
    }
    workgroupBarrier();
  }
  let klRow = s0[0];
  let dmax = s1[0];
  let invZ = 1.0 / s2[0];

  // ---- pass C: ascending-order compaction of the mask into K slots.
  let S = (n + WG - 1u) / WG;
  let j0 = min(li * S, n);
  let j1 = min(j0 + S, n);
  var c = 0u;
  for (var j = j0; j < j1; j++) {
    if (expert[eb + j] - xmax >= p.lnAlpha) { c++; }
  }
  sc[li] = c;
  workgroupBarrier();
  for (var off = 1u; off < WG; off <<= 1u) { // inclusive Hillis–Steele scan
    var add = 0u;
    if (li >= off) { add = sc[li - off]; }
    workgroupBarrier();
    sc[li] += add;
    workgroupBarrier();
  }
  let total = sc[WG - 1u];
  let ob = r * p.K;
  var slot = sc[li] - c;
  if (c > 0u && slot < p.K) {
    for (var j = j0; j < j1 && slot < p.K; j++) {
      let e = expert[eb + j];
      if (e - xmax >= p.lnAlpha) {
        let d = lnEps((e - mE) - lnSE) - lnEps((amateur[ab + j] - mA) - lnSA);
        labelIds[ob + slot] = i32(j);
        labelWeights[ob + slot] = exp(d - dmax) * invZ;
        slot++;
      }
    }
  }
  for (var k = li; k < p.K; k += WG) {
    if (k >= total) {
      labelIds[ob + k] = -1;
      labelWeights[ob + k] = 0.0;
    }
  }
  if (li == 0u) {
    stats[2u * r] = klRow;
    stats[2u * r + 1u] = f32(total);
  }
}
