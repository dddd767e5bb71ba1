// Loading real Hugging Face model directories, and refusing bad ones with errors that name the file.
import t from 'tap';
import { cpSync, mkdtempSync, readFileSync, writeFileSync, truncateSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ReferenceBackend } from '../runtime/backend/reference.ts';
import { LightReasonerError } from '../runtime/errors.ts';
import { encodeSafetensors, readSafetensorsHeader } from '../runtime/io/safetensors.ts';
import { loadModel } from '../runtime/model/model.ts';
import { nodePlatform } from '../runtime/platform/node.ts';
import { FIXTURES, runCli } from './helpers/cli.ts';

const fs = nodePlatform.fs;
const MODEL = join(FIXTURES, 'models', 'llama-gqa-tied-f32');

function copyModel(name = 'llama-gqa-tied-f32'): string {
  const dir = mkdtempSync(join(tmpdir(), 'lr-model-'));
  cpSync(join(FIXTURES, 'models', name), dir, { recursive: true });
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function loadError(dir: string): Promise<LightReasonerError> {
  try {
    await loadModel(dir, { fs, backend: new ReferenceBackend() });
  } catch (e) {
    if (e instanceof LightReasonerError) return e;
    throw e;
  }
  throw new Error('expected the load to fail');
}

/** Rewrite the JSON header of a safetensors file in place, keeping its length (pads with spaces). */
function editHeader(file: string, edit: (h: Record<string, any>) => void): void {
  const buf = readFileSync(file);
  const len = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + len).toString());
  edit(header);
  const text = JSON.stringify(header);
  if (text.length > len) throw new Error('edited header grew');
  buf.write(text.padEnd(len, ' '), 8);
  writeFileSync(file, buf);
}

t.test('loads every fixture checkpoint (single file and sharded, F32/F16/BF16)', async (t) => {
  for (const name of ['llama-gqa-tied-f32', 'llama-untied-bf16-llama3rope', 'qwen2-bias-f16', 'qwen2-tied-bf16']) {
    const m = await loadModel(join(FIXTURES, 'models', name), { fs, backend: new ReferenceBackend() });
    t.ok(m.weights.bytes > 0, `${name}: ${m.config.architecture}, ${m.weights.dtype}, ${m.weights.bytes} weight bytes`);
    t.ok(m.config.eosTokenIds.length > 0, `${name}: EOS ids ${m.config.eosTokenIds}`);
    t.ok(m.tokenizer.chatTemplate, `${name}: chat template found`);
  }
});

t.test('unsupported architecture names config.json and model_type', async (t) => {
  const dir = copyModel();
  const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...cfg, model_type: 'gpt2', architectures: ['GPT2LMHeadModel'] }));
  const e = await loadError(dir);
  t.equal(e.code, 'UNSUPPORTED');
  t.match(e.message, /config\.json.*model_type "gpt2" is not supported/);
});

t.test('unsupported tensor dtype names the tensor and the file', async (t) => {
  const dir = copyModel();
  editHeader(join(dir, 'model.safetensors'), (h) => {
    h['model.norm.weight'].dtype = 'I32';
  });
  const e = await loadError(dir);
  t.equal(e.code, 'UNSUPPORTED');
  t.match(e.message, /model\.safetensors.*"model\.norm\.weight" has dtype I32/);
});

t.test('missing files are named', async (t) => {
  const dir = copyModel();
  rmSync(join(dir, 'tokenizer.json'));
  let e = await loadError(dir);
  t.equal(e.code, 'NOT_FOUND');
  t.match(e.message, /tokenizer\.json: not found/);
  const dir2 = copyModel();
  rmSync(join(dir2, 'model.safetensors'));
  e = await loadError(dir2);
  t.match(e.message, /model\.safetensors.*not found/);
});

t.test('a truncated safetensors file is refused', async (t) => {
  const dir = copyModel();
  const file = join(dir, 'model.safetensors');
  truncateSync(file, statSync(file).size - 100);
  const e = await loadError(dir);
  t.equal(e.code, 'MODEL_FORMAT');
  t.match(e.message, /model\.safetensors.*(truncated|outside)/);
  truncateSync(file, 5);
  t.match((await loadError(dir)).message, /truncated safetensors file/);
});

t.test('a header whose offsets lie is refused', async (t) => {
  const dir = copyModel();
  editHeader(join(dir, 'model.safetensors'), (h) => {
    const [a, b] = h['model.norm.weight'].data_offsets;
    h['model.norm.weight'].data_offsets = [a, b + 8];
  });
  const e = await loadError(dir);
  t.equal(e.code, 'MODEL_FORMAT');
  t.match(e.message, /"model\.norm\.weight".*data_offsets/);
});

t.test('a tokenizer whose vocabulary does not fit the model is refused', async (t) => {
  const dir = copyModel();
  const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...cfg, vocab_size: 10 }));
  const e = await loadError(dir);
  t.equal(e.code, 'MODEL_FORMAT');
  t.match(e.message, /tokenizer\.json: the tokenizer has \d+ tokens but the model's vocab_size is 10/);
});

t.test('safetensors writer round-trips through the reader', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lr-st-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const bytes = encodeSafetensors(
    [
      { name: 'b', dtype: 'F32', shape: [2, 3], data: new Uint8Array(new Float32Array([1, 2, 3, 4, 5, 6]).buffer) },
      { name: 'a', dtype: 'BF16', shape: [3], data: new Uint8Array(6) },
    ],
    { format: 'pt' },
  );
  writeFileSync(join(dir, 'x.safetensors'), bytes);
  const h = await readSafetensorsHeader(fs, join(dir, 'x.safetensors'));
  t.same(h.metadata, { format: 'pt' });
  t.same(h.tensors.get('b')?.shape, [2, 3]);
  t.equal(h.tensors.get('a')?.byteLength, 6);
  t.equal((h.tensors.get('a')!.offset - 8) % 8, 0, 'data section 8-byte aligned');
});

t.test('CLI: bad input exits non-zero with the message and no stack trace', async (t) => {
  const dir = copyModel();
  rmSync(join(dir, 'config.json'));
  const r = await runCli(['generate', '--model', dir, '--prompt', 'hi', '--backend', 'reference']);
  t.equal(r.code, 2, 'a folder without config.json is bad input');
  t.match(r.stderr, /^error: --model .*: not a model directory \(no config\.json\)$/m);
  t.notMatch(r.stderr, /\n\s+at /, 'no stack trace');
  const r2 = await runCli(['generate', '--model', MODEL, '--backend', 'reference']);
  t.equal(r2.code, 2, 'neither --prompt nor --chat');
  t.match(r2.stderr, /exactly one of --prompt or --chat/);
  const r3 = await runCli(['generate', '--model', MODEL, '--prompt', 'x', '--max-new-tokens', 'lots']);
  t.equal(r3.code, 2);
  t.match(r3.stderr, /--max-new-tokens must be an integer/);
});
