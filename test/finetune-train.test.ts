// The optimizer against PyTorch (three AdamW steps with HF Trainer semantics: batchmean over
// batch × grad-accum, clipping at 1.0, linear decay), exact resume, and that training lowers the KL.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { createWebGPUBackend } from '../runtime/backend/webgpu/index.ts';
import { nodePlatform } from '../runtime/platform/node.ts';
import { finetune, type FinetuneEvent } from '../runtime/train/finetune.ts';
import { Trainer } from '../runtime/train/trainer.ts';
import { nodeGPU } from './helpers/node-gpu.ts';
import { maxAbs, PAIRS, readJson, readLora, samplesFile, setup, type StepsFixture } from './helpers/finetune.ts';

const tmp = () => mkdtempSync(join(tmpdir(), 'lr-finetune-'));

// WebGPU (SwiftShader on CI: slow) runs the llama pair only; the WGSL kernels of every op are also
// checked against the gradient fixtures in finetune-grads.test.ts.
for (const backend of ['reference', 'wasm', 'webgpu'] as const) {
  t.test(`three AdamW steps match PyTorch (${backend})`, async (t) => {
    let gpu: GPU | null = null;
    if (backend === 'webgpu') {
      gpu = await nodeGPU();
      if (!gpu) {
        const why = 'no WebGPU adapter (install a Vulkan driver or set VK_ICD_FILENAMES)';
        if (process.env.CI) t.fail(`webgpu: ${why} — required under CI`);
        else t.pass(`webgpu: ${why}`, { skip: true });
        return;
      }
    }
    for (const pair of gpu ? (['llama-pair'] as const) : PAIRS) {
      const fx = readJson<StepsFixture>('finetune', pair, 'steps.json');
      const { model, adapter, samples } = await setup(pair, gpu ? await createWebGPUBackend(gpu) : backend, fx.system);
      const tr = fx.train;
      const trainer = new Trainer(model, adapter, samples, {
        batchSize: tr.batch_size,
        gradAccum: tr.grad_accum,
        maxSteps: tr.max_steps,
        lr: tr.lr,
        seed: 0,
        shuffle: false,
        packed: true,
        maxRowsPerPass: 4096,
        maxGradNorm: tr.max_grad_norm,
      });
      try {
        for (const want of fx.steps) {
          t.same(trainer.nextStepSamples(), want.samples, `${pair} step ${want.step}: samples in file order`);
          const r = await trainer.step();
          t.ok(Math.abs(r.loss - want.loss) <= 1e-4 * Math.max(1, want.loss), `${pair} step ${r.step}: loss ${r.loss} vs ${want.loss}`);
          t.ok(Math.abs(r.grad_norm - want.grad_norm) <= 1e-3 * want.grad_norm, `${pair} step ${r.step}: grad_norm ${r.grad_norm} vs ${want.grad_norm}`);
          t.ok(Math.abs(r.lr - want.lr) <= 1e-12, `${pair} step ${r.step}: lr ${r.lr}`);
          const lora = await readLora(model, adapter.layers);
          let worst = 0;
          for (const [key, ref] of Object.entries(want.lora_after)) worst = Math.max(worst, maxAbs(lora.get(key)!, ref.values));
          t.ok(worst <= 1e-4, `${pair} step ${r.step}: max |LoRA − torch| ${worst.toExponential(2)}`);
        }
      } finally {
        trainer.dispose();
        model.dispose();
      }
    }
  });
}

t.test('resume is exact: 4 steps = 2 steps + resume + 2 steps (with dropout and shuffling)', async (t) => {
  const pair = 'llama-pair';
  const text = readFileSync(samplesFile(pair), 'utf8');
  const settings = {
    batchSize: 2,
    gradAccum: 2,
    maxSteps: 4,
    saveSteps: 2,
    lr: 1e-2,
    seed: 7,
    lora: { r: 4, alpha: 8, dropout: 0.1, targetModules: ['q_proj', 'v_proj', 'down_proj'] as ('q_proj' | 'v_proj' | 'down_proj')[] },
  };
  const run = async (out: string, resume: boolean, stopAfter?: number) => {
    const { model } = await setup(pair, 'wasm', 'Please reason step by step.', false);
    const ctl = new AbortController();
    try {
      return await finetune({
        fs: nodePlatform.fs,
        model,
        samplesText: text,
        out,
        settings,
        resume,
        signal: ctl.signal,
        onEvent: (e: FinetuneEvent) => {
          if (e.status === 'checkpoint' && e.step === stopAfter) ctl.abort();
        },
      });
    } finally {
      model.dispose();
    }
  };
  const a = tmp(),
    b = tmp();
  try {
    await run(a, false);
    await t.rejects(run(b, false, 2), { code: 'ABORTED' }, 'the first run stops after the step-2 checkpoint');
    const resumed = await run(b, true);
    t.equal(resumed.steps, 4);
    const bytes = (d: string) => readFileSync(join(d, 'adapter_model.safetensors'));
    t.ok(bytes(a).equals(bytes(b)), 'final adapters are byte-identical');
    t.ok(
      readFileSync(join(a, 'checkpoint-4', 'optimizer.safetensors')).equals(readFileSync(join(b, 'checkpoint-4', 'optimizer.safetensors'))),
      'optimizer states are byte-identical',
    );
    const log = (d: string) =>
      readFileSync(join(d, 'train_log.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l))
        .map(({ step, loss, lr, grad_norm }) => ({ step, loss, lr, grad_norm }));
    t.same(log(b), log(a), 'train logs agree (step, loss, lr, grad_norm)');
    const summary = JSON.parse(readFileSync(join(b, 'train_summary.json'), 'utf8'));
    t.equal(summary.tuned_tokens, 16, 'tuned tokens count every step of both runs');
    t.ok(summary.tokens_processed < summary.tokens_unpacked, `packing: ${summary.tokens_processed} vs ${summary.tokens_unpacked} tokens`);
    const cfg = JSON.parse(readFileSync(join(b, 'adapter_config.json'), 'utf8'));
    t.match(cfg, { peft_type: 'LORA', r: 4, lora_alpha: 8, lora_dropout: 0.1, target_modules: ['q_proj', 'v_proj', 'down_proj'] });
  } finally {
    rmSync(a, { recursive: true, force: true });
    rmSync(b, { recursive: true, force: true });
  }
});

t.test('training on the fixtures lowers the KL loss', async (t) => {
  for (const pair of PAIRS) {
    const text = readFileSync(samplesFile(pair), 'utf8');
    const { model, samples } = await setup(pair, 'wasm', 'Please reason step by step.', false);
    const out = tmp();
    try {
      const losses: number[] = [];
      const summary = await finetune({
        fs: nodePlatform.fs,
        model,
        samplesText: text,
        out,
        settings: {
          batchSize: samples.length,
          gradAccum: 1,
          maxSteps: 30,
          saveSteps: 0,
          lr: 1e-2,
          seed: 3,
          lora: { r: 8, alpha: 16, dropout: 0, targetModules: ['q_proj', 'v_proj'] },
        },
        onEvent: (e) => {
          if (e.status === 'step') losses.push(e.loss);
        },
      });
      t.equal(losses.length, 30);
      t.ok(losses[29] < 0.8 * losses[0], `${pair}: full-batch KL ${losses[0].toFixed(4)} → ${losses[29].toFixed(4)}`);
      t.ok(summary.packing_ratio > 3, `${pair}: packing ratio ${summary.packing_ratio.toFixed(1)}`);
    } finally {
      model.dispose();
      rmSync(out, { recursive: true, force: true });
    }
  }
});
