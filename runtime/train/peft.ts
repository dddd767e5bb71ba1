// LoRA adapters in Hugging Face PEFT's on-disk format, so `PeftModel.from_pretrained` loads ours
// and we load PEFT's:
//   adapter_model.safetensors  metadata {"format": "pt"}; for every decoder layer i and target t
//     base_model.model.model.layers.{i}.{self_attn|mlp}.{t}.lora_A.weight  F32 [r, in]
//     base_model.model.model.layers.{i}.{self_attn|mlp}.{t}.lora_B.weight  F32 [out, r]
//   adapter_config.json        peft_type "LORA", task_type "CAUSAL_LM", r, lora_alpha, …
// A directory is written as a whole into `<dir>.tmp-…` and renamed into place, so no half-written
// adapter ever exists at `dir`. Reading validates everything against the model's config and names
// the file and key of the first problem.

import type { Backend } from '../backend/types.ts';
import { badInputError, LightReasonerError, modelFormatError, unsupportedError } from '../errors.ts';
import { checkDType, readSafetensorsHeader, readTensorBytes, encodeSafetensors, type SafetensorsHeader } from '../io/safetensors.ts';
import type { ModelConfig } from '../model/config.ts';
import type { CausalLM } from '../model/model.ts';
import type { FileSystem } from '../platform/types.ts';
import { hubRevisionOf } from '../hub/ids.ts';
import { decodeToF32 } from '../util/dtype.ts';
import { LORA_TARGETS, type LoraAdapter, type LoraConfig, type LoraTarget, peftKeys } from './lora.ts';

export const ADAPTER_WEIGHTS = 'adapter_model.safetensors';
export const ADAPTER_CONFIG = 'adapter_config.json';

/** One LoRA pair on the host: a f32 [r, in], b f32 [out, r] (row-major). */
export interface HostLoraPair {
  a: Float32Array;
  b: Float32Array;
}

/** An adapter held in host memory (what the files hold; merge works on this form). */
export interface HostAdapter {
  config: LoraConfig;
  scaling: number;
  layers: Partial<Record<LoraTarget, HostLoraPair>>[];
  /** adapter_config.json's base_model_name_or_path, when the adapter came from a file. */
  baseModel?: string | null;
  /** PEFT's use_rslora (scaling = alpha/√r instead of alpha/r). */
  rslora?: boolean;
}

export interface SaveAdapterOptions {
  /** adapter_config.json's base_model_name_or_path (default: defaultBaseModelName(model.source)). */
  baseModelNameOrPath?: string;
}

/**
 * base_model_name_or_path when the caller names none: the model directory's last path segment
 * ("…/models/Qwen2.5-0.5B/" → "Qwen2.5-0.5B"), never a full path or URL — so an adapter's bytes do
 * not depend on where it was trained (Node, a browser fetching the model from a CDN, another
 * machine), and no local path or private URL leaks into a shared adapter. Name the Hub id
 * (e.g. "Qwen/Qwen2.5-Math-1.5B") to let PEFT's AutoPeftModel find the base by itself.
 */
