// A model past one Wasm memory (issue 29): wasm32 addresses 4 GiB, and memory64 is missing from
// Node 20, older Safari and every engine's 32-bit fast paths. So the model is spread over several
// Wasm backends (one memory and thread pool each): every decoder layer's weights, KV cache and
// saved training activations live together in one memory (Backend.place says which layer is
// being allocated), and each op runs in the memory of the layer tensor it touches. Other tensors
// (the residual stream, scratch, LoRA pairs, optimizer state) are replicated lazily: a copy per
// memory, the memory that last wrote one holding the valid bytes, copied over (a few KB a token
// at decode) when an op elsewhere reads it. Every op runs the same kernel on the same bytes as on
// one memory, so a sharded model's outputs equal the unsharded model's bit for bit.

import type { Backend, BackendInfo, DType, Tensor, TrainingOps, WeightDType } from './types.ts';
import { sizeOf } from './types.ts';
import type { WasmBackend } from './wasm/index.ts';

/** A tensor's storage: its copy in each memory, and which copies hold the current bytes. */
class Storage {
  readonly replicas: (Tensor | null)[];
  /** Memories whose copy is current (the last writer's, and those that copied it since). */
  readonly valid = new Set<number>();
  constructor(
    readonly home: number,
    /** Pinned to its home (weights and a layer's tensors): copies elsewhere are a planning error. */
    readonly pinned: boolean,
    first: Tensor,
    memories: number,
  ) {
    this.replicas = Array.from({ length: memories }, (_, k) => (k === home ? first : null));
    this.valid.add(home);
  }
}

class ShardTensor implements Tensor {
  readonly size: number;
  constructor(
    readonly dtype: DType,
    readonly shape: readonly number[],
    readonly storage: Storage,
    /** The base tensor, for views (null for the owner). */
    readonly root: ShardTensor | null,
  ) {
    this.size = sizeOf(shape);
  }
}

/** Which tensor arguments an op writes ('w': pure output, 'rw': read and written) by position. */
type Writes = Record<number, 'w' | 'rw'>;

const FORWARD_OPS: Record<string, Writes> = {
  fill: { 0: 'w' },
  axpy: { 0: 'rw' },
  sumSquares: { 1: 'rw' },
  embedding: { 2: 'w' },
  rmsNorm: { 3: 'w' },
  matmul: { 3: 'w' },
  rope: { 0: 'rw' },
  kvWrite: { 2: 'rw', 3: 'rw' },
  attention: { 4: 'w' },
  glu: { 2: 'w' },
  addInPlace: { 0: 'rw' },
  gatherRows: { 2: 'w' },
  softmax: { 1: 'w' },
  argmax: { 1: 'w' },
  contrast: { 4: 'w', 5: 'w', 6: 'w' },
};
const TRAINING_OPS: Record<string, Writes> = {
  matmulNN: { 2: 'rw' },
  matmulTN: { 2: 'rw' },
  rmsNormBackward: { 4: 'w' },
  gluBackward: { 3: 'w', 4: 'w' },
  ropeBackward: { 0: 'rw' },
  attentionBackward: { 6: 'w', 7: 'w', 8: 'w' },
  scatterAddRows: { 2: 'rw' },
  softLabelLoss: { 4: 'w', 5: 'w' },
  dropout: { 1: 'w' },
  adamw: { 0: 'rw', 2: 'rw', 3: 'rw' },
};

/** Which memory each decoder layer lives in, and where the embeddings and the head go. */
export interface ShardPlan {
  layers: number[];
  /** The final norm and LM head (the embedding's memory when they are tied). */
  head: number;
}

