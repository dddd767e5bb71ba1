// GPU tensors. Activations (f32/i32) are one storage buffer. Weights stay in their checkpoint
// dtype: f32 as is, f16/bf16 packed two per u32 word (element e in word e >> 1, half e & 1), and a
// weight larger than one storage binding is split by rows into several buffers ("chunks"), each
// bound on its own. Every buffer is padded to 16 bytes so kernels may declare it as vec4s.
// Block-quantized weights (q8_0, q4_0: issue 30) keep the file's blocks byte for byte (34 / 18
// bytes per 32 values; kernels/load-q8-0.wgsl says why no aligned repacking); their rows are whole
// blocks, so a row chunk is whole blocks too and its element 0 starts a block.
// Weights are written in bounded pieces (memory.ts), never staged whole.

import { LightReasonerError } from '../../errors.ts';
import { BYTES_PER_ELEMENT, type DType, type Tensor, type WeightDType, isQuantDType, sizeOf } from '../types.ts';
import { writePieces } from './memory.ts';

export interface Chunk {
  buffer: GPUBuffer;
  /** First row (index along dim 0) of the weight held by this buffer. */
  rowStart: number;
  rowCount: number;
}

export class GPUTensor implements Tensor {
  readonly size: number;
  constructor(
    readonly dtype: DType,
    readonly shape: readonly number[],
    /** Row-chunks; activations and small weights have exactly one, starting at row 0. */
    readonly chunks: readonly Chunk[],
    /** The tensor whose buffers these are, when this is a view (views never free storage). */
    readonly base: GPUTensor | null = null,
  ) {
    this.size = sizeOf(shape);
  }
  /** The single buffer of an unchunked tensor (all activations). */
  get buffer(): GPUBuffer {
    if (this.chunks.length !== 1) throw new RangeError(`tensor [${this.shape}] is split into ${this.chunks.length} buffers; this op needs it whole`);
    return this.chunks[0].buffer;
  }
}

export const align = (n: number, a: number) => Math.ceil(n / a) * a;

/** Bytes of `elements` values of `dtype` in a buffer, padded to 16 (block formats: whole blocks). */
export function bufferBytes(dtype: DType, elements: number): number {
  return Math.max(16, align(elements * BYTES_PER_ELEMENT[dtype], 16));
}

// A function, not a constant: GPUBufferUsage exists only once a WebGPU implementation is loaded.
const storageUsage = () => GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

/** Create a STORAGE buffer holding `bytes` (zero-padded to a multiple of 16); small tensors only (see memory.ts). */
export function uploadBuffer(device: GPUDevice, bytes: Uint8Array, size: number, label: string): GPUBuffer {
  const buffer = device.createBuffer({
    label,
    size,
    usage: storageUsage(),
    mappedAtCreation: bytes.byteLength > 0,
  });
  if (bytes.byteLength > 0) {
    new Uint8Array(buffer.getMappedRange()).set(bytes);
    buffer.unmap();
  }
  return buffer;
}

/**
 * Rows per chunk so that a chunk's padded size fits in `maxBinding` bytes. Rows, not bytes, are
 * the unit because matmul and embedding address weights by row; a chunk boundary may fall in the
 * middle of a u32 word for odd rows of 16-bit data, which is fine since each chunk is a fresh
 * buffer whose element 0 is the chunk's first element.
 */
function rowsPerChunk(dtype: WeightDType, shape: readonly number[], maxBinding: number): number {
  const rows = shape.length === 0 ? 1 : shape[0];
  const rowElems = shape.length === 0 ? 1 : sizeOf(shape.slice(1));
  const rowBytes = rowElems * BYTES_PER_ELEMENT[dtype];
  const limit = Math.floor(maxBinding / 16) * 16;
  if (rowBytes === 0) return Math.max(rows, 1);
  const per = Math.floor(limit / rowBytes);
  if (per < 1)
    throw new LightReasonerError(
      'UNSUPPORTED',
      `one row of weight [${shape}] (${rowBytes} bytes) exceeds the ${maxBinding}-byte storage binding of this WebGPU device — use --backend wasm`,
    );
  return Math.min(per, Math.max(rows, 1));
}

export function createWeightTensor(
  device: GPUDevice,
  dtype: WeightDType,
  shape: readonly number[],
  bytes: Uint8Array,
  maxBinding: number,
  maxBuffer: number,
  pieceBytes?: number,
): GPUTensor {
  const bpe = BYTES_PER_ELEMENT[dtype];
  const n = sizeOf(shape);
  if (isQuantDType(dtype) && (shape.length !== 2 || shape[1] === 0 || shape[1] % 32 !== 0))
    throw new RangeError(`weight [${shape}] ${dtype}: a block-format weight must be a matrix whose rows are a multiple of 32 long`);
  if (bytes.byteLength !== n * bpe) throw new RangeError(`weight [${shape}] ${dtype} needs ${n * bpe} bytes, got ${bytes.byteLength}`);
  const rows = shape.length === 0 ? 1 : shape[0];
  const rowElems = rows === 0 ? 0 : n / rows;
  const per = rowsPerChunk(dtype, shape, Math.min(maxBinding, maxBuffer));
  const chunks: Chunk[] = [];
  for (let r0 = 0; r0 < Math.max(rows, 1); r0 += per) {
    const count = Math.min(per, rows - r0);
    const part = bytes.subarray(r0 * rowElems * bpe, (r0 + count) * rowElems * bpe);
    const buffer = device.createBuffer({ label: `weight[${shape}] rows ${r0}+${count}`, size: bufferBytes(dtype, count * rowElems), usage: storageUsage() });
    writePieces(device.queue, buffer, part, pieceBytes);
    chunks.push({ buffer, rowStart: r0, rowCount: count });
  }
  return new GPUTensor(dtype, shape, chunks);
}
