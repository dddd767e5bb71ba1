// out = x · wᵀ + bias for many rows (prefill). Classic shared-memory tiling: a workgroup owns a
// BM × BN block of out, stages BK-wide slices of x and w in workgroup memory (transposed so the
// inner loop reads consecutive addresses), and each thread accumulates a 2 × 4 register block.
// Accessors x_at/x_at4, w_at/w_at4 and b_at are prepended by the backend; w is one row-chunk
// (output columns colStart .. colStart + colCount) of the full weight.

struct Params {
  n: u32,
  K: u32,
  colStart: u32,
  colCount: u32,
  outStride: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;

const BM = 32u;
const BN = 64u;
const BK = 16u;
var<workgroup> xs: array<f32, 512>;  // [BK][BM]
var<workgroup> ws: array<f32, 1024>; // [BK][BN]

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let tx = li % 16u; // columns tx, tx+16, tx+32, tx+48 (strided so shared reads are consecutive)
  let ty = li / 16u; // rows ty, ty+16
  let row0 = wg.y * BM;
  let col0 = wg.x * BN;
  let aligned = (p.K & 3u) == 0u;
  var acc: array<array<f32, 4>, 2>;

  for (var k0 = 0u; k0 < p.K; k0 += BK) {
    if (aligned) {
      // x tile: 32 rows × 4 vec4 = 128 loads; w tile: 64 rows × 4 vec4 = 256 loads.
      if (li < 128u) {
        let r = li / 4u;
        let kq = li % 4u;
        var v = vec4<f32>(0.0);
        if (row0 + r < p.n && k0 + kq * 4u < p.K) {
          v = x_at4(((row0 + r) * p.K + k0) / 4u + kq);
        }
        for (var j = 0u; j < 4u; j++) { xs[(kq * 4u + j) * BM + r] = v[j]; }
      }
      let c = li / 4u;
      let kq = li % 4u;
      var v = vec4<f32>(0.0);
      if (col0 + c < p.colCount && k0 + kq * 4u < p.K) {
        v = w_at4(((col0 + c) * p.K + k0) / 4u + kq);
      }
      for (var j = 0u; j < 4u; j++) { ws[(kq * 4u + j) * BN + c] = v[j]; }
    } else {
      for (var i = li; i < BM * BK; i += 256u) {
        let r = i / BK;
        let kk = i % BK;
        var v = 0.0;
        if (row0 + r < p.n && k0 + kk < p.K) { v = x_at((row0 + r) * p.K + k0 + kk); }
        xs[kk * BM + r] = v;
      }
      for (var i = li; i < BN * BK; i += 256u) {
        let c = i / BK;
        let kk = i % BK;
        var v = 0.0;
        if (col0 + c < p.colCount && k0 + kk < p.K) { v = w_at((col0 + c) * p.K + k0 + kk); }
        ws[kk * BN + c] = v;
      }
    }
    workgroupBarrier();
    for (var kk = 0u; kk < BK; kk++) {
      let a0 = xs[kk * BM + ty];
      let a1 = xs[kk * BM + ty + 16u];
      for (var j = 0u; j < 4u; j++) {
        let b = ws[kk * BN + tx + 16u * j];
        acc[0][j] += a0 * b;
        acc[1][j] += a1 * b;
      }
    }
    workgroupBarrier();
  }

  for (var i = 0u; i < 2u; i++) {
    let r = row0 + ty + 16u * i;
    for (var j = 0u; j < 4u; j++) {
      let c = col0 + tx + 16u * j;
      if (r < p.n && c < p.colCount) {
        out[r * p.outStride + p.colStart + c] = acc[i][j] + b_at(p.colStart + c);
      }
    }
  }
}
