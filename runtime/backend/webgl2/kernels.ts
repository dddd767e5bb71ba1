// The gpu.js kernels of the WebGL2 backend, as source strings: gpu.js translates a kernel's JS
// source to GLSL, and a string is immune to what bundlers and minifiers do to function bodies
// (comma expressions, renamed `this`, `&&` for `if`), which gpu.js's parser would reject.
//
// Conventions. One thread computes one output element. Every kernel renders a 3-D output
// [x, y, z] (so all outputs are one texture class, and a tensor is one R32F texture); a 2-D
// output of cols × rows is rendered [cols, 1, rows] (textures.ts grid), so "thread (c, r)" below
// means this.thread.x = c, this.thread.z = r. Activations are read by flat row-major index.
// gpu.js keeps integers in ints only inside expressions (threads, Integer constants and
// arguments, loop counters); a `const` is a float, exact below 2^24, which is why activations are
// capped at 2^24 elements (textures.ts) and weights, whose flat index can exceed it, are read 2-D
// ([row][column]: gpu.js forms the index in ints).
// Loop bounds are constants; a bound that changes from call to call (rows, positions) is a
// power-of-two constant plus an early `break` on a uniform, so few distinct shaders compile.

/** The output thread's flat index into a row-major tensor rendered as [x, y, z]. */
const FLAT = '((this.thread.z * this.output.y + this.thread.y) * this.output.x + this.thread.x)';

/** Native GLSL helpers, added to the gpu.js instance once (gpu.js refuses them after the first kernel). */
export const NATIVE = [
  {
    // Two bf16 / f16 values from one RGBA8 texel (little-endian bytes r, g | b, a). RGBA8 is
    // bit-exact where RGBA32F holding packed bits is not (a GPU may flush the f32 subnormals
    // that a zero high half produces, and canonicalise NaNs).
    name: 'unpackBF16',
    source: `vec2 unpackBF16(vec4 px) {
  uvec4 b = uvec4(round(px * 255.0));
  return vec2(uintBitsToFloat((b.x | (b.y << 8u)) << 16u), uintBitsToFloat((b.z | (b.w << 8u)) << 16u));
}`,
    returnType: 'Array(2)',
  },
  {
    name: 'unpackF16',
    source: `vec2 unpackF16(vec4 px) {
  uvec4 b = uvec4(round(px * 255.0));
  return unpackHalf2x16(b.x | (b.y << 8u) | (b.z << 16u) | (b.w << 24u));
}`,
    returnType: 'Array(2)',
  },
  {
    // sin and cos (x, y) of θ with Cody–Waite reduction by π/2 and Cephes polynomials, as
    // kernels/rope.wgsl: GLSL's sin/cos are only specified to ~2^-11 on [-π, π], and positions
    // reach tens of thousands of radians.
    name: 'sincosCW',
    source: `vec2 sincosCW(float theta) {
  float j = floor(theta * 0.63661977236758134 + 0.5);
  float r = ((theta - j * 1.5703125) - j * 4.837512969970703125e-4) - j * 7.54978995489188216e-8;
  float z = r * r;
  float s = r + r * z * (-1.6666654611e-1 + z * (8.3321608736e-3 + z * -1.9515295891e-4));
  float c = 1.0 - 0.5 * z + z * z * (4.166664568298827e-2 + z * (-1.388731625493765e-3 + z * 2.443315711809948e-5));
  int q = int(j) & 3;
  if (q == 0) return vec2(s, c);
  if (q == 1) return vec2(c, -s);
  if (q == 2) return vec2(-s, -c);
  return vec2(-c, s);
}`,
    returnType: 'Array(2)',
  },
  {
    // ln(p + 1e-12) from ln p without forming p (kernels/contrast.wgsl's lnEps): never underflows.
    name: 'lnEps',
    source: `float lnEps(float lp) {
  float LN_EPS = -27.631021115928547;
  float t = lp >= LN_EPS ? exp(LN_EPS - lp) : exp(lp - LN_EPS);
  float l1p = t < 1e-3 ? t * (1.0 - t * (0.5 - t * (1.0 / 3.0))) : log(1.0 + t);
  return (lp >= LN_EPS ? lp : LN_EPS) + l1p;
}`,
    returnType: 'Number',
  },
];

