// The engine (runtime/engine): the same jobs in-thread on Node's files and across a message
// channel (the Web Worker protocol) on the browser's platform shape — models fetched over HTTP,
// outputs in an in-memory storage — with identical samples and adapter bytes, events and
// cancellation crossing the boundary, errors keeping their codes, and adapters as bytes.
import t from 'tap';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { unzipSync } from 'fflate';
import { createEngine } from '../runtime/engine/engine.ts';
import { createWorkerEngine, serveEngine } from '../runtime/engine/worker.ts';
import { routedFileSystem } from '../runtime/platform/browser.ts';
import { MemoryFileSystem } from '../runtime/platform/memory-fs.ts';
import { nodePlatform } from '../runtime/platform/node.ts';
import type { Platform } from '../runtime/platform/types.ts';
import { parseProblems } from '../runtime/stage/sample.ts';
import { loadModel } from '../runtime/model/model.ts';
import { ReferenceBackend } from '../runtime/backend/reference.ts';
import { adapterToHost, loadAdapter } from '../runtime/train/peft.ts';
import { loadAdapterFromBytes } from '../runtime/train/adapter-bytes.ts';
import { serve } from './helpers/browser.ts';
import { FIXTURES } from './helpers/cli.ts';

const PAIR = join(FIXTURES, 'sampling', 'models', 'qwen-pair');
const text = readFileSync(join(FIXTURES, 'sampling', 'questions.jsonl'), 'utf8');
const problems = [...parseProblems(text), ...parseProblems(text).map((p) => ({ ...p, id: `${p.id}b` }))];
const sampleSettings = { alpha: 0.2, beta: 0.4, maxNewTokens: 12, batchSize: 3 };
const ftSettings = { maxSteps: 3, batchSize: 4, lr: 1e-3, seed: 1, saveSteps: 2 };

