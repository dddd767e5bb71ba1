// `merge`: the merged model's logits equal base + adapter (PyTorch's merge_and_unload on the
// fixtures), weights are W + scaling·B·A rounded once to the file dtype, everything else is copied
// byte for byte with the same sharding, and no failure ever leaves a partial --out.
import t, { type Test } from 'tap';
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { ReferenceBackend } from '../runtime/backend/reference.ts';
import { LightReasonerError } from '../runtime/errors.ts';
import { encodeSafetensors, readSafetensorsHeader, readTensorBytes } from '../runtime/io/safetensors.ts';
import { parseConfig } from '../runtime/model/config.ts';
import { type CausalLM, loadModel } from '../runtime/model/model.ts';
import { randomValues } from '../tooling/random-model.ts';
import { indexCheckpoint } from '../runtime/model/weights.ts';
import { nodePlatform } from '../runtime/platform/node.ts';
import type { FileSystem } from '../runtime/platform/types.ts';
import type { LoraTarget } from '../runtime/train/lora.ts';
import { mergeAdapter } from '../runtime/train/merge.ts';
import { upcastToF32 } from './helpers/model-dir.ts';
import { baseWeightName, type HostAdapter, readAdapter, saveHostAdapter, targetShape } from '../runtime/train/peft.ts';
import { decodeToF32, encodeFromF32 } from '../runtime/util/dtype.ts';
import { FIXTURES, runCli, TEST_CLI } from './helpers/cli.ts';

const fs = nodePlatform.fs;
const FT = join(FIXTURES, 'finetune');