const fn = (args: string, body: string) => `function (${args}) {\n${body}\n}`;
/** The 16-bit unpack helper for a weight dtype (f32 weights are read directly). */
const unpackOf = (dtype: 'f16' | 'bf16') => (dtype === 'f16' ? 'unpackF16' : 'unpackBF16');

// ---- memory -----------------------------------------------------------------------------------

export const UPLOAD = fn('a', `return a[${FLAT}];`);
export const FILL = fn('v', 'return v;');
/** Elements below `n` from the newer layer, the rest from the older one (textures.ts Store). */
export const SPLICE = fn('top, bottom, n', `if (${FLAT} < n) { return top[${FLAT}]; }\nreturn bottom[${FLAT}];`);

// ---- elementwise ------------------------------------------------------------------------------

export const ADD = fn('x, y', `return x[${FLAT}] + y[${FLAT}];`);
export const AXPY = fn('x, y, alpha', `return x[${FLAT}] + alpha * y[${FLAT}];`);
export const SWIGLU = fn('g, u', `const v = g[${FLAT}];\nreturn (v / (1 + Math.exp(-v))) * u[${FLAT}];`);
/**
 * gelu_tanh(g)·u (Gemma's GeGLU) as g·σ(2z), z = √(2/π)(g + 0.044715g³) (1 + tanh z = 2σ(2z)):
 * no tanh, whose GLSL precision is loose for large |z|, and exp never overflows: gates below −10
 * (gelu below 1e−36 there) are taken as −10; a large positive gate makes e^(−2z) 0 and gives g.
 */
export const GEGLU = fn(
  'g, u',
  `const a = Math.max(g[${FLAT}], -10);
const z2 = 1.5957691216057308 * a * (1 + 0.044715 * a * a);
return (a / (1 + Math.exp(-z2))) * u[${FLAT}];`,
);

// ---- rows ---------------------------------------------------------------------------------------

/** out[r, c] (thread (c, r)) = table[ids[r], c] · scale (1 copies; Gemma: √hidden); constants: none. */
export const EMBED_F32 = fn('ids, table, scale', 'return table[ids[this.thread.z]][this.thread.x] * scale;');
export const embed16 = (dtype: 'f16' | 'bf16') =>
  fn(
    'ids, table, scale',
    `const pr = ${unpackOf(dtype)}(table[ids[this.thread.z]][Math.floor(this.thread.x / 2)]);\nif (this.thread.x % 2 === 0) { return pr[0] * scale; }\nreturn pr[1] * scale;`,
  );
/** out[j, c] = x[index[j], c]; constants: H. */
export const GATHER = fn('x, index', 'return x[index[this.thread.z] * this.constants.H + this.thread.x];');

/** 1 / rms of row r (thread (r, 0)); constants: H. */
export const RMS_INV = fn(
  'x, eps',
  `let ss = 0;
for (let j = 0; j < this.constants.H; j++) {
  const v = x[this.thread.x * this.constants.H + j];
  ss += v * v;
}
return 1 / Math.sqrt(ss / this.constants.H + eps);`,
);
/** out[r, c] = (x[r, c] · inv[r]) · w[c]; constants: H. */
export const RMS_APPLY = fn('x, inv, w', 'return (x[this.thread.z * this.constants.H + this.thread.x] * inv[this.thread.z]) * w[this.thread.x];');

/**
 * out[r, c] = Σ_k x[r, k] · w[c, k] (+ b[c]); thread (c, r); constants: K. f32 weights are read
 * [c][k]; 16-bit weights [c][pair], two values per texel, rows padded to an even length.
 */
export function matmul(w: 'f32' | 'f16' | 'bf16', bias: boolean): string {
  const b = bias ? ' + b[this.thread.x]' : '';
  const args = bias ? 'x, w, b' : 'x, w';
  if (w === 'f32') {
    return fn(
      args,
      `let s = 0;
for (let k = 0; k < this.constants.K; k++) {
  s += x[this.thread.z * this.constants.K + k] * w[this.thread.x][k];
}
return s${b};`,
    );
  }
  const un = unpackOf(w);
  return fn(
    args,
    `let s = 0;
for (let p = 0; p < this.constants.PAIRS; p++) {
  const pr = ${un}(w[this.thread.x][p]);
  s += x[this.thread.z * this.constants.K + 2 * p] * pr[0] + x[this.thread.z * this.constants.K + 2 * p + 1] * pr[1];
}
if (this.constants.ODD === 1) {
  const pr = ${un}(w[this.thread.x][this.constants.PAIRS]);
  s += x[this.thread.z * this.constants.K + this.constants.K - 1] * pr[0];
}
return s${b};`,
  );
}