export class ShardedWasmBackend implements Backend {
  readonly info: BackendInfo;
  readonly training?: TrainingOps;
  // The forward ops, installed by the constructor (wrapOps over FORWARD_OPS).
  declare readonly fill: Backend['fill'];
  declare readonly axpy: Backend['axpy'];
  declare readonly sumSquares: Backend['sumSquares'];
  declare readonly embedding: Backend['embedding'];
  declare readonly rmsNorm: Backend['rmsNorm'];
  declare readonly matmul: Backend['matmul'];
  declare readonly rope: Backend['rope'];
  declare readonly kvWrite: Backend['kvWrite'];
  declare readonly attention: Backend['attention'];
  declare readonly glu: Backend['glu'];
  declare readonly addInPlace: Backend['addInPlace'];
  declare readonly gatherRows: Backend['gatherRows'];
  declare readonly softmax: Backend['softmax'];
  declare readonly argmax: Backend['argmax'];
  declare readonly contrast: Backend['contrast'];
  /** Where tensors created now go: a layer's memory, the head's, or (null) memory 0. */
  private group: number | 'head' | null = null;

  constructor(
    private readonly parts: readonly WasmBackend[],
    private readonly plan: ShardPlan,
  ) {
    const first = parts[0].info;
    const total = parts.reduce((a, p) => a + (p.info.limits.maxMemoryBytes ?? 0), 0);
    this.info = Object.freeze({
      ...first,
      device: `${first.device} × ${parts.length} memories`,
      limits: Object.freeze({ ...first.limits, memories: parts.length, maxMemoryBytes: total }),
    });
    this.training = this.wrapOps(TRAINING_OPS, (k) => parts[k].training as unknown as Record<string, unknown>) as unknown as TrainingOps;
    Object.assign(
      this,
      this.wrapOps(FORWARD_OPS, (k) => parts[k] as unknown as Record<string, unknown>),
    );
  }

  get memories(): number {
    return this.parts.length;
  }

  place(group: number | 'head' | null): void {
    this.group = group;
  }

  private homeNow(): number {
    if (this.group === null) return 0;
    return this.group === 'head' ? this.plan.head : this.plan.layers[this.group];
  }

  memoryAvailable(): number {
    return this.parts.reduce((a, p) => a + (p.memoryAvailable?.() ?? 0), 0);
  }

  /** The most one tensor may take: what one memory holds. */
  get maxTensorBytes(): number {
    return Math.min(...this.parts.map((p) => p.info.limits.maxMemoryBytes ?? Infinity));
  }

  createWeight(dtype: WeightDType, shape: readonly number[], bytes: Uint8Array): Tensor {
    const k = this.homeNow();
    return new ShardTensor(dtype, shape, new Storage(k, true, this.parts[k].createWeight(dtype, shape, bytes), this.parts.length), null);
  }

  createTensor(dtype: 'f32' | 'i32', shape: readonly number[], data?: Float32Array | Int32Array): Tensor {
    const k = this.homeNow();
    return new ShardTensor(dtype, shape, new Storage(k, this.group !== null, this.parts[k].createTensor(dtype, shape, data), this.parts.length), null);
  }

  write(t: Tensor, data: Float32Array | Int32Array): void {
    const s = this.st(t);
    const k = s.storage.valid.has(s.storage.home) ? s.storage.home : this.anyValid(s.storage);
    this.parts[k].write(this.local(s, k, 'rw'), data);
  }

  async read(t: Tensor): Promise<Float32Array | Int32Array> {
    const s = this.st(t);
    const k = this.anyValid(s.storage);
    return this.parts[k].read(this.replicaView(s, k));
  }

  view(t: Tensor, shape: readonly number[]): Tensor {
    const s = this.st(t);
    if (sizeOf(shape) > s.size) throw new RangeError(`view [${shape}] larger than tensor [${s.shape}]`);
    return new ShardTensor(s.dtype, [...shape], s.storage, s.root ?? s);
  }

  async flush(): Promise<void> {}

  dispose(t: Tensor): void {
    const s = this.st(t);
    if (s.root) return;
    s.storage.replicas.forEach((r, k) => {
      if (r) this.parts[k].dispose(r);
    });
    s.storage.replicas.fill(null);
    s.storage.valid.clear();
  }

  destroy(): void {
    for (const p of this.parts) p.destroy();
  }

  // ---- routing ---------------------------------------------------------------------------------

  private st(t: Tensor): ShardTensor {
    if (!(t instanceof ShardTensor)) throw new TypeError('tensor belongs to another backend');
    return t;
  }

