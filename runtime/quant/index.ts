// Weight quantization in llama.cpp's block formats, as pure functions (no I/O, no platform): the
// bytes that GGUF export writes and that the quantized kernels will read. Q8_0 and Q4_0 quantize
// blocks of 32 values along each row (q8_0.ts, q4_0.ts say how); F16/BF16/F32 are plain casts.
//
// Which weights get quantized (quantizationPolicy): the attention and MLP projections only — the
// embeddings, the LM head and the norms keep their precision (as issue 30 asks; llama.cpp's
// converter keeps 1-D tensors in f32 too), and a matrix whose rows are not a multiple of 32 values
// long stays as it is, since a block cannot straddle two rows (llama.cpp's converter also falls
// back for those, to f16).

import { decodeToF32, encodeFromF32 } from '../util/dtype.ts';
import { dequantizeQ4_0, Q4_0_BLOCK_BYTES, QK4_0, quantizeQ4_0 } from './q4_0.ts';
import { dequantizeQ8_0, Q8_0_BLOCK_BYTES, QK8_0, quantizeQ8_0 } from './q8_0.ts';

export { dequantizeQ4_0, dequantizeQ8_0, Q4_0_BLOCK_BYTES, Q8_0_BLOCK_BYTES, QK4_0, QK8_0, quantizeQ4_0, quantizeQ8_0 };

/** Block formats this module writes. */
export type QuantType = 'q8_0' | 'q4_0';
/** Element types a weight can be stored in: a block format or a plain float type. */
export type WeightType = QuantType | 'f32' | 'f16' | 'bf16';
/** The dtypes a checkpoint's float tensors come in. */
export type SourceDType = 'f32' | 'f16' | 'bf16';

export const QUANT_TYPES: readonly QuantType[] = Object.freeze(['q8_0', 'q4_0']);

/** Values per block and bytes per block of each type (1 value per "block" for plain floats). */
export const TYPE_LAYOUT: Readonly<Record<WeightType, { blockValues: number; blockBytes: number }>> = Object.freeze({
  f32: { blockValues: 1, blockBytes: 4 },
  f16: { blockValues: 1, blockBytes: 2 },
  bf16: { blockValues: 1, blockBytes: 2 },
  q8_0: { blockValues: QK8_0, blockBytes: Q8_0_BLOCK_BYTES },
  q4_0: { blockValues: QK4_0, blockBytes: Q4_0_BLOCK_BYTES },
});

/** Bytes a row-major tensor of `count` values takes in `type` (count a multiple of the block). */
export function typeBytes(type: WeightType, count: number): number {
  const { blockValues, blockBytes } = TYPE_LAYOUT[type];
  if (count % blockValues !== 0) throw new RangeError(`${type}: ${count} values is not a whole number of ${blockValues}-value blocks`);
  return (count / blockValues) * blockBytes;
}

/** Hugging Face weight names (model.layers.N.…) of the matrices issue 30 quantizes. */
const QUANTIZED_PROJECTIONS = /^model\.layers\.\d+\.(self_attn\.(q_proj|k_proj|v_proj|o_proj)|mlp\.(gate_proj|up_proj|down_proj))\.weight$/;

/**
 * Whether a checkpoint tensor is quantized to a block format: a q/k/v/o/gate/up/down projection
 * matrix whose rows (shape[1], the input dimension in PyTorch's [out, in]) are a multiple of 32.
 * Everything else — embeddings, LM head, norms, biases, odd-shaped projections — keeps its type.
 */
export function quantizationPolicy(name: string, shape: readonly number[]): boolean {
  return QUANTIZED_PROJECTIONS.test(name) && shape.length === 2 && shape[1] % QK8_0 === 0 && shape[1] > 0;
}

/**
 * Convert raw row-major values of a checkpoint dtype to `type`'s bytes. Block formats need
 * `rowLength` (the last dimension) to be a multiple of 32; values must be finite.
 */
export function quantize(type: WeightType, source: SourceDType, bytes: Uint8Array, rowLength: number): Uint8Array {
  if (type === source) return bytes;
  const values = decodeToF32(source, bytes);
  if (type === 'f32' || type === 'f16' || type === 'bf16') return encodeFromF32(type, values);
  if (rowLength <= 0 || rowLength % QK8_0 !== 0) throw new RangeError(`${type}: rows of ${rowLength} values cannot be split into blocks of ${QK8_0}`);
  return type === 'q8_0' ? quantizeQ8_0(values) : quantizeQ4_0(values);
}

/** `type`'s bytes → f32 values (`count` of them): the reference the quantized kernels are tested against. */
export function dequantize(type: WeightType, bytes: Uint8Array, count: number): Float32Array {
  if (type === 'q8_0') return dequantizeQ8_0(bytes, count);
  if (type === 'q4_0') return dequantizeQ4_0(bytes, count);
  const values = decodeToF32(type, bytes);
  if (values.length !== count) throw new RangeError(`${type}: ${bytes.byteLength} bytes do not hold ${count} values`);
  return values;
}
