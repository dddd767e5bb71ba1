// LoRA adapters in PEFT's format: save → load round trip, the adapter applied in forward, refusal
// of adapters that do not fit the model, and (when test/fixtures/finetune/ has them) parity with
// the logits peft computed for its own adapter.
import t from 'tap';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createBackend } from '../runtime/backend/index.ts';
import { ReferenceBackend } from '../runtime/backend/reference.ts';
import type { Backend } from '../runtime/backend/types.ts';
import { LightReasonerError } from '../runtime/errors.ts';
import { encodeSafetensors, readSafetensorsHeader } from '../runtime/io/safetensors.ts';
import { type CausalLM, loadModel } from '../runtime/model/model.ts';
import { randomValues } from '../tooling/random-model.ts';
import { nodePlatform } from '../runtime/platform/node.ts';
import type { LoraTarget } from '../runtime/train/lora.ts';
import { type HostAdapter, loadAdapter, readAdapter, saveAdapter, saveHostAdapter, targetShape, uploadAdapter } from '../runtime/train/peft.ts';
import { encodeFromF32 } from '../runtime/util/dtype.ts';
import { FIXTURES } from './helpers/cli.ts';
import { runInProcess } from './helpers/cli-in-process.ts';
import { nodeGPU } from './helpers/node-gpu.ts';

const fs = nodePlatform.fs;
const MODEL = join(FIXTURES, 'models', 'llama-gqa-tied-f32');

function tmp(prefix = 'lr-adapter-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A deterministic adapter with nonzero A and B (so it changes the logits). */
function randomAdapter(model: CausalLM, targets: LoraTarget[], r = 4, alpha = 8, seed = 7): HostAdapter {
  let s = seed;
  const layers = [];
  for (let l = 0; l < model.config.layers; l++) {
    const pairs: HostAdapter['layers'][number] = {};
    for (const tg of targets) {
      const [out, inp] = targetShape(model.config, tg);
      pairs[tg] = { a: randomValues(r * inp, s++ * 2654435761, 0.3), b: randomValues(out * r, s++ * 2654435761, 0.3) };
    }
    layers.push(pairs);
  }
  return { config: { r, alpha, dropout: 0.05, targetModules: targets }, scaling: alpha / r, layers };
}

async function lastLogits(model: CausalLM, ids: number[]): Promise<Float32Array> {
  const T = ids.length;
  const cache = model.createCache(1, T);
  try {
    const rows = new Int32Array(2 * T);
    for (let i = 0; i < T; i++) rows[2 * i + 1] = i;
    const logits = model.forward({ tokens: Int32Array.from(ids), rows, logitRows: Int32Array.of(T - 1) }, cache);
    return (await model.backend.read(logits)) as Float32Array;
  } finally {
    model.disposeCache(cache);
  }
}

/** max over i of |got − ref| / (1e-4 + 1e-4·|ref|): ≤ 1 passes. */
function tolRatio(got: ArrayLike<number>, ref: ArrayLike<number>): number {
  if (got.length !== ref.length) return Infinity;
  let worst = 0;
  for (let i = 0; i < ref.length; i++) {
    const r = Math.abs(got[i] - ref[i]) / (1e-4 + 1e-4 * Math.abs(ref[i]));
    if (!(r <= worst)) worst = r;
  }
  return worst;
}

async function loadErr(p: Promise<unknown>): Promise<LightReasonerError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof LightReasonerError) return e;
    throw e;
  }
  throw new Error('expected a LightReasonerError');
}

const PROMPT = [5, 17, 42, 3, 99, 256, 8, 77, 12];