function tmp(prefix = 'lr-merge-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
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

function tolRatio(got: ArrayLike<number>, ref: ArrayLike<number>): number {
  if (got.length !== ref.length) return Infinity;
  let worst = 0;
  for (let i = 0; i < ref.length; i++) {
    const r = Math.abs(got[i] - ref[i]) / (1e-4 + 1e-4 * Math.abs(ref[i]));
    if (!(r <= worst)) worst = r;
  }
  return worst;
}

function randomAdapter(config: ReturnType<typeof parseConfig>, targets: LoraTarget[], r = 4, alpha = 8, seed = 3): HostAdapter {
  let s = seed;
  const layers = [];
  for (let l = 0; l < config.layers; l++) {
    const pairs: HostAdapter['layers'][number] = {};
    for (const tg of targets) {
      const [out, inp] = targetShape(config, tg);
      pairs[tg] = { a: randomValues(r * inp, s++ * 2654435761, 0.3), b: randomValues(out * r, s++ * 2654435761, 0.3) };
    }
    layers.push(pairs);
  }
  return { config: { r, alpha, dropout: 0, targetModules: targets }, scaling: alpha / r, layers };
}

function modelConfig(dir: string) {
  const gen = existsSync(join(dir, 'generation_config.json')) ? JSON.parse(readFileSync(join(dir, 'generation_config.json'), 'utf8')) : undefined;
  return parseConfig(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')), join(dir, 'config.json'), gen);
}

/**
 * Check every tensor of `out` against `base`: the same names, dtypes, shapes and files; targets
 * equal W + scaling·B·A computed in f64 and rounded to the file dtype, up to the error f32
 * arithmetic may add before that rounding; every other tensor byte for byte.
 */
async function checkMergedWeights(t: Pick<Test, 'ok' | 'same' | 'equal'>, base: string, out: string, adapter: HostAdapter) {
  const config = modelConfig(base);
  const a = await indexCheckpoint(fs, base),
    b = await indexCheckpoint(fs, out);
  t.same([...b.keys()].sort(), [...a.keys()].sort(), 'same tensor names');
  const targets = new Map<string, [number, LoraTarget]>();
  for (let l = 0; l < config.layers; l++) for (const tg of adapter.config.targetModules) targets.set(baseWeightName(l, tg), [l, tg]);
  let copiedSame = true,
    shapeSame = true,
    exact = 0,
    total = 0,
    bad = 0,
    moved = 0;
  for (const [name, ea] of a) {
    const eb = b.get(name)!;
    shapeSame &&= ea.dtype === eb.dtype && JSON.stringify(ea.shape) === JSON.stringify(eb.shape) && ea.file.split('/').pop() === eb.file.split('/').pop();
    const ba = await readTensorBytes(fs, ea),
      bb = await readTensorBytes(fs, eb);
    const tgt = targets.get(name);
    if (!tgt) {
      copiedSame &&= Buffer.compare(Buffer.from(ba), Buffer.from(bb)) === 0;
      continue;
    }
    const dt = ea.dtype === 'F32' ? 'f32' : ea.dtype === 'F16' ? 'f16' : 'bf16';
    const w = decodeToF32(dt, ba),
      got = decodeToF32(dt, bb);
    const [out_, inp] = targetShape(config, tgt[1]);
    const p = adapter.layers[tgt[0]][tgt[1]]!;
    const r = adapter.config.r;
    const round = (x: number) => (dt === 'f32' ? Math.fround(x) : decodeToF32(dt, encodeFromF32(dt, Float32Array.of(x)))[0]);
    for (let o = 0; o < out_; o++) {
      for (let j = 0; j < inp; j++) {
        let d = 0,
          mag = 0;
        for (let k = 0; k < r; k++) {
          d += p.b[o * r + k] * p.a[k * inp + j];
          mag += Math.abs(p.b[o * r + k] * p.a[k * inp + j]);
        }
        const w0 = w[o * inp + j];
        const exactVal = w0 + adapter.scaling * d;
        // f32 arithmetic (r products, r sums, a scale and an add) errs by at most this much.
        const bound = (r + 3) * 2 ** -24 * (Math.abs(w0) + adapter.scaling * mag);
        const g = got[o * inp + j];
        total++;
        if (g !== w0) moved++;
        if (g === round(exactVal)) exact++;
        else if (!(g >= round(exactVal - bound) && g <= round(exactVal + bound))) bad++;
      }
    }
  }
  t.ok(shapeSame, 'same dtype, shape and file for every tensor');
  t.ok(copiedSame, 'every non-target tensor copied byte for byte');
  t.ok(moved > total / 2, `the merge changed the target weights (${moved}/${total} moved)`);
  t.equal(bad, 0, `targets = RNE(W + s·B·A) up to f32 arithmetic error: ${exact}/${total} equal the f64 result rounded, the rest within the f32 error bound`);
}

// ---- the fixtures: PyTorch's merge_and_unload ---------------------------------------------

// The stage-2 pairs only (q_proj + v_proj adapters): finetune/<model>/ of scripts/make_family_fixtures.py
// (Qwen3, Gemma 3; all seven targets) belong to the family parity tests.
const pairs = existsSync(FT) ? readdirSync(FT).filter((p) => p.endsWith('-pair') && existsSync(join(FT, p, 'merged_logits.json'))) : [];

t.test('merge of the peft fixture adapters = PyTorch merged logits', async (t) => {
  if (pairs.length === 0) {
    if (process.env.CI) t.fail('test/fixtures/finetune/ missing');
    else t.pass('no finetune fixtures yet', { skip: true });
    return;
  }
  for (const pair of pairs) {
    const ref = JSON.parse(readFileSync(join(FT, pair, 'merged_logits.json'), 'utf8'));
    const base = join(FIXTURES, ref.base_model_dir);
    const adapterDir = join(FIXTURES, ref.init_adapter_dir);
    const root = tmp();
    const out = join(root, 'merged');
    const res = await runCli(['merge', '--model', base, '--adapter', adapterDir, '--out', out, '--quiet', '--json']);
    t.equal(res.code, 0, `${pair}: merge exits 0 ${res.stderr}`);
    const summary = JSON.parse(res.stdout);
    t.equal(summary.mergedTensors, 2 * modelConfig(base).layers, `${pair}: q_proj and v_proj of every layer merged`);
    for (const f of readdirSync(base)) t.ok(existsSync(join(out, f)), `${pair}: ${f} is in the merged directory`);
    for (const f of readdirSync(base).filter((f) => !f.endsWith('.safetensors'))) {
      t.same(readFileSync(join(out, f)), readFileSync(join(base, f)), `${pair}: ${f} copied unchanged`);
    }
    t.notOk(
      readdirSync(root).some((n) => n.includes('.tmp-')),
      `${pair}: no temp directory left`,
    );
    const adapter = await readAdapter(fs, adapterDir, modelConfig(base));
    await checkMergedWeights(t, base, out, adapter);

    const fileDtype = (await readSafetensorsHeader(fs, join(base, 'model.safetensors'))).tensors.get('model.layers.0.self_attn.q_proj.weight')!.dtype;
    const merged = await loadModel(out, { fs, backend: new ReferenceBackend() });
    // PyTorch merged in f32 (the fixtures load every checkpoint as float32), so an f32 base
    // compares directly; a 16-bit base is also merged after upcasting it to an exact f32 copy.
    let f32Merged = merged;
    if (fileDtype !== 'F32') {
      const up = join(root, 'base-f32');
      await upcastToF32(base, up);
      const out32 = join(root, 'merged-f32');
      await mergeAdapter(fs, up, adapterDir, out32);
      f32Merged = await loadModel(out32, { fs, backend: new ReferenceBackend() });
    }
    for (const [i, p] of ref.prompts.entries()) {
      const r = tolRatio(await lastLogits(f32Merged, p.input_ids), p.merged_logits);
      t.ok(
        r <= 1,
        `${pair} prompt ${i}: merged (${fileDtype === 'F32' ? 'F32 base' : `${fileDtype} base upcast to F32`}) = PyTorch merged logits (worst ${r.toFixed(3)} of tol)`,
      );
      if (fileDtype !== 'F32') {
        // The rounded merge in the file's dtype: within the size of one rounding of q/v.
        const logits = await lastLogits(merged, p.input_ids);
        const d = logits.reduce((m, v, k) => Math.max(m, Math.abs(v - p.merged_logits[k])), 0);
        t.ok(
          d < 0.05,
          `${pair} prompt ${i}: merged in ${fileDtype} stays near PyTorch's f32 merge (max |Δ| ${d.toExponential(2)}, from rounding W' once to ${fileDtype})`,
        );
      }
    }
  }
});

t.test('sharded BF16 base: same shards and index, RNE-rounded targets, loads', async (t) => {
  const base = join(FIXTURES, 'models', 'llama-untied-bf16-llama3rope');
  const config = modelConfig(base);
  const adapter = randomAdapter(config, ['q_proj', 'o_proj', 'gate_proj', 'down_proj']);
  const root = tmp();
  await saveHostAdapter(fs, join(root, 'a'), adapter, config, base);
  mkdirSync(join(root, 'out'));
  const res = await runCli(['merge', '--model', base, '--adapter', join(root, 'a'), '--out', join(root, 'out'), '--quiet']);
  t.equal(res.code, 0, `an existing empty --out is fine ${res.stderr}`);
  t.same(readdirSync(join(root, 'out')).sort(), readdirSync(base).sort(), 'the same files');
  t.same(readFileSync(join(root, 'out', 'model.safetensors.index.json')), readFileSync(join(base, 'model.safetensors.index.json')), 'index unchanged');
  for (const f of readdirSync(base).filter((f) => f.endsWith('.safetensors'))) {
    t.equal(statSync(join(root, 'out', f)).size <= statSync(join(base, f)).size + 64, true, `${f}: same size (± header padding)`);
  }
  await checkMergedWeights(t, base, join(root, 'out'), adapter);
  const m = await loadModel(join(root, 'out'), { fs, backend: new ReferenceBackend() });
  t.equal(m.weights.dtype, 'bf16');
});

// ---- failures leave nothing -----------------------------------------------------------------

const MODEL = join(FIXTURES, 'models', 'llama-gqa-tied-f32');

async function err(p: Promise<unknown>): Promise<LightReasonerError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof LightReasonerError) return e;
    throw e;
  }
  throw new Error('expected a LightReasonerError');
}

