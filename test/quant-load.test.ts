// Issue 30: models loaded with `quantize` (runtime/model/weights.ts) give transformers' float32
// greedy ids and logits on the gguf-dequantized projections (scripts/make_quant_parity_fixtures.py
// → test/fixtures/quant/parity.json), on Wasm, the reference and WebGPU (Dawn in Node, SwiftShader
// without a GPU; the CLI also in Deno on lavapipe); only the policy's matrices are quantized and the
// held bytes count them; bad values and backends without the kernels are refused with one clear
// line; the CLI's --quantize flags.
import t, { type Test } from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { nodePlatform } from '../runtime/platform/node.ts';
import { createBackend } from '../runtime/backend/index.ts';
import { createWebGPUBackend } from '../runtime/backend/webgpu/index.ts';
import { ReferenceForward } from '../runtime/backend/reference-forward.ts';
import { generateGreedy } from '../runtime/model/generate.ts';
import { type CausalLM, loadModel } from '../runtime/model/model.ts';
import { openModel, openModels } from '../runtime/session.ts';
import { LightReasonerError } from '../runtime/errors.ts';
import type { Backend, QuantDType } from '../runtime/backend/types.ts';
import { nodeGPU } from './helpers/node-gpu.ts';
import { TEST_CLI } from './helpers/cli.ts';

interface Case {
  model: string;
  type: QuantDType;
  quantized_matrices: number;
  prompt_token_ids: number[];
  greedy_token_ids: number[];
  last_logits: number[];
}
const parity = JSON.parse(readFileSync(new URL('./fixtures/quant/parity.json', import.meta.url), 'utf8')) as { cases: Case[] };
const dir = (m: string) => fileURLToPath(new URL(`./fixtures/models/${m}`, import.meta.url));
const LAVAPIPE = '/usr/share/vulkan/icd.d/lvp_icd.x86_64.json';
const ATOL = 1e-4,
  RTOL = 1e-4;

async function lastLogits(model: CausalLM, ids: number[]): Promise<Float32Array> {
  const T = ids.length,
    cache = model.createCache(1, T);
  try {
    const rows = new Int32Array(2 * T);
    for (let i = 0; i < T; i++) rows[2 * i + 1] = i;
    const logits = model.forward({ tokens: Int32Array.from(ids), rows, logitRows: Int32Array.of(T - 1) }, cache);
    return (await model.backend.read(logits)) as Float32Array;
  } finally {
    model.disposeCache(cache);
  }
}

/** WebGPU in Node, or null after saying why not (a failure under CI, where the stack must be there). */
async function webgpuOrSkip(tt: Test): Promise<GPU | null> {
  const gpu = await nodeGPU();
  if (gpu) return gpu;
  const why = 'no WebGPU adapter (install a Vulkan driver or set VK_ICD_FILENAMES)';
  if (process.env.CI) tt.fail(`webgpu: ${why} — required under CI`);
  else tt.pass(`webgpu: ${why}`, { skip: true });
  return null;
}

