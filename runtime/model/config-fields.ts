// Reading config.json fields the way transformers' config classes do, with messages naming the file
// and field. Shared by config.ts (the shape), rope.ts and architectures.ts.

import { modelFormatError } from '../errors.ts';
import { show } from '../util/json.ts';

// Absent and null both mean "use the default", as in transformers' config classes. `field` is the
// name the message shows (a dotted path for nested keys such as rope_parameters.factor).

export function posInt(c: Record<string, unknown>, key: string, file: string, fallback?: number, field = key): number {
  const v = c[key] ?? fallback;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) throw modelFormatError(file, `${field} must be a positive integer, got ${show(c[key])}`);
  return v;
}

export function posNum(c: Record<string, unknown>, key: string, file: string, fallback?: number, field = key): number {
  const v = c[key] ?? fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw modelFormatError(file, `${field} must be a finite positive number, got ${show(c[key])}`);
  return v;
}

// A string "true" would otherwise read as false and silently drop the biases or the tied head.
export function checkBool(c: Record<string, unknown>, key: string, file: string): void {
  const v = c[key];
  if (v !== undefined && v !== null && typeof v !== 'boolean') throw modelFormatError(file, `${key} must be true or false, got ${show(v)}`);
}

/** Token ids: absent/null → none; an id or a list of ids, each a non-negative integer. */
export function tokenIds(v: unknown, field: string, file: string): number[] {
  if (v === undefined || v === null) return [];
  const list = Array.isArray(v) ? v : [v];
  for (const id of list) {
    if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 0)
      throw modelFormatError(file, `${field} must be a token id (a non-negative integer) or a list of them, got ${show(v)}`);
  }
  return list as number[];
}