t.test('worker protocol on a browser-shaped platform = in-thread engine on Node files', async (t) => {
  const { url, server } = await serve({}, { '/models': PAIR });
  const tmp = mkdtempSync(join(tmpdir(), 'lr-engine-'));
  t.teardown(() => (server.close(), rmSync(tmp, { recursive: true, force: true })));

  // Node: files on disk, in this thread
  const local = createEngine(nodePlatform);
  const nodeJob = { expert: join(PAIR, 'expert'), amateur: join(PAIR, 'amateur'), backend: 'wasm' as const, threads: 1 };
  const s1 = await local.sample({ ...nodeJob, problems, out: join(tmp, 'samples.jsonl'), settings: sampleSettings });
  const f1 = await local.finetune({
    model: nodeJob.expert,
    backend: 'wasm',
    threads: 1,
    samples: join(tmp, 'samples.jsonl'),
    out: join(tmp, 'adapter'),
    settings: ftSettings,
  });

  // "Browser": a message channel between the two ends, models over HTTP, outputs in memory
  const storage = new MemoryFileSystem();
  const platform: Platform = { name: 'browser', fs: routedFileSystem(storage), getGPU: async () => null };
  const { port1, port2 } = new MessageChannel();
  serveEngine(port2 as unknown as Parameters<typeof serveEngine>[0], platform);
  const remote = createWorkerEngine(port1 as unknown as Parameters<typeof createWorkerEngine>[0]);
  t.teardown(() => (port1.close(), port2.close()));
  const urlJob = { expert: `${url}/models/expert`, amateur: `${url}/models/amateur`, backend: 'wasm' as const, threads: 1 };

  const info = await remote.info({ backend: 'auto' });
  t.match(info, { platform: 'browser', backend: { kind: 'wasm', note: /auto: no WebGPU in this browser runtime/ } }, 'info crosses the boundary');

  // cancel mid-run from the page's side, then resume: the uninterrupted bytes
  const controller = new AbortController();
  const events: string[] = [];
  await t.rejects(
    remote.sample(
      { ...urlJob, problems, out: 'run/samples.jsonl', settings: sampleSettings },
      { signal: controller.signal, onEvent: (e) => (events.push(e.status), e.status === 'committed' && controller.abort()) },
    ),
    { name: 'LightReasonerError', code: 'ABORTED' },
    'an aborted call rejects with ABORTED',
  );
  t.ok(events.includes('committed'), 'progress events crossed the boundary');
  const s2 = await remote.sample({ ...urlJob, problems, out: 'run/samples.jsonl', settings: sampleSettings, resume: true });
  t.ok(
    Buffer.from(await storage.readBytes('run/samples.jsonl')).equals(readFileSync(join(tmp, 'samples.jsonl'))),
    "aborted + resumed samples in memory = the Node run's file, byte for byte",
  );
  t.same(s2.diagnostics, s1.diagnostics, 'the same pair diagnostics');

  const f2 = await remote.finetune({
    model: urlJob.expert,
    backend: 'wasm',
    threads: 1,
    samples: 'run/samples.jsonl',
    out: 'run/adapter',
    settings: ftSettings,
  });
  t.equal(f2.final_loss, f1.final_loss, 'the same final loss');
  const exported = await remote.exportAdapter('run/adapter');
  for (const name of ['adapter_config.json', 'adapter_model.safetensors'] as const) {
    t.ok(Buffer.from(exported.files[name]).equals(readFileSync(join(tmp, 'adapter', name))), `${name}: identical bytes in the browser and on Node`);
  }
  t.equal(
    JSON.parse(new TextDecoder().decode(exported.files['adapter_config.json'])).base_model_name_or_path,
    'expert',
    'base model: the directory name, not the URL or the path',
  );
  const unzipped = unzipSync(exported.zip);
  t.same(Object.keys(unzipped).sort(), ['adapter_config.json', 'adapter_model.safetensors'], 'the zip holds the two PEFT files');
  t.ok(Buffer.from(unzipped['adapter_model.safetensors']).equals(Buffer.from(exported.files['adapter_model.safetensors'])), 'zip entry = file');
  t.ok(Buffer.from((await remote.exportAdapter('run/adapter')).zip).equals(Buffer.from(exported.zip)), 'the zip is byte-stable');

  // the adapter back from bytes (zip) and from a URL-less storage path: the same tensors
  const b = new ReferenceBackend();
  const model = await loadModel(nodeJob.expert, { fs: nodePlatform.fs, backend: b });
  const fromZip = await adapterToHost(await loadAdapterFromBytes(exported.zip, model), b);
  const fromDir = await adapterToHost(await loadAdapter(nodePlatform.fs, join(tmp, 'adapter'), model), b);
  t.same(fromZip, fromDir, 'loadAdapterFromBytes(zip) = loadAdapter(dir)');
  await t.rejects(loadAdapterFromBytes(new Uint8Array([1, 2, 3]), model), { code: 'MODEL_FORMAT', message: /adapter\.zip: not a zip archive/ });

  // merge in the storage = merge on Node files
  const m1 = await local.merge({ model: nodeJob.expert, adapter: join(tmp, 'adapter'), out: join(tmp, 'merged') });
  const m2 = await remote.merge({ model: urlJob.expert, adapter: 'run/adapter', out: 'run/merged' });
  t.same(m2.files, m1.files, 'merge writes the same files');
  for (const f of m1.files)
    t.ok(Buffer.from(await storage.readBytes(`run/merged/${f}`)).equals(readFileSync(join(tmp, 'merged', f))), `merged ${f}: identical bytes`);

  // evaluate with the adapter from storage, and errors keep their codes across the boundary
  const ev = await remote.evaluate({
    model: urlJob.expert,
    adapter: 'run/adapter',
    backend: 'wasm',
    threads: 1,
    problems: problems.slice(0, 2).map((p) => ({ ...p, gold: '4' })),
    settings: { prompt: 'plain', maxNewTokens: 4 },
  });
  t.equal(ev.summary.total, 2, 'evaluate runs in the worker');
  await t.rejects(remote.sample({ ...urlJob, problems: [], out: 'x.jsonl' }), { name: 'LightReasonerError', code: 'BAD_INPUT', message: /no problems/ });
  await t.rejects(remote.readFile('nope.txt'), { code: 'NOT_FOUND' });
  await t.rejects(
    remote.sample({ ...urlJob, problems, out: `${url}/models/x.jsonl` }),
    { code: 'BAD_INPUT', message: /out is a URL/, file: `${url}/models/x.jsonl` },
    'a URL as out: named before any work, the file field crosses too',
  );
  t.ok(await remote.exists('run/adapter/adapter_config.json'));
  await remote.remove('run');
  t.notOk(await remote.exists('run/adapter/adapter_config.json'), 'remove empties the storage path');
  await remote.dispose();
});

