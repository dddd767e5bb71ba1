// A decoder-only transformer model: its config, weights and tokenizer, and inference over a KV
// cache. The pass itself is forward.ts (shared with training); one `forward` call enqueues it
// whole (one submit on WebGPU) and the caller reads back only what it needs (logits of selected
// rows, or argmax ids).

import type { Backend, QuantDType, Tensor } from '../backend/types.ts';
import { LightReasonerError, modelFormatError } from '../errors.ts';
import { readOptionalText, type WarningSink } from '../io/optional-file.ts';
import type { FileSystem } from '../platform/types.ts';
import { type ModelConfig, parseConfig } from './config.ts';
import { createInvFreqs, ForwardPass, type LayerBuffers, type LinearFn } from './forward.ts';
import { loadTokenizer, type ModelTokenizer } from './tokenizer.ts';
import type { LoraAdapter } from '../train/lora.ts';
import { type LoadProgress, loadWeights, type ModelWeights } from './weights.ts';
import { sizeText } from '../util/units.ts';

/** Per-layer key/value caches, each f32 [slots, kvHeads, maxT, headDim]. */
export interface KVCache {
  slots: number;
  maxT: number;
  k: Tensor[];
  v: Tensor[];
}

/**
 * Activations of one forward pass for up to `rows` rows (llm.c style: one struct, allocated once
 * and grown on demand; a pass over fewer rows uses views of the same storage).
 */
interface Activations {
  rows: number;
  logitRows: number;
  ids: Tensor; // i32 [n]
  rowInfo: Tensor; // i32 [n, 2]  (slot, position)
  x: Tensor; // [n, H]   residual stream
  h: Tensor; // [n, H]   normed input of a block
  qRaw: Tensor | null; // [n, heads·D]  before q_norm (families with q/k norms)
  kRaw: Tensor | null; // [n, kvHeads·D]
  q: Tensor; // [n, heads·D]
  k: Tensor; // [n, kvHeads·D]
  v: Tensor; // [n, kvHeads·D]
  att: Tensor; // [n, heads·D]  attention output before o_proj
  proj: Tensor; // [n, H]   output of o_proj / down_proj
  gate: Tensor; // [n, I]
  up: Tensor; // [n, I]
  mlp: Tensor; // [n, I]   silu(gate) * up
  loraU: Tensor; // [n, r]   x·Aᵀ of the LoRA pair being applied (1 column when no adapter)
  loraOut: Tensor; // [n, max(I, H, heads·D)]  (x·Aᵀ)·Bᵀ before scaling
  pick: Tensor; // i32 [m]  rows whose logits are wanted
  last: Tensor; // [m, H]
  logits: Tensor; // [m, V]
}

export interface ForwardInput {
  /** Token ids, one per row. */
  tokens: Int32Array;
  /** (slot, position) per row, flattened: length 2·rows. */
  rows: Int32Array;
  /** Indices (into the rows) whose logits to compute. */
  logitRows: Int32Array;
}

export class CausalLM {
  private act: Activations | null = null;
  /** The LoRA adapter applied in forward (inference: no dropout), or null. */
  adapter: LoraAdapter | null = null;
  /** One rope table per rope kind (config.arch.ropes). */
  private readonly invFreqs: Tensor[];

  constructor(
    readonly config: ModelConfig,
    readonly backend: Backend,
    readonly weights: ModelWeights,
    /** Where the model came from (a directory, a URL prefix, or a description for generated weights). */
    readonly source: string,
    private readonly tok: ModelTokenizer | null = null,
  ) {
    this.invFreqs = createInvFreqs(backend, config);
  }

  get tokenizer(): ModelTokenizer {
    if (!this.tok) throw new LightReasonerError('BAD_INPUT', `${this.source} has no tokenizer (it was built from weights alone)`);
    return this.tok;
  }

  createCache(slots: number, maxT: number): KVCache {
    const { layers, kvHeads, headDim, maxPositions } = this.config;
    if (maxT > maxPositions) {
      throw new LightReasonerError(
        'BAD_INPUT',
        `sequence length ${maxT} exceeds the model's max_position_embeddings (${maxPositions}); shorten the prompt or --max-new-tokens`,
      );
    }
    this.checkCacheFits(slots, maxT);
    const shape = [slots, kvHeads, maxT, headDim];
    const k: Tensor[] = [];
    const v: Tensor[] = [];
    try {
      for (let l = 0; l < layers; l++) {
        this.backend.place?.(l); // with the layer's weights, where a backend spreads the model
        k.push(this.backend.createTensor('f32', shape));
        v.push(this.backend.createTensor('f32', shape));
      }
      this.backend.place?.(null);
    } catch (e) {
      this.backend.place?.(null);
      for (const t of [...k, ...v]) this.backend.dispose(t);
      // A backend without a known bound (the reference: JS memory) fails here instead.
      if (e instanceof RangeError && /alloc|length|memory|binding/i.test(e.message))
        throw new LightReasonerError(
          'ENVIRONMENT',
          `${this.source}: ${this.cacheText(slots, maxT)} could not be allocated (${e.message}) — lower --max-new-tokens or --batch-size`,
          { cause: e },
        );
      throw e;
    }
    return { slots, maxT, k, v };
  }

