// `generate --json` gives transformers' token ids on each backend, under Node and under Deno, and
// `info` describes the runtime.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FIXTURES, ROOT, runCli } from './helpers/cli.ts';
import { nodeGPU } from './helpers/node-gpu.ts';

const NAME = 'qwen2-tied-bf16';
const expected = JSON.parse(readFileSync(join(FIXTURES, 'expected', `${NAME}.json`), 'utf8'));
const chat = expected.prompts.find((p: { name: string }) => p.name === 'chat');
const args = [
  'generate',
  '--model',
  join(FIXTURES, 'models', NAME),
  '--chat',
  chat.messages[0].content,
  '--max-new-tokens',
  String(chat.greedy_token_ids.length),
  '--json',
];
const LAVAPIPE = '/usr/share/vulkan/icd.d/lvp_icd.x86_64.json';

for (const backend of ['wasm', 'webgpu']) {
  t.test(`node: generate --json --backend ${backend}`, async (t) => {
    if (backend === 'webgpu' && !(await nodeGPU())) {
      if (process.env.CI) t.fail('no WebGPU adapter in CI');
      else t.pass('no WebGPU adapter: not tested here', { skip: true });
      return;
    }
    const r = await runCli([...args, '--backend', backend]);
    t.equal(r.code, 0, 'exit 0', { stderr: r.stderr });
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
    t.same(out.prompt_token_ids, chat.prompt_token_ids, 'prompt ids = transformers apply_chat_template');
    t.same(out.token_ids, chat.greedy_token_ids, 'generated ids = transformers generate');
    t.equal(typeof out.text, 'string');
  });

  t.test(`deno: generate --json --backend ${backend}`, async (t) => {
    const deno = join(ROOT, 'node_modules', '.bin', 'deno');
    if (!existsSync(deno) || (backend === 'webgpu' && !existsSync(LAVAPIPE))) {
      if (process.env.CI) t.fail('deno or lavapipe missing in CI');
      else t.pass('deno or lavapipe missing: not tested here', { skip: true });
      return;
    }
    const r = spawnSync(deno, ['run', '-A', 'cli/main.ts', ...args, '--backend', backend], {
      cwd: ROOT,
      env: { ...process.env, VK_ICD_FILENAMES: LAVAPIPE, NO_COLOR: '1' },
      encoding: 'utf8',
      timeout: 180_000,
    });
    t.equal(r.status, 0, 'exit 0', { stderr: r.stderr });
    const out = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}');
    t.same(out.token_ids, chat.greedy_token_ids, 'generated ids = transformers generate');
  });
}

t.test('info prints runtime, backend, features and limits', async (t) => {
  const r = await runCli(['info', '--backend', 'wasm', '--json']);
  t.equal(r.code, 0, 'exit 0', { stderr: r.stderr });
  const info = JSON.parse(r.stdout);
  t.match(info, { runtime: /^node /, kind: 'wasm' });
  t.ok(Array.isArray(info.features));
  t.match(info.matmulVariant, /^unpack=(registers|once),prefetch=(all|batch|prefill|none)$/, 'the Wasm matmul variant in use');
  const forced = await runCli(['info', '--backend', 'wasm'], { env: { LIGHTREASONER_WASM_VARIANT: 'unpack=once,prefetch=none' } });
  t.match(forced.stdout, /matmul: +unpack=once,prefetch=none/, 'forced by the environment');
  const wrong = await runCli(['info', '--backend', 'wasm'], { env: { LIGHTREASONER_WASM_VARIANT: 'fast' } });
  t.equal(wrong.code, 2, 'a bad variant: exit 2', { stderr: wrong.stderr });
  t.match(wrong.stderr, /LIGHTREASONER_WASM_VARIANT: cannot read "fast"/);
  t.notMatch(wrong.stderr, /\n\s+at /, 'no stack trace');
  const bad = await runCli(['info', '--backend', 'cuda']);
  t.equal(bad.code, 2);
  t.match(bad.stderr, /choose one of auto, webgpu, wasm, reference, webgl2/);
});
