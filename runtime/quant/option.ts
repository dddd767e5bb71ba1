// The `quantize` option of every job and open call that loads a model (issue 30): which block
// format the projection matrices are quantized to at load (runtime/model/weights.ts), checked once
// here so that a job from an app and a CLI flag are refused with the same words.

import { badInputError } from '../errors.ts';
import type { QuantDType } from '../backend/types.ts';

export const QUANTIZE_CHOICES: readonly QuantDType[] = Object.freeze(['q8_0', 'q4_0']);

/** `value` as a block format, or undefined when absent; anything else is bad input naming `field`. */
export function quantizeOption(value: unknown, field: string): QuantDType | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string' && (QUANTIZE_CHOICES as readonly string[]).includes(value)) return value as QuantDType;
  throw badInputError(
    `${field}: ${JSON.stringify(value)} is not a quantization — give ${QUANTIZE_CHOICES.join(' or ')} (llama.cpp's block formats), or leave it out to keep the checkpoint's dtype`,
  );
}

/** Per model of a pair: the model's own option, else the job's `quantize` for both. */
export function pairQuantize(
  o: { quantize?: unknown; quantizeExpert?: unknown; quantizeAmateur?: unknown },
  prefix: string,
): [QuantDType | undefined, QuantDType | undefined] {
  const both = quantizeOption(o.quantize, `${prefix}quantize`);
  return [quantizeOption(o.quantizeExpert, `${prefix}quantizeExpert`) ?? both, quantizeOption(o.quantizeAmateur, `${prefix}quantizeAmateur`) ?? both];
}

/**
 * A model's identity in resumable outputs (samples, evaluations): its fingerprint, marked with the
 * quantization it ran with, so that resuming with another (or none) is refused as another model.
 */
export function quantizedFingerprint(fingerprint: string, quantize: QuantDType | undefined): string {
  return quantize ? `${fingerprint}+${quantize}` : fingerprint;
}
