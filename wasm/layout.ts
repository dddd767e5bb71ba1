// The interleaved layout of 2-D weights [N, K] in linear memory (runtime/backend/wasm: every
// createWeight matrix is stored this way; tensors from createTensor stay row-major).
//
// Why: the matmul (matmul.ts) computes 4 output columns at a time, i.e. it walks 4 weight rows
// side by side. Row-major, that is 4 separate streams through memory, each only K·2 bytes long
// before it jumps to the next block, and the hardware prefetchers (which track streams within a
// 4 KiB page) never get far enough ahead: a decode step waits on DRAM. Interleaved, the 4 rows of a
// block are one contiguous stream read front to back. Measured on the 2-core AMD EPYC (Zen 4),
// Node 20, bf16, weights far larger than the caches: 1 row 13–20 → 25–29 GB/s, 8 rows
// 53–57 → 69–71 GFLOP/s (2 threads), with nothing else changed.
//
// Layout (WB = element bytes, G = 8·WB, K8 = K & ~7, N4 = N & ~3), a permutation within each block
// of 4 rows, so the tensor keeps its size:
//  * block b (rows 4b..4b+3) occupies the bytes of those rows, [4b·K·WB, (4b+4)·K·WB);
//    its 8-element group s (k = 8s..8s+7) of row j lies at (4s + j)·G, in natural order inside;
//    then the K % 8 tail elements of row j at 4·K8·WB + j·(K − K8)·WB.
//  * rows N4..N−1 (N % 4 of them) stay row-major, at r·K·WB.
// With K < 8 or N < 4 this is exactly row-major.

import { bytesOf, unpack1, widen8, widenRow } from './unpack';

/** Byte offset of element (r, k) of an interleaved [N, K] weight. */
@inline export function ilvOffset(r: i32, k: i32, N: i32, K: i32, dt: i32): usize {
  const WB = bytesOf(dt);
  if (r >= (N & ~3)) return (<usize>r * <usize>K + <usize>k) * WB;
  const K8 = K & ~7, j = r & 3;
  const block = <usize>(r & ~3) * <usize>K * WB;
  if (k < K8) return block + ((<usize>(k >> 3) * 4 + <usize>j) * 8 + <usize>(k & 7)) * WB;
  return block + (<usize>K8 * 4 + <usize>j * <usize>(K - K8) + <usize>(k - K8)) * WB;
}

// Copy one 8-element group (16 or 32 bytes).
@inline function copyGroup(dst: usize, src: usize, WB: usize): void {
  v128.store(dst, v128.load(src));
  if (WB == 4) v128.store(dst, v128.load(src, 16), 16);
}

/**
 * Row-major → interleaved, in place. `scratch` holds one block of 4 rows (4·K·WB bytes): each block
 * is copied out and its groups written back in their new order.
 */
export function interleaveWeight(w: usize, scratch: usize, N: i32, K: i32, dt: i32): void {
  const WB = bytesOf(dt), G: usize = 8 * WB, rowW = <usize>K * WB;
  const K8 = K & ~7, T = <usize>(K - K8) * WB;
  for (let r = 0; r + 4 <= N; r += 4) {
    const blk = w + <usize>r * rowW;
    memory.copy(scratch, blk, 4 * rowW);
    for (let s = 0; s < K8 >> 3; s++) {
      for (let j = 0; j < 4; j++) copyGroup(blk + (<usize>s * 4 + <usize>j) * G, scratch + <usize>j * rowW + <usize>s * G, WB);
    }
    for (let j = 0; j < 4; j++) memory.copy(blk + <usize>K8 * 4 * WB + <usize>j * T, scratch + <usize>j * rowW + <usize>K8 * WB, T);
  }
}

/** Interleaved → row-major, into dst (N·K·WB bytes, not overlapping w). */
export function deinterleaveWeight(w: usize, dst: usize, N: i32, K: i32, dt: i32): void {
  const WB = bytesOf(dt), G: usize = 8 * WB, rowW = <usize>K * WB;
  const K8 = K & ~7, T = <usize>(K - K8) * WB, N4 = N & ~3;
  for (let r = 0; r < N4; r += 4) {
    const blk = w + <usize>r * rowW, out = dst + <usize>r * rowW;
    for (let s = 0; s < K8 >> 3; s++) {
      for (let j = 0; j < 4; j++) copyGroup(out + <usize>j * rowW + <usize>s * G, blk + (<usize>s * 4 + <usize>j) * G, WB);
    }
    for (let j = 0; j < 4; j++) memory.copy(out + <usize>j * rowW + <usize>K8 * WB, blk + <usize>K8 * 4 * WB + <usize>j * T, T);
  }
  memory.copy(dst + <usize>N4 * rowW, w + <usize>N4 * rowW, <usize>(N - N4) * rowW);
}

/** Decode elements [k0, k0 + n) of row r of an interleaved [N, K] weight into f32 at dst. */
export function widenIlvRow(w: usize, N: i32, K: i32, dt: i32, r: i32, k0: i32, n: i32, dst: usize): void {
  const WB = bytesOf(dt);
  if (r >= (N & ~3)) {
    widenRow(w + (<usize>r * <usize>K + <usize>k0) * WB, dt, dst, n);
    return;
  }
  const K8 = K & ~7, end = k0 + n;
  let k = k0;
  while (k < end) {
    if ((k & 7) == 0 && k + 8 <= K8 && k + 8 <= end) {
      widen8(w + ilvOffset(r, k, N, K, dt), dt, dst + (<usize>(k - k0) << 2)); // a whole group is contiguous
      k += 8;
    } else {
      store<f32>(dst + (<usize>(k - k0) << 2), unpack1(w + ilvOffset(r, k, N, K, dt), 0, dt));
      k++;
    }
  }
}