  private cacheText(slots: number, maxT: number): string {
    const { layers, kvHeads, headDim } = this.config;
    return `the KV cache for ${slots} sequence${slots > 1 ? 's (--batch-size)' : ''} × ${maxT} positions (prompt + --max-new-tokens), ${sizeText(slots * maxT * layers * 2 * kvHeads * headDim * 4)} (${layers} layers × keys and values × ${kvHeads} KV heads × head_dim ${headDim} × 4 bytes a position)`;
  }

  /**
   * Refuse, before allocating, a KV cache the backend cannot hold: more than it has left (Wasm: its
   * 4 GiB less the weights) or, one layer's keys, more than one tensor may take (WebGPU: a binding).
   * Says how many positions would fit instead. A hostile config (or a huge --max-new-tokens) used
   * to fail inside the allocator with a RangeError and a stack.
   */
  private checkCacheFits(slots: number, maxT: number): void {
    const { layers, kvHeads, headDim } = this.config;
    const perPosition = kvHeads * headDim * 4; // one layer's keys (or values), f32
    const bytes = slots * maxT * perPosition * layers * 2;
    const available = this.backend.memoryAvailable?.() ?? Infinity;
    const maxTensor = this.backend.maxTensorBytes ?? Infinity;
    if (bytes <= available && slots * maxT * perPosition <= maxTensor) return;
    const fit = Math.floor(Math.min(available / (slots * perPosition * layers * 2), maxTensor / (slots * perPosition)));
    const kind = this.backend.info.kind;
    const why =
      bytes > available
        ? `it is more than the ${sizeText(available)} the ${kind} backend has left after the weights`
        : `one layer's keys (${sizeText(slots * maxT * perPosition)}) exceed the ${sizeText(maxTensor)} one ${kind} tensor may take`;
    const advice = fit >= 1 ? `at most ${fit} positions fit ${slots} sequence${slots > 1 ? 's' : ''}` : `not even one position fits ${slots} sequences`;
    throw new LightReasonerError(
      'BAD_INPUT',
      `${this.source}: ${this.cacheText(slots, maxT)} does not fit: ${why} — lower --max-new-tokens or --batch-size (${advice})`,
    );
  }

  disposeCache(cache: KVCache): void {
    for (const t of [...cache.k, ...cache.v]) this.backend.dispose(t);
  }

  private activations(n: number, m: number): Activations {
    const a = this.act;
    const r = this.adapter?.config.r ?? 1;
    if (a && a.rows >= n && a.logitRows >= m && a.loraU.shape[1] >= r) return a;
    const rows = Math.max(n, a?.rows ?? 0);
    const logitRows = Math.max(m, a?.logitRows ?? 0);
    if (a) for (const t of Object.values(a)) if (t !== null && typeof t === 'object') this.backend.dispose(t as Tensor);
    const { hiddenSize: H, heads, kvHeads, headDim: D, intermediateSize: I, vocabSize: V } = this.config;
    const f = (shape: number[]) => this.backend.createTensor('f32', shape);
    this.act = {
      rows,
      logitRows,
      ids: this.backend.createTensor('i32', [rows]),
      rowInfo: this.backend.createTensor('i32', [rows, 2]),
      x: f([rows, H]),
      h: f([rows, H]),
      qRaw: this.config.arch.norms.q ? f([rows, heads * D]) : null,
      kRaw: this.config.arch.norms.k ? f([rows, kvHeads * D]) : null,
      q: f([rows, heads * D]),
      k: f([rows, kvHeads * D]),
      v: f([rows, kvHeads * D]),
      att: f([rows, heads * D]),
      proj: f([rows, H]),
      gate: f([rows, I]),
      up: f([rows, I]),
      mlp: f([rows, I]),
      loraU: f([rows, r]),
      loraOut: f([rows, Math.max(I, H, heads * D)]),
      pick: this.backend.createTensor('i32', [logitRows]),
      last: f([logitRows, H]),
      logits: f([logitRows, V]),
    };
    return this.act;
  }

