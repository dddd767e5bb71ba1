// Output directories never cost a user a file (runtime/io/out-dir.ts): a non-empty --out is
// refused unless resuming or overwriting, and overwriting replaces only the command's own entries.
import t from 'tap';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { claimOutDir, claimOutFile } from '../runtime/io/out-dir.ts';
import { MemoryFileSystem } from '../runtime/platform/memory-fs.ts';
import { routedFileSystem } from '../runtime/platform/browser.ts';
import { createEngine } from '../runtime/engine/engine.ts';
import { parseProblems } from '../runtime/stage/sample.ts';
import { generateProblems } from '../runtime/data/problems.ts';
import { parseEvalProblems } from '../runtime/eval/evaluate.ts';
import { serve } from './helpers/browser.ts';
import { FIXTURES } from './helpers/cli.ts';

const owned = (n: string) => n === 'ours.json' || n === 'ckpt';

async function snapshot(fs: MemoryFileSystem, dir: string): Promise<string> {
  const walk = async (d: string): Promise<string[]> =>
    (
      await Promise.all(
        (
          await fs.list(d)
        ).map(async (n) => {
          const p = fs.join(d, n);
          try {
            return [`${p}=${await fs.readText(p)}`];
          } catch {
            return [p, ...(await walk(p))];
          }
        }),
      )
    ).flat();
  return (await walk(dir)).join('\n');
}

t.test('claimOutDir', async (t) => {
  const fs = new MemoryFileSystem();
  t.same(await claimOutDir(fs, 'new', { owned }), [], 'a missing directory is created');
  t.ok(await fs.exists('new'));
  await fs.mkdir('empty');
  t.same(await claimOutDir(fs, 'empty', { owned }), [], 'an empty directory is fine');

  await fs.writeFileAtomic('mine/notes.txt', 'keep me');
  await fs.writeFileAtomic('mine/ours.json', '{}');
  await fs.writeFileAtomic('mine/ckpt/a.bin', 'x');
  const before = await snapshot(fs, 'mine');
  await t.rejects(claimOutDir(fs, 'mine', { owned }), {
    code: 'BAD_INPUT',
    message: /--out mine is not empty \(ckpt, notes\.txt, ours\.json\): pass --resume .* --overwrite .* or choose another --out/,
  });
  t.equal(await snapshot(fs, 'mine'), before, 'refused: nothing changed');
  await claimOutDir(fs, 'mine', { owned, resume: true });
  t.equal(await snapshot(fs, 'mine'), before, 'resume: nothing removed');
  await claimOutDir(fs, 'mine', { owned, overwrite: true, flag: '--output' });
  t.same(await fs.list('mine'), ['notes.txt'], "overwrite: only the command's own entries are removed");
  t.equal(await fs.readText('mine/notes.txt'), 'keep me');

  await fs.writeFileAtomic('file', 'x');
  await t.rejects(claimOutDir(fs, 'file', { owned }), { code: 'BAD_INPUT', message: /--out file: exists and is not a directory/ });
  const many = new MemoryFileSystem();
  for (let i = 0; i < 8; i++) await many.writeFileAtomic(`d/f${i}`, '');
  await t.rejects(claimOutDir(many, 'd', { owned }), { message: /f0, f1, f2, f3, f4, … \(8 entries\)/ });

  await t.rejects(claimOutFile(fs, 'file', {}), { code: 'BAD_INPUT', message: /--out file already exists: pass --overwrite/ });
  await claimOutFile(fs, 'file', { overwrite: true });
  await claimOutFile(fs, 'absent', {});
});

