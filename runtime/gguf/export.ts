// `exportGguf`: a model directory (Llama or Qwen2 safetensors, optionally with a PEFT LoRA adapter
// merged in) → one GGUF v3 file that llama.cpp (and so Ollama, LM Studio, wllama) loads, in f32,
// f16, q8_0 or q4_0. What llama.cpp's convert_hf_to_gguf.py would write for the same model: its
// tensor names and Llama q/k permutation (tensors.ts), the hyperparameter keys it reads
// (ggufModelMetadata), the tokenizer (vocab.ts), with the weights quantized by runtime/quant —
// bit-identical to gguf-py's quantizer — on the matrices runtime/quant's policy names.
//
// The file is streamed: the header (all sizes are known from the shapes) and then one tensor at a
// time (peak memory ≈ one tensor), into `<out>.tmp-…`, renamed onto `out` at the end; on any error
// or abort the temp file is removed, so `out` is never a half-written file.

import { badInputError, LightReasonerError, modelFormatError, throwIfAborted, unsupportedError } from '../errors.ts';
import { readOptionalText } from '../io/optional-file.ts';
import { readTensorBytes, type TensorEntry } from '../io/safetensors.ts';
import { type ModelConfig, parseConfig } from '../model/config.ts';
import { indexCheckpoint } from '../model/weights.ts';
import type { FileSystem } from '../platform/types.ts';
import { quantizationPolicy, quantize, type SourceDType, typeBytes, type WeightType } from '../quant/index.ts';
import type { LoraTarget } from '../train/lora.ts';
import { mergeTensor } from '../train/merge.ts';
import { baseWeightName, type HostAdapter, readAdapter, targetShape } from '../train/peft.ts';
import { decodeToF32, encodeFromF32, firstNonFinite } from '../util/dtype.ts';
import { FILE_TYPE, type GgufValue } from './format.ts';
import { ggufOrder, ggufTensorName, isDroppedTensor, permuteQK } from './tensors.ts';
import { tokenizerMetadata } from './vocab.ts';
import { encodeGgufHeader, type GgufTensorInfo, tensorPadding } from './writer.ts';

export type GgufExportType = 'f32' | 'f16' | 'q8_0' | 'q4_0';
export const GGUF_EXPORT_TYPES: readonly GgufExportType[] = Object.freeze(['f32', 'f16', 'q8_0', 'q4_0']);

/** llama.cpp's architecture name for each model_type this exporter writes. */
const GGUF_ARCH: Readonly<Record<string, string>> = Object.freeze({ llama: 'llama', qwen2: 'qwen2' });

export interface ExportGgufProgress {
  status: 'exporting';
  /** The GGUF tensor just written. */
  tensor: string;
  /** Bytes of tensor data written so far / in all. */
  written: number;
  total: number;
}

export interface ExportGgufOptions {
  type: GgufExportType;
  /** A PEFT LoRA adapter directory merged into the weights first (as `merge` would). */
  adapter?: string;
  /** general.name; default: the model directory's last path segment. */
  name?: string;
  onProgress?: (p: ExportGgufProgress) => void;
  signal?: AbortSignal;
}

export interface ExportGgufSummary {
  out: string;
  architecture: string;
  type: GgufExportType;
  tensors: number;
  /** Tensors stored in a block format (q8_0/q4_0). */
  quantized: number;
  bytes: number;
  preTokenizer: string;
}

interface PlannedTensor {
  entry: TensorEntry;
  info: GgufTensorInfo;
  source: SourceDType;
  /** Heads of the Llama q/k permutation, 0 for none. */
  permuteHeads: number;
  merge: { layer: number; target: LoraTarget } | null;
}

/** The general.* and <arch>.* keys llama.cpp reads for Llama and Qwen2 (convert_hf_to_gguf.py
 * TextModel/LlamaModel.set_gguf_parameters; llama.cpp's llama-arch.cpp LLM_KV names). */
