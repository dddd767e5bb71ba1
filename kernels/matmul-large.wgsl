// out = x · wᵀ + bias for many rows (prefill at batch, fine-tuning passes): the register-blocked
// SGEMM shape that keeps a real GPU's FMA units busy. A workgroup of 256 threads owns a 128 × 128
// block of out and each thread an 8 × 8 register block (rows ty*4 + {0..3} and 64 + …, columns
// tx*4 + {0..3} and 64 + …), so per k step it reads 4 vec4 from workgroup memory for 64 FMAs
// (matmul-tiled.wgsl's 2 × 4 block reads 6 scalars for 8). BK = 16 slices of x and w are staged
// in workgroup memory transposed ([k][row]), so those reads are vec4 and conflict-free, and the
// next slice is fetched into registers while the current one is multiplied. On an H100 this ran at
// 46–48 % of the fp32 peak from M = 1024 and, split 2 ways over K, 41 % at M = 512
// (bench/RESULTS.md: 64-row tiles and BK = 8 were measured too and were no better).
// Split-K: when one tile per workgroup cannot fill the GPU (too few output tiles), the backend runs
// `slices` workgroups per tile (grid z), each over kSlice of K (a multiple of BK), writing its
// partial block to slice z of a scratch buffer (slice stride sliceStride elements, bias added by
// slice 0 only); kernels/sum-slices.wgsl adds the slices into out. slices = 1 writes out directly.
// Accessors x_at/x_at4, w_at/w_at4 and b_at are prepended by the backend; w is one row-chunk
// (output columns colStart .. colStart + colCount) of the full weight.

struct Params {
  n: u32,
  K: u32,
  colStart: u32,
  colCount: u32,
  outStride: u32,
  kSlice: u32,      // K elements per slice (multiple of 16; ≥ K when slices = 1)
  sliceStride: u32, // elements between slices of `out` (0 when slices = 1)
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;

const BM = 128u;
const BN = 128u;
const BK = 16u;
var<workgroup> xs: array<vec4<f32>, 512>; // [BK][BM / 4]
var<workgroup> ws: array<vec4<f32>, 512>; // [BK][BN / 4]

// 4 consecutive k of row r (x) starting at k; zero outside [0, rows) × [0, K).
fn loadX(r: u32, k: u32, aligned: bool) -> vec4<f32> {
  var v = vec4<f32>(0.0);
  if (r < p.n) {
    if (aligned) {
      if (k < p.K) { v = x_at4((r * p.K + k) >> 2u); }
    } else {
      for (var j = 0u; j < 4u; j++) {
        if (k + j < p.K) { v[j] = x_at(r * p.K + k + j); }
      }
    }
  }
  return v;
}

fn loadW(c: u32, k: u32, aligned: bool) -> vec4<f32> {
  var v = vec4<f32>(0.0);
  if (c < p.colCount) {
    if (aligned) {
      if (k < p.K) { v = w_at4((c * p.K + k) >> 2u); }
    } else {
      for (var j = 0u; j < 4u; j++) {
        if (k + j < p.K) { v[j] = w_at(c * p.K + k + j); }
      }
    }
  }
  return v;
}

// Row r, columns c .. c + 3 of the output block of slice z (bias added by slice 0; columns past
// colCount skipped).
fn store4(z: u32, r: u32, c: u32, v: vec4<f32>) {
  if (r >= p.n) { return; }
  for (var j = 0u; j < 4u; j++) {
    if (c + j < p.colCount) {
      let b = select(0.0, b_at(p.colStart + c + j), z == 0u);
      out[z * p.sliceStride + r * p.outStride + p.colStart + c + j] = v[j] + b;
    }
  }
}

// Stores 4 consecutive k (v) of tile row (column) lr, from k offset kq, in the [k][lr] layout.
fn stageX(kq: u32, lr: u32, v: vec4<f32>) {
  let s = kq * 32u + (lr >> 2u);
  let lane = lr & 3u;
  xs[s][lane] = v.x; xs[s + 32u][lane] = v.y; xs[s + 64u][lane] = v.z; xs[s + 96u][lane] = v.w;
}
fn stageW(kq: u32, lr: u32, v: vec4<f32>) {
  let s = kq * 32u + (lr >> 2u);
  let lane = lr & 3u;
  ws[s][lane] = v.x; ws[s + 32u][lane] = v.y; ws[s + 64u][lane] = v.z; ws[s + 96u][lane] = v.w;
}

// The 64 accumulators are 16 named vec4 (not an array) so no compiler can demote them to local
// memory over a dynamic index: cRH = thread row R (0-3: ty*4 + R, 4-7: 64 + ty*4 + R - 4), columns
// H = 0: tx*4 .. + 3, H = 1: 64 + tx*4 .. + 3.
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let tx = li % 16u;
  let ty = li / 16u;
  let row0 = wg.y * BM;
  let col0 = wg.x * BN;
  let aligned = (p.K & 3u) == 0u;
  // Loader: thread li fetches k0 + lk .. + 3 and k0 + 8 + lk .. + 3 (lk = (li & 1) * 4) of tile
  // row (and column) li >> 1.
  let lr = li >> 1u;
  let lk = (li & 1u) * 4u;
  let z = wg.z;
  let kBegin = z * p.kSlice;
  let kEnd = min(p.K, kBegin + p.kSlice);
  var xa = loadX(row0 + lr, kBegin + lk, aligned);
  var xb = loadX(row0 + lr, kBegin + lk + 8u, aligned);
  var wa = loadW(col0 + lr, kBegin + lk, aligned);
  var wb = loadW(col0 + lr, kBegin + lk + 8u, aligned);
  var c00 = vec4<f32>(0.0); var c01 = c00; var c10 = c00; var c11 = c00;
  var c20 = c00; var c21 = c00; var c30 = c00; var c31 = c00;
  var c40 = c00; var c41 = c00; var c50 = c00; var c51 = c00;
  var c60 = c00; var c61 = c00; var c70 = c00; var c71 = c00;

