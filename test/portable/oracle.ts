// A backend under test paired with the ReferenceBackend oracle, fed identical inputs, and the one
// tolerance check every portable kernel suite uses: |got − ref| ≤ atol + rtol·|ref| everywhere.

import { ReferenceBackend } from '../../runtime/backend/reference.ts';
import type { Backend, Tensor, FloatDType } from '../../runtime/backend/types.ts';
import { encodeFromF32 } from '../../runtime/util/dtype.ts';
import { rng, uniform } from './random.ts';

export type Log = (name: string, ok: boolean, detail: string) => void;

/** A weight as the ops see it: a checkpoint dtype, or an f32 tensor from createTensor (LoRA A/B). */
export type WeightKind = FloatDType | 'tensor';

export interface Tol {
  atol: number;
  rtol: number;
}

const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

export class Pair {
  readonly ref = new ReferenceBackend();
  readonly rand: () => number;
  constructor(
    readonly gpu: Backend,
    seed: number,
  ) {
    this.rand = rng(seed);
  }
  values(n: number, scale = 1): Float32Array {
    return uniform(this.rand, n, scale);
  }
  f32(shape: number[], data?: Float32Array): [Tensor, Tensor] {
    const d = data ?? this.values(size(shape));
    return [this.gpu.createTensor('f32', shape, d), this.ref.createTensor('f32', shape, d)];
  }
  zeros(shape: number[]): [Tensor, Tensor] {
    return this.f32(shape, new Float32Array(size(shape)));
  }
  i32(shape: number[], data: number[]): [Tensor, Tensor] {
    const d = Int32Array.from(data);
    return [this.gpu.createTensor('i32', shape, d), this.ref.createTensor('i32', shape, d)];
  }
  weight(kind: WeightKind, shape: number[], scale = 1): [Tensor, Tensor] {
    const v = this.values(size(shape), scale);
    if (kind === 'tensor') return this.f32(shape, v);
    const bytes = encodeFromF32(kind, v);
    return [this.gpu.createWeight(kind, shape, bytes), this.ref.createWeight(kind, shape, bytes)];
  }
  /** Run the same op on both backends: f gets (backend, pick) where pick(pair) is that side. */
  both(f: (b: Backend, t: (x: [Tensor, Tensor]) => Tensor) => void): void {
    f(this.gpu, (x) => x[0]);
    f(this.ref, (x) => x[1]);
  }
}

/** Checks |got − ref| ≤ atol + rtol·|ref| everywhere; reports the worst ratio (NaN fails). */
export function compare(got: Float32Array | Int32Array, ref: Float32Array | Int32Array, tol: Tol): { ok: boolean; ratio: number; detail: string } {
  if (got.length !== ref.length) return { ok: false, ratio: Infinity, detail: `length ${got.length} ≠ ${ref.length}` };
  let worst = 0,
    at = -1,
    maxErr = 0;
  for (let i = 0; i < ref.length; i++) {
    const err = got[i] === ref[i] ? 0 : Math.abs(got[i] - ref[i]);
    const ratio = err === 0 ? 0 : err / (tol.atol + tol.rtol * Math.abs(ref[i]));
    if (!(ratio <= worst) || Number.isNaN(got[i])) {
      worst = Number.isNaN(got[i]) || Number.isNaN(ratio) ? Infinity : ratio;
      at = i;
    }
    if (err > maxErr) maxErr = err;
  }
  const ok = worst <= 1;
  const where = at >= 0 ? ` (worst at ${at}: got ${got[at]}, ref ${ref[at]})` : '';
  return { ok, ratio: worst, detail: `max |err| ${maxErr.toExponential(2)}, worst err/tol ${worst.toFixed(3)}${ok ? '' : where}` };
}

/** Counting report/check/guard helpers around a Log. */
export function checker(log: Log) {
  const counts = { passed: 0, failed: 0 };
  const report = (name: string, ok: boolean, detail: string) => {
    if (ok) counts.passed++;
    else counts.failed++;
    log(name, ok, detail);
  };
  const guard = async (name: string, body: () => Promise<void>) => {
    try {
      await body();
    } catch (e) {
      report(name, false, `threw: ${(e as Error).stack ?? e}`);
    }
  };
  return { counts, report, guard };
}
