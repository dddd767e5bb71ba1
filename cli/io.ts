// Small CLI helpers shared by the commands: option parsing, exit, stderr progress.
import { InvalidArgumentError } from 'commander';
import { BACKEND_CHOICES, type BackendChoice } from '../runtime/backend/index.ts';

export function exit(code: number): never {
  process.exit(code);
}

export function intOption(name: string, min = 0) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`${name} must be an integer ≥ ${min} (got "${value}")`);
    return n;
  };
}

export function backendOption(value: string): BackendChoice {
  if (!(BACKEND_CHOICES as readonly string[]).includes(value)) throw new InvalidArgumentError(`choose one of ${BACKEND_CHOICES.join(', ')}`);
  return value as BackendChoice;
}

/** Progress to stderr: a redrawn line on a TTY, nothing otherwise (unless forced by the caller). */
export function progressLine(enabled: boolean) {
  const tty = enabled && process.stderr.isTTY;
  let shown = false;
  return {
    update(text: string) {
      if (!tty) return;
      process.stderr.write(`\r\x1b[2K${text}`);
      shown = true;
    },
    done() {
      if (shown) process.stderr.write('\r\x1b[2K');
      shown = false;
    },
  };
}
