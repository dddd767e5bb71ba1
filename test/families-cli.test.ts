// Qwen3 and Gemma 3 through the whole method from the CLI (issue 26 item 3): stage 1 with a
// same-tokenizer amateur, LoRA fine-tuning on those samples, merge, and eval of the merged model —
// on the Wasm backend, in process. The numbers are checked against PyTorch in families.test.ts and
// model-parity.test.ts; this test checks that every command accepts the families end to end.
import t from 'tap';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FIXTURES } from './helpers/cli.ts';
import { runInProcess } from './helpers/cli-in-process.ts';

const DATA = join(FIXTURES, 'sampling', 'questions.jsonl');
/** Each new family as the expert, with an older fixture that shares its tokenizer as the amateur. */
const PAIRS = [
  { expert: 'qwen3-qknorm-tied-bf16', amateur: 'qwen2-tied-bf16' },
  { expert: 'gemma3-sliding-f32', amateur: 'llama-gqa-tied-f32' },
];

for (const { expert, amateur } of PAIRS) {
  t.test(`${expert}: sample, finetune, merge, eval`, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'lr-family-cli-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const model = (name: string) => join(FIXTURES, 'models', name);
    const common = ['--backend', 'wasm', '--quiet'];
    const s = await runInProcess([
      'sample',
      '--expert',
      model(expert),
      '--amateur',
      model(amateur),
      '--data',
      DATA,
      '--out',
      join(dir, 'samples.jsonl'),
      '--alpha',
      '0.2',
      '--beta',
      '0.1',
      '--max-new-tokens',
      '12',
      '--batch-size',
      '3',
      ...common,
    ]);
    t.equal(s.code, 0, 'sample exits 0', { stderr: s.stderr });
    const lines = readFileSync(join(dir, 'samples.jsonl'), 'utf8').trim().split('\n').filter(Boolean);
    t.ok(lines.length > 0, `stage 1 selected ${lines.length} steps`);
    const f = await runInProcess([
      'finetune',
      '--model',
      model(expert),
      '--samples',
      join(dir, 'samples.jsonl'),
      '--out',
      join(dir, 'adapter'),
      '--max-steps',
      '2',
      '--batch-size',
      '4',
      '--lr',
      '1e-3',
      '--seed',
      '1',
      ...common,
    ]);
    t.equal(f.code, 0, 'finetune exits 0', { stderr: f.stderr });
    const cfg = JSON.parse(readFileSync(join(dir, 'adapter', 'adapter_config.json'), 'utf8'));
    t.ok(cfg.target_modules.length > 0, `a PEFT adapter for ${cfg.target_modules.join(', ')}`);
    const m = await runInProcess(['merge', '--model', model(expert), '--adapter', join(dir, 'adapter'), '--out', join(dir, 'merged'), '--quiet']);
    t.equal(m.code, 0, 'merge exits 0', { stderr: m.stderr });
    t.ok(existsSync(join(dir, 'merged', 'config.json')), 'the merged model has its config');
    const e = await runInProcess([
      'eval',
      '--model',
      join(dir, 'merged'),
      '--data',
      DATA,
      '--out',
      join(dir, 'results.jsonl'),
      '--max-new-tokens',
      '12',
      ...common,
    ]);
    t.equal(e.code, 0, 'eval of the merged model exits 0', { stderr: e.stderr });
    const results = readFileSync(join(dir, 'results.jsonl'), 'utf8').trim().split('\n');
    t.equal(results.length, readFileSync(DATA, 'utf8').trim().split('\n').length, 'a result for every problem');
  });
}
