// out = x · w (no transpose), or out += x · w: x [n, N], w [N, K] row-major, out [n, K]. The
// backward of a linear layer for its input, dX = dY · W, with W a frozen weight in its file dtype
// or an f32 LoRA matrix. Shared-memory tiling as matmul-tiled.wgsl: a workgroup owns a BM × BN
// block of out and walks j in BK-deep slices; a slice of w is BK whole row segments, so
// consecutive threads read consecutive addresses of a weight row (coalesced, vec4 when K % 4 = 0).
// Each thread accumulates a 2 × 4 register block. x_at/x_at4 (f32) and w_at/w_at4 (weight dtype)
// are prepended by the backend; w is one row-chunk (j = jStart .. jStart + jCount) of the weight,
// and the chunks after the first are dispatched with accumulate = 2: each thread's sum goes on
// from the partial sum in out, adding the same terms in the same order as over the whole weight
// (so a split weight gives the unsplit bits; the backend adds an old out afterwards).

struct Params {
  n: u32,
  N: u32,          // row length of x (all of the weight's rows)
  K: u32,          // row length of w and out
  jStart: u32,     // first weight row held by this chunk
  jCount: u32,     // rows in this chunk
  accumulate: u32, // 1: out += x · w; 2: out holds the sum over the earlier chunks, go on from it
  xAligned: u32,   // 1: N and jStart are multiples of 4 (x slices are vec4 loads)
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
  let tx = li % 16u; // columns tx, tx+16, tx+32, tx+48
  let ty = li / 16u; // rows ty, ty+16
  let row0 = wg.y * BM;
  let col0 = wg.x * BN;
  let wAligned = (p.K & 3u) == 0u;
  var acc: array<array<f32, 4>, 2>;
  if (p.accumulate == 2u) {
    for (var i = 0u; i < 2u; i++) {
      for (var j = 0u; j < 4u; j++) {
        let r = row0 + ty + 16u * i;
        let c = col0 + tx + 16u * j;
        if (r < p.n && c < p.K) { acc[i][j] = out[r * p.K + c]; }
      }
    }
  }

  for (var j0 = 0u; j0 < p.jCount; j0 += BK) {
    // x slice: 32 rows × 16 j, stored transposed.
    if (p.xAligned == 1u) {
      if (li < 128u) {
        let r = li / 4u;
        let jq = li % 4u;
        var v = vec4<f32>(0.0);
        if (row0 + r < p.n && j0 + jq * 4u < p.jCount) {
          v = x_at4(((row0 + r) * p.N + p.jStart + j0) / 4u + jq);
        }
        // jCount need not be a multiple of 4: zero the columns past the chunk.
        for (var i = 0u; i < 4u; i++) { xs[(jq * 4u + i) * BM + r] = select(0.0, v[i], j0 + jq * 4u + i < p.jCount); }
      }
    } else {
      for (var i = li; i < BM * BK; i += 256u) {
        let r = i / BK;
        let jj = i % BK;
        var v = 0.0;
        if (row0 + r < p.n && j0 + jj < p.jCount) { v = x_at((row0 + r) * p.N + p.jStart + j0 + jj); }
        xs[jj * BM + r] = v;
      }
    }
    // w slice: 16 rows × 64 columns, one vec4 per thread when rows are vec4-aligned.
    if (wAligned) {
      let jj = li / 16u;
      let cq = li % 16u;
      var v = vec4<f32>(0.0);
      if (j0 + jj < p.jCount && col0 + cq * 4u < p.K) {
        v = w_at4(((j0 + jj) * p.K + col0) / 4u + cq);
      }
      for (var i = 0u; i < 4u; i++) { ws[jj * BN + cq * 4u + i] = v[i]; }
    } else {
      for (var i = li; i < BN * BK; i += 256u) {
        let jj = i / BN;
        let c = i % BN;
        var v = 0.0;
        if (j0 + jj < p.jCount && col0 + c < p.K) { v = w_at((j0 + jj) * p.K + col0 + c); }
        ws[jj * BN + c] = v;
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
      if (r < p.n && c < p.K) {
        var v = acc[i][j];
        if (p.accumulate == 1u) { v += out[r * p.K + c]; }
        out[r * p.K + c] = v;
      }
    }
  }
}
