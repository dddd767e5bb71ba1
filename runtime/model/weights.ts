// Locate, validate and upload a Hugging Face checkpoint's tensors (single file or sharded index),
// in their file dtype, one tensor at a time so peak host memory stays at one tensor.

import type { Backend, FloatDType, QuantDType, Tensor } from '../backend/types.ts';
import { quantizationPolicy, quantize as quantizeBytes, typeBytes } from '../quant/index.ts';
import { LightReasonerError, modelFormatError, notFoundError } from '../errors.ts';
import { checkDType, readSafetensorsHeader, readTensorBytes, type TensorEntry } from '../io/safetensors.ts';
import type { FileSystem } from '../platform/types.ts';
import type { ModelConfig } from './config.ts';
import { isObject, jsonKind, show } from '../util/json.ts';
import { decodeToF32, firstNonFinite, valueAt } from '../util/dtype.ts';
import { sizeText } from '../util/units.ts';

export interface LayerWeights {
  // RMSNorm gains, with the architecture's offset already added (Gemma's 1 + w: f32 then).
  attnNorm: Tensor; // [H]  before attention
  mlpNorm: Tensor; // [H]  before the MLP
  attnOutNorm: Tensor | null; // [H]  on the attention output (Gemma)
  mlpOutNorm: Tensor | null; // [H]  on the MLP output (Gemma)
  qNorm: Tensor | null;
  kNorm: Tensor | null; // [headDim]  per-head q/k norms (Qwen3, Gemma 3)
  q: Tensor;
  qBias: Tensor | null; // [heads·headDim, H], [heads·headDim]
  k: Tensor;
  kBias: Tensor | null; // [kvHeads·headDim, H]
  v: Tensor;
  vBias: Tensor | null; // [kvHeads·headDim, H]
  o: Tensor;
  oBias: Tensor | null; // [H, heads·headDim]
  gate: Tensor;
  up: Tensor;
  down: Tensor; // [I, H], [I, H], [H, I]
  gateBias: Tensor | null;
  upBias: Tensor | null;
  downBias: Tensor | null;
}

export interface ModelWeights {
  embed: Tensor; // [V, H]
  layers: LayerWeights[];
  norm: Tensor; // [H]
  lmHead: Tensor; // [V, H] (the embedding itself when tied)
  /** Bytes of weights held by the backend (in file dtype, or the block format where quantized). */
  bytes: number;
  /** The safetensors dtype of the matrices (for merge and reporting). */
  dtype: FloatDType;
  /** The block format the projection matrices were quantized to at load (issue 30), if any. */
  quantized?: QuantDType;
}

const DTYPES: Record<string, FloatDType> = { F32: 'f32', F16: 'f16', BF16: 'bf16' };