t.test('save → load round trip is exact, and the files are PEFT-shaped', async (t) => {
  const model = await loadModel(MODEL, { fs, backend: new ReferenceBackend() });
  const host = randomAdapter(model, ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj']);
  const adapter = uploadAdapter(host, model.backend, model.config);
  const dir = join(tmp(), 'adapter');
  await saveAdapter(fs, dir, adapter, model, { baseModelNameOrPath: 'HuggingFaceTB/tiny' });
  t.same(readdirSync(dir).sort(), ['adapter_config.json', 'adapter_model.safetensors']);
  t.notOk(
    readdirSync(join(dir, '..')).some((n) => n.includes('.tmp-')),
    'no temp directory left beside it',
  );
  const cfg = JSON.parse(readFileSync(join(dir, 'adapter_config.json'), 'utf8'));
  t.match(cfg, {
    peft_type: 'LORA',
    task_type: 'CAUSAL_LM',
    r: 4,
    lora_alpha: 8,
    lora_dropout: 0.05,
    bias: 'none',
    base_model_name_or_path: 'HuggingFaceTB/tiny',
  });
  t.same(cfg.target_modules, ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj']);
  const header = await readSafetensorsHeader(fs, join(dir, 'adapter_model.safetensors'));
  t.same(header.metadata, { format: 'pt' });
  t.equal(header.tensors.size, 2 * 7 * model.config.layers);
  t.same(header.tensors.get('base_model.model.model.layers.1.mlp.down_proj.lora_A.weight')?.shape, [4, model.config.intermediateSize]);
  t.same(header.tensors.get('base_model.model.model.layers.1.mlp.down_proj.lora_B.weight')?.shape, [model.config.hiddenSize, 4]);
  t.ok([...header.tensors.values()].every((e) => e.dtype === 'F32'));

  const back = await loadAdapter(fs, dir, model);
  t.same(back.config, host.config);
  t.equal(back.scaling, 2);
  let exact = true;
  for (let l = 0; l < model.config.layers; l++) {
    for (const tg of host.config.targetModules) {
      const a = (await model.backend.read(back.layers[l][tg]!.a)) as Float32Array;
      const b = (await model.backend.read(back.layers[l][tg]!.b)) as Float32Array;
      exact &&= Buffer.compare(Buffer.from(a.buffer), Buffer.from(host.layers[l][tg]!.a.buffer)) === 0;
      exact &&= Buffer.compare(Buffer.from(b.buffer), Buffer.from(host.layers[l][tg]!.b.buffer)) === 0;
    }
  }
  t.ok(exact, 'every A and B comes back bit for bit');
  // Saving again over an existing adapter replaces it as a whole.
  await saveAdapter(fs, dir, back, model, { baseModelNameOrPath: 'again' });
  t.equal(JSON.parse(readFileSync(join(dir, 'adapter_config.json'), 'utf8')).base_model_name_or_path, 'again');
  t.notOk(
    readdirSync(join(dir, '..')).some((n) => n !== 'adapter'),
    'no temp or old directory left after replacing',
  );
});

t.test('the adapter changes forward exactly as y += scaling·(x·Aᵀ)·Bᵀ (zero B = base)', async (t) => {
  const model = await loadModel(MODEL, { fs, backend: new ReferenceBackend() });
  const base = await lastLogits(model, PROMPT);
  const host = randomAdapter(model, ['q_proj', 'v_proj']);
  // B = 0 (PEFT's initialisation): logits must not move at all.
  const zero: HostAdapter = {
    ...host,
    layers: host.layers.map((p) => Object.fromEntries(Object.entries(p).map(([k, v]) => [k, { a: v!.a, b: new Float32Array(v!.b.length) }]))),
  };
  model.adapter = uploadAdapter(zero, model.backend, model.config);
  t.same(await lastLogits(model, PROMPT), base, 'B = 0 leaves logits bit for bit');
  model.adapter = uploadAdapter(host, model.backend, model.config);
  const adapted = await lastLogits(model, PROMPT);
  const diff = adapted.reduce((m, v, i) => Math.max(m, Math.abs(v - base[i])), 0);
  t.ok(diff > 1e-2, `a nonzero adapter moves the logits (max |Δ| ${diff.toFixed(3)})`);
  // Folding scaling·B·A into an f32 copy of the weights gives the same logits.
  const dir = tmp();
  const adapterDir = join(dir, 'a');
  await saveHostAdapter(fs, adapterDir, host, model.config, MODEL);
  const { mergeAdapter } = await import('../runtime/train/merge.ts');
  await mergeAdapter(fs, MODEL, adapterDir, join(dir, 'merged'));
  const merged = await loadModel(join(dir, 'merged'), { fs, backend: new ReferenceBackend() });
  const r = tolRatio(await lastLogits(merged, PROMPT), adapted);
  t.ok(r <= 0.05, `merged f32 model = base + adapter (worst ${r.toFixed(4)} of the tolerance)`);
});

t.test('generate --adapter applies the adapter; a bad adapter fails before generating', async (t) => {
  const model = await loadModel(MODEL, { fs, backend: new ReferenceBackend() });
  const dir = tmp();
  await saveHostAdapter(fs, join(dir, 'a'), randomAdapter(model, ['q_proj', 'v_proj', 'down_proj'], 8, 32, 11), model.config, MODEL);
  const plain = await runInProcess(['generate', '--model', MODEL, '--prompt', 'Question: 6 * 7', '--max-new-tokens', '8', '--backend', 'reference', '--json']);
  const withA = await runInProcess([
    'generate',
    '--model',
    MODEL,
    '--prompt',
    'Question: 6 * 7',
    '--max-new-tokens',
    '8',
    '--backend',
    'reference',
    '--json',
    '--adapter',
    join(dir, 'a'),
  ]);
  t.equal(plain.code, 0, plain.stderr);
  t.equal(withA.code, 0, withA.stderr);
  const p = JSON.parse(plain.stdout),
    a = JSON.parse(withA.stdout);
  t.same(a.prompt_token_ids, p.prompt_token_ids);
  t.notSame(a.token_ids, p.token_ids, 'the adapter changes the greedy continuation');
  // The same ids as the API with the adapter set.
  model.adapter = await loadAdapter(fs, join(dir, 'a'), model);
  const { generateGreedy } = await import('../runtime/model/generate.ts');
  const { tokens } = await generateGreedy(model, [p.prompt_token_ids], { maxNewTokens: 8 });
  t.same(a.token_ids, tokens[0], 'CLI = API');

  const bad = await runInProcess(['generate', '--model', MODEL, '--prompt', 'x', '--backend', 'reference', '--adapter', join(dir, 'nope')]);
  t.not(bad.code, 0);
  t.match(bad.stderr, /nope.*adapter_config\.json: not found/);
  const notAdapter = await runInProcess(['generate', '--model', MODEL, '--prompt', 'x', '--backend', 'reference', '--adapter', MODEL]);
  t.equal(notAdapter.code, 2);
  t.match(notAdapter.stderr, /is a model directory, not an adapter/);
  const other = await runInProcess([
    'generate',
    '--model',
    join(FIXTURES, 'models', 'qwen2-tied-bf16'),
    '--prompt',
    'x',
    '--backend',
    'reference',
    '--adapter',
    join(dir, 'a'),
  ]);
  t.equal(other.code, 2, 'adapter for another model: exit 2');
  t.match(other.stderr, /q_proj\.lora_A\.weight" has shape \[8, 64\] but this model's q_proj needs \[8, 48\].*another model/);
  t.equal(other.stdout, '');
});

t.test('bad adapters are refused with errors naming the file and key', async (t) => {
  const model = await loadModel(MODEL, { fs, backend: new ReferenceBackend() });
  const root = tmp();
  let n = 0;
  /** Write a good adapter, let `edit` change its config and tensors, return its directory. */
  async function variant(
    edit: (cfg: Record<string, any>, tensors: Map<string, { dtype: 'F32' | 'F16' | 'BF16'; shape: number[]; data: Uint8Array }>) => void,
  ): Promise<string> {
    const dir = join(root, `v${n++}`);
    await saveHostAdapter(fs, dir, randomAdapter(model, ['q_proj', 'v_proj']), model.config, MODEL);
    const cfg = JSON.parse(readFileSync(join(dir, 'adapter_config.json'), 'utf8'));
    const header = await readSafetensorsHeader(fs, join(dir, 'adapter_model.safetensors'));
    const buf = readFileSync(join(dir, 'adapter_model.safetensors'));
    const tensors = new Map(
      [...header.tensors].map(([k, e]) => [
        k,
        { dtype: e.dtype as 'F32', shape: e.shape, data: new Uint8Array(buf.subarray(e.offset, e.offset + e.byteLength)) },
      ]),
    );
    edit(cfg, tensors);
    writeFileSync(join(dir, 'adapter_config.json'), JSON.stringify(cfg));
    writeFileSync(
      join(dir, 'adapter_model.safetensors'),
      encodeSafetensors(
        [...tensors].map(([name, v]) => ({ name, ...v })),
        { format: 'pt' },
      ),
    );
    return dir;
  }
  const err = (dir: string) => loadErr(loadAdapter(fs, dir, model));
  const qA = 'base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight';
  const qB = 'base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight';

  let e = await err(await variant((c) => (c.peft_type = 'IA3')));
  t.equal(e.code, 'UNSUPPORTED');
  t.match(e.message, /adapter_config\.json: peft_type is "IA3", not "LORA"/);

  e = await err(await variant((c) => (c.r = 8)));
  t.equal(e.code, 'MODEL_FORMAT');
  t.match(e.message, new RegExp(`adapter_model\\.safetensors: tensor "${qA.replace(/\./g, '\\.')}" has rank 4 .*adapter_config\\.json says r = 8`));

  e = await err(await variant((_, ts) => ts.delete(qB)));
  t.equal(e.code, 'MODEL_FORMAT');
  t.match(e.message, /adapter_model\.safetensors: missing tensor "base_model\.model\.model\.layers\.0\.self_attn\.q_proj\.lora_B\.weight"/);

  e = await err(
    await variant((_, ts) =>
      ts.set('base_model.model.model.layers.0.mlp.up_proj.lora_A.weight', { dtype: 'F32', shape: [4, 64], data: new Uint8Array(4 * 64 * 4) }),
    ),
  );
  t.equal(e.code, 'MODEL_FORMAT');
  t.match(e.message, /adapter_model\.safetensors: unexpected tensor "base_model\.model\.model\.layers\.0\.mlp\.up_proj\.lora_A\.weight"/);

  e = await err(await variant((_, ts) => ts.set('base_model.model.lm_head.weight', { dtype: 'F32', shape: [1], data: new Uint8Array(4) })));
  t.match(e.message, /unexpected tensor "base_model\.model\.lm_head\.weight"/);

  e = await err(
    await variant((_, ts) => {
      ts.set('base_model.model.model.layers.2.self_attn.q_proj.lora_A.weight', ts.get(qA)!);
    }),
  );
  t.equal(e.code, 'BAD_INPUT');
  t.match(e.message, /layers\.2\..*decoder layer 2 but the model has 2 layers.*another model/);

  e = await err(await variant((_, ts) => ts.set(qA, { dtype: 'F32', shape: [4, 32], data: new Uint8Array(4 * 32 * 4) })));
  t.equal(e.code, 'BAD_INPUT');
  t.match(e.message, /q_proj\.lora_A\.weight" has shape \[4, 32\] but this model's q_proj needs \[4, 64\]/);

  e = await err(await variant((_, ts) => ts.set(qA, { ...ts.get(qA)!, dtype: 'I32' as 'F32' })));
  t.equal(e.code, 'UNSUPPORTED');
  t.match(e.message, /q_proj\.lora_A\.weight" has dtype I32/);

  e = await err(await variant((c) => (c.use_dora = true)));
  t.match(e.message, /uses DoRA/);
  e = await err(await variant((c) => (c.target_modules = ['q_proj', 'lm_head'])));
  t.match(e.message, /target_modules \["lm_head"\] are not linear layers/);
  e = await err(await variant((c) => (c.target_modules = '.*proj')));
  t.match(e.message, /regex patterns are not supported/);

  const noWeights = await variant(() => {});
  rmSync(join(noWeights, 'adapter_model.safetensors'));
  e = await err(noWeights);
  t.equal(e.code, 'NOT_FOUND');
  t.match(e.message, /adapter_model\.safetensors: not found/);

  const badJson = await variant(() => {});
  writeFileSync(join(badJson, 'adapter_config.json'), '{"peft_type": "LORA", ');
  t.match((await err(badJson)).message, /adapter_config\.json: not valid JSON/);
});

t.test('PEFT variants load: `.default` keys, F16/BF16 tensors, target order, use_rslora', async (t) => {
  const model = await loadModel(MODEL, { fs, backend: new ReferenceBackend() });
  const host = randomAdapter(model, ['v_proj', 'q_proj']);
  const dir = tmp();
  for (const [dtype, tag] of [
    ['F32', 'default'],
    ['F16', 'f16'],
    ['BF16', 'bf16'],
  ] as const) {
    const tensors = [];
    for (let l = 0; l < model.config.layers; l++) {
      for (const tg of ['q_proj', 'v_proj'] as const) {
        const [out, inp] = targetShape(model.config, tg);
        const p = host.layers[l][tg]!;
        const base = `base_model.model.model.layers.${l}.self_attn.${tg}`;
        const name = (ab: string) => (tag === 'default' ? `${base}.lora_${ab}.default.weight` : `${base}.lora_${ab}.weight`);
        const enc = (x: Float32Array) => encodeFromF32(dtype === 'F32' ? 'f32' : dtype === 'F16' ? 'f16' : 'bf16', x);
        tensors.push({ name: name('A'), dtype, shape: [4, inp], data: enc(p.a) }, { name: name('B'), dtype, shape: [out, 4], data: enc(p.b) });
      }
    }
    const d = join(dir, tag);
    await saveHostAdapter(fs, d, host, model.config, MODEL);
    writeFileSync(join(d, 'adapter_model.safetensors'), encodeSafetensors(tensors, { format: 'pt' }));
    const cfg = JSON.parse(readFileSync(join(d, 'adapter_config.json'), 'utf8'));
    writeFileSync(join(d, 'adapter_config.json'), JSON.stringify({ ...cfg, target_modules: ['v_proj', 'q_proj'], use_rslora: tag === 'bf16' }));
    const got = await readAdapter(fs, d, model.config);
    t.same(got.config.targetModules, ['q_proj', 'v_proj'], `${tag}: targets in the model's order`);
    t.equal(got.scaling, tag === 'bf16' ? 8 / Math.sqrt(4) : 2, `${tag}: scaling`);
    const a = got.layers[1].v_proj!.a,
      want = host.layers[1].v_proj!.a;
    const err = a.reduce((m, v, i) => Math.max(m, Math.abs(v - want[i])), 0);
    t.ok(dtype === 'F32' ? err === 0 : err < 2e-3, `${tag}: values decoded (max |Δ| ${err})`);
  }
});

// ---- parity with peft (fixtures written by scripts/make_finetune_fixtures.py) ------------------

/** test/fixtures/finetune/<pair>/merged_logits.json (scripts/make_finetune_fixtures.py). */
interface MergedLogits {
  base_model_dir: string;
  init_adapter_dir: string;
  prompts: { input_ids: number[]; base_logits: number[]; adapter_logits: number[]; merged_logits: number[] }[];
}

const FT = join(FIXTURES, 'finetune');
// The stage-2 pairs only: finetune/<model>/ of scripts/make_family_fixtures.py (Qwen3, Gemma 3) belong to
// the family parity tests.
const pairs = existsSync(FT)
  ? readdirSync(FT).filter(
      (p) => p.endsWith('-pair') && existsSync(join(FT, p, 'init-adapter', 'adapter_config.json')) && existsSync(join(FT, p, 'merged_logits.json')),
    )
  : [];

t.test('peft fixtures: init-adapter logits match peft on every backend', async (t) => {
  if (pairs.length === 0) {
    if (process.env.CI) t.fail('test/fixtures/finetune/<pair>/{init-adapter,merged_logits.json} missing');
    else t.pass('no finetune fixtures yet', { skip: true });
    return;
  }
  const gpu = await nodeGPU();
  for (const pair of pairs) {
    const ref = JSON.parse(readFileSync(join(FT, pair, 'merged_logits.json'), 'utf8')) as MergedLogits;
    const modelDir = join(FIXTURES, ref.base_model_dir);
    for (const kind of ['reference', 'wasm', 'webgpu'] as const) {
      if (kind === 'webgpu' && !gpu) {
        if (process.env.CI) t.fail('no WebGPU adapter in CI');
        else t.pass(`${pair}: no WebGPU adapter here`, { skip: true });
        continue;
      }
      let backend: Backend;
      try {
        backend = await createBackend(kind, nodePlatform);
      } catch (e) {
        t.fail(`${pair} [${kind}]: backend did not start: ${(e as Error).message}`);
        continue;
      }
      const model = await loadModel(modelDir, { fs, backend });
      try {
        for (const [i, c] of ref.prompts.entries()) {
          model.adapter = null;
          const r0 = tolRatio(await lastLogits(model, c.input_ids), c.base_logits);
          t.ok(r0 <= 1, `${pair} [${kind}] prompt ${i}: base logits = torch (worst ${r0.toFixed(3)} of tol)`);
          model.adapter = await loadAdapter(fs, join(FIXTURES, ref.init_adapter_dir), model);
          const r1 = tolRatio(await lastLogits(model, c.input_ids), c.adapter_logits);
          t.ok(r1 <= 1, `${pair} [${kind}] prompt ${i}: base + adapter = peft (worst ${r1.toFixed(3)} of tol)`);
        }
      } finally {
        model.dispose();
      }
    }
  }
});
