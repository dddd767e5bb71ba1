// The GGUF v3 container (ggml's docs/gguf.md; gguf-py's constants.py and gguf_writer.py):
//   "GGUF" · u32 version 3 · u64 tensor count · u64 key/value count
//   key/value pairs: string key · u32 value type · value (arrays: u32 item type · u64 count · items)
//   tensor infos: string name · u32 n_dims · u64 dims (ggml order: dims[0] is the row length) ·
//                 u32 ggml type · u64 offset into the data section (a multiple of the alignment)
//   zero padding to the alignment · tensor data, each tensor padded to the alignment
// Strings are a u64 byte length then UTF-8 bytes; everything little-endian. Encoded here rather than
// with a package: the JS GGUF packages read only (@huggingface/gguf), and the writer is ~100 lines.

import type { WeightType } from '../quant/index.ts';

export const GGUF_MAGIC = 0x46554747; // "GGUF" read as a little-endian u32
export const GGUF_VERSION = 3;
/** llama.cpp's default (general.alignment absent). */
export const GGUF_ALIGNMENT = 32;

/** gguf-py GGUFValueType. */
export const VALUE_TYPE = Object.freeze({ u8: 0, i8: 1, u16: 2, i16: 3, u32: 4, i32: 5, f32: 6, bool: 7, string: 8, array: 9, u64: 10, i64: 11, f64: 12 });
export type ScalarKind = Exclude<keyof typeof VALUE_TYPE, 'array'>;

/** A metadata value: a scalar of `kind`, or an array of them. u64/i64 values are bigint-free numbers (safe integers). */
export type GgufValue = { kind: ScalarKind; value: number | string | boolean } | { kind: 'array'; itemKind: ScalarKind; values: (number | string | boolean)[] };

/** ggml_type ids (ggml.h) of the tensor types this project writes. */
export const GGML_TYPE: Readonly<Record<WeightType, number>> = Object.freeze({ f32: 0, f16: 1, q4_0: 2, q8_0: 8, bf16: 30 });

/** llama.cpp's `general.file_type` (LlamaFileType): what most of the weights are. */
export const FILE_TYPE: Readonly<Record<'f32' | 'f16' | 'q8_0' | 'q4_0', number>> = Object.freeze({ f32: 0, f16: 1, q4_0: 2, q8_0: 7 });

/** gguf-py TokenType. */
export const TOKEN_TYPE = Object.freeze({ normal: 1, unknown: 2, control: 3, userDefined: 4, unused: 5, byte: 6 });

export const alignUp = (n: number, a = GGUF_ALIGNMENT) => Math.ceil(n / a) * a;
