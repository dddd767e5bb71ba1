// Shader assembly, the pipeline cache and the command recorder (gpu.cpp style: a kernel is a
// WGSL source plus typed accessors, a dispatch is a list of bindings, a params block and a grid).
//
// All dispatches go into one command encoder until `submit`, so a forward pass is one submit.
// Shapes travel in a small uniform block per dispatch; the blocks of one submit are packed into a
// shared arena buffer (256-byte slots, the WebGPU offset alignment) uploaded with one
// queue.writeBuffer right before the submit. queue.writeBuffer is ordered after earlier submits
// on the queue timeline, so reusing the arena for the next submit is safe without a fence.

import * as K from '../../generated/kernels.ts';

/** How a weight-like operand is read inside a kernel; picks the accessor template. */
export type Access = 'f32' | 'bf16' | 'f16' | 'f16native' | 'q8_0' | 'q4_0' | 'none';

const ACCESSORS: Record<Access, string> = {
  f32: K.loadF32,
  bf16: K.loadBf16,
  f16: K.loadF16,
  f16native: K.loadF16Native,
  // llama.cpp's blocks, dequantized in registers: every kernel that reads a weight through its
  // accessor (matmul vec/tiled/large and their fusions, matmulNN) reads them as they are
  q8_0: K.loadQ80,
  q4_0: K.loadQ40,
  none: K.loadNone,
};

/** What the backend has done so far (totals; a bench takes differences around a decode step). */
export interface WebGPUStats {
  dispatches: number;
  submits: number;
  readbacks: number;
  bindGroupsCreated: number;
  /** Time spent in submit (ending the pass, uploading params, finishing and submitting). */
  submitMs: number;
  /** Time spent waiting for a readback's mapAsync (the GPU's work, plus the round trip). */
  waitMs: number;
}

export interface KernelSpec {
  name: string;
  source: string;
  /** Accessor operands (x_at, w_at…) and the binding index each one gets. */
  operands?: readonly { name: string; binding: number }[];
}

export interface Binding {
  binding: number;
  buffer: GPUBuffer;
  /** Bound read_write in the shader. */
  write?: boolean;
}

const SLOT = 256;
const ARENA_SLOTS = 256;

function assemble(spec: KernelSpec, access: readonly Access[]): string {
  const parts: string[] = [];
  if (access.includes('f16native')) parts.push('enable f16;');
  (spec.operands ?? []).forEach((op, i) => {
    parts.push(ACCESSORS[access[i]].replaceAll('$name', op.name).replaceAll('$binding', String(op.binding)));
  });
  parts.push(spec.source);
  return parts.join('\n');
}

export class Recorder {
  private readonly pipelines = new Map<string, GPUComputePipeline>();
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private readonly arenas: { buffer: GPUBuffer; cpu: ArrayBuffer }[] = [];
  private arenaIndex = 0;
  private slotIndex = 0;
  /** Buffers that pending commands may still reference; destroyed after the next submit. */
  private readonly deferred: GPUBuffer[] = [];
  /** Bind groups by pipeline, buffers and params slot: a decode step reuses the previous step's. */
  private readonly bindGroups = new BindGroupCache();
  /** Number of dispatches recorded since the last submit (tests and benches look at it). */
  dispatches = 0;
  /** Running totals since creation, for benches (see WebGPUStats). */
  readonly stats: WebGPUStats = { dispatches: 0, submits: 0, readbacks: 0, bindGroupsCreated: 0, submitMs: 0, waitMs: 0 };

  constructor(readonly device: GPUDevice) {}

  /** Pipelines compiled so far (one per kernel and accessor variant). */
  get pipelineCount(): number {
    return this.pipelines.size;
  }

  get pending(): boolean {
    return this.encoder !== null;
  }

  pipeline(spec: KernelSpec, access: readonly Access[] = []): GPUComputePipeline {
    const key = `${spec.name}:${access.join(',')}`;
    let p = this.pipelines.get(key);
    if (!p) {
      const module = this.device.createShaderModule({ label: key, code: assemble(spec, access) });
      p = this.device.createComputePipeline({ label: key, layout: 'auto', compute: { module, entryPoint: 'main' } });
      this.pipelines.set(key, p);
    }
    return p;
  }

