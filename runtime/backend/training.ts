// Training as a capability: the check every training job makes before it starts, and the dropout
// hash all backends share. The TrainingOps interface itself is in types.ts (Backend.training);
// the reference backend (reference.ts) is the oracle the others are tested against.

import { LightReasonerError } from '../errors.ts';
import type { Backend, TrainingOps } from './types.ts';

/**
 * `backend.training`, or an UNSUPPORTED error naming the backend when it has none (WebGL2). Call it
 * when a training job starts, before reading data or writing output; `what` names the job
 * ("fine-tuning", "full-parameter training").
 */
export function requireTraining(backend: Backend, what: string): TrainingOps {
  if (backend.training) return backend.training;
  const kind = backend.info.kind;
  throw new LightReasonerError(
    'UNSUPPORTED',
    `the ${kind} backend runs inference and sampling only: ${what} needs the training ops, which it does not implement; use --backend wasm (or webgpu)`,
  );
}

/**
 * The dropout mask's hash (every backend implements these exact u32 operations): lowbias32
 * applied as h(i ^ h(stream ^ h(seed))).
 */
export function dropoutHash(seed: number, stream: number, i: number): number {
  const h = (x: number) => {
    x >>>= 0;
    x ^= x >>> 16;
    x = Math.imul(x, 0x7feb352d) >>> 0;
    x ^= x >>> 15;
    x = Math.imul(x, 0x846ca68b) >>> 0;
    x ^= x >>> 16;
    return x >>> 0;
  };
  return h((i ^ h((stream ^ h(seed)) >>> 0)) >>> 0);
}