t.test('an I/O error or an abort mid-merge leaves no --out and no temp directory', async (t) => {
  const config = modelConfig(MODEL);
  const root = tmp();
  await saveHostAdapter(fs, join(root, 'a'), randomAdapter(config, ['q_proj', 'v_proj']), config, MODEL);
  // A file system whose data reads start failing after the merge has written a few tensors.
  let reads = 0;
  const flaky: FileSystem = {
    ...fs,
    async readBytes(path, offset, length) {
      if (path.endsWith('model.safetensors') && !path.includes('adapter') && length !== undefined && length > 4096 && ++reads > 5)
        throw new Error('EIO: disk went away');
      return fs.readBytes(path, offset, length);
    },
  };
  let progressed = 0;
  await t.rejects(mergeAdapter(flaky, MODEL, join(root, 'a'), join(root, 'out'), { onProgress: () => progressed++ }), /EIO/);
  t.ok(progressed > 0, `it failed mid-merge (after ${progressed} tensors)`);
  t.same(readdirSync(root), ['a'], 'no out, no temp directory');

  const ac = new AbortController();
  const e = await err(
    mergeAdapter(fs, MODEL, join(root, 'a'), join(root, 'out'), { signal: ac.signal, onProgress: (p) => p.tensor.includes('layers.1') && ac.abort() }),
  );
  t.equal(e.code, 'ABORTED');
  t.same(readdirSync(root), ['a'], 'aborted: no out, no temp directory');
});