/** Rotary embedding (HF rotate_half), thread (h·D + i, r); constants: D, HALF, W = heads·D. */
export const ROPE = fn(
  'x, rows, invFreq',
  `const h = Math.floor(this.thread.x / this.constants.D);
const i = this.thread.x - h * this.constants.D;
let j = i;
if (i >= this.constants.HALF) { j = i - this.constants.HALF; }
const sc = sincosCW(rows[this.thread.z * 2 + 1] * invFreq[j]);
const base = this.thread.z * this.constants.W + h * this.constants.D;
const a = x[base + j];
const b = x[base + j + this.constants.HALF];
if (i < this.constants.HALF) { return a * sc[1] - b * sc[0]; }
return b * sc[1] + a * sc[0];`,
);

// ---- KV cache and attention -------------------------------------------------------------------

/**
 * For each cache (slot, t), thread (t, slot): the last row r < n with rows[r] = (slot, t), or -1.
 * Constants: NR (a power of two ≥ n). This inverse map lets kvWrite gather instead of scatter.
 */
export const KV_INDEX = fn(
  'rows, n',
  `let found = -1;
for (let r = 0; r < this.constants.NR; r++) {
  if (r >= n) { break; }
  if (rows[r * 2] === this.thread.z && rows[r * 2 + 1] === this.thread.x) { found = r; }
}
return found;`,
);
/** The cache with the rows written, thread (j, t, slot·kvh + g); constants: D, KVH. */
export const KV_WRITE = fn(
  'src, cache, inv, maxT',
  `const slot = Math.floor(this.thread.z / this.constants.KVH);
const g = this.thread.z - slot * this.constants.KVH;
const r = inv[slot * maxT + this.thread.y];
if (r >= 0) { return src[r * this.constants.KVH * this.constants.D + g * this.constants.D + this.thread.x]; }
return cache[${FLAT}];`,
);

/** scale · q·k for (row r, head h) at cache position s: thread (s, r·heads + h), 0 past the row's
 * position or before its sliding window (win > 0: positions pos − win < s ≤ pos are seen).
 * Constants: HEADS, GROUP, KVH, D; maxT is the cache length. */
export const ATT_SCORES = fn(
  'q, kc, rows, scale, maxT, win',
  `const r = Math.floor(this.thread.z / this.constants.HEADS);
const h = this.thread.z - r * this.constants.HEADS;
if (this.thread.x > rows[r * 2 + 1]) { return 0; }
if (win > 0 && this.thread.x <= rows[r * 2 + 1] - win) { return 0; }
const g = Math.floor(h / this.constants.GROUP);
const kb = ((rows[r * 2] * this.constants.KVH + g) * maxT + this.thread.x) * this.constants.D;
const qb = (r * this.constants.HEADS + h) * this.constants.D;
let s = 0;
for (let j = 0; j < this.constants.D; j++) { s += q[qb + j] * kc[kb + j]; }
return s * scale;`,
);
/** Per (r, h), thread (0 | 1, r·heads + h): the max of the scores (0), 1 / Σ exp(score − max) (1),
 * over positions lo..pos (lo = 0, or pos − win + 1 with a sliding window).
 * Constants: HEADS, LT (a power of two ≥ maxT). */
export const ATT_STATS = fn(
  'scores, rows, maxT, win',
  `const pos = rows[Math.floor(this.thread.z / this.constants.HEADS) * 2 + 1];
let lo = 0;
if (win > 0) { lo = Math.max(0, pos - win + 1); }
let m = -3.0e38;
for (let s = 0; s < this.constants.LT; s++) {
  if (s > pos) { break; }
  if (s >= lo) { m = Math.max(m, scores[this.thread.z * maxT + s]); }
}
if (this.thread.x === 0) { return m; }
let sum = 0;
for (let s = 0; s < this.constants.LT; s++) {
  if (s > pos) { break; }
  if (s >= lo) { sum += Math.exp(scores[this.thread.z * maxT + s] - m); }
}
return 1 / sum;`,
);
/** out[r, h·D + j] = Σ_s softmax(scores)_s · v[slot, g, s, j] over s in lo..pos; thread (h·D + j, r).
 * Constants: HEADS, GROUP, KVH, D, LT. */