// weight_map values are joined to the model directory, so a separator, "..", a drive letter or a URL
// scheme would read a file outside it (or, in a browser, fetch from elsewhere); "%" is refused too
// because URL parsing turns "%2e%2e" into "..". Real shards are `model-00001-of-00002.safetensors`.
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it refuses
const PLAIN_SHARD = /^[^/\\:?#%\u0000-\u001f]+\.safetensors$/;

export function checkWeightMap(indexPath: string, index: unknown): Record<string, string> {
  if (!isObject(index)) throw modelFormatError(indexPath, `must hold a JSON object with a "weight_map", got ${jsonKind(index)}`);
  const map = index.weight_map;
  if (!isObject(map)) throw modelFormatError(indexPath, `weight_map must be an object mapping tensor names to shard files, got ${show(map)}`);
  for (const [name, shard] of Object.entries(map)) {
    if (typeof shard !== 'string' || !PLAIN_SHARD.test(shard)) {
      throw modelFormatError(
        indexPath,
        `weight_map["${name}"] must be the plain name of a .safetensors file in the model directory (no path, "..", or URL), got ${show(shard)}`,
      );
    }
  }
  return map as Record<string, string>;
}

/** All tensor entries of a model directory, from model.safetensors or model.safetensors.index.json. */
export async function indexCheckpoint(fs: FileSystem, dir: string): Promise<Map<string, TensorEntry>> {
  const single = fs.join(dir, 'model.safetensors');
  const indexPath = fs.join(dir, 'model.safetensors.index.json');
  if (await fs.exists(single)) return (await readSafetensorsHeader(fs, single)).tensors;
  if (!(await fs.exists(indexPath)))
    throw notFoundError(
      single,
      'a model directory needs model.safetensors or model.safetensors.index.json (PyTorch .bin checkpoints are not supported: re-save with safe_serialization=True)',
    );
  let index: unknown;
  try {
    index = JSON.parse(await fs.readText(indexPath));
  } catch (e) {
    throw modelFormatError(indexPath, 'not valid JSON', e);
  }
  const map = checkWeightMap(indexPath, index);
  const all = new Map<string, TensorEntry>();
  const shardOf = new Map<string, string>();
  for (const shard of new Set(Object.values(map))) {
    const header = await readSafetensorsHeader(fs, fs.join(dir, shard));
    for (const [name, e] of header.tensors) {
      // Otherwise the shard read last would win silently.
      if (shardOf.has(name))
        throw modelFormatError(
          indexPath,
          `tensor "${name}" is stored in two shards, ${shardOf.get(name)} and ${shard} (weight_map lists ${Object.hasOwn(map, name) ? map[name] : 'neither'})`,
        );
      all.set(name, e);
      shardOf.set(name, shard);
    }
  }
  for (const [name, shard] of Object.entries(map)) {
    if (shardOf.get(name) !== shard) {
      const actual = shardOf.has(name) ? ` (it is in ${shardOf.get(name)})` : '';
      throw modelFormatError(indexPath, `weight_map lists "${name}" in ${shard} but that shard has no such tensor${actual}`);
    }
  }
  return all;
}

/** " [row, column]" of flat element `i` of a matrix; nothing for a vector. */
function at(shape: readonly number[], i: number): string {
  return shape.length === 2 ? ` [${Math.floor(i / shape[1])}, ${i % shape[1]}]` : '';
}

export interface LoadProgress {
  status: 'loading';
  file: string;
  loaded: number;
  total: number;
}

/** How `load` stores a tensor: as in the file, or an RMSNorm gain with `offset` added (as f32). */
type Load = (name: string, shape: number[], normOffset?: number) => Promise<Tensor>;

/** One way to name and shape every tensor a config needs; `load` fetches one (or only measures it). */
async function buildWeights(config: ModelConfig, load: Load): Promise<Omit<ModelWeights, 'bytes' | 'dtype'>> {
  const { vocabSize: V, hiddenSize: H } = config;
  const embed = await load('model.embed_tokens.weight', [V, H]);
  const layers: LayerWeights[] = [];
  for (let i = 0; i < config.layers; i++) layers.push(await layerWeights(config, `model.layers.${i}.`, load));
  const norm = await load('model.norm.weight', [H], config.arch.normOffset);
  // Tied checkpoints usually omit lm_head.weight; when they include it, it equals the embedding.
  const lmHead = config.tieEmbeddings ? embed : await load('lm_head.weight', [V, H]);
  return { embed, layers, norm, lmHead };
}

/** One decoder layer's tensors, named by the architecture spec (config.arch.norms). */
async function layerWeights(config: ModelConfig, p: string, load: Load): Promise<LayerWeights> {
  const { hiddenSize: H, heads, kvHeads, headDim: D, intermediateSize: I } = config;
  const { norms, normOffset } = config.arch;
  const maybe = (name: string, shape: number[], present: boolean) => (present ? load(name, shape) : Promise.resolve(null));
  const norm = (name: string | null, size: number) => (name === null ? Promise.resolve(null) : load(`${p}${name}.weight`, [size], normOffset));
  const b = config.qkvBias;
  return {
    attnNorm: (await norm(norms.attn, H))!,
    q: await load(`${p}self_attn.q_proj.weight`, [heads * D, H]),
    qBias: await maybe(`${p}self_attn.q_proj.bias`, [heads * D], b),
    k: await load(`${p}self_attn.k_proj.weight`, [kvHeads * D, H]),
    kBias: await maybe(`${p}self_attn.k_proj.bias`, [kvHeads * D], b),
    v: await load(`${p}self_attn.v_proj.weight`, [kvHeads * D, H]),
    vBias: await maybe(`${p}self_attn.v_proj.bias`, [kvHeads * D], b),
    qNorm: await norm(norms.q, D),
    kNorm: await norm(norms.k, D),
    o: await load(`${p}self_attn.o_proj.weight`, [H, heads * D]),
    oBias: await maybe(`${p}self_attn.o_proj.bias`, [H], config.oBias),
    attnOutNorm: await norm(norms.attnOut, H),
    mlpNorm: (await norm(norms.mlp, H))!,
    gate: await load(`${p}mlp.gate_proj.weight`, [I, H]),
    up: await load(`${p}mlp.up_proj.weight`, [I, H]),
    down: await load(`${p}mlp.down_proj.weight`, [H, I]),
    gateBias: await maybe(`${p}mlp.gate_proj.bias`, [I], config.mlpBias),
    upBias: await maybe(`${p}mlp.up_proj.bias`, [I], config.mlpBias),
    downBias: await maybe(`${p}mlp.down_proj.bias`, [H], config.mlpBias),
    mlpOutNorm: await norm(norms.mlpOut, H),
  };
}

/** The decoder layer a checkpoint tensor belongs to ('head': final norm and LM head; null: embeddings), for Backend.place. */
export function placementOf(name: string): number | 'head' | null {
  const layer = /^model\.layers\.(\d+)\./.exec(name);
  if (layer) return Number(layer[1]);
  return name === 'model.norm.weight' || name === 'lm_head.weight' ? 'head' : null;
}

/** A norm gain plus the architecture's offset, as f32 bytes (Gemma stores w and computes with 1 + w in float32). */
function withOffset(dtype: FloatDType, data: Uint8Array, offset: number): Uint8Array {
  const values = decodeToF32(dtype, data);
  for (let i = 0; i < values.length; i++) values[i] = Math.fround(offset + values[i]);
  return new Uint8Array(values.buffer);
}

/**
 * Refuse a model the backend cannot hold, before reading any of it (a model past the Wasm backend's
 * 4 GiB used to read gigabytes and then stop with a RangeError and a stack).
 */
function checkFits(backend: Backend, dir: string, bytes: number): void {
  const available = backend.memoryAvailable?.();
  if (available === undefined || bytes <= available) return;
  const { kind, limits } = backend.info;
  const limit = limits.maxMemoryBytes;
  const space = limit
    ? `the ${sizeText(limit)} the ${kind} backend can address${limit - available > 2 ** 26 ? ` (${sizeText(available)} of it still free)` : ''}`
    : `the ${sizeText(available)} the ${kind} backend has free`;
  throw new LightReasonerError(
    'UNSUPPORTED',
    `${dir}: the model's weights take ${sizeText(bytes)}, more than ${space} — use a smaller model (a bf16 copy of an f32 checkpoint takes half)${kind === 'wasm' ? ' — or open it with openModel/openModels (runtime/session.ts), which spread a model past one Wasm memory over several' : ''}`,
    { file: dir },
  );
}

/** Refuse quantized loading on a backend whose kernels cannot read the block formats. */
function checkQuantizable(backend: Backend, dir: string, type: QuantDType): void {
  if (backend.info.features.includes('quantized')) return;
  throw new LightReasonerError(
    'UNSUPPORTED',
    `${dir}: quantize ${type}: the ${backend.info.kind} backend has no kernels for quantized weights — use --backend webgpu or wasm (or reference), or load without quantizing`,
    { file: dir },
  );
}

/**
 * Where checkFits cannot tell in advance (a backend without a known bound, or a host short of RAM),
 * an allocation that fails is still an error naming the tensor, not a RangeError and its stack.
 */
async function outOfMemoryAs<T>(e: TensorEntry, backend: Backend, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    // V8's: "Array buffer allocation failed", "Invalid typed array length: …", "…memory size exceeded".
    if (!(err instanceof RangeError) || !/alloc|length|memory/i.test(err.message)) throw err;
    throw new LightReasonerError(
      'ENVIRONMENT',
      `${e.file}: tensor "${e.name}" (${sizeText(e.byteLength)}) could not be allocated (${err.message}) — the ${backend.info.kind} backend or this machine lacks the memory; use a smaller model or another --backend`,
      { file: e.file, cause: err },
    );
  }
}

