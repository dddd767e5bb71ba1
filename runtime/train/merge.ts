// Merge a LoRA adapter into its base checkpoint: a standalone Hugging Face model directory that
// transformers (and this runtime) load without peft. For every target weight W [out, in]:
//   W' = W + scaling · B · A        computed in f32 on the host, rounded once (RNE) to W's dtype
// Every other tensor is copied byte for byte; tensor names, dtypes and sharding stay as in the
// base (a sharded base gives the same shard files and the same index). config.json,
// generation_config.json and the tokenizer files are copied. The checkpoint is streamed one tensor
// at a time (peak host memory ≈ one tensor), into `<out>.tmp-…`, renamed to `out` at the end; on
// any error or abort the temp directory is removed, so `out` never holds a partial model.

import { badInputError, LightReasonerError, modelFormatError, notFoundError, throwIfAborted } from '../errors.ts';
import { readOptionalBytes, readOptionalText } from '../io/optional-file.ts';
import { readSafetensorsHeader, readTensorBytes, type SafetensorsHeader, type TensorEntry } from '../io/safetensors.ts';
import { type ModelConfig, parseConfig } from '../model/config.ts';
import type { FileSystem } from '../platform/types.ts';
import { decodeToF32, encodeFromF32, firstNonFinite, valueAt } from '../util/dtype.ts';
import type { LoraTarget } from './lora.ts';
import { baseWeightName, type HostAdapter, readAdapter, targetShape, writeDirAtomic } from './peft.ts';

/** Files copied verbatim from the base directory when present (besides the weights). */
const MODEL_SIDE_FILES = [
  'config.json',
  'generation_config.json',
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'added_tokens.json',
  'chat_template.jinja',
  'chat_template.json',
  'vocab.json',
  'merges.txt',
  'tokenizer.model',
] as const;

export interface MergeProgress {
  status: 'merging';
  /** The tensor just written. */
  tensor: string;
  /** Bytes of tensor data written so far / in all. */
  written: number;
  total: number;
}

export interface MergeOptions {
  onProgress?: (p: MergeProgress) => void;
  signal?: AbortSignal;
}

export interface MergeSummary {
  out: string;
  files: string[];
  mergedTensors: number;
  copiedTensors: number;
  bytes: number;
}

const DTYPE_BYTES: Record<string, number> = { F64: 8, I64: 8, F32: 4, I32: 4, F16: 2, BF16: 2, I16: 2, I8: 1, U8: 1, BOOL: 1, F8_E4M3: 1, F8_E5M2: 1 };

/** A safetensors header (sorted names, data in that order, padded with spaces to 8 bytes) + its length prefix. */
function headerBytes(entries: TensorEntry[], metadata: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  let off = 0;
  for (const e of entries) {
    header[e.name] = { dtype: e.dtype, shape: e.shape, data_offsets: [off, off + e.byteLength] };
    off += e.byteLength;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.byteLength / 8) * 8;
  const out = new Uint8Array(8 + padded).fill(0x20);
  new DataView(out.buffer).setBigUint64(0, BigInt(padded), true);
  out.set(json, 8);
  return out;
}

/** W + scaling·B·A in f32, as PEFT's get_delta_weight (B @ A, times scaling) then the add. */
export function mergeTensor(w: Float32Array, a: Float32Array, b: Float32Array, out: number, inp: number, r: number, scaling: number): Float32Array {
  const res = new Float32Array(w.length);
  const delta = new Float32Array(inp);
  const s = Math.fround(scaling);
  for (let o = 0; o < out; o++) {
    delta.fill(0);
    for (let k = 0; k < r; k++) {
      const bk = b[o * r + k];
      if (bk === 0) continue;
      const row = k * inp;
      for (let j = 0; j < inp; j++) delta[j] += bk * a[row + j];
    }
    const base = o * inp;
    for (let j = 0; j < inp; j++) res[base + j] = w[base + j] + Math.fround(delta[j] * s);
  }
  return res;
}

function parseJsonObject(text: string, path: string): Record<string, unknown> {
  try {
    const j = JSON.parse(text);
    if (!j || typeof j !== 'object' || Array.isArray(j)) throw new Error('not an object');
    return j;
  } catch (e) {
    throw modelFormatError(path, 'not a valid JSON object', e);
  }
}

const readJsonObject = async (fs: FileSystem, path: string) => parseJsonObject(await fs.readText(path), path);

/**
 * Refuse a NaN/±Inf in a target weight: in the base (`merged` null: the checkpoint is damaged) or
 * after the merge (the adapter's scaling or weights overflow the weight's dtype). Throwing inside
 * writeDirAtomic's fill removes the temp directory, so nothing is left at `outDir`.
 */