export const ATT_OUT = fn(
  'scores, stats, vc, rows, maxT, win',
  `const h = Math.floor(this.thread.x / this.constants.D);
const j = this.thread.x - h * this.constants.D;
const rh = this.thread.z * this.constants.HEADS + h;
const pos = rows[this.thread.z * 2 + 1];
let lo = 0;
if (win > 0) { lo = Math.max(0, pos - win + 1); }
const g = Math.floor(h / this.constants.GROUP);
const vb = (rows[this.thread.z * 2] * this.constants.KVH + g) * maxT * this.constants.D + j;
const m = stats[rh * 2];
let acc = 0;
for (let s = 0; s < this.constants.LT; s++) {
  if (s > pos) { break; }
  if (s >= lo) { acc += Math.exp(scores[rh * maxT + s] - m) * vc[vb + s * this.constants.D]; }
}
return acc * stats[rh * 2 + 1];`,
);

// ---- row reductions, in two stages: chunks of S elements, then the chunks of a row ------------

/** Online (max, Σ exp(x − max)) of chunk c of row r: thread (c, r); constants: V, S. */
export const ROW_PART = fn(
  'x',
  `let m = -3.0e38;
let l = 0;
for (let i = 0; i < this.constants.S; i++) {
  const j = this.thread.x * this.constants.S + i;
  if (j >= this.constants.V) { break; }
  const v = x[this.thread.z * this.constants.V + j];
  if (v > m) { l = l * Math.exp(m - v) + 1; m = v; } else { l += Math.exp(v - m); }
}
return [m, l];`,
);
/** The row's (max, Σ exp) from its C chunk partials: thread (r, 0, 0); constants: C. */
export const ROW_MERGE = fn(
  'part',
  `let m = -3.0e38;
let l = 0;
for (let c = 0; c < this.constants.C; c++) {
  const p = part[this.thread.x * this.constants.C + c];
  const mm = Math.max(m, p[0]);
  l = l * Math.exp(m - mm) + p[1] * Math.exp(p[0] - mm);
  m = mm;
}
return [m, l];`,
);
export const SOFTMAX_APPLY = fn('x, st', `const s = st[this.thread.z];\nreturn Math.exp(x[${FLAT}] - s[0]) / s[1];`);

/** (value, index) of the first maximum of chunk c of row r, seeded with the chunk's first element
 * so that a row of −∞ still gives index 0; constants: V, S. */
export const ARGMAX_PART = fn(
  'x',
  `const c0 = this.thread.x * this.constants.S;
let best = x[this.thread.z * this.constants.V + c0];
let bi = c0;
for (let i = 1; i < this.constants.S; i++) {
  const j = c0 + i;
  if (j >= this.constants.V) { break; }
  const v = x[this.thread.z * this.constants.V + j];
  if (v > best) { best = v; bi = j; }
}
return [best, bi];`,
);
/** First maximum over the chunks (strictly greater wins, so ties keep the lower index); constants: C. */
export const ARGMAX_MERGE = fn(
  'part',
  `const p0 = part[this.thread.x * this.constants.C];
let best = p0[0];
let bi = p0[1];
for (let c = 1; c < this.constants.C; c++) {
  const p = part[this.thread.x * this.constants.C + c];
  if (p[0] > best) { best = p[0]; bi = p[1]; }
}
return bi;`,
);

/** Σ x² over chunk c of a flat tensor: thread (c, 0, 0); constants: N, S. */
export const SUMSQ_PART = fn(
  'x',
  `let s = 0;
for (let i = 0; i < this.constants.S; i++) {
  const j = this.thread.x * this.constants.S + i;
  if (j >= this.constants.N) { break; }
  s += x[j] * x[j];
}
return s;`,
);
export const SUMSQ_MERGE = fn('part, old', 'let s = old[0];\nfor (let c = 0; c < this.constants.C; c++) { s += part[c]; }\nreturn s;');