t.test("run into a user's folder: refused, then --overwrite keeps the user's files", async (t) => {
  const pair = join(FIXTURES, 'sampling', 'models', 'llama-pair');
  const { url, server } = await serve({}, { '/models': pair });
  t.teardown(() => server.close());
  const storage = new MemoryFileSystem();
  const engine = createEngine({ name: 'browser', fs: routedFileSystem(storage), getGPU: async () => null });
  const text = readFileSync(join(FIXTURES, 'sampling', 'questions.jsonl'), 'utf8');
  const job = {
    expert: `${url}/models/expert`,
    amateur: `${url}/models/amateur`,
    out: 'work',
    backend: 'wasm' as const,
    threads: 1,
    train: parseProblems(text).map((p) => ({ ...p, gold: null })),
    eval: parseEvalProblems(
      generateProblems(0, 2, { set: 'eval' })
        .map((p) => JSON.stringify(p))
        .join('\n'),
    ),
    sample: { maxNewTokens: 12, beta: 0.4 },
    finetune: { maxSteps: 2, lr: 1e-3 },
    evalSettings: { maxNewTokens: 4 },
  };
  await storage.writeFileAtomic('work/samples.jsonl', 'my own samples\n');
  await storage.writeFileAtomic('work/eval/mine.jsonl', 'my own eval\n');
  const before = await snapshot(storage, 'work');
  await t.rejects(engine.run(job), { code: 'BAD_INPUT', message: /--out work is not empty \(eval, samples\.jsonl\)/ });
  t.equal(await snapshot(storage, 'work'), before, "refused: the user's samples.jsonl and eval/ are untouched");
  const report = await engine.run({ ...job, overwrite: true });
  t.equal(report.eval.expert_after.total, 2, 'the run completes');
  t.equal(await storage.readText('work/eval/mine.jsonl'), 'my own eval\n', 'a file the run does not write is kept, even inside eval/');
  t.not(await storage.readText('work/samples.jsonl'), 'my own samples\n', "--overwrite replaced the run's own samples.jsonl");
  await t.rejects(engine.run(job), { code: 'BAD_INPUT' }, 'a second run into a finished run is refused too');
});