export function defaultBaseModelName(source: string): string {
  const hub = hubRevisionOf(source);
  if (hub) return hub.id;
  const clean = source.split(/[?#]/)[0].replace(/[\\/]+$/, '');
  return clean.split(/[\\/]/).pop() || source;
}

/**
 * adapter_config.json's `revision` (PEFT's field: the base model's commit): the snapshot's commit
 * when the model is a Hub cache snapshot of the base named, else null (a local folder, or a base
 * named otherwise, has no commit to pin).
 */
export function baseModelRevision(source: string, baseModel: string): string | null {
  const hub = hubRevisionOf(source);
  return hub && hub.id === baseModel ? hub.revision : null;
}

/** [out, in] of a target module's weight. */
export function targetShape(c: ModelConfig, target: LoraTarget): [number, number] {
  const { hiddenSize: H, heads, kvHeads, headDim: D, intermediateSize: I } = c;
  switch (target) {
    case 'q_proj':
      return [heads * D, H];
    case 'k_proj':
      return [kvHeads * D, H];
    case 'v_proj':
      return [kvHeads * D, H];
    case 'o_proj':
      return [H, heads * D];
    case 'gate_proj':
      return [I, H];
    case 'up_proj':
      return [I, H];
    case 'down_proj':
      return [H, I];
  }
}

/** The base checkpoint's tensor name of a target module's weight. */
export function baseWeightName(layer: number, target: LoraTarget): string {
  return peftKeys(layer, target)
    .a.replace(/^base_model\.model\./, '')
    .replace(/\.lora_A\.weight$/, '.weight');
}

function scalingOf(config: LoraConfig, rslora: boolean): number {
  return rslora ? config.alpha / Math.sqrt(config.r) : config.alpha / config.r;
}

// ---- writing --------------------------------------------------------------------------------

/** Copy an adapter's A/B tensors back from its backend. */
export async function adapterToHost(adapter: LoraAdapter, backend: Backend): Promise<HostAdapter> {
  const layers: Partial<Record<LoraTarget, HostLoraPair>>[] = [];
  for (const layer of adapter.layers) {
    const out: Partial<Record<LoraTarget, HostLoraPair>> = {};
    for (const t of adapter.config.targetModules) {
      const p = layer[t];
      if (!p) continue;
      out[t] = { a: (await backend.read(p.a)) as Float32Array, b: (await backend.read(p.b)) as Float32Array };
    }
    layers.push(out);
  }
  const rslora =
    adapter.scaling !== adapter.config.alpha / adapter.config.r && Math.abs(adapter.scaling - adapter.config.alpha / Math.sqrt(adapter.config.r)) < 1e-12;
  return { config: adapter.config, scaling: adapter.scaling, layers, rslora };
}

/** adapter_config.json as PEFT writes it (the fields every PEFT version since 0.9 knows). */
export function adapterConfigJson(adapter: HostAdapter, baseModel: string, revision: string | null = null): string {
  const c = adapter.config;
  const cfg = {
    alpha_pattern: {},
    base_model_name_or_path: baseModel,
    bias: 'none',
    fan_in_fan_out: false,
    inference_mode: true,
    init_lora_weights: true,
    layers_pattern: null,
    layers_to_transform: null,
    lora_alpha: c.alpha,
    lora_dropout: c.dropout,
    modules_to_save: null,
    peft_type: 'LORA',
    r: c.r,
    rank_pattern: {},
    revision,
    target_modules: [...c.targetModules],
    task_type: 'CAUSAL_LM',
    use_dora: false,
    use_rslora: adapter.rslora ?? false,
  };
  return JSON.stringify(cfg, null, 2) + '\n';
}

/** adapter_model.safetensors bytes: F32 A/B under PEFT's keys, metadata {"format": "pt"}. */
export function adapterSafetensors(adapter: HostAdapter, model: ModelConfig): Uint8Array {
  const { r } = adapter.config;
  const tensors = [];
  for (let l = 0; l < adapter.layers.length; l++) {
    for (const t of adapter.config.targetModules) {
      const p = adapter.layers[l][t];
      if (!p) throw new RangeError(`adapter has no ${t} pair in layer ${l}`);
      const [out, inp] = targetShape(model, t);
      if (p.a.length !== r * inp || p.b.length !== out * r)
        throw new RangeError(`layer ${l} ${t}: A has ${p.a.length} values for [${r}, ${inp}], B ${p.b.length} for [${out}, ${r}]`);
      const keys = peftKeys(l, t);
      tensors.push({
        name: keys.a,
        dtype: 'F32' as const,
        shape: [r, inp],
        data: new Uint8Array(p.a.buffer.slice(p.a.byteOffset, p.a.byteOffset + p.a.byteLength)),
      });
      tensors.push({
        name: keys.b,
        dtype: 'F32' as const,
        shape: [out, r],
        data: new Uint8Array(p.b.buffer.slice(p.b.byteOffset, p.b.byteOffset + p.b.byteLength)),
      });
    }
  }
  return encodeSafetensors(tensors, { format: 'pt' });
}

function tempName(path: string, tag: string): string {
  const rand = Math.floor(Math.random() * 0x100000000)
    .toString(16)
    .padStart(8, '0');
  return `${path}.${tag}-${Date.now().toString(36)}${rand}`;
}

function needDirOps(fs: FileSystem, what: string): asserts fs is FileSystem & Required<Pick<FileSystem, 'writeFileAtomic' | 'mkdir' | 'rename' | 'rm'>> {
  if (!fs.writeFileAtomic || !fs.mkdir || !fs.rename || !fs.rm) {
    throw new LightReasonerError('UNSUPPORTED', `${what} needs a file system that can write, rename and remove (this platform's adapter cannot)`);
  }
}

/**
 * Build a directory with `fill(tmpDir)` and move it to `dir` in one rename. When `dir` already
 * exists (e.g. a checkpoint being overwritten) it is moved aside first and removed after, so at
 * every moment `dir` is either absent, the old complete directory or the new complete one.
 * On any error the temp directory is removed and `dir` is left as it was.
 */
export async function writeDirAtomic(fs: FileSystem, dir: string, fill: (tmp: string) => Promise<void>, opts: { replace?: boolean } = {}): Promise<void> {
  needDirOps(fs, `writing ${dir}`);
  const tmp = tempName(dir, 'tmp');
  await fs.mkdir(tmp);
  try {
    await fill(tmp);
    if (opts.replace !== false && (await fs.exists(dir))) {
      const old = tempName(dir, 'old');
      await fs.rename(dir, old);
      try {
        await fs.rename(tmp, dir);
      } catch (e) {
        await fs.rename(old, dir);
        throw e;
      }
      await fs.rm(old);
    } else {
      await fs.rename(tmp, dir);
    }
  } catch (e) {
    await fs.rm(tmp);
    throw e;
  }
}

/**
 * Write `adapter` (read back from the model's backend) to `dir` in PEFT's format, atomically:
 * an existing directory is replaced as a whole.
 */
export async function saveAdapter(fs: FileSystem, dir: string, adapter: LoraAdapter, model: CausalLM, opts: SaveAdapterOptions = {}): Promise<void> {
  const host = await adapterToHost(adapter, model.backend);
  const baseModel = opts.baseModelNameOrPath ?? defaultBaseModelName(model.source);
  await saveHostAdapter(fs, dir, host, model.config, baseModel, baseModelRevision(model.source, baseModel));
}

export async function saveHostAdapter(
  fs: FileSystem,
  dir: string,
  adapter: HostAdapter,
  model: ModelConfig,
  baseModel: string,
  revision: string | null = null,
): Promise<void> {
  const weights = adapterSafetensors(adapter, model);
  const config = adapterConfigJson(adapter, baseModel, revision);
  await writeDirAtomic(fs, dir, async (tmp) => {
    await fs.writeFileAtomic!(fs.join(tmp, ADAPTER_WEIGHTS), weights);
    await fs.writeFileAtomic!(fs.join(tmp, ADAPTER_CONFIG), config);
  });
}

// ---- reading --------------------------------------------------------------------------------

// Options that change what LoRA computes; an adapter using them is refused rather than misapplied.
const UNSUPPORTED_OPTIONS: [string, (v: unknown) => boolean, string][] = [
  ['use_dora', (v) => v === true, 'DoRA'],
  ['fan_in_fan_out', (v) => v === true, 'fan_in_fan_out (Conv1D layers)'],
  ['lora_bias', (v) => v === true, 'LoRA biases'],
  ['rank_pattern', (v) => v != null && typeof v === 'object' && Object.keys(v).length > 0, 'per-module ranks (rank_pattern)'],
  ['alpha_pattern', (v) => v != null && typeof v === 'object' && Object.keys(v).length > 0, 'per-module alphas (alpha_pattern)'],
  ['layers_to_transform', (v) => v != null, 'layers_to_transform (LoRA on some layers only)'],
  ['modules_to_save', (v) => (Array.isArray(v) ? v.length > 0 : v != null), 'modules_to_save (fully trained extra modules)'],
  ['layer_replication', (v) => v != null, 'layer_replication'],
  ['target_parameters', (v) => (Array.isArray(v) ? v.length > 0 : v != null), 'target_parameters'],
  ['trainable_token_indices', (v) => v != null, 'trainable_token_indices'],
  ['exclude_modules', (v) => (Array.isArray(v) ? v.length > 0 : v != null && v !== ''), 'exclude_modules'],
];

/** The largest LoRA rank accepted from a file (besides ≤ the model's hidden size, readAdapter). */
const MAX_LORA_R = 4096;

/** Parse and check adapter_config.json. */
export function parseAdapterConfig(raw: unknown, file: string): { config: LoraConfig; rslora: boolean; baseModel: string | null } {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw modelFormatError(file, 'not a JSON object');
  const j = raw as Record<string, unknown>;
  if (j.peft_type !== 'LORA') {
    throw unsupportedError(file, `peft_type is ${JSON.stringify(j.peft_type ?? null)}, not "LORA": only LoRA adapters are supported`);
  }
  if (j.task_type != null && j.task_type !== 'CAUSAL_LM')
    throw unsupportedError(file, `task_type is ${JSON.stringify(j.task_type)}; only "CAUSAL_LM" adapters apply to a causal LM`);
  if (j.bias != null && j.bias !== 'none') throw unsupportedError(file, `bias is ${JSON.stringify(j.bias)}; only "none" is supported`);
  for (const [key, bad, what] of UNSUPPORTED_OPTIONS)
    if (bad(j[key])) throw unsupportedError(file, `uses ${what} ("${key}": ${JSON.stringify(j[key])}), which this runtime does not support`);
  const r = j.r;
  if (typeof r !== 'number' || !Number.isInteger(r) || r < 1 || r > MAX_LORA_R)
    throw modelFormatError(file, `"r" must be a positive integer ≤ ${MAX_LORA_R} (got ${JSON.stringify(r)})`);
  const alpha = j.lora_alpha;
  if (typeof alpha !== 'number' || !Number.isFinite(alpha) || alpha <= 0)
    throw modelFormatError(file, `"lora_alpha" must be a finite positive number (got ${JSON.stringify(alpha)})`);
  const dropout = j.lora_dropout ?? 0;
  if (typeof dropout !== 'number' || !(dropout >= 0 && dropout < 1))
    throw modelFormatError(file, `"lora_dropout" must be a number in [0, 1) (got ${JSON.stringify(dropout)})`);
  let targets: string[];
  if (j.target_modules === 'all-linear') targets = [...LORA_TARGETS];
  else if (Array.isArray(j.target_modules) && j.target_modules.every((x) => typeof x === 'string')) targets = j.target_modules as string[];
  else
    throw unsupportedError(
      file,
      `"target_modules" must be a list of module names (got ${JSON.stringify(j.target_modules ?? null)}; regex patterns are not supported)`,
    );
  if (targets.length === 0) throw modelFormatError(file, '"target_modules" is empty');
  const unknown = targets.filter((t) => !(LORA_TARGETS as readonly string[]).includes(t));
  if (unknown.length)
    throw unsupportedError(
      file,
      `target_modules ${JSON.stringify(unknown)} are not linear layers of a Llama/Qwen2 decoder (supported: ${LORA_TARGETS.join(', ')})`,
    );
  // One canonical order (the model's), whatever order the set was written in.
  const targetModules = LORA_TARGETS.filter((t) => targets.includes(t));
  const baseModel = typeof j.base_model_name_or_path === 'string' ? j.base_model_name_or_path : null;
  return { config: { r, alpha, dropout, targetModules }, rslora: j.use_rslora === true, baseModel };
}

const KEY_RE = /^base_model\.model\.model\.layers\.(\d+)\.(self_attn|mlp)\.([a-z_]+)\.lora_([AB])(?:\.default)?\.weight$/;

/** An adapter's config file, parsed and checked against the model; its weights file must exist. */
async function readAdapterConfigFile(fs: FileSystem, dir: string, model: ModelConfig) {
  const configPath = fs.join(dir, ADAPTER_CONFIG);
  const weightsPath = fs.join(dir, ADAPTER_WEIGHTS);
  if (!(await fs.exists(configPath))) {
    throw (await fs.exists(fs.join(dir, 'config.json')))
      ? badInputError(`${dir} is a model directory, not an adapter (an adapter has ${ADAPTER_CONFIG} and ${ADAPTER_WEIGHTS})`, configPath)
      : new LightReasonerError('NOT_FOUND', `${configPath}: not found (an adapter directory holds ${ADAPTER_CONFIG} and ${ADAPTER_WEIGHTS})`, {
          file: configPath,
        });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(await fs.readText(configPath));
  } catch (e) {
    if (e instanceof LightReasonerError) throw e;
    throw modelFormatError(configPath, 'not valid JSON', e);
  }
  const { config, rslora, baseModel } = parseAdapterConfig(raw, configPath);
  if (!(await fs.exists(weightsPath))) {
    const bin = fs.join(dir, 'adapter_model.bin');
    throw new LightReasonerError(
      'NOT_FOUND',
      `${weightsPath}: not found${(await fs.exists(bin)) ? ' (adapter_model.bin, a pickle, is not supported: save the adapter with safe_serialization=True)' : ''}`,
      { file: weightsPath },
    );
  }
  // A rank above the hidden size adds nothing a full-rank update would not, and sizes the tensors
  // from a number in a text file: refuse it before anything is allocated.
  if (config.r > model.hiddenSize)
    throw badInputError(
      `${configPath}: "r" is ${config.r} but this model's hidden size is ${model.hiddenSize}; r must be ≤ ${model.hiddenSize} (was the adapter trained for another model?)`,
      configPath,
    );
  return { config, rslora, baseModel, weightsPath };
}

/** Every tensor name of the weights file by its canonical PEFT key; unknown keys are reported before reading data. */
function adapterKeys(header: SafetensorsHeader, config: LoraConfig, model: ModelConfig, weightsPath: string): Map<string, string> {
  const byKey = new Map<string, string>();
  for (const name of header.tensors.keys()) {
    const m = KEY_RE.exec(name);
    const layer = m ? Number(m[1]) : -1;
    const target = m?.[3] as LoraTarget | undefined;
    if (!m || !target || !config.targetModules.includes(target) || peftKeys(layer, target).a.split('.')[5] !== m[2]) {
      throw modelFormatError(
        weightsPath,
        `unexpected tensor "${name}": not a LoRA A/B weight of the target modules ${JSON.stringify(config.targetModules)} in adapter_config.json`,
      );
    }
    if (layer >= model.layers) {
      throw badInputError(
        `${weightsPath}: tensor "${name}" is for decoder layer ${layer} but the model has ${model.layers} layers: this adapter was trained for another model`,
        weightsPath,
      );
    }
    const canonical = m[4] === 'A' ? peftKeys(layer, target).a : peftKeys(layer, target).b;
    if (byKey.has(canonical)) throw modelFormatError(weightsPath, `tensor "${name}" appears twice (also as "${byKey.get(canonical)}")`);
    byKey.set(canonical, name);
  }
  return byKey;
}

/** Where an adapter's weights are read from, and what they must match. */
interface AdapterWeights {
  fs: FileSystem;
  weightsPath: string;
  header: SafetensorsHeader;
  byKey: Map<string, string>;
  model: ModelConfig;
  r: number;
}

/** One LoRA weight of target t (A [r, in] or B [out, r]), checked and decoded to f32. */
async function readLoraWeight(w: AdapterWeights, t: LoraTarget, key: string, shape: [number, number], which: 'A' | 'B'): Promise<Float32Array> {
  const { fs, weightsPath, header, byKey, model, r } = w;
  const name = byKey.get(key);
  if (!name) throw modelFormatError(weightsPath, `missing tensor "${key}" (adapter_config.json targets ${t} and the model has ${model.layers} layers)`);
  const e = header.tensors.get(name)!;
  checkDType(e, ['F32', 'F16', 'BF16']);
  const s = e.shape;
  if (s.length !== 2) throw modelFormatError(weightsPath, `tensor "${name}" has shape [${s.join(', ')}]; a LoRA weight is 2-D`);
  const rankDim = which === 'A' ? s[0] : s[1];
  const modelDim = which === 'A' ? s[1] : s[0];
  const wantModelDim = which === 'A' ? shape[1] : shape[0];
  if (modelDim !== wantModelDim) {
    throw badInputError(
      `${weightsPath}: tensor "${name}" has shape [${s.join(', ')}] but this model's ${t} needs [${shape.join(', ')}] (${which === 'A' ? 'in' : 'out'} features ${wantModelDim}): the adapter was trained for another model`,
      weightsPath,
    );
  }
  if (rankDim !== r) {
    throw modelFormatError(weightsPath, `tensor "${name}" has rank ${rankDim} (shape [${s.join(', ')}]) but adapter_config.json says r = ${r}`);
  }
  const bytes = await readTensorBytes(fs, e);
  const values = decodeToF32(e.dtype === 'F32' ? 'f32' : e.dtype === 'F16' ? 'f16' : 'bf16', bytes);
  const bad = values.findIndex((v) => !Number.isFinite(v));
  if (bad >= 0)
    throw modelFormatError(weightsPath, `tensor "${name}" holds ${values[bad]} (element ${bad}): the adapter is damaged (was its training stopped by a NaN?)`);
  return values;
}

/**
 * Read an adapter directory into host memory, checked against the model's config: every expected
 * key present with shape A [r, in] / B [out, r] (F32, F16 or BF16), no other keys. PEFT's older
 * key form with the adapter name (`.lora_A.default.weight`) is accepted.
 */
export async function readAdapter(fs: FileSystem, dir: string, model: ModelConfig): Promise<HostAdapter> {
  const { config, rslora, baseModel, weightsPath } = await readAdapterConfigFile(fs, dir, model);
  const header = await readSafetensorsHeader(fs, weightsPath);
  const { r } = config;
  const w: AdapterWeights = { fs, weightsPath, header, byKey: adapterKeys(header, config, model, weightsPath), model, r };
  const layers: Partial<Record<LoraTarget, HostLoraPair>>[] = [];
  for (let l = 0; l < model.layers; l++) {
    const pairs: Partial<Record<LoraTarget, HostLoraPair>> = {};
    for (const t of config.targetModules) {
      const [out, inp] = targetShape(model, t);
      const keys = peftKeys(l, t);
      const a = await readLoraWeight(w, t, keys.a, [r, inp], 'A');
      const b = await readLoraWeight(w, t, keys.b, [out, r], 'B');
      pairs[t] = { a, b };
    }
    layers.push(pairs);
  }
  return { config, scaling: scalingOf(config, rslora), layers, baseModel, rslora };
}

/** The kernels apply the scaling in f32: one that overflows there would make every output NaN. */
function checkScaling(host: HostAdapter, configFile: string): void {
  if (Number.isFinite(Math.fround(host.scaling))) return;
  const c = host.config;
  throw badInputError(
    `${configFile}: the adapter's scaling (lora_alpha ${c.alpha} / ${host.rslora ? '√r' : 'r'} ${c.r} = ${host.scaling}) overflows 32-bit floats: lower "lora_alpha"`,
    configFile,
  );
}

/** Upload a host adapter's pairs as f32 tensors of `backend`. */
export function uploadAdapter(host: HostAdapter, backend: Backend, model: ModelConfig): LoraAdapter {
  const { r } = host.config;
  checkScaling(host, ADAPTER_CONFIG);
  return {
    config: host.config,
    scaling: host.scaling,
    layers: host.layers.map((layer) => {
      const out: Partial<Record<LoraTarget, { a: ReturnType<Backend['createTensor']>; b: ReturnType<Backend['createTensor']> }>> = {};
      for (const t of host.config.targetModules) {
        const p = layer[t];
        if (!p) continue;
        const [o, i] = targetShape(model, t);
        out[t] = { a: backend.createTensor('f32', [r, i], p.a), b: backend.createTensor('f32', [o, r], p.b) };
      }
      return out;
    }),
  };
}

/** Load a PEFT LoRA adapter directory onto the model's backend (set `model.adapter` to apply it). */
export async function loadAdapter(fs: FileSystem, dir: string, model: CausalLM): Promise<LoraAdapter> {
  const host = await readAdapter(fs, dir, model.config);
  checkScaling(host, fs.join(dir, ADAPTER_CONFIG));
  return uploadAdapter(host, model.backend, model.config);
}