function checkFinite(
  e: TensorEntry,
  dtype: 'f32' | 'f16' | 'bf16',
  bytes: Uint8Array,
  merged: { adapter: HostAdapter; dir: string; outDir: string; inp: number } | null,
): void {
  const i = firstNonFinite(dtype, bytes);
  if (i < 0) return;
  const value = valueAt(dtype, bytes, i);
  if (!merged)
    throw modelFormatError(
      e.file,
      `tensor "${e.name}" holds ${value} (element ${i}): the base checkpoint has non-finite weights and cannot be merged (re-download or re-save it)`,
    );
  const { adapter, dir, outDir, inp } = merged;
  const c = adapter.config;
  throw badInputError(
    `merging ${dir} into tensor "${e.name}" gives ${value} at [${Math.floor(i / inp)}, ${i % inp}] (${e.dtype}): the adapter's scaling ` +
      `(lora_alpha ${c.alpha} / ${adapter.rslora ? '√r' : 'r'} ${c.r} = ${adapter.scaling}) or its weights are too large or not finite; check ${dir}/adapter_config.json and its weights. Nothing was written to ${outDir}`,
    dir,
  );
}

/** What a merge reads before writing anything: the model's config, the adapter, the checkpoint's shards and headers. */
interface MergeInputs {
  config: ModelConfig;
  adapter: HostAdapter;
  headers: { name: string; header: SafetensorsHeader }[];
  /** The checkpoint has an index (model.safetensors.index.json), copied to the output. */
  indexed: boolean;
  /** Where each target weight lives (base weight name → layer and target module). */
  targets: Map<string, { layer: number; target: LoraTarget }>;
  /** Bytes of all tensors (for progress). */
  total: number;
}

const INDEX_NAME = 'model.safetensors.index.json';

/**
 * Merge the adapter at `adapterDir` into the model at `modelDir`, writing a standalone model to
 * `outDir` (which must not exist, or be an empty directory).
 */
export async function mergeAdapter(fs: FileSystem, modelDir: string, adapterDir: string, outDir: string, opts: MergeOptions = {}): Promise<MergeSummary> {
  if (!fs.appendFile) throw new LightReasonerError('UNSUPPORTED', 'merge needs a file system that can append to files (this platform adapter cannot)');
  // ---- validate everything before writing anything ----
  const inputs = await readMergeInputs(fs, modelDir, adapterDir);
  // An existing empty outDir is replaced by the final rename; anything else makes it fail (below).
  throwIfAborted(opts.signal);
  // ---- write ----
  const counts = { files: [] as string[], written: 0, merged: 0, copied: 0 };
  await writeDirAtomic(
    fs,
    outDir,
    async (tmp) => {
      for (const shard of inputs.headers) {
        await writeMergedShard(fs, tmp, shard, inputs, counts, { adapterDir, outDir, ...opts });
        counts.files.push(shard.name);
      }
      if (inputs.indexed) {
        await fs.writeFileAtomic!(fs.join(tmp, INDEX_NAME), await fs.readBytes(fs.join(modelDir, INDEX_NAME)));
        counts.files.push(INDEX_NAME);
      }
      for (const f of MODEL_SIDE_FILES) {
        throwIfAborted(opts.signal);
        const bytes = await readOptionalBytes(fs, fs.join(modelDir, f));
        if (!bytes) continue;
        await fs.writeFileAtomic!(fs.join(tmp, f), bytes);
        counts.files.push(f);
      }
      throwIfAborted(opts.signal);
    },
    { replace: false },
  ).catch((e) => {
    // The final rename onto an existing directory (the platform adapter may have mapped it already).
    const code = e instanceof LightReasonerError ? (e.file === outDir ? e.systemCode : undefined) : (e as { code?: string })?.code;
    if (code === 'ENOTEMPTY' || code === 'EEXIST' || code === 'ENOTDIR')
      throw badInputError(`${outDir} already exists and is not an empty directory; choose a new --out`, outDir);
    throw e;
  });
  return { out: outDir, files: counts.files, mergedTensors: counts.merged, copiedTensors: counts.copied, bytes: counts.written };
}

