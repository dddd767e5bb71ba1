// export-gguf against llama.cpp's Python package: test/fixtures/quant/gguf.json holds, for each
// fixture model and type, every tensor computed independently by scripts/make_quant_fixtures.py
// (llama.cpp converter's names and q/k permutation, gguf.quants blocks), the metadata llama.cpp
// reads, and the sha-256 of the file that gguf's GGUFReader read back with all of them matching.
// Here: our export today equals that file byte for byte, and each tensor and key is checked by name
// (so a failure says which). Plus --adapter = merge then export, and the CLI's bad-input paths.
import t from 'tap';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportGguf, type GgufExportType } from '../runtime/gguf/export.ts';
import { parseGgufHeader } from '../runtime/gguf/reader.ts';
import { readSafetensorsHeader } from '../runtime/io/safetensors.ts';
import { nodePlatform } from '../runtime/platform/node.ts';
import { typeBytes, type WeightType } from '../runtime/quant/index.ts';
import { mergeAdapter } from '../runtime/train/merge.ts';
import { createEngine } from '../runtime/engine/engine.ts';
import { createWorkerEngine, serveEngine } from '../runtime/engine/worker.ts';
import { routedFileSystem } from '../runtime/platform/browser.ts';
import { MemoryFileSystem } from '../runtime/platform/memory-fs.ts';
import type { Platform } from '../runtime/platform/types.ts';
import { serve } from './helpers/browser.ts';
import { runInProcess } from './helpers/cli-in-process.ts';
import { FIXTURES } from './helpers/cli.ts';
import { copyModel, editJson } from './helpers/model-dir.ts';

interface Expected {
  model: string;
  type: GgufExportType;
  tensors: Record<string, { type: number; shape: number[]; sha256: string }>;
  metadata: Record<string, number | string | boolean>;
  rope_freqs: number[] | null;
  verified_file_sha256: string;
}

const expected = JSON.parse(readFileSync(join(FIXTURES, 'quant', 'gguf.json'), 'utf8')) as Record<string, Expected>;
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const fs = nodePlatform.fs;
const TYPE_OF_ID: Record<number, WeightType> = { 0: 'f32', 1: 'f16', 2: 'q4_0', 8: 'q8_0', 30: 'bf16' };

