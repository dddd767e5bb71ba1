// Tensors of the WebGL2 backend. A fragment shader writes whole new textures, never parts of
// one, so an f32/i32 tensor is a *store* whose contents are a stack of layers: the top layer is
// the newest texture an op rendered and holds the first `extent` elements; elements past it come
// from the layers below (the bottom one covers the whole store). Writing through a view pushes a
// layer instead of copying the rest of the store, so the model's decode steps — which write
// [m, H] views of activations sized for the prefill — cost one texture per op, and the tail of
// the store is spliced in (one kernel) only when something reads past the top layer. i32 tensors
// hold their values as exact floats (|v| < 2^24). Every store texture is a gpu.js output: R32F,
// one element per texel, row-major.
//
// Weights are raw textures made here: f16/bf16 as RGBA8, two 16-bit values per texel (2 bytes per
// element on the GPU, unpacked by unpackF16/unpackBF16 in the kernels), f32 as RGBA32F (four per
// texel); rows of odd length are padded to an even one so a texel never straddles two rows.
// Vectors (norm weights, biases; < 0.1 % of a model's bytes) are decoded to f32 stores.

import type { DType, Tensor, WeightDType } from '../types.ts';
import { sizeOf } from '../types.ts';
import type { GpuTexture } from './gpujs.ts';

/** gpu.js forms flat indices of activations in floats: exact below 2^24. */
export const MAX_ACTIVATION_ELEMENTS = 2 ** 24;

export interface Layer {
  tex: GpuTexture;
  extent: number;
}

export class Store {
  /** Newest first; empty only after dispose. */
  layers: Layer[] = [];
  disposed = false;
  constructor(readonly capacity: number) {}
}

/** A packed weight: the texture and how rows map onto it. */
export interface WeightTexture {
  tex: RawTexture;
  /** Texels per row: ⌈K / 2⌉ for 16-bit, K for f32 (read [row][k] through gpu.js's 2-D getter). */
  rowTexels: number;
}

export class GLTensor implements Tensor {
  readonly size: number;
  constructor(
    readonly dtype: DType,
    readonly shape: readonly number[],
    /** f32/i32 tensors and vector weights; null for matrix weights. */
    readonly store: Store | null,
    readonly weight: WeightTexture | null,
    /** The tensor this is a view of (views never free storage). */
    readonly base: GLTensor | null = null,
  ) {
    this.size = sizeOf(shape);
  }
}

export function gl2(x: Tensor): GLTensor {
  if (!(x instanceof GLTensor)) throw new TypeError('tensor belongs to another backend');
  return x;
}

/**
 * The output a kernel renders for `cols` × `rows`: [cols, 1, rows], rows in z. gpu.js lays a
 * [x, y, 1] output out as an x × y texture (over MAX_TEXTURE_SIZE for a 49,152-wide LM head at
 * 64 rows) but anything with z > 1 as a near-square one, so kernels read their row from
 * this.thread.z and every texture stays within √(2^24) = 4096 texels a side.
 */
export function grid(cols: number, rows: number): [number, number, number] {
  return [cols, 1, rows];
}

/** The output a kernel renders for a whole tensor: its last dim by the product of the others. */
export function dims3(shape: readonly number[]): [number, number, number] {
  const n = shape.length;
  const x = n === 0 ? 1 : shape[n - 1];
  return grid(x, x === 0 ? 0 : sizeOf(shape) / x);
}

/**
 * A texture gpu.js binds like its own (it reads `type`, `size`, `output`, `context`), for the
 * weights. `type` picks gpu.js's getter: 'ArrayTexture(4)' returns a texel (two packed 16-bit
 * values), 'MemoryOptimizedNumberTexture' one of a texel's four f32 channels.
 */
export class RawTexture implements GpuTexture {
  readonly dimensions: readonly number[];
  constructor(
    readonly context: WebGL2RenderingContext,
    readonly texture: WebGLTexture,
    readonly size: readonly number[],
    readonly output: readonly number[],
    readonly type: string,
  ) {
    this.dimensions = output;
  }
  delete(): void {
    this.context.deleteTexture(this.texture);
  }
}

