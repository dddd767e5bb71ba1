// GPU memory for models of any size (issue 29 item 4): bounded weight uploads, and failures of the
// device turned into errors that say what happened and what to do.
//
// A weight is written with queue.writeBuffer in pieces of at most UPLOAD_PIECE_BYTES:
// mappedAtCreation would stage the whole buffer, a second full copy of it (measured on Dawn +
// SwiftShader: peak RSS grew by 3.0× a 512 MiB tensor's bytes mapped at creation, by 2.0× written
// in 16 MiB pieces — the caller's bytes plus the buffer itself, which SwiftShader keeps in RAM).
// WebGPU exposes no total memory and reports a failed allocation only asynchronously, through an
// error scope: every weight's buffers are created inside 'out-of-memory' and 'validation' scopes
// whose results `settle` awaits (the backend's flush; the model loader flushes after each weight).

import { LightReasonerError } from '../../errors.ts';
import { sizeText } from '../../util/units.ts';

/** The most bytes one writeBuffer call hands the queue while uploading a weight. */
export const UPLOAD_PIECE_BYTES = 16 * 2 ** 20;

/**
 * Write `bytes` to the start of `buffer` in pieces of at most `pieceBytes` (rounded down to a
 * multiple of 4, since writeBuffer takes sizes in multiples of 4). A ragged tail (an odd count of
 * 16-bit values) goes through a 4-byte zero-padded copy, inside the buffer's 16-byte padding.
 */
export function writePieces(queue: GPUQueue, buffer: GPUBuffer, bytes: Uint8Array, pieceBytes = UPLOAD_PIECE_BYTES): void {
  const piece = Math.max(4, pieceBytes & ~3);
  const whole = bytes.byteLength & ~3;
  const data = bytes as Uint8Array<ArrayBuffer>; // writeBuffer takes shared memory too (GPUAllowSharedBufferSource); the DOM types lag
  for (let at = 0; at < whole; at += piece) queue.writeBuffer(buffer, at, data, at, Math.min(piece, whole - at));
  if (whole < bytes.byteLength) {
    const tail = new Uint8Array(4);
    tail.set(bytes.subarray(whole));
    queue.writeBuffer(buffer, whole, tail);
  }
}

/** The device had no memory for a weight: a RangeError, which the model loader (weights.ts, outOfMemoryAs) turns into an error naming the file and tensor, with advice. */
export class GPUOutOfMemory extends RangeError {
  constructor(message: string) {
    super(message);
    this.name = 'GPUOutOfMemory';
  }
}

const ADVICE = 'use a smaller model (a 16-bit copy of an f32 checkpoint takes half), lower --batch-size or --max-new-tokens, or use --backend wasm';

/**
 * What the device holds and how it failed: the weight bytes placed so far, the error scopes of
 * uploads not yet settled, and the first uncaptured error or device loss. A lost device or an
 * out-of-memory is the machine's doing (a LightReasonerError); any other uncaptured error is a bug.
 */
export class DeviceMemory {
  /** Weight bytes created on the device (counted when created; a failure is reported by settle). */
  weightBytes = 0;
  private pending: Promise<void>[] = [];
  private failure: Error | null = null;

  constructor(private readonly device: GPUDevice) {
    device.addEventListener('uncapturederror', (e) => {
      const error = (e as GPUUncapturedErrorEvent).error;
      // Outside the uploads' scopes: a KV cache or activations that did not fit.
      if (error.constructor?.name === 'GPUOutOfMemoryError') this.fail(`the GPU ran out of memory (${error.message || 'no message'})`);
      else this.failure ??= new Error(`WebGPU error: ${error.message}`);
    });
    void device.lost.then((l) => {
      // 'destroyed': by destroy(), so a later use is a bug; otherwise the driver or the browser took it.
      if (l.reason === 'destroyed') this.failure ??= new Error(`WebGPU device lost (destroyed): ${l.message}`);
      else this.fail(`the WebGPU device was lost (${l.reason}: ${l.message || 'no message'})`);
    });
  }

  private fail(what: string): void {
    this.failure ??= new LightReasonerError('ENVIRONMENT', `${what}, with ${sizeText(this.weightBytes)} of weights on it — ${ADVICE}`);
  }

  /** Runs `create` (buffer creation and writes for `bytes` of weight `label`) inside error scopes. */
  guard<T>(label: string, bytes: number, create: () => T): T {
    this.check();
    const before = this.weightBytes;
    this.device.pushErrorScope('out-of-memory');
    this.device.pushErrorScope('validation');
    try {
      return create();
    } finally {
      // Scopes pop in reverse, validation first; both pop even when `create` threw.
      const validation = this.device.popErrorScope();
      const oom = this.device.popErrorScope();
      this.weightBytes += bytes;
      this.pending.push(
        Promise.all([validation, oom]).then(([v, o]) => {
          // After an out-of-memory the writes into the failed buffer are invalid too: report the cause.
          if (o)
            this.failure ??= new GPUOutOfMemory(
              `the GPU ran out of memory for ${label} (${sizeText(bytes)}) with ${sizeText(before)} of weights already on it: ${o.message || 'out of memory'}`,
            );
          else if (v) this.failure ??= new Error(`WebGPU rejected the upload of ${label}: ${v.message}`);
        }),
      );
    }
  }

  /** Wait for the uploads' scopes recorded so far; throw the first failure. */
  async settle(): Promise<void> {
    const pending = this.pending;
    this.pending = [];
    await Promise.all(pending);
    this.check();
  }

  /** Throw the first failure seen so far, if any. */
  check(): void {
    if (this.failure) throw this.failure;
  }
}
