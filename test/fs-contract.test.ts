// The FileSystem contract (test/portable/fs-contract.ts) on Node's adapter, the in-memory one and
// the browser's routed one (URLs fetched, everything else in a storage); the Origin Private File
// System runs the same checks in Chromium (test/browser-app.test.ts).
import t, { type Test } from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryFileSystem, normalizePath } from '../runtime/platform/memory-fs.ts';
import { nodeFileSystem } from '../runtime/platform/node.ts';
import { routedFileSystem } from '../runtime/platform/browser.ts';
import type { FileSystem } from '../runtime/platform/types.ts';
import { checkFileSystemContract } from './portable/fs-contract.ts';

async function contract(t: Test, fs: FileSystem, root: string, label: string) {
  const checks = await checkFileSystemContract(fs, root, label);
  t.equal(checks.length, 11, 'every clause ran');
  for (const c of checks) t.ok(c.ok, c.name, { detail: c.detail });
}

t.test('Node file system', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lr-fs-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  await contract(t, nodeFileSystem, dir, 'node');
});

t.test('in-memory file system (at the root and in a sub-directory)', async (t) => {
  await contract(t, new MemoryFileSystem(), '', 'memory /');
  await contract(t, new MemoryFileSystem(), 'runs/x', 'memory runs/x');
});

t.test('routed browser file system: storage paths keep the contract, URLs are read-only', async (t) => {
  const fs = routedFileSystem(new MemoryFileSystem());
  await contract(t, fs, 'out', 'routed');
  t.equal(fs.join('https://h/models/', 'expert', 'config.json'), 'https://h/models/expert/config.json', 'URLs join as URLs');
  t.equal(fs.join('runs', '..', 'b', 'x.json'), 'b/x.json', 'storage paths are normalized');
  for (const op of [
    () => fs.writeFileAtomic!('https://h/x', 'a'),
    () => fs.appendFile!('http://h/x', 'a'),
    () => fs.rm!('https://h/x'),
    () => fs.rename!('a', 'https://h/x'),
  ]) {
    await t.rejects(Promise.resolve().then(op), { name: 'LightReasonerError', code: 'BAD_INPUT', message: /cannot .* a URL/ });
  }
});

t.test('normalizePath', async (t) => {
  t.equal(normalizePath('/a//b/./c/../d/'), 'a/b/d');
  t.equal(normalizePath('..'), '');
  t.equal(normalizePath(''), '');
});
