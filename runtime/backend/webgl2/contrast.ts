// Backend.contrast on WebGL2: five gather passes (contrast-kernels.ts) over the expert's and the
// amateur's logits; only stats [m, 2] and the K labels per row are ever read back.

import * as C from './contrast-kernels.ts';
import type { GpuTexture } from './gpujs.ts';
import { grid } from './textures.ts';
import type { KernelArg } from './runner.ts';

export type Draw = (
  name: string,
  source: string,
  constants: Record<string, number>,
  output: readonly [number, number, number],
  args: KernelArg[],
) => GpuTexture;

export interface ContrastInput {
  e: GpuTexture;
  a: GpuTexture;
  Ve: number;
  Va: number;
  /** Rows. */
  m: number;
  /** Ids < shared are compared. */
  shared: number;
  /** Label slots per row. */
  K: number;
  alpha: number;
  chunk: number;
}

/** ln alpha for the log-space mask test; alpha ≤ 0 keeps every finite logit (pE ≥ 0 always). */
function lnAlphaOf(alpha: number): number {
  return alpha > 0 ? Math.log(alpha) : -3.0e38;
}

export function runContrast(draw: Draw, p: ContrastInput): { stats: GpuTexture; ids: GpuTexture; weights: GpuTexture } {
  const S = p.chunk;
  const chunks = Math.max(1, Math.ceil(Math.max(p.Ve, p.Va) / S));
  // at least one chunk over the shared ids, so an empty shared vocabulary still renders (as zeros)
  const sharedChunks = Math.max(1, Math.ceil(p.shared / S));
  const lnAlpha = lnAlphaOf(p.alpha);
  const base = { VE: p.Ve, VA: p.Va, SH: p.shared, S };
  const part = draw('contrast-a', C.CA, base, [chunks, 2, p.m], [p.e, p.a]);
  const pb = draw('contrast-b', C.CB, { ...base, C: chunks }, grid(sharedChunks, p.m), [p.e, p.a, part, lnAlpha]);
  const stats = draw('contrast-stats', C.CS, { CN: sharedChunks }, grid(2, p.m), [pb]);
  const ids = draw('contrast-ids', C.CL, { VE: p.Ve, SH: p.shared, S, C: chunks, CN: sharedChunks }, grid(p.K, p.m), [p.e, part, pb, lnAlpha]);
  const weights = draw('contrast-weights', C.CW, { VE: p.Ve, VA: p.Va, C: chunks, CN: sharedChunks, K: p.K }, grid(p.K, p.m), [p.e, p.a, part, pb, ids]);
  part.delete();
  pb.delete();
  return { stats, ids, weights };
}
