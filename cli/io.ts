// Small CLI helpers shared by the commands: option parsing, exit. Progress and Ctrl-C: cli/progress.ts.
import { type Command, InvalidArgumentError } from 'commander';
import type { QuantDType } from '../runtime/backend/types.ts';
import { QUANTIZE_CHOICES } from '../runtime/quant/option.ts';
import { BACKEND_CHOICES, type BackendChoice } from '../runtime/backend/index.ts';
import { badInputError } from '../runtime/errors.ts';
import type { FileSystem } from '../runtime/platform/types.ts';
import { LORA_TARGETS, type LoraTarget } from '../runtime/train/lora.ts';

export function exit(code: number): never {
  process.exit(code);
}

/** A model option's directory must hold config.json: a wrong path is the user's to fix (exit 2). */
export async function requireModelDir(fs: FileSystem, flag: string, dir: string): Promise<void> {
  if (!(await fs.exists(fs.join(dir, 'config.json')))) throw badInputError(`${flag} ${dir}: not a model directory (no config.json)`);
}

export function intOption(name: string, min = 0) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`${name} must be an integer ≥ ${min} (got "${value}")`);
    return n;
  };
}

export function numberOption(name: string, min: number, max: number, openMax = false) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n) || n < min || n > max || (openMax && n === max))
      throw new InvalidArgumentError(`${name} must be a number in [${min}, ${max}${openMax ? ')' : ']'} (got "${value}")`);
    return n;
  };
}

/** A comma-separated list of LoRA target modules. */
export function targetsOption(value: string): LoraTarget[] {
  const list = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const bad = list.filter((s) => !(LORA_TARGETS as readonly string[]).includes(s));
  if (bad.length || list.length === 0) throw new InvalidArgumentError(`choose from ${LORA_TARGETS.join(', ')} (got "${value}")`);
  return [...new Set(list)] as LoraTarget[];
}

/** --quantize / --quantize-expert / --quantize-amateur: a block format (issue 30; runtime/quant/option.ts). */
export function quantizeFlag(value: string): QuantDType {
  if (!(QUANTIZE_CHOICES as readonly string[]).includes(value))
    throw new InvalidArgumentError(
      `choose one of ${QUANTIZE_CHOICES.join(', ')} (llama.cpp's block formats; leave the flag out to keep the checkpoint's dtype)`,
    );
  return value as QuantDType;
}

/** The --quantize flags of a command that loads one model, or with `pair` an expert and an amateur. */
export function addQuantizeOptions(command: Command, pair = false): Command {
  command.option(
    '--quantize <type>',
    `quantize the attention and MLP projections at load: ${QUANTIZE_CHOICES.join(' or ')}${pair ? ' (both models)' : ''}; embeddings, LM head and norms keep their dtype (WebGPU, Wasm and reference backends)`,
    quantizeFlag,
  );
  if (pair) {
    command.option('--quantize-expert <type>', 'quantize the expert only (overrides --quantize for it)', quantizeFlag);
    command.option('--quantize-amateur <type>', 'quantize the amateur only (overrides --quantize for it)', quantizeFlag);
  }
  return command;
}

export function backendOption(value: string): BackendChoice {
  if (!(BACKEND_CHOICES as readonly string[]).includes(value)) throw new InvalidArgumentError(`choose one of ${BACKEND_CHOICES.join(', ')}`);
  return value as BackendChoice;
}