for (const kind of ['wasm', 'reference', 'webgpu'] as const) {
  t.test(`${kind}: greedy ids and logits of transformers on the gguf-dequantized weights`, async (tt) => {
    // WebGPU: every case on one device (its pipelines compile once; the tiny models' weights stay)
    const gpu = kind === 'webgpu' ? await webgpuOrSkip(tt) : null;
    if (kind === 'webgpu' && !gpu) return;
    const shared = gpu ? await createWebGPUBackend(gpu) : null;
    tt.teardown(() => shared?.destroy());
    for (const c of parity.cases) {
      const backend: Backend = shared ?? (await createBackend(kind, nodePlatform));
      const model = await loadModel(dir(c.model), { fs: nodePlatform.fs, backend, quantize: c.type });
      try {
        const what = `${c.model} ${c.type}`;
        tt.equal(model.weights.quantized, c.type, `${what}: the weights say what was loaded`);
        const q = model.weights.layers.flatMap((l) => Object.values(l)).filter((w) => w && typeof w === 'object' && 'dtype' in w && w.dtype === c.type).length;
        tt.equal(q, c.quantized_matrices, `${what}: ${c.quantized_matrices} matrices quantized (the policy's), as the fixture`);
        tt.equal(model.weights.embed.dtype === c.type || model.weights.lmHead.dtype === c.type, false, `${what}: embeddings and LM head kept`);
        const got = await lastLogits(model, c.prompt_token_ids);
        let worst = 0,
          at = -1;
        for (let i = 0; i < got.length; i++) {
          const r = Math.abs(got[i] - c.last_logits[i]) / (ATOL + RTOL * Math.abs(c.last_logits[i]));
          if (!(r <= worst)) {
            worst = r;
            at = i;
          }
        }
        tt.ok(worst <= 1, `${what}: last-position logits within atol ${ATOL} + rtol ${RTOL} (worst ratio ${worst.toFixed(3)} at ${at})`);
        const { tokens } = await generateGreedy(model, [c.prompt_token_ids], { maxNewTokens: c.greedy_token_ids.length });
        tt.same(tokens[0], c.greedy_token_ids, `${what}: greedy ids equal transformers'`);
      } finally {
        if (!shared) model.dispose(); // (dispose destroys the backend)
      }
    }
  });
}

t.test('the held bytes count the blocks; the options are checked', async (tt) => {
  const m = 'llama-gqa-tied-f32';
  const plain = await openModel(dir(m), { platform: nodePlatform, backend: 'wasm' });
  const q8 = await openModel(dir(m), { platform: nodePlatform, backend: 'wasm', quantize: 'q8_0' });
  const q4 = await openModel(dir(m), { platform: nodePlatform, backend: 'wasm', quantize: 'q4_0' });
  try {
    tt.equal(plain.weights.quantized, undefined);
    tt.ok(
      q4.weights.bytes < q8.weights.bytes && q8.weights.bytes < plain.weights.bytes,
      `bytes: f32 ${plain.weights.bytes} > q8_0 ${q8.weights.bytes} > q4_0 ${q4.weights.bytes}`,
    );
    // f32 projections → 34/128 (q8_0) and 18/128 (q4_0) of their bytes
    const saved8 = plain.weights.bytes - q8.weights.bytes,
      saved4 = plain.weights.bytes - q4.weights.bytes;
    tt.equal(saved8 / (1 - 34 / 128), saved4 / (1 - 18 / 128), 'the same matrices shrink by exactly their block ratio');
  } finally {
    for (const x of [plain, q8, q4]) x.dispose();
  }
  await tt.rejects(openModel(dir(m), { platform: nodePlatform, backend: 'wasm', quantize: 'q5_k' as QuantDType }), {
    code: 'BAD_INPUT',
    message: /quantize: "q5_k" is not a quantization — give q8_0 or q4_0/,
  });
  await tt.rejects(openModels([dir(m), dir(m)], { platform: nodePlatform, backend: 'wasm', quantize: [undefined, 'int4' as QuantDType] }), {
    code: 'BAD_INPUT',
    message: /quantize\[1\]/,
  });
  // a backend without block kernels (WebGL2; here: a reference that does not list them) is refused
  // by name, pointing at the backends that read the blocks
  class NoQuant extends (await import('../runtime/backend/reference.ts')).ReferenceBackend {
    override readonly info = Object.freeze({ ...new ReferenceForward().info, features: Object.freeze([]) });
  }
  const err = await loadModel(dir(m), { fs: nodePlatform.fs, backend: new NoQuant(), quantize: 'q8_0' }).catch((e) => e);
  tt.ok(
    err instanceof LightReasonerError && err.code === 'UNSUPPORTED' && /no kernels for quantized weights — use --backend webgpu or wasm/.test(err.message),
    `refused: ${err.message}`,
  );
});