/** The config, adapter, shards and target weights, every target checked for shape and dtype. */
async function readMergeInputs(fs: FileSystem, modelDir: string, adapterDir: string): Promise<MergeInputs> {
  const configPath = fs.join(modelDir, 'config.json');
  const genPath = fs.join(modelDir, 'generation_config.json');
  const rawConfig = await readJsonObject(fs, configPath);
  const genText = await readOptionalText(fs, genPath);
  const gen = genText === null ? undefined : parseJsonObject(genText, genPath);
  const config: ModelConfig = parseConfig(rawConfig, configPath, gen);
  const adapter: HostAdapter = await readAdapter(fs, adapterDir, config);
  const { shards, indexed } = await checkpointShards(fs, modelDir);
  const headers: { name: string; header: SafetensorsHeader }[] = [];
  for (const s of shards) headers.push({ name: s, header: await readSafetensorsHeader(fs, fs.join(modelDir, s)) });
  const targets = new Map<string, { layer: number; target: LoraTarget }>();
  for (let l = 0; l < config.layers; l++) for (const t of adapter.config.targetModules) targets.set(baseWeightName(l, t), { layer: l, target: t });
  const found = new Set<string>();
  let total = 0;
  for (const { header } of headers) {
    for (const e of header.tensors.values()) {
      total += e.byteLength;
      const tgt = targets.get(e.name);
      if (!tgt) continue;
      const want = targetShape(config, tgt.target);
      if (e.shape.length !== 2 || e.shape[0] !== want[0] || e.shape[1] !== want[1]) {
        throw modelFormatError(e.file, `tensor "${e.name}" has shape [${e.shape.join(', ')}] but config.json implies [${want.join(', ')}]`);
      }
      if (e.dtype !== 'F32' && e.dtype !== 'F16' && e.dtype !== 'BF16')
        throw modelFormatError(e.file, `tensor "${e.name}" has dtype ${e.dtype}; merge supports F32, F16 and BF16 weights`);
      found.add(e.name);
    }
  }
  for (const name of targets.keys()) if (!found.has(name)) throw modelFormatError(modelDir, `checkpoint has no tensor "${name}" for the adapter to merge into`);
  return { config, adapter, headers, indexed, targets, total };
}

/** The checkpoint's shard files: model.safetensors, else those named by the index. */
async function checkpointShards(fs: FileSystem, modelDir: string): Promise<{ shards: string[]; indexed: boolean }> {
  const single = fs.join(modelDir, 'model.safetensors');
  const indexPath = fs.join(modelDir, INDEX_NAME);
  if (await fs.exists(single)) return { shards: ['model.safetensors'], indexed: false };
  if (!(await fs.exists(indexPath))) throw notFoundError(single, 'a model directory needs model.safetensors or model.safetensors.index.json');
  const index = await readJsonObject(fs, indexPath);
  const map = index.weight_map as Record<string, unknown> | undefined;
  if (!map || typeof map !== 'object' || Object.values(map).some((v) => typeof v !== 'string'))
    throw modelFormatError(indexPath, 'missing or malformed "weight_map"');
  const shards = [...new Set(Object.values(map) as string[])];
  for (const s of shards)
    if (s.includes('/') || s.includes('\\') || s.startsWith('.')) throw modelFormatError(indexPath, `shard name "${s}" is not a plain file name`);
  return { shards, indexed: true };
}

/** One shard written to `tmp`: its tensors in name order, each target merged (checked finite before and after), the rest copied. */
async function writeMergedShard(
  fs: FileSystem,
  tmp: string,
  shard: { name: string; header: SafetensorsHeader },
  m: MergeInputs,
  counts: { written: number; merged: number; copied: number },
  o: MergeOptions & { adapterDir: string; outDir: string },
): Promise<void> {
  const { config, adapter } = m;
  const entries = [...shard.header.tensors.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const path = fs.join(tmp, shard.name);
  await fs.appendFile!(path, headerBytes(entries, shard.header.metadata));
  for (const e of entries) {
    throwIfAborted(o.signal);
    let bytes = await readTensorBytes(fs, e);
    const tgt = m.targets.get(e.name);
    if (tgt) {
      const pair = adapter.layers[tgt.layer][tgt.target]!;
      const [out, inp] = targetShape(config, tgt.target);
      const dtype = e.dtype === 'F32' ? 'f32' : e.dtype === 'F16' ? 'f16' : 'bf16';
      checkFinite(e, dtype, bytes, null);
      const w = decodeToF32(dtype, bytes);
      bytes = encodeFromF32(dtype, mergeTensor(w, pair.a, pair.b, out, inp, adapter.config.r, adapter.scaling));
      checkFinite(e, dtype, bytes, { adapter, dir: o.adapterDir, outDir: o.outDir, inp });
      counts.merged++;
    } else {
      counts.copied++;
    }
    if (bytes.byteLength !== e.shape.reduce((x, y) => x * y, 1) * DTYPE_BYTES[e.dtype]) throw new RangeError(`tensor ${e.name}: wrong byte count`);
    await fs.appendFile!(path, bytes);
    counts.written += e.byteLength;
    o.onProgress?.({ status: 'merging', tensor: e.name, written: counts.written, total: m.total });
  }
}
