#!/usr/bin/env node
// Import circles among the TypeScript sources of the given folders (default: runtime cli tooling),
// type-only imports included (they still tie two modules' designs together). Prints each circle
// as `a.ts → b.ts → a.ts` and exits 1 when there is any; test/import-cycles.test.ts runs it.
//
// Hand-written rather than madge/dpdm: the project's imports are all static, relative and
// extension-ful (`from './x.ts'`), so a regex over import/export lines resolves every edge, and a
// new dependency for a 60-line check is not worth it.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

function tsFiles(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...tsFiles(p));
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/** Relative imports and re-exports of one file, resolved to absolute paths. */
function edges(file) {
  const text = readFileSync(file, 'utf8');
  const out = new Set();
  for (const m of text.matchAll(/^\s*(?:import|export)\b[^'"]*?\bfrom\s*['"](\.[^'"]+)['"]|^\s*import\s*['"](\.[^'"]+)['"]/gms)) {
    out.add(resolve(dirname(file), m[1] ?? m[2]));
  }
  return [...out];
}

/** Every elementary circle found by a depth-first search (one per back edge), deduplicated by rotation. */
export function importCycles(dirs = ['runtime', 'cli', 'tooling'], root = ROOT) {
  const files = dirs.flatMap((d) => {
    try {
      return tsFiles(join(root, d));
    } catch {
      return [];
    }
  });
  const known = new Set(files);
  const graph = new Map(files.map((f) => [f, edges(f).filter((e) => known.has(e))]));
  const state = new Map(); // 1: on the stack, 2: done
  const stack = [];
  const cycles = new Map();
  const visit = (f) => {
    state.set(f, 1);
    stack.push(f);
    for (const g of graph.get(f)) {
      if (state.get(g) === 1) {
        const cyc = stack.slice(stack.indexOf(g)).map((p) => relative(root, p));
        const k = cyc.indexOf([...cyc].sort()[0]);
        const canon = [...cyc.slice(k), ...cyc.slice(0, k)];
        cycles.set(canon.join(' → '), [...canon, canon[0]]);
      } else if (!state.get(g)) visit(g);
    }
    stack.pop();
    state.set(f, 2);
  };
  for (const f of files) if (!state.get(f)) visit(f);
  return [...cycles.values()];
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const dirs = process.argv.slice(2);
  const cycles = importCycles(dirs.length ? dirs : undefined);
  for (const c of cycles) console.log(c.join(' → '));
  console.log(cycles.length ? `${cycles.length} import circle(s)` : 'no import circles');
  process.exit(cycles.length ? 1 : 0);
}