  /**
   * Enqueue one forward pass and return the logits tensor [logitRows.length, vocab] (a view into
   * scratch storage, valid until the next forward call).
   */
  forward(input: ForwardInput, cache: KVCache): Tensor {
    const n = input.tokens.length;
    const m = input.logitRows.length;
    if (input.rows.length !== 2 * n) throw new RangeError('rows must hold a (slot, position) pair per token');
    const V = this.config.vocabSize;
    for (let i = 0; i < n; i++) {
      const id = input.tokens[i];
      if (!(id >= 0 && id < V)) throw new LightReasonerError('BAD_INPUT', `token id ${id} is outside the model's vocabulary (vocab_size ${V})`);
      const slot = input.rows[2 * i],
        pos = input.rows[2 * i + 1];
      if (slot < 0 || slot >= cache.slots || pos < 0 || pos >= cache.maxT)
        throw new RangeError(`row ${i}: (slot ${slot}, position ${pos}) outside the KV cache (${cache.slots} × ${cache.maxT})`);
    }
    const b = this.backend;
    const a = this.activations(n, m);
    const view = (t: Tensor, rows: number) => b.view(t, [rows, t.shape[1]]);
    const ids = b.view(a.ids, [n]);
    const rows = b.view(a.rowInfo, [n, 2]);
    const pick = b.view(a.pick, [m]);
    // All writes before the first op: a write lands after the ops recorded before it, which on
    // WebGPU means a submit, so writing `pick` late would cost a second submit a step.
    b.write(ids, input.tokens);
    b.write(rows, input.rows);
    b.write(pick, input.logitRows);
    const pass = new ForwardPass(b, this.config, this.weights, this.invFreqs, { n, ids, rows, linear: this.linear(a, n), fuse: !this.adapter });
    // The residual stream x is updated in place; every layer shares the same scratch.
    const x = view(a.x, n),
      h = view(a.h, n),
      proj = view(a.proj, n);
    const io: Omit<LayerBuffers, 'kCache' | 'vCache'> = {
      xIn: x,
      xMid: x,
      xOut: x,
      h,
      h2: h,
      qRaw: a.qRaw && view(a.qRaw, n),
      kRaw: a.kRaw && view(a.kRaw, n),
      q: view(a.q, n),
      k: view(a.k, n),
      v: view(a.v, n),
      att: view(a.att, n),
      attProj: proj,
      gate: view(a.gate, n),
      up: view(a.up, n),
      mlp: view(a.mlp, n),
      mlpProj: proj,
    };
    pass.embed(x);
    for (let l = 0; l < this.config.layers; l++) pass.layer(l, { ...io, kCache: cache.k[l], vCache: cache.v[l] });
    return pass.head(x, h, pick, view(a.last, m), view(a.logits, m));
  }

  /** A linear layer, plus the adapter's low-rank update (no dropout at inference) when it targets this module. */
  private linear(a: Activations, n: number): LinearFn {
    const b = this.backend,
      adapter = this.adapter;
    return (l, target, x, w, bias, out) => {
      b.matmul(x, w, bias, out);
      const pair = adapter?.layers[l]?.[target];
      if (!pair) return;
      const u = b.view(a.loraU, [n, pair.a.shape[0]]);
      const delta = b.view(a.loraOut, [n, out.shape[1]]);
      b.matmul(x, pair.a, null, u);
      b.matmul(u, pair.b, null, delta);
      b.axpy(out, delta, adapter!.scaling);
    };
  }

  dispose(): void {
    this.backend.destroy();
  }
}

export interface LoadModelOptions {
  fs: FileSystem;
  backend: Backend;
  onProgress?: (p: LoadProgress) => void;
  signal?: AbortSignal;
  /** Told when an optional file (generation_config.json, chat_template.jinja…) is taken as absent. */
  onWarning?: WarningSink;
  /** Quantize the attention and MLP projections to this block format at load (issue 30; runtime/quant). */
  quantize?: QuantDType;
}

function parseJson(text: string, path: string): Record<string, unknown> {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw modelFormatError(path, 'not valid JSON', e);
  }
}

/** Load a local Hugging Face model directory (or URL prefix in a browser). */
export async function loadModel(dir: string, opts: LoadModelOptions): Promise<CausalLM> {
  const { fs } = opts;
  const configPath = fs.join(dir, 'config.json');
  const genPath = fs.join(dir, 'generation_config.json');
  const raw = parseJson(await fs.readText(configPath), configPath);
  const genText = await readOptionalText(fs, genPath, opts.onWarning);
  const gen = genText === null ? undefined : parseJson(genText, genPath);
  const config = parseConfig(raw, configPath, gen);
  const tokenizer = await loadTokenizer(fs, dir, { onWarning: opts.onWarning });
  if (tokenizer.size > config.vocabSize) {
    throw modelFormatError(
      fs.join(dir, 'tokenizer.json'),
      `the tokenizer has ${tokenizer.size} tokens but the model's vocab_size is ${config.vocabSize}: the tokenizer does not belong to this model`,
    );
  }
  const weights = await loadWeights(fs, dir, config, opts.backend, opts.onProgress, opts.signal, opts.quantize);
  return new CausalLM(config, opts.backend, weights, dir, tokenizer);
}