/** `gpu` whose adapters report a hardware GPU's info: lets `auto` take Node's SwiftShader as it would a GPU. */
function asHardware(gpu: GPU): GPU {
  // no software-adapter word (swiftshader, software…) in the name, or auto would pass over it
  const info = { vendor: 'test', architecture: 'hardware', device: '', description: 'Test GPU 9000' };
  // Dawn's objects check their receiver: forward every other member to the real adapter, bound to it
  const dress = (a: GPUAdapter) =>
    new Proxy(a, {
      get: (target, key) => {
        if (key === 'info') return info;
        if (key === 'isFallbackAdapter') return false;
        const v = Reflect.get(target, key, target);
        return typeof v === 'function' ? v.bind(target) : v;
      },
    });
  return { requestAdapter: async (o?: GPURequestAdapterOptions) => ((a) => (a ? dress(a) : null))(await gpu.requestAdapter(o)) } as unknown as GPU;
}

t.test('auto + quantize: a hardware WebGPU adapter is taken, and reads the blocks', async (tt) => {
  const gpu = await webgpuOrSkip(tt);
  if (!gpu) return;
  const c = parity.cases.find((x) => x.model === 'llama-gqa-tied-f32' && x.type === 'q4_0')!;
  const open = async (g: GPU) => openModel(dir(c.model), { platform: { ...nodePlatform, getGPU: async () => g }, backend: 'auto', quantize: c.type });
  const model = await open(asHardware(gpu));
  try {
    tt.equal(model.backend.info.kind, 'webgpu', `auto took ${model.backend.info.device}`);
    tt.equal(model.weights.quantized, c.type);
    const { tokens } = await generateGreedy(model, [c.prompt_token_ids], { maxNewTokens: c.greedy_token_ids.length });
    tt.same(tokens[0], c.greedy_token_ids, "greedy ids equal transformers' on the dequantized weights");
  } finally {
    model.dispose();
  }
  // the same adapter as what it is (software): auto passes over it to Wasm, quantized all the same
  const soft = await open(gpu);
  try {
    tt.equal(soft.backend.info.kind, 'wasm', `software adapter: ${soft.backend.info.note}`);
    tt.equal(soft.weights.quantized, c.type);
  } finally {
    soft.dispose();
  }
});

t.test('CLI: generate --quantize (Wasm; WebGPU in Node and Deno), and a bad value in one line', async (tt) => {
  const c = parity.cases.find((x) => x.model === 'llama-gqa-tied-f32' && x.type === 'q4_0')!;
  const prompt = JSON.parse(readFileSync(new URL('./fixtures/expected/llama-gqa-tied-f32.json', import.meta.url), 'utf8')).prompts[0].text as string;
  const run = (args: string[]) => spawnSync(TEST_CLI[0], [...TEST_CLI.slice(1), ...args], { encoding: 'utf8' });
  const ok = run([
    'generate',
    '--model',
    dir(c.model),
    '--prompt',
    prompt,
    '--max-new-tokens',
    String(c.greedy_token_ids.length),
    '--quantize',
    'q4_0',
    '--backend',
    'wasm',
    '--json',
  ]);
  tt.equal(ok.status, 0, ok.stderr);
  tt.same(JSON.parse(ok.stdout).token_ids, c.greedy_token_ids, "generate --quantize q4_0: the fixture's greedy ids");
  // WebGPU: q8_0 on the model with biases (Node, Dawn), q4_0 in Deno (wgpu on lavapipe)
  const q8 = parity.cases.find((x) => x.model === 'qwen2-bias-f16' && x.type === 'q8_0')!;
  const q8prompt = JSON.parse(readFileSync(new URL('./fixtures/expected/qwen2-bias-f16.json', import.meta.url), 'utf8')).prompts[0].text as string;
  const gen = (m: Case, text: string, backend: string) => [
    'generate',
    '--model',
    dir(m.model),
    '--prompt',
    text,
    '--max-new-tokens',
    String(m.greedy_token_ids.length),
    '--quantize',
    m.type,
    '--backend',
    backend,
    '--json',
  ];
  if (await webgpuOrSkip(tt)) {
    const gpu = run(gen(q8, q8prompt, 'webgpu')); // nodeGPU pointed VK_ICD_FILENAMES at SwiftShader for the child
    tt.equal(gpu.status, 0, gpu.stderr);
    tt.same(JSON.parse(gpu.stdout).token_ids, q8.greedy_token_ids, "generate --quantize q8_0 --backend webgpu: the fixture's greedy ids");
  }
  const deno = fileURLToPath(new URL('../node_modules/.bin/deno', import.meta.url));
  if (!existsSync(deno) || !existsSync(LAVAPIPE)) {
    if (process.env.CI) tt.fail('deno or lavapipe missing in CI');
    else tt.pass('deno or lavapipe missing: the Deno WebGPU run not tested here', { skip: true });
  } else {
    const main = fileURLToPath(new URL('../cli/main.ts', import.meta.url)); // Deno runs the TypeScript sources
    const r = spawnSync(deno, ['run', '-A', main, ...gen(c, prompt, 'webgpu')], {
      env: { ...process.env, VK_ICD_FILENAMES: LAVAPIPE, NO_COLOR: '1' },
      encoding: 'utf8',
      timeout: 180_000,
    });
    tt.equal(r.status, 0, r.stderr);
    tt.same(
      JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}').token_ids,
      c.greedy_token_ids,
      "deno: generate --quantize q4_0 --backend webgpu: the fixture's greedy ids",
    );
  }
  const bad = run(['generate', '--model', dir(c.model), '--prompt', 'x', '--quantize', 'q3']);
  tt.equal(bad.status, 2, 'bad input: exit 2');
  tt.match(
    bad.stderr.split('\n')[0],
    /^error: option '--quantize <type>' argument 'q3' is invalid\. choose one of q8_0, q4_0/,
    'one error line (then the usual pointer to --help), no stack',
  );
});