t.test('merge CLI refuses bad input before writing', async (t) => {
  const config = modelConfig(MODEL);
  const root = tmp();
  await saveHostAdapter(fs, join(root, 'a'), randomAdapter(config, ['q_proj', 'v_proj']), config, MODEL);
  mkdirSync(join(root, 'full'));
  writeFileSync(join(root, 'full', 'keep.txt'), 'mine');
  let r = await runCli(['merge', '--model', MODEL, '--adapter', join(root, 'a'), '--out', join(root, 'full')]);
  t.equal(r.code, 2);
  t.match(r.stderr, /--out .*full already exists and is not an empty directory/);
  t.same(readdirSync(join(root, 'full')), ['keep.txt'], 'existing --out untouched');

  r = await runCli(['merge', '--model', join(FIXTURES, 'models', 'qwen2-tied-bf16'), '--adapter', join(root, 'a'), '--out', join(root, 'o1')]);
  t.equal(r.code, 2, 'adapter for another model: exit 2');
  t.match(
    r.stderr,
    /adapter_model\.safetensors: tensor "base_model\.model\.model\.layers\.0\.self_attn\.q_proj\.lora_A\.weight" has shape \[4, 64\] but this model's q_proj needs \[4, 48\]/,
  );
  r = await runCli(['merge', '--model', MODEL, '--adapter', MODEL, '--out', join(root, 'o2')]);
  t.equal(r.code, 2);
  t.match(r.stderr, /is a model directory, not an adapter/);
  r = await runCli(['merge', '--model', join(root, 'a'), '--adapter', join(root, 'a'), '--out', join(root, 'o3')]);
  t.equal(r.code, 2);
  t.match(r.stderr, /not a model directory \(no config\.json\)/);
  t.same(readdirSync(root).sort(), ['a', 'full'], 'nothing written by any refused merge');
});