export function ggufModelMetadata(arch: string, c: ModelConfig, type: GgufExportType, name: string): [string, GgufValue][] {
  const u32 = (value: number): GgufValue => ({ kind: 'u32', value });
  const f32 = (value: number): GgufValue => ({ kind: 'f32', value });
  const meta: [string, GgufValue][] = [
    ['general.architecture', { kind: 'string', value: arch }],
    ['general.type', { kind: 'string', value: 'model' }],
    ['general.name', { kind: 'string', value: name }],
    ['general.file_type', u32(FILE_TYPE[type])],
    ['general.quantization_version', u32(2)],
    [`${arch}.block_count`, u32(c.layers)],
    [`${arch}.context_length`, u32(c.maxPositions)],
    [`${arch}.embedding_length`, u32(c.hiddenSize)],
    [`${arch}.feed_forward_length`, u32(c.intermediateSize)],
    [`${arch}.attention.head_count`, u32(c.heads)],
    [`${arch}.attention.head_count_kv`, u32(c.kvHeads)],
    [`${arch}.rope.freq_base`, f32(c.rope.theta)],
    [`${arch}.attention.layer_norm_rms_epsilon`, f32(c.rmsEps)],
  ];
  if (c.headDim * c.heads !== c.hiddenSize) meta.push([`${arch}.attention.key_length`, u32(c.headDim)], [`${arch}.attention.value_length`, u32(c.headDim)]);
  if (arch === 'llama') meta.push(['llama.vocab_size', u32(c.vocabSize)], ['llama.rope.dimension_count', u32(c.headDim)]);
  // llama3 scaling travels as the rope_freqs tensor (llama3RopeFactors), not as keys.
  if (c.rope.type === 'linear')
    meta.push([`${arch}.rope.scaling.type`, { kind: 'string', value: 'linear' }], [`${arch}.rope.scaling.factor`, f32(c.rope.factor)]);
  return meta;
}

/** Llama 3 RoPE scaling as llama.cpp takes it: a per-frequency divisor (rope_freqs.weight), computed
 * as convert_hf_to_gguf.py's LlamaModel.generate_extra_tensors does. */
export function llama3RopeFactors(c: ModelConfig): Float32Array {
  const { theta, factor, lowFreqFactor, highFreqFactor, originalMaxPositions: old } = c.rope;
  const half = c.headDim / 2;
  const out = new Float32Array(half);
  for (let i = 0; i < half; i++) {
    const freq = Math.fround(1 / Math.fround(theta ** Math.fround((2 * i) / c.headDim)));
    const wavelen = (2 * Math.PI) / freq;
    if (wavelen < old / highFreqFactor) out[i] = 1;
    else if (wavelen > old / lowFreqFactor) out[i] = factor;
    else {
      const smooth = (old / wavelen - lowFreqFactor) / (highFreqFactor - lowFreqFactor);
      out[i] = 1 / ((1 - smooth) / factor + smooth);
    }
  }
  return out;
}

const SOURCE_DTYPE: Readonly<Record<string, SourceDType>> = Object.freeze({ F32: 'f32', F16: 'f16', BF16: 'bf16' });

/** The stored type of a tensor: 1-D (norms, biases) in f32 as llama.cpp expects; matrices in the
 * export type, except that q8_0/q4_0 apply only where quantizationPolicy says, others keep their dtype. */
function storedType(type: GgufExportType, hfName: string, shape: number[], source: SourceDType): WeightType {
  if (shape.length < 2) return 'f32';
  if (type === 'f32' || type === 'f16') return type;
  return quantizationPolicy(hfName, shape) ? type : source;
}

function planTensors(c: ModelConfig, arch: string, entries: Map<string, TensorEntry>, type: GgufExportType, adapter: HostAdapter | null): PlannedTensor[] {
  const merges = new Map<string, { layer: number; target: LoraTarget }>();
  if (adapter) for (let l = 0; l < c.layers; l++) for (const t of adapter.config.targetModules) merges.set(baseWeightName(l, t), { layer: l, target: t });
  const planned: PlannedTensor[] = [];
  for (const e of entries.values()) {
    if (isDroppedTensor(e.name) || (e.name === 'lm_head.weight' && c.tieEmbeddings)) continue;
    const name = ggufTensorName(e.name);
    if (!name)
      throw unsupportedError(e.file, `tensor "${e.name}" has no llama.cpp counterpart for ${arch} (export-gguf writes Llama/Qwen2 decoder weights only)`);
    const source = SOURCE_DTYPE[e.dtype];
    if (!source) throw unsupportedError(e.file, `tensor "${e.name}" has dtype ${e.dtype}; export-gguf reads F32, F16 and BF16 weights`);
    const stored = storedType(type, e.name, e.shape, source);
    const count = e.shape.reduce((a, b) => a * b, 1);
    const qk = arch === 'llama' ? /\.self_attn\.(q|k)_proj\.(weight|bias)$/.exec(e.name) : null;
    planned.push({
      entry: e,
      info: { name, shape: e.shape, type: stored, byteLength: typeBytes(stored, count) },
      source,
      permuteHeads: qk ? (qk[1] === 'q' ? c.heads : c.kvHeads) : 0,
      merge: merges.get(e.name) ?? null,
    });
  }
  const names = new Set(planned.map((p) => p.info.name));
  for (const required of ['token_embd.weight', 'output_norm.weight', ...(c.tieEmbeddings ? [] : ['output.weight'])]) {
    if (!names.has(required)) throw modelFormatError(entries.values().next().value?.file ?? 'model', `checkpoint has no tensor for GGUF "${required}"`);
  }
  return planned.sort((a, b) => ggufOrder(a.info.name, b.info.name));
}