/** [width, height] for `texels` texels, or null when they do not fit one texture. */
function layout(texels: number, maxSize: number): [number, number] | null {
  const w = Math.max(1, Math.min(maxSize, texels));
  const h = Math.max(1, Math.ceil(texels / w));
  return h > maxSize ? null : [w, h];
}

function tooLarge(shape: readonly number[], dtype: WeightDType, maxSize: number): Error {
  return new RangeError(
    `weight [${shape}] (${dtype}) does not fit one ${maxSize}×${maxSize} texture of this WebGL2 implementation; use --backend webgpu or wasm`,
  );
}

/** Upload `data` (texels × 4 channels, raw) into a new texture, whole rows without a copy. */
function upload(gl: WebGL2RenderingContext, internal: number, type: number, w: number, h: number, data: Uint8Array | Float32Array): WebGLTexture {
  const tex = gl.createTexture();
  if (!tex) throw new Error('WebGL2: createTexture failed (context lost?)');
  gl.bindTexture(gl.TEXTURE_2D, tex);
  for (const p of [gl.TEXTURE_MIN_FILTER, gl.TEXTURE_MAG_FILTER]) gl.texParameteri(gl.TEXTURE_2D, p, gl.NEAREST);
  gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_S, gl.CLAMP_TO_EDGE);
  gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_T, gl.CLAMP_TO_EDGE);
  gl.pixelStorei(gl.UNPACK_ALIGNMENT, 4);
  gl.pixelStorei(gl.UNPACK_FLIP_Y_WEBGL, false);
  gl.pixelStorei(gl.UNPACK_PREMULTIPLY_ALPHA_WEBGL, false);
  gl.texStorage2D(gl.TEXTURE_2D, 1, internal, w, h);
  const perRow = w * 4;
  const full = Math.floor(data.length / perRow);
  if (full > 0) gl.texSubImage2D(gl.TEXTURE_2D, 0, 0, 0, w, full, gl.RGBA, type, data.subarray(0, full * perRow));
  if (full < h) {
    const last = new (data.constructor as { new (n: number): Uint8Array | Float32Array })(perRow);
    last.set(data.subarray(full * perRow));
    gl.texSubImage2D(gl.TEXTURE_2D, 0, 0, full, w, 1, gl.RGBA, type, last);
  }
  return tex;
}

/** A matrix weight [rows, K] (2-D and up: the last dim is K) as a raw texture. */
export function createWeightTexture(
  gl: WebGL2RenderingContext,
  dtype: WeightDType,
  shape: readonly number[],
  bytes: Uint8Array,
  maxSize: number,
): WeightTexture {
  const K = shape[shape.length - 1],
    rows = sizeOf(shape) / Math.max(K, 1);
  if (dtype === 'f32') {
    const texels = Math.ceil((rows * K) / 4);
    const wh = layout(texels, maxSize);
    if (!wh) throw tooLarge(shape, dtype, maxSize);
    const data = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
    const aligned = bytes.byteOffset % 4 === 0 ? data : new Float32Array(bytes.slice().buffer);
    const tex = upload(gl, gl.RGBA32F, gl.FLOAT, wh[0], wh[1], aligned);
    return { tex: new RawTexture(gl, tex, wh, [K, rows, 1], 'MemoryOptimizedNumberTexture'), rowTexels: K };
  }
  const rowTexels = Math.ceil(K / 2);
  const wh = layout(rows * rowTexels, maxSize);
  if (!wh) throw tooLarge(shape, dtype, maxSize);
  let packed = bytes;
  if (K % 2 === 1) {
    // pad every row with one zero element so that texel p of a row holds elements 2p, 2p + 1
    packed = new Uint8Array(rows * rowTexels * 4);
    for (let r = 0; r < rows; r++) packed.set(bytes.subarray(r * K * 2, (r + 1) * K * 2), r * rowTexels * 4);
  }
  const tex = upload(gl, gl.RGBA8, gl.UNSIGNED_BYTE, wh[0], wh[1], packed);
  return { tex: new RawTexture(gl, tex, wh, [rowTexels, rows, 1], 'ArrayTexture(4)'), rowTexels };
}

/** Bytes a weight texture holds on the GPU (tests check that 16-bit weights stay 2 bytes each). */
export function textureBytes(t: RawTexture): number {
  return t.size[0] * t.size[1] * (t.type === 'ArrayTexture(4)' ? 4 : 16);
}