t.test('killing merge mid-way leaves no --out (SIGTERM also removes its temp directory)', async (t) => {
  // A bigger random f32 model (≈ 70 MB) so the merge takes long enough to be interrupted.
  const root = tmp();
  const base = join(root, 'big');
  cpSync(MODEL, base, { recursive: true });
  const cfg = JSON.parse(readFileSync(join(base, 'config.json'), 'utf8'));
  Object.assign(cfg, { hidden_size: 256, intermediate_size: 1024, num_hidden_layers: 16, head_dim: 64, num_attention_heads: 4, num_key_value_heads: 2 });
  writeFileSync(join(base, 'config.json'), JSON.stringify(cfg));
  const config = modelConfig(base);
  const { hiddenSize: H, intermediateSize: I, vocabSize: V } = config;
  const tensors: { name: string; dtype: 'F32'; shape: number[]; data: Uint8Array }[] = [];
  let seed = 1;
  const w = (name: string, shape: number[]) =>
    tensors.push({
      name,
      dtype: 'F32' as const,
      shape,
      data: encodeFromF32(
        'f32',
        randomValues(
          shape.reduce((a, b) => a * b, 1),
          seed++ * 2654435761,
          0.05,
        ),
      ),
    });
  w('model.embed_tokens.weight', [V, H]);
  w('model.norm.weight', [H]);
  for (let l = 0; l < config.layers; l++) {
    const p = `model.layers.${l}.`;
    w(`${p}input_layernorm.weight`, [H]);
    w(`${p}post_attention_layernorm.weight`, [H]);
    for (const tg of ['q_proj', 'k_proj', 'v_proj', 'o_proj'] as const) w(`${p}self_attn.${tg}.weight`, targetShape(config, tg));
    for (const tg of ['gate_proj', 'up_proj', 'down_proj'] as const) w(`${p}mlp.${tg}.weight`, targetShape(config, tg));
  }
  writeFileSync(join(base, 'model.safetensors'), encodeSafetensors(tensors, { format: 'pt' }));
  await saveHostAdapter(
    fs,
    join(root, 'a'),
    randomAdapter(config, ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'], 16, 32),
    config,
    base,
  );

  for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
    const out = join(root, `out-${signal}`);
    const { code, sig, sawTemp } = await killMidMerge(['merge', '--model', base, '--adapter', join(root, 'a'), '--out', out, '--quiet'], root, signal);
    t.ok(sawTemp, `${signal}: killed while the merge was writing`);
    t.notOk(existsSync(out), `${signal}: no --out directory`);
    if (signal === 'SIGTERM') {
      t.equal(code, 130, 'SIGTERM: exit 130 (aborted)');
      t.notOk(
        readdirSync(root).some((n) => n.startsWith(`out-${signal}.tmp-`)),
        'SIGTERM: temp directory removed',
      );
    } else {
      t.equal(sig, 'SIGKILL');
    }
  }
  // And uninterrupted, the same merge completes.
  const ok = await runCli(['merge', '--model', base, '--adapter', join(root, 'a'), '--out', join(root, 'done'), '--quiet']);
  t.equal(ok.code, 0, ok.stderr);
});

/** Start the CLI, wait until its temp directory has tensor data in it, then send `signal`. */
function killMidMerge(args: string[], root: string, signal: NodeJS.Signals): Promise<{ code: number | null; sig: NodeJS.Signals | null; sawTemp: boolean }> {
  return new Promise((resolve, reject) => {
    const child = spawn(TEST_CLI[0], [...TEST_CLI.slice(1), ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out = args[args.indexOf('--out') + 1];
    const prefix = `${out.split('/').pop()}.tmp-`;
    let sawTemp = false;
    const timer = setInterval(() => {
      const tmpDir = readdirSync(dirname(out)).find((n) => n.startsWith(prefix));
      if (!tmpDir) return;
      try {
        if (statSync(join(dirname(out), tmpDir, 'model.safetensors')).size > 1 << 20) {
          sawTemp = true;
          clearInterval(timer);
          child.kill(signal);
        }
      } catch {
        // not created yet
      }
    }, 1);
    child.on('error', reject);
    child.on('close', (code, sig) => {
      clearInterval(timer);
      resolve({ code, sig, sawTemp });
    });
  });
}
