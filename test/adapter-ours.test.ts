// Our adapter, as PEFT sees it. test/fixtures/finetune/<pair>/ours-adapter/ is written by this
// file (a deterministic LoRA on all seven linear modules, r 4, alpha 8); the fixtures script loads
// it with PeftModel.from_pretrained (strict: no missing or unexpected keys) and records peft's
// logits in ours-adapter.logits.json. Regenerate both with:
//   WRITE_OURS_ADAPTER=1 npx tap test/adapter-ours.test.ts && .venv-ref/bin/python scripts/make_finetune_fixtures.py
// Without WRITE_OURS_ADAPTER this test checks that the committed adapter is exactly what our
// writer produces today, and that our logits with it match peft's on every backend.
import t from 'tap';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createBackend } from '../runtime/backend/index.ts';
import { ReferenceBackend } from '../runtime/backend/reference.ts';
import { type CausalLM, loadModel } from '../runtime/model/model.ts';
import { randomValues } from '../tooling/random-model.ts';
import { nodePlatform } from '../runtime/platform/node.ts';
import { LORA_TARGETS } from '../runtime/train/lora.ts';
import { type HostAdapter, loadAdapter, saveAdapter, targetShape, uploadAdapter } from '../runtime/train/peft.ts';
import { FIXTURES } from './helpers/cli.ts';
import { nodeGPU } from './helpers/node-gpu.ts';

const fs = nodePlatform.fs;
const FT = join(FIXTURES, 'finetune');
const PAIRS = ['llama-pair', 'qwen-pair'];
const WRITE = process.env.WRITE_OURS_ADAPTER === '1';

/** The adapter we hand to peft: every target module, nonzero A and B, fixed seed per pair. */
function oursAdapter(model: CausalLM, seed: number): HostAdapter {
  const r = 4,
    alpha = 8;
  let s = seed;
  const layers = [];
  for (let l = 0; l < model.config.layers; l++) {
    const pairs: HostAdapter['layers'][number] = {};
    for (const tg of LORA_TARGETS) {
      const [out, inp] = targetShape(model.config, tg);
      pairs[tg] = { a: randomValues(r * inp, s++ * 2654435761, 0.25), b: randomValues(out * r, s++ * 2654435761, 0.25) };
    }
    layers.push(pairs);
  }
  return { config: { r, alpha, dropout: 0.05, targetModules: [...LORA_TARGETS] }, scaling: alpha / r, layers };
}

async function writeOurs(pair: string, dir: string): Promise<void> {
  const base = join(FIXTURES, 'sampling', 'models', pair, 'expert');
  const model = await loadModel(base, { fs, backend: new ReferenceBackend() });
  const host = oursAdapter(model, 1000 + PAIRS.indexOf(pair) * 100);
  // Through the public path: upload to the backend, then saveAdapter reads it back and writes.
  await saveAdapter(fs, dir, uploadAdapter(host, model.backend, model.config), model, { baseModelNameOrPath: `test/fixtures/sampling/models/${pair}/expert` });
}

function tolRatio(got: ArrayLike<number>, ref: ArrayLike<number>): number {
  if (got.length !== ref.length) return Infinity;
  let worst = 0;
  for (let i = 0; i < ref.length; i++) {
    const r = Math.abs(got[i] - ref[i]) / (1e-4 + 1e-4 * Math.abs(ref[i]));
    if (!(r <= worst)) worst = r;
  }
  return worst;
}

async function lastLogits(model: CausalLM, ids: number[]): Promise<Float32Array> {
  const T = ids.length;
  const cache = model.createCache(1, T);
  try {
    const rows = new Int32Array(2 * T);
    for (let i = 0; i < T; i++) rows[2 * i + 1] = i;
    return (await model.backend.read(model.forward({ tokens: Int32Array.from(ids), rows, logitRows: Int32Array.of(T - 1) }, cache))) as Float32Array;
  } finally {
    model.disposeCache(cache);
  }
}

for (const pair of PAIRS) {
  const dir = join(FT, pair, 'ours-adapter');
  t.test(`${pair}: ours-adapter`, async (t) => {
    if (WRITE) {
      await writeOurs(pair, dir);
      t.pass(`wrote ${dir}; now run .venv-ref/bin/python scripts/make_finetune_fixtures.py to record peft's logits`);
      return;
    }
    if (!existsSync(dir)) {
      if (process.env.CI) t.fail(`${dir} missing (WRITE_OURS_ADAPTER=1 npx tap test/adapter-ours.test.ts)`);
      else t.pass(`${dir} not written yet (WRITE_OURS_ADAPTER=1 npx tap test/adapter-ours.test.ts)`, { skip: true });
      return;
    }
    // The committed files are byte for byte what the writer gives now.
    const again = mkdtempSync(join(tmpdir(), 'lr-ours-'));
    t.teardown(() => rmSync(again, { recursive: true, force: true }));
    await writeOurs(pair, join(again, 'a'));
    for (const f of ['adapter_config.json', 'adapter_model.safetensors']) {
      t.ok(readFileSync(join(dir, f)).equals(readFileSync(join(again, 'a', f))), `${f} is reproduced exactly by saveAdapter`);
    }
    const logitsFile = join(FT, pair, 'ours-adapter.logits.json');
    if (!existsSync(logitsFile)) {
      if (process.env.CI) t.fail(`${logitsFile} missing: run scripts/make_finetune_fixtures.py`);
      else t.pass(`${logitsFile} not recorded yet (.venv-ref/bin/python scripts/make_finetune_fixtures.py)`, { skip: true });
      return;
    }
    const rec = JSON.parse(readFileSync(logitsFile, 'utf8'));
    const header = JSON.parse(
      readFileSync(join(dir, 'adapter_model.safetensors'))
        .subarray(8, 8 + Number(readFileSync(join(dir, 'adapter_model.safetensors')).readBigUInt64LE(0)))
        .toString(),
    );
    t.same(
      [...rec.keys].sort(),
      Object.keys(header)
        .filter((k) => k !== '__metadata__')
        .sort(),
      'peft expected exactly our keys',
    );
    const gpu = await nodeGPU();
    for (const kind of ['reference', 'wasm', 'webgpu'] as const) {
      if (kind === 'webgpu' && !gpu) {
        if (process.env.CI) t.fail('no WebGPU adapter in CI');
        else t.pass('no WebGPU adapter here', { skip: true });
        continue;
      }
      const model = await loadModel(join(FIXTURES, 'sampling', 'models', pair, 'expert'), { fs, backend: await createBackend(kind, nodePlatform) });
      try {
        model.adapter = await loadAdapter(fs, dir, model);
        for (const [i, p] of rec.prompts.entries()) {
          const r = tolRatio(await lastLogits(model, p.input_ids), p.logits);
          t.ok(r <= 1, `[${kind}] prompt ${i}: our logits with our adapter = peft's (worst ${r.toFixed(3)} of tol)`);
        }
      } finally {
        model.dispose();
      }
    }
  });
}
