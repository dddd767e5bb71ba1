// Small helpers for checking parsed JSON from model files and describing bad values in messages.

/** A plain JSON object (not null, not an array). */
export const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A value as an error message shows it: JSON, cut short, and "nothing" for a missing field. */
export function show(v: unknown): string {
  if (v === undefined) return 'nothing (the field is missing)';
  const s = typeof v === 'number' ? String(v) : (JSON.stringify(v) ?? String(v));
  return s.length > 60 ? `${s.slice(0, 60)}…` : s;
}

/** What a JSON document is, for "must hold a JSON object" messages. */
export function jsonKind(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v === 'object' ? 'an object' : `a ${typeof v} (${show(v)})`;
}

/** The fields where two JSON objects differ, as "a.b was X, now Y" (for refusing a resume with other settings). */
export function describeChanges(a: Record<string, unknown>, b: Record<string, unknown>, prefix = ''): string[] {
  const out: string[] = [];
  for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
    const x = a[k],
      y = b[k];
    if (isObject(x) && isObject(y)) out.push(...describeChanges(x, y, `${prefix}${k}.`));
    else if (JSON.stringify(x) !== JSON.stringify(y)) out.push(`${prefix}${k} was ${JSON.stringify(x)}, now ${JSON.stringify(y)}`);
  }
  return out;
}
