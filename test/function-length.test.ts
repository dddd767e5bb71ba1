// No function longer than ~80 lines in runtime/ or cli/ (issue 26 item 5): scripts/function-length.mjs
// finds them with the TypeScript parser, in every folder (no exemptions). The finder itself is
// checked on a small file, so this test can fail.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
// @ts-expect-error -- a plain .mjs script without types
import { longFunctions, MAX_LINES } from '../scripts/function-length.mjs';

type Long = { file: string; line: number; name: string; lines: number };
const find = longFunctions as (dirs?: string[], o?: { root?: string; max?: number }) => Long[];

t.test(`runtime and cli have no function longer than ${MAX_LINES} lines`, async (t) => {
  t.same(
    find().map((f) => `${f.file}:${f.line} ${f.name} ${f.lines}`),
    [],
  );
});

t.test('the finder sees declarations, methods, arrows in calls and nested functions, in every folder', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'lr-fnlen-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  mkdirSync(join(root, 'src'));
  mkdirSync(join(root, 'runtime/backend'), { recursive: true });
  const body = (n: number) => Array.from({ length: n }, (_, i) => `  x += ${i};`).join('\n');
  writeFileSync(
    join(root, 'src/a.ts'),
    [
      `export function long() {\n  let x = 0;\n${body(5)}\n  return x;\n}`, // 9 lines
      `export function short() {\n  return 1;\n}`,
      `class C {\n  method() {\n    let x = 0;\n${body(4)}\n    return x;\n  }\n}`, // method: 8 lines
      `run(async () => {\n  let x = 0;\n${body(4)}\n  const inner = () => {\n    let x = 0;\n${body(3)}\n    return x;\n  };\n});`,
    ].join('\n'),
  );
  writeFileSync(join(root, 'runtime/backend/b.ts'), `export function backendFn() {\n  let x = 0;\n${body(10)}\n}`);
  const found = find(['src', 'runtime'], { root, max: 5 })
    .map((f) => `${f.file}:${f.line} ${f.name} ${f.lines}`)
    .sort();
  t.same(
    found,
    ['src/a.ts:1 long 9', 'src/a.ts:14 method 8', 'src/a.ts:23 (callback of run) 14', 'src/a.ts:29 inner 7', 'runtime/backend/b.ts:1 backendFn 13'].sort(),
  );
  t.ok(
    find(['runtime'], { root, max: 5 }).some((f) => f.name === 'backendFn'),
    'runtime/backend is checked like the rest',
  );
});
