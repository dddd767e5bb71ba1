// Issue 30: QLoRA-style fine-tuning — f32 LoRA adapters on a frozen Q4_0 / Q8_0 base. The loss and
// every LoRA gradient equal PyTorch + peft's on the gguf-dequantized base (scripts/make_qlora_fixtures.py
// → test/fixtures/finetune/<pair>/qlora-<type>-grads.json), on Wasm, the reference and WebGPU (the
// gradient reaches the lower layers through matmulNN on the quantized weights; WebGPU on whatever
// adapter Dawn finds, SwiftShader without a GPU, all cases on one device so the pipelines compile
// once); `finetune --quantize q4_0`
// writes a normal PEFT adapter for the original base, which `merge` folds into the original-precision
// weights (merge reads the checkpoint's own files).
import t from 'tap';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { QuantDType } from '../runtime/backend/types.ts';
import { createWebGPUBackend } from '../runtime/backend/webgpu/index.ts';
import { packTrajectories } from '../runtime/train/data.ts';
import { TrainPass } from '../runtime/train/pass.ts';
import { expertDir, type GradsFixture, type Pair, readJson, readLora, relErr, samplesFile, setup } from './helpers/finetune.ts';
import { runCli } from './helpers/cli.ts';
import { nodeGPU } from './helpers/node-gpu.ts';

const CASES: [Pair, QuantDType][] = [
  ['llama-pair', 'q4_0'],
  ['qwen-pair', 'q4_0'],
  ['llama-pair', 'q8_0'],
];

for (const backend of ['wasm', 'reference', 'webgpu'] as const) {
  t.test(`QLoRA gradients vs PyTorch+peft on the dequantized base (${backend})`, async (tt) => {
    const gpu = backend === 'webgpu' ? await nodeGPU() : null;
    if (backend === 'webgpu' && !gpu) {
      const why = 'no WebGPU adapter (install a Vulkan driver or set VK_ICD_FILENAMES)';
      if (process.env.CI) tt.fail(`webgpu: ${why} — required under CI`);
      else tt.pass(`webgpu: ${why}`, { skip: true });
      return;
    }
    const shared = gpu ? await createWebGPUBackend(gpu) : null;
    tt.teardown(() => shared?.destroy());
    for (const [pair, type] of CASES) {
      const fx = readJson<GradsFixture>('finetune', pair, `qlora-${type}-grads.json`);
      const plain = readJson<GradsFixture>('finetune', pair, 'grads.json');
      const { model, adapter, samples } = await setup(pair, shared ?? backend, fx.system, true, type);
      try {
        tt.equal(model.weights.quantized, type, `${pair}: base loaded as ${type}`);
        const batch = fx.batch.samples.map((j) => samples[j]);
        const engine = new TrainPass(model, adapter);
        engine.zeroGrad();
        engine.pass({ trajectories: packTrajectories(batch, true), samples: batch, lossScale: 1 / batch.length, dropoutSeed: 1 });
        const loss = (await model.backend.read(engine.lossSum))[0] / batch.length;
        tt.ok(
          Math.abs(loss - fx.loss) <= 1e-4 * Math.max(1, Math.abs(fx.loss)),
          `${pair} ${type}: loss ${loss} vs ${fx.loss} (unquantized base: ${plain.loss})`,
        );
        const grads = await readLora(model, engine.grads);
        for (const [key, ref] of Object.entries(fx.grads)) {
          const err = relErr(grads.get(key) ?? [], ref.values);
          tt.ok(
            err <= 1e-3,
            `${pair} ${type} ${key}: rel err ${err.toExponential(2)} (vs the unquantized base's grads: ${relErr(plain.grads[key].values, ref.values).toExponential(2)})`,
          );
        }
        tt.equal(grads.size, Object.keys(fx.grads).length, `${pair}: as many LoRA tensors as peft`);
        engine.dispose();
      } finally {
        if (!shared) model.dispose(); // (dispose destroys the backend)
      }
    }
  });
}

t.test('CLI: finetune --quantize q4_0 → a PEFT adapter for the original base; merge keeps its precision', async (tt) => {
  const dir = mkdtempSync(join(tmpdir(), 'lr-qlora-'));
  tt.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const pair: Pair = 'llama-pair',
    expert = expertDir(pair);
  const f = await runCli([
    'finetune',
    '--model',
    expert,
    '--samples',
    samplesFile(pair),
    '--out',
    join(dir, 'adapter'),
    '--backend',
    'wasm',
    '--quiet',
    '--max-steps',
    '2',
    '--batch-size',
    '4',
    '--lr',
    '1e-2',
    '--seed',
    '1',
    '--quantize',
    'q4_0',
  ]);
  tt.equal(f.code, 0, 'finetune --quantize q4_0', { stderr: f.stderr });
  const cfg = JSON.parse(readFileSync(join(dir, 'adapter', 'adapter_config.json'), 'utf8'));
  tt.equal(cfg.peft_type, 'LORA', 'a PEFT LoRA adapter');
  const m = await runCli(['merge', '--model', expert, '--adapter', join(dir, 'adapter'), '--out', join(dir, 'merged'), '--quiet']);
  tt.equal(m.code, 0, 'merge', { stderr: m.stderr });
  // every tensor's dtype, from the safetensors headers (8-byte length, then JSON)
  const dtypes = (d: string) => {
    const out: Record<string, string> = {};
    for (const f of readdirSync(d).filter((x) => x.endsWith('.safetensors'))) {
      const b = readFileSync(join(d, f)),
        n = Number(b.readBigUInt64LE(0));
      for (const [k, v] of Object.entries(JSON.parse(b.subarray(8, 8 + n).toString('utf8')))) if (k !== '__metadata__') out[k] = (v as { dtype: string }).dtype;
    }
    return out;
  };
  tt.same(dtypes(join(dir, 'merged')), dtypes(expert), 'merged: every tensor in the original dtype (not quantized)');
  const bad = await runCli(['finetune', '--model', expert, '--samples', samplesFile(pair), '--out', join(dir, 'x'), '--quantize', 'Q4_0']);
  tt.equal(bad.code, 2, 'a bad --quantize is bad input');
});

t.test('CLI: run --quantize-expert q4_0 — sampling, QLoRA and evaluation on the quantized expert; the report says so', async (tt) => {
  const dir = mkdtempSync(join(tmpdir(), 'lr-qlora-run-'));
  tt.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const models = join(expertDir('llama-pair'), '..');
  const r = await runCli(
    [
      'run',
      '--expert',
      join(models, 'expert'),
      '--amateur',
      join(models, 'amateur'),
      '--max-questions',
      '2',
      '--eval-questions',
      '2',
      '--out',
      join(dir, 'run'),
      '--max-steps',
      '2',
      '--max-new-tokens',
      '16',
      '--eval-max-new-tokens',
      '16',
      '--lr',
      '1e-3',
      '--backend',
      'wasm',
      '--quiet',
      '--json',
      '--quantize-expert',
      'q4_0',
    ],
    { timeoutMs: 600_000 },
  );
  tt.equal(r.code, 0, r.stderr);
  const report = JSON.parse(readFileSync(join(dir, 'run', 'report.json'), 'utf8'));
  tt.equal(report.models.expert.quantized, 'q4_0', 'report: the expert ran as q4_0');
  tt.notOk('quantized' in report.models.amateur, 'report: the amateur as it is');
  tt.ok(JSON.parse(readFileSync(join(dir, 'run', 'adapter', 'adapter_config.json'), 'utf8')).peft_type === 'LORA', 'the adapter is a PEFT LoRA adapter');
});
