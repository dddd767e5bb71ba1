// out[r, colStart + c] = x[r, :] · w[c, :] + bias[colStart + c] for the few-row case (decode,
// n ≤ 8). Decode is bound by reading the weight, so each weight element is read exactly once and
// used for all n rows: 32 lanes of a workgroup walk one weight row together (consecutive lanes
// read consecutive vec4s) while keeping n partial sums, then the lanes are summed in shared memory.
// Accessors x_at/x_at4 (f32), w_at/w_at4 (weight dtype) and b_at are prepended by the backend.
// w is one row-chunk of the weight: rows colStart .. colStart + colCount of the full matrix.

struct Params {
  n: u32,         // rows of x (≤ MAX_ROWS)
  K: u32,
  colStart: u32,  // first output column covered by this weight chunk
  colCount: u32,  // rows in this weight chunk
  outStride: u32, // N of the full weight = row stride of out
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;

const MAX_ROWS = 8u;
const COLS = 8u;   // output columns per workgroup
const LANES = 32u; // threads per column
var<workgroup> partial: array<f32, 2048>; // [COLS][MAX_ROWS][LANES]

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let lane = li % LANES;
  let cl = li / LANES;
  let c = wg.x * COLS + cl;
  var acc: array<f32, MAX_ROWS>;
  if (c < p.colCount) {
    if ((p.K & 3u) == 0u) {
      // Rows start on a vec4 boundary: 16-byte loads of x and 4-element loads of w.
      let K4 = p.K >> 2u;
      for (var k = lane; k < K4; k += LANES) {
        let wv = w_at4(c * K4 + k);
        for (var r = 0u; r < p.n; r++) {
          acc[r] += dot(wv, x_at4(r * K4 + k));
        }
      }
    } else {
      for (var k = lane; k < p.K; k += LANES) {
        let wv = w_at(c * p.K + k);
        for (var r = 0u; r < p.n; r++) {
          acc[r] += wv * x_at(r * p.K + k);
        }
      }
    }
  }
  for (var r = 0u; r < MAX_ROWS; r++) {
    partial[(cl * MAX_ROWS + r) * LANES + lane] = acc[r];
  }
  workgroupBarrier();
  if (li < COLS * MAX_ROWS) {
    let oc = li / MAX_ROWS;
    let r = li % MAX_ROWS;
    let col = wg.x * COLS + oc;
    if (r < p.n && col < p.colCount) {
      var s = 0.0;
      let base = (oc * MAX_ROWS + r) * LANES;
      for (var i = 0u; i < LANES; i++) {
        s += partial[base + i];
      }
      out[r * p.outStride + p.colStart + col] = s + b_at(p.colStart + col);
    }
  }
}
