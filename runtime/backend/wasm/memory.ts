// A small allocator over the Wasm linear memory, owned by TypeScript: the kernels only ever see
// byte offsets. First-fit over an address-ordered free list with coalescing, bump allocation at
// the top, and memory.grow when the top passes the end. Because every tensor is a plain offset,
// the same scheme works unchanged once the memory becomes shared between worker threads.
//
// Growing the memory detaches every ArrayBuffer view made before; callers must build views from
// `memory.buffer` right when they use them and never keep one across an allocation.

import { LightReasonerError } from '../../errors.ts';
import { sizeText } from '../../util/units.ts';
import { MAX_PAGES, PAGE_BYTES } from './module.ts';

/** 64-byte alignment: a cache line, and a multiple of the 16 bytes SIMD loads like. */
const ALIGN = 64;

export interface Block {
  start: number;
  size: number;
}

export class Heap {
  private top: number;
  /** Everything at or above this offset has never been handed out, so it is still zero. */
  private highWater: number;
  private readonly free: Block[] = [];
  /** Bytes currently handed out. */
  used = 0;
  /** The first offset the heap hands out (below: the kernels' static data, the thread control block). */
  private readonly start: number;

  constructor(
    private readonly memory: WebAssembly.Memory,
    base: number,
    private readonly maxPages = MAX_PAGES,
  ) {
    this.top = roundUp(Math.max(base, ALIGN), ALIGN); // never hand out offset 0: it means "no bias"
    this.highWater = this.top;
    this.start = this.top;
  }

  get pages(): number {
    return this.memory.buffer.byteLength / PAGE_BYTES;
  }

  /**
   * Reserve `bytes` (rounded up to ALIGN); returns the offset, the size actually reserved, and
   * whether the block is known to be all zero (never handed out before: grown memory is zeroed),
   * which saves zero-filling gigabytes on fresh allocations.
   */
  alloc(bytes: number): Block & { fresh: boolean } {
    const size = roundUp(Math.max(bytes, 1), ALIGN);
    for (let i = 0; i < this.free.length; i++) {
      const b = this.free[i];
      if (b.size < size) continue;
      const start = b.start;
      if (b.size === size) this.free.splice(i, 1);
      else {
        b.start += size;
        b.size -= size;
      }
      this.used += size;
      return { start, size, fresh: false };
    }
    const start = this.top;
    this.ensure(start + size);
    this.top = start + size;
    this.used += size;
    const fresh = start >= this.highWater;
    this.highWater = Math.max(this.highWater, this.top);
    return { start, size, fresh };
  }

  release(block: Block): void {
    this.used -= block.size;
    const f = this.free;
    // binary search for the insertion point keeps the list address-ordered for coalescing
    let lo = 0,
      hi = f.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (f[mid].start < block.start) lo = mid + 1;
      else hi = mid;
    }
    let b: Block = { start: block.start, size: block.size };
    if (lo > 0 && f[lo - 1].start + f[lo - 1].size === b.start) {
      f[lo - 1].size += b.size;
      b = f[lo - 1];
      lo--;
    } else {
      f.splice(lo, 0, b);
    }
    if (lo + 1 < f.length && b.start + b.size === f[lo + 1].start) {
      b.size += f[lo + 1].size;
      f.splice(lo + 1, 1);
    }
    // a free block touching the top goes back to the bump region
    if (b.start + b.size === this.top) {
      this.top = b.start;
      f.splice(lo, 1);
    }
  }

  /** Bytes that can still be handed out (the free blocks may be fragmented: an upper bound). */
  available(): number {
    return this.maxPages * PAGE_BYTES - this.start - this.used;
  }

  private ensure(end: number): void {
    const have = this.memory.buffer.byteLength;
    if (end <= have) return;
    const max = this.maxPages * PAGE_BYTES;
    // The callers check what they can predict (weights, KV caches) first; this is the backstop,
    // an ENVIRONMENT error (exit 1) with the numbers rather than a RangeError and a stack.
    if (end > max) throw outOfMemory(`it needs ${sizeText(end)} and its linear memory ends at ${sizeText(max)} (wasm32 addresses 4 GiB at most)`);
    // grow by at least 1/8 of the current size so loading many tensors does not grow page by page
    const need = Math.ceil((end - have) / PAGE_BYTES);
    const pages = Math.min(Math.max(need, Math.ceil(have / PAGE_BYTES / 8)), this.maxPages - have / PAGE_BYTES);
    try {
      this.memory.grow(pages);
    } catch (e) {
      // The host would not commit the pages (its RAM or the process's limits), below the 4 GiB.
      if (e instanceof RangeError)
        throw outOfMemory(`the host refused to grow its memory from ${sizeText(have)} to ${sizeText(have + pages * PAGE_BYTES)} (${e.message})`);
      throw e;
    }
  }
}

function outOfMemory(why: string): LightReasonerError {
  return new LightReasonerError(
    'ENVIRONMENT',
    `the Wasm backend is out of memory: ${why} — use a smaller model, lower --batch-size or --max-new-tokens, or use --backend webgpu`,
  );
}

function roundUp(x: number, a: number): number {
  return Math.ceil(x / a) * a;
}