t.test('file outputs (problems --out, eval --out): an existing file is refused before any work', async (t) => {
  const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { runCli } = await import('./helpers/cli.ts');
  const dir = mkdtempSync(join(tmpdir(), 'lr-outfile-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'mine.jsonl');
  writeFileSync(file, 'my data\n');
  const r = await runCli(['problems', '--count', '3', '--out', file]);
  t.equal(r.code, 2, 'refused with exit 2');
  t.match(r.stderr, /^error: --out .*mine\.jsonl already exists: pass --overwrite/);
  t.equal(readFileSync(file, 'utf8'), 'my data\n', 'the file is untouched');
  const ev = await runCli([
    'eval',
    '--model',
    join(FIXTURES, 'sampling/models/llama-pair/expert'),
    '--data',
    file,
    '--out',
    file,
    '--backend',
    'reference',
    '--quiet',
  ]);
  t.equal(ev.code, 2, 'eval refuses before reading data or models');
  t.equal(readFileSync(file, 'utf8'), 'my data\n');
  const w = await runCli(['problems', '--count', '3', '--out', file, '--overwrite']);
  t.equal(w.code, 0, w.stderr);
  t.equal(readFileSync(file, 'utf8').trim().split('\n').length, 3, '--overwrite replaces it');
});

t.test("finetune: a second run never mixes with the first; a user's files survive --overwrite", async (t) => {
  const pair = join(FIXTURES, 'sampling', 'models', 'qwen-pair');
  const { url, server } = await serve({}, { '/models': pair });
  t.teardown(() => server.close());
  const storage = new MemoryFileSystem();
  const engine = createEngine({ name: 'browser', fs: routedFileSystem(storage), getGPU: async () => null });
  const text = readFileSync(join(FIXTURES, 'sampling', 'questions.jsonl'), 'utf8');
  const common = { backend: 'wasm' as const, threads: 1 };
  await engine.sample({
    ...common,
    expert: `${url}/models/expert`,
    amateur: `${url}/models/amateur`,
    problems: parseProblems(text),
    out: 's/samples.jsonl',
    settings: { maxNewTokens: 12, beta: 0.4 },
  });
  const job = { ...common, model: `${url}/models/expert`, samples: 's/samples.jsonl', out: 'ft' };
  await engine.finetune({ ...job, settings: { maxSteps: 4, saveSteps: 2, lr: 1e-3 } });
  t.same(
    (await storage.list('ft')).filter((n) => n.startsWith('checkpoint-')),
    ['checkpoint-2', 'checkpoint-4'],
  );
  await storage.writeFileAtomic('ft/notes.txt', 'mine');
  const before = await snapshot(storage, 'ft');
  await t.rejects(engine.finetune({ ...job, settings: { maxSteps: 2, saveSteps: 0 } }), { code: 'BAD_INPUT', message: /--out ft is not empty/ });
  t.equal(await snapshot(storage, 'ft'), before, 'refused: nothing changed');
  const s = await engine.finetune({ ...job, overwrite: true, settings: { maxSteps: 2, saveSteps: 0, lr: 1e-3 } });
  t.equal(s.steps, 2);
  t.same(
    await storage.list('ft'),
    ['adapter_config.json', 'adapter_model.safetensors', 'notes.txt', 'train_log.jsonl', 'train_summary.json'],
    "the old checkpoints are gone, the user's notes.txt is kept",
  );
  t.equal((await storage.readText('ft/train_log.jsonl')).trim().split('\n').length, 2, 'the log holds only the new run');
});

t.test('writeFileAtomic onto a symlink or a device: the link is kept, the device is written through', async (t) => {
  const { mkdtempSync, rmSync, symlinkSync, lstatSync, readFileSync: read, writeFileSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { execSync } = await import('node:child_process');
  const { nodeFileSystem } = await import('../runtime/platform/node.ts');
  const dir = mkdtempSync(join(tmpdir(), 'lr-special-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'real.json'), 'old');
  symlinkSync(join(dir, 'real.json'), join(dir, 'link.json'));
  await nodeFileSystem.writeFileAtomic!(join(dir, 'link.json'), 'new');
  t.ok(lstatSync(join(dir, 'link.json')).isSymbolicLink(), 'the symlink is still a symlink');
  t.equal(read(join(dir, 'real.json'), 'utf8'), 'new', 'its target got the bytes');
  execSync(`mkfifo ${join(dir, 'pipe')}`);
  const reader = new Promise<string>((resolve) => {
    import('node:fs').then(({ createReadStream }) => {
      let got = '';
      createReadStream(join(dir, 'pipe'))
        .on('data', (d) => (got += d))
        .on('end', () => resolve(got));
    });
  });
  await nodeFileSystem.writeFileAtomic!(join(dir, 'pipe'), 'through the fifo');
  t.equal(await reader, 'through the fifo', 'a FIFO is written through');
  t.ok(lstatSync(join(dir, 'pipe')).isFIFO(), 'and stays a FIFO');
  // (not /dev/null: should this regress, a test run as root would replace the device node)
});

t.test('model files are regular files: a FIFO is refused at once; /dev/zero as --data stops at its first line', async (t) => {
  const { mkdtempSync, rmSync, cpSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { execSync } = await import('node:child_process');
  const { runCli } = await import('./helpers/cli.ts');
  const dir = mkdtempSync(join(tmpdir(), 'lr-inputs-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const model = join(dir, 'model');
  cpSync(join(FIXTURES, 'sampling/models/llama-pair/expert'), model, { recursive: true });
  rmSync(join(model, 'config.json'));
  execSync(`mkfifo ${join(model, 'config.json')}`);
  const fifo = await runCli(['generate', '--model', model, '--prompt', 'hi', '--backend', 'reference']);
  t.equal(fifo.code, 2, 'a FIFO as config.json: refused, no hang');
  t.match(fifo.stderr, /^error: .*config\.json: is a FIFO \(named pipe\), not a regular file/);
  const dev = await runCli([
    'eval',
    '--model',
    join(FIXTURES, 'sampling/models/llama-pair/expert'),
    '--data',
    '/dev/zero',
    '--backend',
    'reference',
    '--quiet',
  ]);
  t.equal(dev.code, 2, '/dev/zero as --data: refused, not read until memory runs out');
  t.match(dev.stderr, /^error: \/dev\/zero:1: the line has more than the 1048576 \(1 Mi\) characters this tool accepts/);
  t.notMatch(dev.stderr + fifo.stderr, /\n\s+at /, 'no stack trace');
});
