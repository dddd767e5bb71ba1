// Copies of the fixture model directories for tests that break one file at a time, and small
// editors for their JSON files and safetensors headers.
import { cpSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { encodeSafetensors, readSafetensorsHeader, readTensorBytes } from '../../runtime/io/safetensors.ts';
import { decodeToF32, encodeFromF32 } from '../../runtime/util/dtype.ts';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ReferenceBackend } from '../../runtime/backend/reference.ts';
import { type CausalLM, loadModel } from '../../runtime/model/model.ts';
import { nodePlatform } from '../../runtime/platform/node.ts';
import { FIXTURES } from './cli.ts';

/** A fresh copy of test/fixtures/models/<name>, removed when the test `t` ends. */
export function copyModel(t: { teardown(fn: () => void): void }, name = 'llama-gqa-tied-f32'): string {
  const dir = mkdtempSync(join(tmpdir(), 'lr-model-'));
  cpSync(join(FIXTURES, 'models', name), dir, { recursive: true });
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Parse a JSON file, let `edit` mutate it (or return a replacement), write it back. */
export function editJson(file: string, edit: (j: any) => unknown): void {
  const j = JSON.parse(readFileSync(file, 'utf8'));
  const out = edit(j);
  writeFileSync(file, JSON.stringify(out === undefined ? j : out));
}

/** Write a file's whole text (for documents that are not objects, or not JSON at all). */
export function writeText(file: string, text: string): void {
  writeFileSync(file, text);
}

export interface SafetensorsParts {
  headerText: string;
  data: Buffer;
}

export function readParts(file: string): SafetensorsParts {
  const buf = readFileSync(file);
  const len = Number(buf.readBigUInt64LE(0));
  return { headerText: buf.subarray(8, 8 + len).toString('utf8'), data: Buffer.from(buf.subarray(8 + len)) };
}

/** Write a safetensors file from raw header bytes and data; `length` overrides the length field. */
export function writeParts(file: string, header: Buffer | string, data: Buffer, length?: bigint): void {
  const h = typeof header === 'string' ? Buffer.from(header, 'utf8') : header;
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(length ?? BigInt(h.byteLength));
  writeFileSync(file, Buffer.concat([len, h, data]));
}

/** Rewrite the header object of a safetensors file (its length may change), keeping the data. */
export function editHeader(file: string, edit: (h: Record<string, any>) => unknown): void {
  const { headerText, data } = readParts(file);
  const h = JSON.parse(headerText);
  const out = edit(h);
  writeParts(file, JSON.stringify(out === undefined ? h : out), data);
}

/** Load a model directory with the reference backend and return what it threw (fails if it loads). */
export async function loadFailure(dir: string, then?: (m: CausalLM) => unknown): Promise<unknown> {
  try {
    const m = await loadModel(dir, { fs: nodePlatform.fs, backend: new ReferenceBackend() });
    await then?.(m);
  } catch (e) {
    return e;
  }
  throw new Error(`expected loading ${dir} to fail`);
}

/**
 * Overwrite element `index` of a tensor in a safetensors file with `value` (NaN, ±Inf or a number),
 * in the tensor's dtype, leaving every other byte as it is.
 */
export function setValue(file: string, tensor: string, index: number, value: number): void {
  setValues(file, tensor, [[index, value]]);
}

/** setValue for many elements at once: one read and one write of the file. */
export function setValues(file: string, tensor: string, values: Iterable<readonly [number, number]>): void {
  const buf = readFileSync(file);
  const len = Number(buf.readBigUInt64LE(0));
  const e = JSON.parse(buf.subarray(8, 8 + len).toString('utf8'))[tensor];
  if (!e) throw new Error(`${file} has no tensor ${tensor}`);
  const at = 8 + len + e.data_offsets[0];
  const f32 = Buffer.alloc(4);
  for (const [index, value] of values) {
    f32.writeFloatLE(value);
    if (e.dtype === 'F32') f32.copy(buf, at + 4 * index);
    else if (e.dtype === 'BF16')
      f32.copy(buf, at + 2 * index, 2, 4); // the high half of the f32 bits
    else if (e.dtype === 'F16' && !Number.isFinite(value)) buf.writeUInt16LE(Number.isNaN(value) ? 0x7e00 : value > 0 ? 0x7c00 : 0xfc00, at + 2 * index);
    else throw new Error(`setValue: ${e.dtype} ${value} not supported`);
  }
  writeFileSync(file, buf);
}

/**
 * A model directory of any size that takes no disk: the fixture's tokenizer, a Llama config.json with
 * `shape` over the fixture's, and one F32 model.safetensors whose data section is a hole (sparse
 * file, all zeros). For refusals that must come before a single tensor is read.
 */
export function sparseModel(t: { teardown(fn: () => void): void }, shape: Record<string, number>): string {
  const dir = copyModel(t);
  rmSync(join(dir, 'model.safetensors'));
  const c = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  Object.assign(c, shape, { tie_word_embeddings: false });
  writeFileSync(join(dir, 'config.json'), JSON.stringify(c));
  const { hidden_size: H, intermediate_size: I, vocab_size: V, num_attention_heads: heads, num_key_value_heads: kv, head_dim: D, num_hidden_layers: L } = c;
  const shapes: [string, number[]][] = [
    ['model.embed_tokens.weight', [V, H]],
    ['model.norm.weight', [H]],
    ['lm_head.weight', [V, H]],
  ];
  for (let l = 0; l < L; l++) {
    const p = `model.layers.${l}.`;
    shapes.push(
      [`${p}input_layernorm.weight`, [H]],
      [`${p}post_attention_layernorm.weight`, [H]],
      [`${p}self_attn.q_proj.weight`, [heads * D, H]],
      [`${p}self_attn.k_proj.weight`, [kv * D, H]],
      [`${p}self_attn.v_proj.weight`, [kv * D, H]],
      [`${p}self_attn.o_proj.weight`, [H, heads * D]],
      [`${p}mlp.gate_proj.weight`, [I, H]],
      [`${p}mlp.up_proj.weight`, [I, H]],
      [`${p}mlp.down_proj.weight`, [H, I]],
    );
  }
  const header: Record<string, unknown> = {};
  let at = 0;
  for (const [name, s] of shapes) {
    const bytes = 4 * s.reduce((a, b) => a * b, 1);
    header[name] = { dtype: 'F32', shape: s, data_offsets: [at, at + bytes] };
    at += bytes;
  }
  const file = join(dir, 'model.safetensors');
  writeParts(file, JSON.stringify(header), Buffer.alloc(0));
  truncateSync(file, readFileSync(file).byteLength + at);
  return dir;
}

/** Rewrite a single-file 16-bit checkpoint with every float tensor as F32 (exact). */
export async function upcastToF32(src: string, dst: string): Promise<void> {
  cpSync(src, dst, { recursive: true });
  const header = await readSafetensorsHeader(nodePlatform.fs, join(src, 'model.safetensors'));
  const tensors = [];
  for (const e of header.tensors.values()) {
    const bytes = await readTensorBytes(nodePlatform.fs, e);
    const data = e.dtype === 'F16' || e.dtype === 'BF16' ? encodeFromF32('f32', decodeToF32(e.dtype === 'F16' ? 'f16' : 'bf16', bytes)) : bytes;
    tensors.push({ name: e.name, dtype: (e.dtype === 'F16' || e.dtype === 'BF16' ? 'F32' : e.dtype) as 'F32', shape: e.shape, data });
  }
  writeFileSync(join(dst, 'model.safetensors'), encodeSafetensors(tensors, header.metadata));
}