/** One tensor's bytes as stored: read, LoRA-merged (rounded to its dtype, as `merge` writes it), permuted, converted. */
async function tensorBytes(fs: FileSystem, p: PlannedTensor, c: ModelConfig, adapter: HostAdapter | null, adapterDir = ''): Promise<Uint8Array> {
  const e = p.entry;
  let bytes = await readTensorBytes(fs, e);
  const bad = firstNonFinite(p.source, bytes);
  if (bad >= 0)
    throw modelFormatError(
      e.file,
      `tensor "${e.name}" holds a non-finite value (element ${bad}); GGUF export needs finite weights (re-download or re-save the model)`,
    );
  if (p.merge && adapter) {
    const pair = adapter.layers[p.merge.layer][p.merge.target]!;
    const [out, inp] = targetShape(c, p.merge.target);
    bytes = encodeFromF32(p.source, mergeTensor(decodeToF32(p.source, bytes), pair.a, pair.b, out, inp, adapter.config.r, adapter.scaling));
    if (firstNonFinite(p.source, bytes) >= 0)
      throw badInputError(
        `${adapterDir}: merging it into tensor "${e.name}" gives non-finite weights — the adapter's scaling or weights are too large; check its adapter_config.json`,
        adapterDir,
      );
  }
  if (p.permuteHeads) bytes = permuteQK(bytes, p.permuteHeads, c.headDim, e.shape.length === 2 ? e.shape[1] : 1, p.source === 'f32' ? 4 : 2);
  const stored = quantize(p.info.type, p.source, bytes, e.shape[e.shape.length - 1]);
  // bf16 holds values far beyond f16's ±65504: casting them would write ±Inf silently.
  const over = p.info.type === 'f16' ? firstNonFinite('f16', stored) : -1;
  if (over >= 0)
    throw badInputError(
      `${e.file}: tensor "${e.name}" holds ${decodeToF32(p.source, bytes)[over]} (element ${over}), beyond f16's range — export with --type f32, or q8_0/q4_0 (which keep such tensors' dtype or scale them)`,
      e.file,
    );
  return stored;
}

async function readModel(fs: FileSystem, modelDir: string): Promise<{ config: ModelConfig; raw: Record<string, unknown>; arch: string }> {
  const configPath = fs.join(modelDir, 'config.json');
  let raw: unknown;
  try {
    raw = JSON.parse(await fs.readText(configPath));
  } catch (e) {
    if (e instanceof LightReasonerError) throw e;
    throw modelFormatError(configPath, 'not valid JSON', e);
  }
  const genPath = fs.join(modelDir, 'generation_config.json');
  const genText = await readOptionalText(fs, genPath);
  let gen: unknown;
  try {
    gen = genText === null ? undefined : JSON.parse(genText);
  } catch (e) {
    throw modelFormatError(genPath, 'not valid JSON', e);
  }
  const config = parseConfig(raw, configPath, gen);
  if (!Object.hasOwn(GGUF_ARCH, config.modelType)) {
    throw unsupportedError(
      configPath,
      `model_type "${config.modelType}" cannot be exported to GGUF yet (supported: ${Object.keys(GGUF_ARCH).join(', ')}) — use llama.cpp's convert_hf_to_gguf.py for it`,
    );
  }
  return { config, raw: raw as Record<string, unknown>, arch: GGUF_ARCH[config.modelType] };
}

/** Create the folder of `out` when missing (as `run --out` does). */
async function ensureParent(fs: FileSystem, out: string): Promise<void> {
  const slash = Math.max(out.lastIndexOf('/'), out.lastIndexOf('\\'));
  if (slash > 0 && fs.mkdir && !(await fs.exists(out.slice(0, slash)))) await fs.mkdir(out.slice(0, slash));
}

