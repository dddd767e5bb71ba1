// The FileSystem contract every writable platform adapter must keep (runtime/platform/types.ts),
// as portable checks: run in Node on the Node adapter and the in-memory one (test/fs-contract.test.ts)
// and in Chromium on the in-memory one and the Origin Private File System (test/browser-*.test.ts).
import { LightReasonerError } from '../../runtime/errors.ts';
import type { FileSystem } from '../../runtime/platform/types.ts';
import type { Check } from './model-parity.ts';

type Step = [name: string, body: () => Promise<unknown>];

const bytesEqual = (a: Uint8Array, b: Uint8Array) => a.byteLength === b.byteLength && a.every((v, i) => v === b[i]);

function expect(cond: boolean, what: string): void {
  if (!cond) throw new Error(what);
}

async function rejects(p: Promise<unknown>, code?: string): Promise<void> {
  try {
    await p;
  } catch (e) {
    if (code && !(e instanceof LightReasonerError && e.code === code)) throw new Error(`rejected, but not with ${code}: ${String(e)}`);
    return;
  }
  throw new Error('did not reject');
}

/** Run the contract inside `root` (a fresh, empty directory of `fs`); one Check per clause. */
export async function checkFileSystemContract(fs: FileSystem, root: string, label: string): Promise<Check[]> {
  const p = (...parts: string[]) => fs.join(root, ...parts);
  const all = new Uint8Array(256).map((_, i) => i);
  const steps: Step[] = [
    [
      'mkdir (nested, twice) and exists',
      async () => {
        await fs.mkdir!(p('a', 'b'));
        await fs.mkdir!(p('a', 'b'));
        expect(await fs.exists(p('a')), 'a exists');
        expect(await fs.exists(p('a', 'b')), 'a/b exists');
        expect(!(await fs.exists(p('nope'))), 'nope does not exist');
      },
    ],
    [
      'writeFileAtomic: text and bytes round-trip, overwrite replaces',
      async () => {
        await fs.writeFileAtomic!(p('a', 't.txt'), 'héllo ∑ 🙂\n');
        expect((await fs.readText(p('a', 't.txt'))) === 'héllo ∑ 🙂\n', 'text round-trips');
        await fs.writeFileAtomic!(p('a', 'b.bin'), all);
        expect(bytesEqual(await fs.readBytes(p('a', 'b.bin')), all), 'all 256 byte values round-trip');
        expect((await fs.size(p('a', 'b.bin'))) === 256, 'size');
        await fs.writeFileAtomic!(p('a', 'b.bin'), 'xy');
        expect((await fs.readText(p('a', 'b.bin'))) === 'xy', 'a shorter overwrite leaves nothing of the old file');
        await fs.writeFileAtomic!(p('a', 'b.bin'), all);
      },
    ],
    [
      'readBytes: slices by offset and length',
      async () => {
        expect(bytesEqual(await fs.readBytes(p('a', 'b.bin'), 10, 5), all.subarray(10, 15)), 'offset 10, length 5');
        expect(bytesEqual(await fs.readBytes(p('a', 'b.bin'), 250), all.subarray(250)), 'offset only: to the end');
        expect((await fs.readBytes(p('a', 'b.bin'), 0, 0)).byteLength === 0, 'length 0');
      },
    ],
    [
      'missing files: NOT_FOUND from readText, readBytes, size and truncate',
      async () => {
        await rejects(fs.readText(p('missing.txt')), 'NOT_FOUND');
        await rejects(fs.readBytes(p('missing.txt')), 'NOT_FOUND');
        await rejects(fs.readBytes(p('missing.txt'), 0, 4), 'NOT_FOUND');
        await rejects(fs.size(p('missing.txt')), 'NOT_FOUND');
        await rejects(fs.truncate!(p('missing.txt'), 0), 'NOT_FOUND');
      },
    ],
    [
      'appendFile: creates, then appends',
      async () => {
        await fs.appendFile!(p('log.jsonl'), '{"a":1}\n');
        await fs.appendFile!(p('log.jsonl'), new TextEncoder().encode('{"b":2}\n'));
        expect((await fs.readText(p('log.jsonl'))) === '{"a":1}\n{"b":2}\n', 'both lines in order');
      },
    ],
    [
      'truncate: cuts to a length, then appends continue there',
      async () => {
        await fs.truncate!(p('log.jsonl'), 8);
        expect((await fs.readText(p('log.jsonl'))) === '{"a":1}\n', 'cut after the first line');
        await fs.appendFile!(p('log.jsonl'), 'z');
        expect((await fs.readText(p('log.jsonl'))) === '{"a":1}\nz', 'append after truncate');
      },
    ],
    [
      'rename: a file, replacing an existing one',
      async () => {
        await fs.writeFileAtomic!(p('x.txt'), 'new');
        await fs.writeFileAtomic!(p('y.txt'), 'old');
        await fs.rename!(p('x.txt'), p('y.txt'));
        expect(!(await fs.exists(p('x.txt'))), 'the source is gone');
        expect((await fs.readText(p('y.txt'))) === 'new', 'the target has the new bytes');
      },
    ],
    [
      'rename: a directory tree onto a missing path and onto an empty directory',
      async () => {
        await fs.rename!(p('a'), p('moved'));
        expect(!(await fs.exists(p('a'))), 'the source is gone');
        expect((await fs.readText(p('moved', 't.txt'))) === 'héllo ∑ 🙂\n', 'files moved');
        expect(await fs.exists(p('moved', 'b')), 'empty sub-directories moved');
        await fs.mkdir!(p('empty'));
        await fs.rename!(p('moved'), p('empty'));
        expect(bytesEqual(await fs.readBytes(p('empty', 'b.bin')), all), 'moved onto the empty directory');
      },
    ],
    [
      'rename: a directory onto a non-empty directory is refused',
      async () => {
        await fs.mkdir!(p('full'));
        await fs.writeFileAtomic!(p('full', 'keep.txt'), 'keep');
        await rejects(fs.rename!(p('empty'), p('full')));
        expect((await fs.readText(p('full', 'keep.txt'))) === 'keep', 'the target is untouched');
        expect(await fs.exists(p('empty', 't.txt')), 'the source is untouched');
      },
    ],
    [
      'rm: a file, a tree, and something missing',
      async () => {
        await fs.rm!(p('y.txt'));
        expect(!(await fs.exists(p('y.txt'))), 'file removed');
        await fs.rm!(p('empty'));
        expect(!(await fs.exists(p('empty'))) && !(await fs.exists(p('empty', 't.txt'))), 'tree removed');
        await fs.rm!(p('never-there'));
      },
    ],
    [
      'list: the names directly inside, sorted; NOT_FOUND for a missing directory',
      async () => {
        if (!fs.list) throw new Error('no list()');
        await fs.mkdir!(p('d', 'sub'));
        await fs.writeFileAtomic!(p('d', 'b.txt'), '');
        await fs.writeFileAtomic!(p('d', 'a.txt'), '');
        const names = await fs.list(p('d'));
        expect(JSON.stringify(names) === '["a.txt","b.txt","sub"]', `got ${JSON.stringify(names)}`);
        await rejects(fs.list(p('no-dir')), 'NOT_FOUND');
      },
    ],
  ];
  const checks: Check[] = [];
  for (const [name, body] of steps) {
    try {
      await body();
      checks.push({ name: `${label}: ${name}`, ok: true, detail: '' });
    } catch (e) {
      checks.push({ name: `${label}: ${name}`, ok: false, detail: String((e as Error)?.message ?? e) });
    }
  }
  return checks;
}