t.test('run: aborted in the middle of fine-tuning, resumed from its checkpoint = uninterrupted', async (t) => {
  const { generateProblems } = await import('../runtime/data/problems.ts');
  const { parseEvalProblems } = await import('../runtime/eval/evaluate.ts');
  const pair = join(FIXTURES, 'sampling', 'models', 'llama-pair');
  const train = problems.map((p) => ({ ...p, gold: null }));
  const held = parseEvalProblems(
    generateProblems(0, 3, { set: 'eval' })
      .map((p) => JSON.stringify(p))
      .join('\n'),
  );
  const { url, server } = await serve({}, { '/models': pair });
  t.teardown(() => server.close());
  const storage = new MemoryFileSystem();
  const engine = createEngine({ name: 'browser', fs: routedFileSystem(storage), getGPU: async () => null });
  const job = {
    expert: `${url}/models/expert`,
    amateur: `${url}/models/amateur`,
    train,
    eval: held,
    backend: 'wasm' as const,
    threads: 1,
    sample: { maxNewTokens: 16, beta: 0.4 },
    finetune: { maxSteps: 5, saveSteps: 2, lr: 1e-3 },
    evalSettings: { maxNewTokens: 8 },
  };
  const full = await engine.run({ ...job, out: 'full' });
  const controller = new AbortController();
  const stages: string[] = [];
  await t.rejects(
    engine.run(
      { ...job, out: 'cut' },
      {
        signal: controller.signal,
        onEvent: (e) => (
          e.status === 'stage' && stages.push(`${e.stage}:${e.state}`),
          e.status === 'finetune' && e.event.status === 'step' && e.event.step === 3 && controller.abort()
        ),
      },
    ),
    { code: 'ABORTED' },
  );
  t.ok(await storage.exists('cut/adapter/checkpoint-2'), 'a checkpoint was left behind');
  t.notOk(await storage.exists('cut/adapter/train_summary.json'), 'fine-tuning had not finished');
  let resumedFrom: string | null = null;
  const again = await engine.run(
    { ...job, out: 'cut', resume: true },
    { onEvent: (e) => e.status === 'finetune' && e.event.status === 'start' && (resumedFrom = e.event.resumedFrom) },
  );
  t.match(resumedFrom, /checkpoint-2/, 'fine-tuning resumed from its checkpoint');
  for (const f of ['samples.jsonl', 'adapter/adapter_model.safetensors', 'adapter/adapter_config.json', 'eval/expert_after.jsonl']) {
    t.ok(Buffer.from(await storage.readBytes(`cut/${f}`)).equals(Buffer.from(await storage.readBytes(`full/${f}`))), `${f}: resumed = uninterrupted`);
  }
  t.same(
    again.eval.expert_after,
    { ...full.eval.expert_after, seconds: again.eval.expert_after.seconds, file: again.eval.expert_after.file },
    'the same result',
  );
  const fresh = await engine.run({ ...job, out: 'cut', resume: true });
  t.same(fresh.eval.expert_after.correct, full.eval.expert_after.correct, 'a resume of a finished run runs again from its samples');
});