export async function loadWeights(
  fs: FileSystem,
  dir: string,
  config: ModelConfig,
  backend: Backend,
  onProgress?: (p: LoadProgress) => void,
  signal?: AbortSignal,
  quantize?: QuantDType,
): Promise<ModelWeights> {
  if (quantize) checkQuantizable(backend, dir, quantize);
  // the bytes a tensor takes in the backend: its block format where the policy quantizes it
  const quantized = (name: string, shape: number[]) => quantize !== undefined && quantizationPolicy(name, shape);
  const heldBytes = (e: TensorEntry, name: string, shape: number[]) => (quantized(name, shape) ? typeBytes(quantize!, shape[0] * shape[1]) : e.byteLength);
  const entries = await indexCheckpoint(fs, dir);
  const entry = (name: string, shape: number[]): TensorEntry => {
    const e = entries.get(name);
    if (!e) throw modelFormatError(dir, `checkpoint has no tensor "${name}" (is this a ${config.architecture} checkpoint with this config.json?)`);
    checkDType(e, ['F32', 'F16', 'BF16']);
    if (e.shape.length !== shape.length || e.shape.some((d, i) => d !== shape[i])) {
      throw modelFormatError(e.file, `tensor "${name}" has shape [${e.shape.join(', ')}] but config.json implies [${shape.join(', ')}]`);
    }
    return e;
  };
  // First every tensor's presence, dtype and shape, and whether they fit: nothing read yet.
  let total = 0;
  await buildWeights(config, async (name, shape) => {
    total += heldBytes(entry(name, shape), name, shape);
    return null as unknown as Tensor;
  });
  checkFits(backend, dir, total);

  let loaded = 0;
  let matrixDType: FloatDType | null = null;
  const parts = await buildWeights(config, async (name, shape, normOffset = 0) => {
    signal?.throwIfAborted();
    const e = entry(name, shape);
    const data = await outOfMemoryAs(e, backend, () => readTensorBytes(fs, e));
    const dtype = DTYPES[e.dtype];
    // A NaN or Inf weight would load and generate garbage (or stop a run steps later): refused here,
    // where the file and tensor are known. Bit tests on the raw words, ~0.2 ns a value.
    const bad = firstNonFinite(dtype, data);
    if (bad >= 0) {
      throw modelFormatError(
        e.file,
        `tensor "${name}" holds ${valueAt(dtype, data, bad)} at element ${bad}${at(e.shape, bad)}: the checkpoint has non-finite weights (damaged, or saved from a run that diverged) — re-download it or re-save it from a good copy`,
      );
    }
    if (shape.length === 2) matrixDType ??= dtype;
    backend.place?.(placementOf(name));
    const t = await outOfMemoryAs(e, backend, async () => {
      if (normOffset) return backend.createWeight('f32', shape, withOffset(dtype, data, normOffset));
      // quantized from the file's own values (issue 30: llama.cpp's converter does the same)
      if (quantized(name, shape)) return backend.createWeight(quantize!, shape, quantizeBytes(quantize!, dtype, data, shape[1]));
      return backend.createWeight(dtype, shape, data);
    });
    await outOfMemoryAs(e, backend, () => backend.flush()); // WebGPU: the upload done (its staging freed), an out-of-memory reported here, at its tensor
    loaded += heldBytes(e, name, shape);
    onProgress?.({ status: 'loading', file: e.file, loaded, total });
    return t;
  });
  backend.place?.(null);
  return { ...parts, bytes: loaded, dtype: matrixDType ?? 'f32', ...(quantize ? { quantized: quantize } : {}) };
}
