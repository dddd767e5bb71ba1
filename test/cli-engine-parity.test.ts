// The CLI is a shell over the jobs an app's Engine runs (issue 26): `sample`, `finetune` and `eval`
// driven through the CLI (in this process) and through createEngine on the same tiny pair and data
// write the same bytes — samples, adapter weights and config, evaluation records — and the same
// run identity (the CLI's data digest is its file's; the job is given it as dataDigest). The eval
// command calls the evaluate job too (runtime/engine/jobs.ts).
import t from 'tap';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createEngine } from '../runtime/engine/engine.ts';
import { parseEvalProblems } from '../runtime/eval/evaluate.ts';
import { evalSummaryPath } from '../runtime/eval/results.ts';
import { nodePlatform } from '../runtime/platform/node.ts';
import { sha256Hex } from '../runtime/stage/fingerprint.ts';
import { parseProblems } from '../runtime/stage/sample.ts';
import { FIXTURES } from './helpers/cli.ts';
import { runInProcess } from './helpers/cli-in-process.ts';

const PAIR = join(FIXTURES, 'sampling', 'models', 'qwen-pair');
const EXPERT = join(PAIR, 'expert'), AMATEUR = join(PAIR, 'amateur');
const DATA = join(FIXTURES, 'sampling', 'questions.jsonl');
const text = readFileSync(DATA, 'utf8');

/** A run summary without what differs between any two runs (times, the output's own path). */
function stable(path: string): Record<string, unknown> {
  const { seconds: _s, wall_seconds: _w, tokens_per_second: _t, output: _o, ...rest } = JSON.parse(readFileSync(path, 'utf8'));
  return rest;
}

t.test('sample, finetune, eval: the CLI and the Engine write the same files', async (t) => {
  const tmp = mkdtempSync(join(tmpdir(), 'lr-parity-'));
  t.teardown(() => rmSync(tmp, { recursive: true, force: true }));
  const cli = join(tmp, 'cli'), eng = join(tmp, 'engine');
  mkdirSync(cli);
  mkdirSync(eng);
  const engine = createEngine(nodePlatform);

  // stage 1: sampling
  const sampleFlags = ['--alpha', '0.2', '--beta', '0.4', '--max-new-tokens', '12', '--batch-size', '3'];
  const s = await runInProcess(['sample', '--expert', EXPERT, '--amateur', AMATEUR, '--data', DATA, '--out', join(cli, 'samples.jsonl'), '--backend', 'wasm', '--quiet', ...sampleFlags]);
  t.equal(s.code, 0, 'sample CLI', { stderr: s.stderr });
  await engine.sample({
    expert: EXPERT, amateur: AMATEUR, problems: parseProblems(text, { file: DATA }), out: join(eng, 'samples.jsonl'), backend: 'wasm',
    settings: { alpha: 0.2, beta: 0.4, maxNewTokens: 12, batchSize: 3 }, source: DATA, dataDigest: await sha256Hex(new TextEncoder().encode(text)),
  });
  const samples = readFileSync(join(cli, 'samples.jsonl'));
  t.ok(samples.length > 0, 'some samples');
  t.ok(samples.equals(readFileSync(join(eng, 'samples.jsonl'))), 'samples.jsonl: the same bytes');
  t.same(stable(join(eng, 'samples.jsonl.summary.json')), stable(join(cli, 'samples.jsonl.summary.json')), 'the same sampling summary (identity, settings, diagnostics)');

  // stage 2: fine-tuning, each on its own samples
  const ft = { maxSteps: 3, batchSize: 4, lr: 1e-3, seed: 1, saveSteps: 2 };
  const f = await runInProcess(['finetune', '--model', EXPERT, '--samples', join(cli, 'samples.jsonl'), '--out', join(cli, 'adapter'), '--backend', 'wasm', '--quiet',
    '--max-steps', '3', '--batch-size', '4', '--lr', '1e-3', '--seed', '1', '--save-steps', '2']);
  t.equal(f.code, 0, 'finetune CLI', { stderr: f.stderr });
  await engine.finetune({ model: EXPERT, samples: join(eng, 'samples.jsonl'), out: join(eng, 'adapter'), backend: 'wasm', settings: ft });
  for (const file of ['adapter_model.safetensors', 'adapter_config.json']) {
    t.ok(readFileSync(join(cli, 'adapter', file)).equals(readFileSync(join(eng, 'adapter', file))), `adapter/${file}: the same bytes`);
  }

  // evaluation of the tuned expert
  const e = await runInProcess(['eval', '--model', EXPERT, '--adapter', join(cli, 'adapter'), '--data', DATA, '--out', join(cli, 'results.jsonl'), '--backend', 'wasm', '--max-new-tokens', '12', '--quiet']);
  t.equal(e.code, 0, 'eval CLI', { stderr: e.stderr });
  await engine.evaluate({
    model: EXPERT, adapter: join(eng, 'adapter'), problems: parseEvalProblems(text, { file: DATA }), out: join(eng, 'results.jsonl'), backend: 'wasm', settings: { maxNewTokens: 12 },
    source: DATA, dataDigest: await sha256Hex(new TextEncoder().encode(text)),
  });
  t.ok(readFileSync(join(cli, 'results.jsonl')).equals(readFileSync(join(eng, 'results.jsonl'))), 'results.jsonl: the same bytes');
  // The adapters are the same bytes but in different folders: their sources differ, nothing else.
  const summary = (dir: string) => {
    const s = stable(evalSummaryPath(join(dir, 'results.jsonl'))) as { identity: { adapter: { fingerprint: string } } };
    return { ...s, identity: { ...s.identity, adapter: s.identity.adapter.fingerprint } };
  };
  t.same(summary(eng), summary(cli), 'the same evaluation summary (identity, settings, accuracy)');
  await engine.dispose();
});
