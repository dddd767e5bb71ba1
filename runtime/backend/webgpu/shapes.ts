// Small helpers shared by the WebGPU backend's forward ops (backend.ts) and training ops
// (train.ts): tensor unwrapping and the CPU-side shape checks (kernels cannot report errors).

import type { Tensor } from '../types.ts';
import { GPUTensor } from './tensor.ts';

export function g(x: Tensor): GPUTensor {
  if (!(x instanceof GPUTensor)) throw new TypeError('tensor belongs to another backend');
  return x;
}
export const lastDim = (x: Tensor) => (x.shape.length === 0 ? 1 : x.shape[x.shape.length - 1]);
export const rowsOf = (x: Tensor) => (lastDim(x) === 0 ? 0 : x.size / lastDim(x));

export function expect(ok: boolean, op: string, what: string): void {
  if (!ok) throw new RangeError(`${op}: ${what}`);
}
export function expectF32(op: string, ...ts: Tensor[]): void {
  for (const t of ts) expect(t.dtype === 'f32', op, `expected an f32 activation, got ${t.dtype} [${t.shape}]`);
}