  private enc(): GPUCommandEncoder {
    if (!this.encoder) this.encoder = this.device.createCommandEncoder();
    return this.encoder;
  }

  private computePass(): GPUComputePassEncoder {
    if (!this.pass) this.pass = this.enc().beginComputePass();
    return this.pass;
  }

  private endPass(): void {
    this.pass?.end();
    this.pass = null;
  }

  /** A copy inside the command stream (ordered with the dispatches around it). */
  copy(src: GPUBuffer, srcOffset: number, dst: GPUBuffer, dstOffset: number, bytes: number): void {
    this.endPass();
    this.enc().copyBufferToBuffer(src, srcOffset, dst, dstOffset, bytes);
  }

  /** Reserve a uniform slot for this dispatch's params; returns where it will live. */
  private params(words: ArrayBuffer): { buffer: GPUBuffer; offset: number; size: number } {
    if (words.byteLength > SLOT) throw new RangeError('params block larger than one uniform slot');
    if (this.slotIndex === ARENA_SLOTS) {
      this.arenaIndex++;
      this.slotIndex = 0;
    }
    if (this.arenaIndex === this.arenas.length) {
      const buffer = this.device.createBuffer({ label: 'params arena', size: SLOT * ARENA_SLOTS, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
      this.arenas.push({ buffer, cpu: new ArrayBuffer(SLOT * ARENA_SLOTS) });
    }
    const arena = this.arenas[this.arenaIndex];
    const offset = this.slotIndex++ * SLOT;
    new Uint8Array(arena.cpu, offset, words.byteLength).set(new Uint8Array(words));
    return { buffer: arena.buffer, offset, size: Math.max(16, Math.ceil(words.byteLength / 16) * 16) };
  }

  /**
   * Record one dispatch. Params binding 0 is added here. If a read-only binding shares its buffer
   * with a writable one (e.g. rmsNorm(x, w, eps, x)), the read side is first copied to a scratch
   * buffer: WebGPU forbids a buffer being both read-only and writable storage in one dispatch.
   */
  dispatch(pipeline: GPUComputePipeline, params: ArrayBuffer, bindings: Binding[], groups: readonly [number, number?, number?]): void {
    const writable = new Set(bindings.filter((b) => b.write).map((b) => b.buffer));
    const entries: GPUBindGroupEntry[] = [];
    let aliased = false;
    for (const b of bindings) {
      let buffer = b.buffer;
      if (!b.write && writable.has(buffer)) {
        const scratch = this.device.createBuffer({ label: 'alias copy', size: buffer.size, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
        this.copy(buffer, 0, scratch, 0, buffer.size);
        this.deferred.push(scratch);
        buffer = scratch;
        aliased = true;
      }
      entries.push({ binding: b.binding, resource: { buffer } });
    }
    const u = this.params(params);
    entries.push({ binding: 0, resource: { buffer: u.buffer, offset: u.offset, size: u.size } });
    const bindGroup = aliased ? this.createBindGroup(pipeline, entries) : this.bindGroups.get(pipeline, entries, () => this.createBindGroup(pipeline, entries));
    const pass = this.computePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(groups[0], groups[1] ?? 1, groups[2] ?? 1);
    this.dispatches++;
    this.stats.dispatches++;
  }

  private createBindGroup(pipeline: GPUComputePipeline, entries: GPUBindGroupEntry[]): GPUBindGroup {
    this.stats.bindGroupsCreated++;
    return this.device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries });
  }

  /** Destroy `buffer` once no recorded command can still use it. */
  release(buffer: GPUBuffer): void {
    this.bindGroups.forget(buffer);
    if (this.encoder) this.deferred.push(buffer);
    else buffer.destroy();
  }

  /** Upload the params arenas and submit everything recorded so far (no wait). */
  submit(): void {
    if (!this.encoder) return;
    const t0 = performance.now();
    this.endPass();
    for (let i = 0; i <= this.arenaIndex && i < this.arenas.length; i++) {
      const used = i < this.arenaIndex ? SLOT * ARENA_SLOTS : this.slotIndex * SLOT;
      if (used > 0) this.device.queue.writeBuffer(this.arenas[i].buffer, 0, this.arenas[i].cpu, 0, used);
    }
    this.device.queue.submit([this.encoder.finish()]);
    this.encoder = null;
    this.arenaIndex = 0;
    this.slotIndex = 0;
    this.dispatches = 0;
    // Destroying after submit is allowed: WebGPU frees the memory once the queue is done with it.
    for (const b of this.deferred.splice(0)) b.destroy();
    this.stats.submits++;
    this.stats.submitMs += performance.now() - t0;
  }

  destroy(): void {
    this.endPass();
    this.encoder = null;
    for (const b of this.deferred.splice(0)) b.destroy();
    for (const a of this.arenas.splice(0)) a.buffer.destroy();
    this.pipelines.clear();
    this.bindGroups.clear();
  }
}

/**
 * Bind groups keyed by pipeline, each binding's buffer (and offset) and the params slot. The same
 * sequence of ops on the same tensors (a decode step) lands in the same arena slots, so after the
 * first step every dispatch finds its bind group here instead of creating one. Entries that name a
 * released buffer are dropped; a cap keeps shape-varying workloads (prefill) from growing it.
 */
class BindGroupCache {
  private static readonly MAX = 4096;
  private readonly ids = new WeakMap<object, number>();
  private nextId = 1;
  private readonly groups = new Map<string, GPUBindGroup>();
  private readonly keysByBuffer = new Map<number, string[]>();

  private id(o: object): number {
    let i = this.ids.get(o);
    if (i === undefined) this.ids.set(o, (i = this.nextId++));
    return i;
  }

  get(pipeline: GPUComputePipeline, entries: GPUBindGroupEntry[], create: () => GPUBindGroup): GPUBindGroup {
    const buffers = entries.map((e) => (e.resource as GPUBufferBinding).buffer);
    const key =
      `${this.id(pipeline)}|` + entries.map((e, i) => `${e.binding}:${this.id(buffers[i])}@${(e.resource as GPUBufferBinding).offset ?? 0}`).join(',');
    let g = this.groups.get(key);
    if (g) return g;
    if (this.groups.size >= BindGroupCache.MAX) this.clear();
    g = create();
    this.groups.set(key, g);
    for (const b of buffers) {
      const i = this.id(b);
      const keys = this.keysByBuffer.get(i);
      if (keys) keys.push(key);
      else this.keysByBuffer.set(i, [key]);
    }
    return g;
  }

  forget(buffer: GPUBuffer): void {
    const i = this.ids.get(buffer);
    if (i === undefined) return;
    for (const k of this.keysByBuffer.get(i) ?? []) this.groups.delete(k);
    this.keysByBuffer.delete(i);
  }

  clear(): void {
    this.groups.clear();
    this.keysByBuffer.clear();
  }
}

/** Pack a params block: 'u' = u32, 'f' = f32, in declaration order of the WGSL struct. */
export function pack(types: string, ...values: number[]): ArrayBuffer {
  if (types.length !== values.length) throw new Error('params: type string and values differ in length');
  const buf = new ArrayBuffer(Math.max(16, Math.ceil((values.length * 4) / 16) * 16));
  const view = new DataView(buf);
  values.forEach((v, i) => {
    if (types[i] === 'f') view.setFloat32(i * 4, v, true);
    else {
      if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new RangeError(`params: ${v} is not a u32`);
      view.setUint32(i * 4, v, true);
    }
  });
  return buf;
}

/** Workgroup grid for a 1-D problem of `count` threads in groups of `wg`, folded into 2-D past the per-dimension limit. */
export function grid1d(count: number, wg: number, maxPerDim: number): [number, number] {
  const groups = Math.max(1, Math.ceil(count / wg));
  if (groups <= maxPerDim) return [groups, 1];
  const y = Math.ceil(groups / maxPerDim);
  return [Math.ceil(groups / y), y];
}
