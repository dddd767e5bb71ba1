// `lightreasoner-wasm finetune` end to end on the tiny fixture expert, and its bad-input errors.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { nodePlatform } from '../runtime/platform/node.ts';
import { openModel } from '../runtime/session.ts';
import { finetune } from '../runtime/train/finetune.ts';
import { runInProcess } from './helpers/cli-in-process.ts';
import { expertDir, samplesFile } from './helpers/finetune.ts';

const dir = mkdtempSync(join(tmpdir(), 'lr-finetune-cli-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const model = expertDir('llama-pair');
const lines = readFileSync(samplesFile('llama-pair'), 'utf8').trim().split('\n');

t.test('finetune writes a PEFT adapter, checkpoints, a log and a summary', async (t) => {
  const out = join(dir, 'ok');
  const r = await runInProcess([
    'finetune',
    '--model',
    model,
    '--samples',
    samplesFile('llama-pair'),
    '--out',
    out,
    '--max-steps',
    '3',
    '--batch-size',
    '4',
    '--grad-accum',
    '2',
    '--save-steps',
    '2',
    '--lr',
    '1e-3',
    '--backend',
    'wasm',
    '--quiet',
    '--json',
  ]);
  t.equal(r.code, 0, r.stderr);
  const summary = JSON.parse(r.stdout);
  t.match(summary, { steps: 3, samples: lines.length, tuned_tokens: 24, backend: 'wasm' });
  t.ok(summary.tokens_processed < summary.tokens_unpacked, `packed ${summary.tokens_processed} < unpacked ${summary.tokens_unpacked} tokens`);
  for (const f of [
    'adapter_config.json',
    'adapter_model.safetensors',
    'train_log.jsonl',
    'train_summary.json',
    'checkpoint-2/adapter_model.safetensors',
    'checkpoint-2/optimizer.safetensors',
    'checkpoint-2/trainer_state.json',
  ]) {
    t.ok(existsSync(join(out, f)), f);
  }
  const cfg = JSON.parse(readFileSync(join(out, 'adapter_config.json'), 'utf8'));
  t.match(cfg, { peft_type: 'LORA', task_type: 'CAUSAL_LM', r: 8, lora_alpha: 16, lora_dropout: 0.05, target_modules: ['q_proj', 'v_proj'], bias: 'none' });
  const log = readFileSync(join(out, 'train_log.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  t.equal(log.length, 3);
  t.match(log[0], { step: 1, lr: 1e-3, loss: Number, grad_norm: Number, samples_per_s: Number });
  t.ok(log[1].lr < log[0].lr, 'linear decay');
});

const bad: [string, string, RegExp][] = [
  ['empty file', '', /no samples \(the file is empty\)/],
  [
    'id beyond the vocabulary',
    JSON.stringify({ ...JSON.parse(lines[0]), token_ids: [3, 449], weights: [0.5, 0.5] }),
    /:1: "token_ids" holds 449, outside the model's vocabulary \(vocab_size 449\)/,
  ],
  ['prefix id beyond the vocabulary', JSON.stringify({ ...JSON.parse(lines[0]), prefix_token_ids: [5, 100000] }), /:1: "prefix_token_ids" holds 100000/],
  ['negative weight', JSON.stringify({ ...JSON.parse(lines[0]), token_ids: [3, 4], weights: [1.5, -0.5] }), /:1: "weights" holds a negative weight/],
  [
    'weights not summing to 1',
    lines[0] + '\n' + JSON.stringify({ ...JSON.parse(lines[1]), weights: JSON.parse(lines[1]).weights.map((w: number) => w / 2) }),
    /:2: "weights" sum to 0\.5/,
  ],
  ['weights and ids of different lengths', JSON.stringify({ ...JSON.parse(lines[0]), weights: [1] }), /:1: "weights" has 1 entries but "token_ids" has 2/],
  ['not JSON', '{oops', /:1: not valid JSON/],
];
// Through the API (a CLI process per case would cost seconds each); the CLI's exit code once below.
t.test('bad input: a clear error naming line and field, nothing written', async (t) => {
  const lm = await openModel(model, { platform: nodePlatform, backend: 'wasm' });
  t.teardown(() => lm.dispose());
  for (const [name, text, message] of bad) {
    const out = join(dir, `bad-${name.replace(/\W+/g, '-')}`);
    await t.rejects(
      finetune({ fs: nodePlatform.fs, model: lm, samplesText: text, samplesFile: 'in.jsonl', out, settings: { maxSteps: 1 } }),
      { code: 'BAD_INPUT', message },
      name,
    );
    t.notOk(existsSync(join(out, 'adapter_model.safetensors')), `${name}: no adapter written`);
  }
  // The reference's format is accepted by re-tokenizing, with a warning.
  const refText = lines
    .slice(0, 4)
    .map((l) => {
      const s = JSON.parse(l);
      return JSON.stringify({
        prompt_id: s.question,
        step: s.step,
        prefix: s.prefix,
        tokens: s.tokens,
        token_ids: s.token_ids,
        weights: s.weights,
        kl_divergence: s.kl_divergence,
      });
    })
    .join('\n');
  const warnings: string[] = [];
  const summary = await finetune({
    fs: nodePlatform.fs,
    model: lm,
    samplesText: refText,
    out: join(dir, 'ref'),
    settings: { maxSteps: 1, saveSteps: 0 },
    onWarning: (m) => warnings.push(m),
  });
  t.equal(summary.steps, 1);
  t.match(warnings.join('\n'), /4 of 4 samples .*re-tokenized/);
});

t.test('the CLI exits 2 on bad input', async (t) => {
  const file = join(dir, 'empty.jsonl');
  writeFileSync(file, '\n');
  const r = await runInProcess(['finetune', '--model', model, '--samples', file, '--out', join(dir, 'empty'), '--backend', 'wasm', '--quiet']);
  t.equal(r.code, 2);
  t.match(r.stderr, /empty\.jsonl: no samples \(the file is empty\)/);
});

t.test('bad options', async (t) => {
  const r = await runInProcess([
    'finetune',
    '--model',
    model,
    '--samples',
    samplesFile('llama-pair'),
    '--out',
    join(dir, 'x'),
    '--target-modules',
    'q_proj,lm_head',
  ]);
  t.equal(r.code, 2);
  t.match(r.stderr, /--target-modules.*choose from q_proj/);
});