function tmp(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'lr-gguf-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

t.test('export equals the file gguf-py verified, tensor by tensor and key by key', async (t) => {
  const dir = tmp(t);
  for (const e of Object.values(expected)) {
    const out = join(dir, `${e.model}-${e.type}.gguf`);
    const s = await exportGguf(fs, join(FIXTURES, 'models', e.model), out, { type: e.type });
    const file = new Uint8Array(readFileSync(out));
    const h = parseGgufHeader(file, out);
    const tag = `${e.model} ${e.type}`;
    const names = h.tensors.map((x) => x.name).filter((n) => n !== 'rope_freqs.weight');
    t.same(names.slice().sort(), Object.keys(e.tensors).sort(), `${tag}: tensor names`);
    let bad = 0;
    for (const x of h.tensors) {
      if (x.name === 'rope_freqs.weight') {
        const got = Array.from(new Float32Array(file.slice(x.offset, x.offset + 4 * x.shape[0]).buffer));
        t.ok(
          e.rope_freqs && got.every((v, i) => Math.abs(v - e.rope_freqs![i]) <= 1e-6 * Math.abs(e.rope_freqs![i])),
          `${tag}: llama3 rope_freqs as the converter computes them`,
        );
        continue;
      }
      const want = e.tensors[x.name];
      const type = TYPE_OF_ID[x.ggmlType];
      const bytes = file.subarray(
        x.offset,
        x.offset +
          typeBytes(
            type,
            x.shape.reduce((a, b) => a * b, 1),
          ),
      );
      const ok = want && x.ggmlType === want.type && JSON.stringify([...x.shape].reverse()) === JSON.stringify(want.shape) && sha(bytes) === want.sha256;
      if (!ok) t.fail(`${tag}: tensor ${x.name} (${type} [${x.shape}]) differs from gguf-py's`, { want });
      bad += ok ? 0 : 1;
    }
    t.equal(bad, 0, `${tag}: ${h.tensors.length} tensors equal gguf-py's (${s.quantized} in ${e.type === 'q8_0' || e.type === 'q4_0' ? e.type : 'no'} blocks)`);
    for (const [k, v] of Object.entries(e.metadata)) {
      if (k === 'n_tokens') t.equal((h.metadata.get('tokenizer.ggml.tokens') as unknown[]).length, v, `${tag}: token count`);
      else if (k === 'n_merges') t.equal((h.metadata.get('tokenizer.ggml.merges') as unknown[]).length, v, `${tag}: merge count`);
      else t.equal(h.metadata.get(k), v, `${tag}: ${k}`);
    }
    t.equal(sha(file), e.verified_file_sha256, `${tag}: the whole file is the one GGUFReader read back (else rerun scripts/make_quant_fixtures.py)`);
  }
  t.same(
    readdirSync(dir).filter((f) => f.includes('.tmp-')),
    [],
    'no temp files left',
  );
});

t.test('--adapter gives the same file as merge then export', async (t) => {
  const dir = tmp(t);
  const base = join(FIXTURES, 'sampling', 'models', 'llama-pair', 'expert');
  const adapter = join(FIXTURES, 'finetune', 'llama-pair', 'ours-adapter');
  await mergeAdapter(fs, base, adapter, join(dir, 'merged'));
  for (const type of ['f32', 'q8_0'] as const) {
    await exportGguf(fs, base, join(dir, `a-${type}.gguf`), { type, adapter, name: 'm' });
    await exportGguf(fs, join(dir, 'merged'), join(dir, `b-${type}.gguf`), { type, name: 'm' });
    await exportGguf(fs, base, join(dir, `c-${type}.gguf`), { type, name: 'm' });
    const [a, b, c] = ['a', 'b', 'c'].map((p) => sha(readFileSync(join(dir, `${p}-${type}.gguf`))));
    t.equal(a, b, `${type}: export --adapter = export of the merged model`);
    t.not(a, c, `${type}: and the adapter changed the weights`);
  }
});

t.test('CLI: export-gguf writes the file; bad input is one line, exit 2, nothing written', async (t) => {
  const dir = tmp(t);
  const model = join(FIXTURES, 'models', 'qwen2-tied-bf16');
  let r = await runInProcess(['export-gguf', '--model', model, '--type', 'q4_0', '--out', join(dir, 'q.gguf'), '--quiet', '--json']);
  t.equal(r.code, 0, r.stderr);
  t.match(
    JSON.parse(r.stdout),
    { architecture: 'qwen2', type: 'q4_0', preTokenizer: 'qwen2', quantized: 0 },
    'qwen2-tied-bf16 rows of 48/72: nothing quantized (not multiples of 32)',
  );
  r = await runInProcess(['export-gguf', '--model', model, '--type', 'q5_k', '--out', join(dir, 'x.gguf')]);
  t.equal(r.code, 2, 'unknown --type');
  t.match(r.stderr, /q5_k.*(choices|f32)/s);
  r = await runInProcess(['export-gguf', '--model', join(dir, 'nope'), '--type', 'f32', '--out', join(dir, 'x.gguf')]);
  t.equal(r.code, 2, 'missing --model');
  mkdirSync(join(dir, 'adir'));
  r = await runInProcess(['export-gguf', '--model', model, '--type', 'f32', '--out', join(dir, 'adir')]);
  t.equal(r.code, 2, '--out is a directory');
  t.match(r.stderr, /is a directory/);
  const odd = copyModel(t, 'qwen2-tied-bf16');
  editJson(join(odd, 'tokenizer.json'), (j) => {
    j.pre_tokenizer = { type: 'Whitespace' };
  });
  r = await runInProcess(['export-gguf', '--model', odd, '--type', 'f32', '--out', join(dir, 'odd.gguf')]);
  t.equal(r.code, 1, 'a pre-tokenizer llama.cpp has no name for');
  t.match(r.stderr, /pre_tokenizer.*(smollm|qwen2)/);
  t.equal(r.stderr.trim().split('\n').length, 1, 'one line');
  const lower = copyModel(t, 'qwen2-tied-bf16');
  editJson(join(lower, 'tokenizer.json'), (j) => {
    j.normalizer = { type: 'Lowercase' };
  });
  r = await runInProcess(['export-gguf', '--model', lower, '--type', 'f32', '--out', join(dir, 'lower.gguf')]);
  t.equal(r.code, 1, 'a normalizer llama.cpp does not apply');
  t.match(r.stderr, /normalizer \{"type":"Lowercase"\} is not applied by llama\.cpp/);
  const adapter = join(FIXTURES, 'finetune', 'llama-pair', 'ours-adapter');
  r = await runInProcess(['export-gguf', '--model', model, '--adapter', adapter, '--type', 'f32', '--out', join(dir, 'mismatch.gguf')]);
  t.not(r.code, 0, 'an adapter for another model');
  t.same(readdirSync(dir).sort(), ['adir', 'q.gguf'], 'no output and no temp file after the failures');
  r = await runInProcess(['export-gguf', '--model', model, '--type', 'f32', '--out', join(dir, 'new', 'folder', 'x.gguf'), '--quiet']);
  t.equal(r.code, 0, "--out's missing folder is created, as run --out does");
  writeFileSync(join(dir, 'q.gguf'), 'old');
  r = await runInProcess(['export-gguf', '--model', model, '--type', 'f16', '--out', join(dir, 'q.gguf'), '--quiet']);
  t.equal(r.code, 0, 'an existing file is replaced (atomically)');
  t.equal(parseGgufHeader(new Uint8Array(readFileSync(join(dir, 'q.gguf')))).metadata.get('general.file_type'), 1);
});

t.test('an abort mid-export leaves neither the file nor a temp file', async (t) => {
  const dir = tmp(t);
  const ac = new AbortController();
  let seen = 0;
  const p = exportGguf(fs, join(FIXTURES, 'models', 'llama-gqa-tied-f32'), join(dir, 'x.gguf'), {
    type: 'q4_0',
    signal: ac.signal,
    onProgress: () => {
      if (++seen === 3) ac.abort();
    },
  });
  await t.rejects(p, { code: 'ABORTED' });
  t.equal(seen, 3, 'stopped at the next tensor');
  t.same(readdirSync(dir), []);
});

t.test('a bf16 value beyond f16 is refused for --type f16, not written as Inf', async (t) => {
  const dir = tmp(t);
  const m = copyModel(t, 'qwen2-tied-bf16');
  const file = join(m, 'model.safetensors');
  const e = (await readSafetensorsHeader(fs, file)).tensors.get('model.layers.0.mlp.up_proj.weight')!;
  const bytes = readFileSync(file);
  bytes.writeUInt16LE(0x4974, e.offset + 2 * 5); // bf16 1.0e6 (0x4974 = 999424)
  writeFileSync(file, bytes);
  let r = await runInProcess(['export-gguf', '--model', m, '--type', 'f16', '--out', join(dir, 'h.gguf')]);
  t.equal(r.code, 2);
  t.match(
    r.stderr,
    /^error: \S+model\.safetensors: tensor "model\.layers\.0\.mlp\.up_proj\.weight" holds 999424 \(element 5\), beyond f16's range — export with --type f32/,
  );
  r = await runInProcess(['export-gguf', '--model', m, '--type', 'q8_0', '--out', join(dir, 'q.gguf'), '--quiet']);
  t.equal(r.code, 0, 'q8_0 keeps that (48-column) tensor in bf16');
  t.same(readdirSync(dir), ['q.gguf']);
});

t.test('Engine.exportGguf across the worker protocol, model over HTTP, output in browser storage = the Node file', async (t) => {
  const model = join(FIXTURES, 'models', 'llama-untied-bf16-llama3rope');
  const { url, server } = await serve({}, { '/llama-untied-bf16-llama3rope': model }); // the same folder name: general.name
  const dir = tmp(t);
  const storage = new MemoryFileSystem();
  const platform: Platform = { name: 'browser', fs: routedFileSystem(storage), getGPU: async () => null };
  const { port1, port2 } = new MessageChannel();
  serveEngine(port2 as unknown as Parameters<typeof serveEngine>[0], platform);
  const remote = createWorkerEngine(port1 as unknown as Parameters<typeof createWorkerEngine>[0]);
  t.teardown(() => (server.close(), port1.close(), port2.close()));
  const events: string[] = [];
  const s = await remote.exportGguf(
    { model: `${url}/llama-untied-bf16-llama3rope`, type: 'q4_0', out: 'out/m.gguf' },
    { onEvent: (e) => events.push(e.tensor) },
  );
  t.equal(events.length, 21, 'progress events cross the boundary, one per checkpoint tensor');
  const local = await createEngine(nodePlatform).exportGguf({ model, type: 'q4_0', out: join(dir, 'm.gguf') });
  t.same({ ...s, out: '' }, { ...local, out: '' }, 'the same summary');
  t.ok(Buffer.from(await storage.readBytes('out/m.gguf')).equals(readFileSync(join(dir, 'm.gguf'))), 'identical bytes');
  await t.rejects(
    remote.exportGguf({ model: `${url}/llama-untied-bf16-llama3rope`, type: 'f32', out: `${url}/x.gguf` }),
    { code: 'BAD_INPUT' },
    'out must be storage, not a URL',
  );
});

t.test('architectures without a GGUF mapping are refused by name', async (t) => {
  const dir = tmp(t);
  const m = copyModel(t, 'llama-gqa-tied-f32');
  editJson(join(m, 'config.json'), (j) => {
    j.model_type = 'gemma';
    j.architectures = ['GemmaForCausalLM'];
  });
  const r = await runInProcess(['export-gguf', '--model', m, '--type', 'f32', '--out', join(dir, 'g.gguf')]);
  t.equal(r.code, 1);
  t.match(r.stderr, /gemma.*llama.*qwen2/s);
  t.same(readdirSync(dir), []);
});