  private anyValid(s: Storage): number {
    for (const k of s.valid) return k;
    throw new Error('a sharded tensor has no valid copy (used after dispose?)');
  }

  /** The tensor's replica storage in memory k, made on demand (pinned weights are never copied). */
  private replica(s: ShardTensor, k: number): Tensor {
    const st = s.storage;
    let r = st.replicas[k];
    if (r) return r;
    const root = s.root ?? s;
    if (root.dtype !== 'f32' && root.dtype !== 'i32' && root.shape.length === 2) {
      // A weight matrix in two memories would double the model; the plan keeps each layer in one.
      throw new Error(`a weight matrix [${root.shape}] is needed in memory ${k} but lives in memory ${st.home}`);
    }
    // Made from a current copy, so it is current too (no second copy in `local`). The source view
    // stays valid while memory k allocates: they are different memories.
    const src = this.anyValid(st);
    r = this.parts[k].adopt(st.replicas[src]!, this.parts[src].rawBytes(st.replicas[src]!));
    st.replicas[k] = r;
    st.valid.add(k);
    return r;
  }

  private replicaView(s: ShardTensor, k: number): Tensor {
    const r = this.replica(s, k);
    return s.root ? this.parts[k].view(r, s.shape) : r;
  }

  /**
   * s as a tensor of memory k for an op that reads it (undefined), overwrites all of it ('w' over
   * the whole storage: no copy needed) or writes part of it ('w' on a view, 'rw'). Copies the
   * current bytes over first where they are elsewhere; a write leaves memory k the only valid copy.
   */
  private local(s: ShardTensor, k: number, access?: 'w' | 'rw'): Tensor {
    const st = s.storage;
    const view = this.replicaView(s, k);
    const whole = access === 'w' && s.size === (s.root ?? s).size;
    if (!st.valid.has(k) && !whole) {
      const src = this.anyValid(st);
      this.parts[k].rawBytes(st.replicas[k]!).set(this.parts[src].rawBytes(st.replicas[src]!));
    }
    if (access) {
      st.valid.clear();
      st.valid.add(k);
    } else st.valid.add(k);
    return view;
  }

  /** The memory an op runs in: that of its first pinned tensor (a layer's), else where its first tensor is current. */
  private anchor(args: unknown[]): number {
    let first: ShardTensor | null = null;
    for (const a of args) {
      if (!(a instanceof ShardTensor)) continue;
      if (a.storage.pinned) return a.storage.home;
      first ??= a;
    }
    return first ? (first.storage.valid.has(first.storage.home) ? first.storage.home : this.anyValid(first.storage)) : 0;
  }

  /** Methods that route each op of `table` to the anchor memory's backend (`target(k)`). */
  private wrapOps(table: Record<string, Writes>, target: (k: number) => Record<string, unknown>): Record<string, (...args: unknown[]) => void> {
    const ops: Record<string, (...args: unknown[]) => void> = {};
    for (const [name, writes] of Object.entries(table)) {
      ops[name] = (...args: unknown[]) => {
        const k = this.anchor(args);
        const mapped = args.map((a, i) => (a instanceof ShardTensor ? this.local(a, k, writes[i]) : a));
        (target(k)[name] as (...a: unknown[]) => void)(...mapped);
      };
    }
    return ops;
  }
}

/**
 * Layers → memories: greedily in order, each memory filled up to `capacity` bytes. `embedBytes`
 * (and with tied embeddings the head) starts memory 0; the final norm and an untied head go where
 * the last layer is, or to a new memory when they do not fit.
 */
export function planShards(layerBytes: readonly number[], embedBytes: number, headBytes: number, capacity: number): ShardPlan {
  const layers: number[] = [];
  let k = 0,
    used = embedBytes;
  for (const bytes of layerBytes) {
    if (used + bytes > capacity && used > 0) {
      k++;
      used = 0;
    }
    layers.push(k);
    used += bytes;
  }
  const head = used + headBytes > capacity && used > 0 ? k + 1 : k;
  return { layers, head };
}