  // Slices end on a multiple of BK (or at K), so loads past kEnd only happen past K (zeros).
  for (var k0 = kBegin; k0 < kEnd; k0 += BK) {
    stageX(lk, lr, xa); stageX(lk + 8u, lr, xb);
    stageW(lk, lr, wa); stageW(lk + 8u, lr, wb);
    workgroupBarrier();
    if (k0 + BK < kEnd) {
      xa = loadX(row0 + lr, k0 + BK + lk, aligned);
      xb = loadX(row0 + lr, k0 + BK + lk + 8u, aligned);
      wa = loadW(col0 + lr, k0 + BK + lk, aligned);
      wb = loadW(col0 + lr, k0 + BK + lk + 8u, aligned);
    }
    for (var kk = 0u; kk < BK; kk++) {
      let a0 = xs[kk * 32u + ty];
      let a1 = xs[kk * 32u + 16u + ty];
      let b0 = ws[kk * 32u + tx];
      let b1 = ws[kk * 32u + 16u + tx];
      c00 = fma(vec4<f32>(a0.x), b0, c00); c01 = fma(vec4<f32>(a0.x), b1, c01);
      c10 = fma(vec4<f32>(a0.y), b0, c10); c11 = fma(vec4<f32>(a0.y), b1, c11);
      c20 = fma(vec4<f32>(a0.z), b0, c20); c21 = fma(vec4<f32>(a0.z), b1, c21);
      c30 = fma(vec4<f32>(a0.w), b0, c30); c31 = fma(vec4<f32>(a0.w), b1, c31);
      c40 = fma(vec4<f32>(a1.x), b0, c40); c41 = fma(vec4<f32>(a1.x), b1, c41);
      c50 = fma(vec4<f32>(a1.y), b0, c50); c51 = fma(vec4<f32>(a1.y), b1, c51);
      c60 = fma(vec4<f32>(a1.z), b0, c60); c61 = fma(vec4<f32>(a1.z), b1, c61);
      c70 = fma(vec4<f32>(a1.w), b0, c70); c71 = fma(vec4<f32>(a1.w), b1, c71);
    }
    workgroupBarrier();
  }

  let r0 = row0 + ty * 4u;
  let r4 = row0 + 64u + ty * 4u;
  let cl = col0 + tx * 4u;
  let ch = col0 + 64u + tx * 4u;
  store4(z, r0, cl, c00); store4(z, r0, ch, c01);
  store4(z, r0 + 1u, cl, c10); store4(z, r0 + 1u, ch, c11);
  store4(z, r0 + 2u, cl, c20); store4(z, r0 + 2u, ch, c21);
  store4(z, r0 + 3u, cl, c30); store4(z, r0 + 3u, ch, c31);
  store4(z, r4, cl, c40); store4(z, r4, ch, c41);
  store4(z, r4 + 1u, cl, c50); store4(z, r4 + 1u, ch, c51);
  store4(z, r4 + 2u, cl, c60); store4(z, r4 + 2u, ch, c61);
  store4(z, r4 + 3u, cl, c70); store4(z, r4 + 3u, ch, c71);
}
