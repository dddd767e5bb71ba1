// Backend.contrast on WebGL2: the math of kernels/contrast.wgsl (log-space softmaxes, lnEps, the
// mask tested as e − max_{j<n} e ≥ ln alpha) split into gather-only passes, since a fragment
// shader has no workgroups, shared memory or scatter. Rows are m ≤ the batch; ids are processed in
// chunks of S, C = ⌈max(Ve, Va) / S⌉ chunks per row and CN = ⌈n / S⌉ of them over the shared ids.
//
//   CA [C, 2, m] → (max, Σexp, max over ids < n, 0) of each chunk of the expert (y = 0) and the
//                  amateur (y = 1) row
//   CB [CN, m]   → (Σ KL terms, online max and Σexp of the masked scores d, mask count) per chunk
//   CS [2, m]    → stats = (KL, |mask|)
//   CL [K, m]    → the k-th masked id in ascending order (prefix over CB's counts, then one
//                  chunk scanned), or -1
//   CW [K, m]    → its weight exp(d − max d) / Σ exp(d − max d), 0 for -1
// Every later pass re-merges the C chunk partials it needs (C ≤ ~150 for a 152k vocabulary),
// which costs less than another pass and its texture.

const fn = (args: string, body: string) => `function (${args}) {\n${body}\n}`;

/** Merge of row this.thread.${row}'s CA partials into mE, lnSE, mA, lnSA and xmax. */
const norms = (row: 'z') => `let mE = -3.0e38;
let lE = 0;
let mA = -3.0e38;
let lA = 0;
let xmax = -3.0e38;
for (let c = 0; c < this.constants.C; c++) {
  const pe = part[(this.thread.${row} * 2) * this.constants.C + c];
  const pa = part[(this.thread.${row} * 2 + 1) * this.constants.C + c];
  const me = Math.max(mE, pe[0]);
  lE = lE * Math.exp(mE - me) + pe[1] * Math.exp(pe[0] - me);
  mE = me;
  const ma = Math.max(mA, pa[0]);
  lA = lA * Math.exp(mA - ma) + pa[1] * Math.exp(pa[0] - ma);
  mA = ma;
  xmax = Math.max(xmax, pe[2]);
}
const lnSE = Math.log(lE);
const lnSA = Math.log(lA);`;

/** Constants: VE, VA, SH (= n), S. Thread (c, side, r). */
export const CA = fn(
  'e, a',
  `let m = -3.0e38;
let l = 0;
let xs = -3.0e38;
for (let i = 0; i < this.constants.S; i++) {
  const j = this.thread.x * this.constants.S + i;
  let v = 0;
  if (this.thread.y === 0) {
    if (j >= this.constants.VE) { break; }
    v = e[this.thread.z * this.constants.VE + j];
    if (j < this.constants.SH) { xs = Math.max(xs, v); }
  } else {
    if (j >= this.constants.VA) { break; }
    v = a[this.thread.z * this.constants.VA + j];
  }
  if (v > m) { l = l * Math.exp(m - v) + 1; m = v; } else { l += Math.exp(v - m); }
}
return [m, l, xs, 0];`,
);

/** Constants: VE, VA, SH, S, C. Thread (c, r). */
export const CB = fn(
  'e, a, part, lnAlpha',
  `${norms('z')}
let kl = 0;
let dm = -3.0e38;
let dl = 0;
let count = 0;
for (let i = 0; i < this.constants.S; i++) {
  const j = this.thread.x * this.constants.S + i;
  if (j >= this.constants.SH) { break; }
  const ev = e[this.thread.z * this.constants.VE + j];
  const lpe = (ev - mE) - lnSE;
  const d = lnEps(lpe) - lnEps((a[this.thread.z * this.constants.VA + j] - mA) - lnSA);
  kl += Math.exp(lpe) * d;
  if (ev - xmax >= lnAlpha) {
    count += 1;
    if (d > dm) { dl = dl * Math.exp(dm - d) + 1; dm = d; } else { dl += Math.exp(d - dm); }
  }
}
return [kl, dm, dl, count];`,
);

/** Constants: CN. Thread (0 = KL | 1 = count, r). */
export const CS = fn(
  'pb',
  `let s = 0;
for (let c = 0; c < this.constants.CN; c++) {
  const p = pb[this.thread.z * this.constants.CN + c];
  if (this.thread.x === 0) { s += p[0]; } else { s += p[3]; }
}
return s;`,
);

/** Constants: VE, SH, S, C, CN. Thread (k, r). */
export const CL = fn(
  'e, part, pb, lnAlpha',
  `let before = 0;
let chunk = -1;
for (let c = 0; c < this.constants.CN; c++) {
  if (chunk < 0) {
    const p = pb[this.thread.z * this.constants.CN + c];
    if (before + p[3] > this.thread.x) { chunk = c; } else { before += p[3]; }
  }
}
if (chunk < 0) { return -1; }
${norms('z')}
let seen = before;
let id = -1;
for (let i = 0; i < this.constants.S; i++) {
  const j = chunk * this.constants.S + i;
  if (j >= this.constants.SH) { break; }
  if (e[this.thread.z * this.constants.VE + j] - xmax >= lnAlpha) {
    if (seen === this.thread.x) { id = j; break; }
    seen += 1;
  }
}
return id;`,
);

/** Constants: VE, VA, C, CN, K. Thread (k, r). */
export const CW = fn(
  'e, a, part, pb, ids',
  `const id = ids[this.thread.z * this.constants.K + this.thread.x];
if (id < 0) { return 0; }
${norms('z')}
let dmax = -3.0e38;
let z = 0;
for (let c = 0; c < this.constants.CN; c++) {
  const p = pb[this.thread.z * this.constants.CN + c];
  const mm = Math.max(dmax, p[1]);
  z = z * Math.exp(dmax - mm) + p[2] * Math.exp(p[1] - mm);
  dmax = mm;
}
const d = lnEps((e[this.thread.z * this.constants.VE + id] - mE) - lnSE) - lnEps((a[this.thread.z * this.constants.VA + id] - mA) - lnSA);
return Math.exp(d - dmax) / z;`,
);
