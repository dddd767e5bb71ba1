// No import circles in runtime/, cli/ or tooling/ (issue 26): scripts/import-cycles.mjs finds them.
// The detector itself is checked on a small graph that has one, so this test can fail.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
// @ts-expect-error -- a plain .mjs script without types
import { importCycles } from '../scripts/import-cycles.mjs';

const cycles = importCycles as (dirs?: string[], root?: string) => string[][];

t.test('runtime, cli and tooling have no import circles', async (t) => {
  t.same(
    cycles().map((c) => c.join(' → ')),
    [],
  );
});

t.test('the detector finds a circle, type-only imports included', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'lr-cycles-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  mkdirSync(join(root, 'src'));
  writeFileSync(join(root, 'src/a.ts'), "import { b } from './b.ts';\nexport const a = b;\n");
  writeFileSync(join(root, 'src/b.ts'), "import type { C } from './c.ts';\nexport const b = 1 as unknown as C;\n");
  writeFileSync(join(root, 'src/c.ts'), "export type {\n  a as C,\n} from './a.ts';\n");
  writeFileSync(join(root, 'src/d.ts'), "import './a.ts';\n");
  t.same(
    cycles(['src'], root).map((c) => c.join(' → ')),
    ['src/a.ts → src/b.ts → src/c.ts → src/a.ts'],
  );
});