/** Export the model at `modelDir` to the GGUF file `out` (replaced atomically if it exists). */
export async function exportGguf(fs: FileSystem, modelDir: string, out: string, opts: ExportGgufOptions): Promise<ExportGgufSummary> {
  const { type, signal, onProgress } = opts;
  if (!GGUF_EXPORT_TYPES.includes(type)) throw badInputError(`--type ${String(type)} is not one of ${GGUF_EXPORT_TYPES.join(', ')}`);
  if (!fs.appendFile || !fs.rename || !fs.rm || !fs.list)
    throw new LightReasonerError(
      'UNSUPPORTED',
      'GGUF export needs a file system that can append, rename, list and remove files (this platform adapter cannot)',
    );
  if (
    (await fs.exists(out)) &&
    (await fs.list(out).then(
      () => true,
      () => false,
    ))
  )
    throw badInputError(`--out ${out} is a directory; give the path of the .gguf file to write`, out);
  // ---- read and check everything before writing anything ----
  const { config, raw, arch } = await readModel(fs, modelDir);
  const adapter = opts.adapter === undefined ? null : await readAdapter(fs, opts.adapter, config);
  const entries = await indexCheckpoint(fs, modelDir);
  const tensors = planTensors(config, arch, entries, type, adapter);
  const extra: { info: GgufTensorInfo; data: Uint8Array }[] = [];
  if (arch === 'llama' && config.rope.type === 'llama3') {
    const data = new Uint8Array(llama3RopeFactors(config).buffer);
    extra.push({ info: { name: 'rope_freqs.weight', shape: [config.headDim / 2], type: 'f32', byteLength: data.byteLength }, data });
  }
  const name =
    opts.name ??
    (modelDir
      .replace(/[\\/]+$/, '')
      .split(/[\\/]/)
      .pop() ||
      'model');
  const vocab = await tokenizerMetadata(fs, modelDir, config.vocabSize, raw);
  const metadata = [...ggufModelMetadata(arch, config, type, name), ...vocab];
  const infos = [...tensors.map((t) => t.info), ...extra.map((x) => x.info)];
  const header = encodeGgufHeader(metadata, infos);
  const total = infos.reduce((s, t) => s + t.byteLength, 0);
  throwIfAborted(signal);

  // ---- write ----
  await ensureParent(fs, out);
  const tmp = `${out}.tmp-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;
  const sink = new AppendBuffer(fs, tmp);
  let written = 0;
  try {
    await sink.add(header);
    for (const t of tensors) {
      throwIfAborted(signal);
      const data = await tensorBytes(fs, t, config, adapter, opts.adapter);
      if (data.byteLength !== t.info.byteLength) throw new RangeError(`tensor ${t.info.name}: ${data.byteLength} bytes, header says ${t.info.byteLength}`);
      await sink.add(data, tensorPadding(data.byteLength));
      written += data.byteLength;
      onProgress?.({ status: 'exporting', tensor: t.info.name, written, total });
    }
    for (const x of extra) await sink.add(x.data, tensorPadding(x.data.byteLength));
    await sink.flush();
    throwIfAborted(signal);
    await fs.rename!(tmp, out);
  } catch (e) {
    await fs.rm!(tmp).catch(() => {});
    throw e;
  }
  const size = sink.size;
  const preTokenizer = String((vocab.find(([k]) => k === 'tokenizer.ggml.pre')![1] as { value: string }).value);
  return {
    out,
    architecture: arch,
    type,
    tensors: infos.length,
    quantized: infos.filter((t) => t.type === 'q8_0' || t.type === 'q4_0').length,
    bytes: size,
    preTokenizer,
  };
}

/**
 * Appends in chunks of up to APPEND_CHUNK bytes: the platform's appendFile flushes to disk on each
 * call (Node), and in browser storage (OPFS, memory) copies the whole file each time, so one call
 * per tensor would cost hundreds of syncs or copies of a large file.
 */
const APPEND_CHUNK = 64 * 2 ** 20;

class AppendBuffer {
  private parts: Uint8Array[] = [];
  private pending = 0;
  size = 0;
  constructor(
    private readonly fs: FileSystem,
    private readonly path: string,
  ) {}
  async add(...parts: Uint8Array[]): Promise<void> {
    for (const p of parts) {
      this.parts.push(p);
      this.pending += p.byteLength;
    }
    if (this.pending >= APPEND_CHUNK) await this.flush();
  }
  async flush(): Promise<void> {
    if (this.pending === 0) return;
    const chunk = new Uint8Array(this.pending);
    let offset = 0;
    for (const p of this.parts) {
      chunk.set(p, offset);
      offset += p.byteLength;
    }
    this.parts = [];
    this.pending = 0;
    await this.fs.appendFile!(this.path, chunk);
    this.size += chunk.byteLength;
  }
}