t.test('jobs: quantizeExpert / quantizeAmateur checked first; a resumed sample refuses another quantization', async (tt) => {
  const { sampleJob } = await import('../runtime/engine/jobs.ts');
  const { defaultPairDir } = await import('../runtime/platform/node-default-pair.ts');
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const pair = defaultPairDir()!;
  const out = join(mkdtempSync(join(tmpdir(), 'lr-quant-sample-')), 's.jsonl');
  tt.teardown(() => rmSync(join(out, '..'), { recursive: true, force: true }));
  const job = {
    expert: join(pair, 'expert'),
    amateur: join(pair, 'amateur'),
    problems: [{ id: 'a', question: 'What is 2 + 3?' }],
    out,
    backend: 'wasm' as const,
    settings: { maxNewTokens: 8 },
  };
  await tt.rejects(sampleJob({ platform: nodePlatform }, { ...job, quantizeAmateur: 'q2_k' as QuantDType }), {
    code: 'BAD_INPUT',
    message: /sample: quantizeAmateur: "q2_k" is not a quantization/,
  });
  const summary = await sampleJob({ platform: nodePlatform }, { ...job, quantizeExpert: 'q4_0' });
  tt.ok(summary, 'sample with a q4_0 expert ran');
  const state = JSON.parse(readFileSync(`${out}.state.json`, 'utf8'));
  tt.match(state.identity.expert.fingerprint, /\+q4_0$/, 'the expert identity carries its quantization');
  tt.notMatch(state.identity.amateur.fingerprint, /\+q/, 'the amateur was not quantized');
  const err = await sampleJob({ platform: nodePlatform }, { ...job, resume: true }).catch((e) => e);
  tt.ok(err instanceof LightReasonerError, `resume without the quantization is refused: ${err?.message}`);
});

t.test('a quantized model spread over several Wasm memories (sharded) gives the same greedy ids', async (tt) => {
  const c = parity.cases.find((x) => x.model === 'llama-untied-bf16-llama3rope' && x.type === 'q4_0')!;
  const opened = await openModels([dir(c.model)], { platform: nodePlatform, backend: 'wasm', threads: 2, wasmShardBytes: 40_000, quantize: [c.type] });
  try {
    const [model] = opened.models;
    tt.match(model.backend.info.device, /× \d+ memories/, `sharded: ${model.backend.info.device}`);
    const { tokens } = await generateGreedy(model, [c.prompt_token_ids], { maxNewTokens: c.greedy_token_ids.length });
    tt.same(tokens[0], c.greedy_token_ids, "greedy ids equal transformers' on the dequantized weights");
  } finally {
    opened.close();
  }
});
