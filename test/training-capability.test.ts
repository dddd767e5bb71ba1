// Training is a capability (issue 26): a backend has `training` or not, and a training job asked to
// run on one without it (WebGL2) fails when it starts, by name, before reading samples or writing
// output. WebGL2 needs a browser, so a reference backend with its training removed stands in.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { ReferenceBackend } from '../runtime/backend/reference.ts';
import { requireTraining } from '../runtime/backend/training.ts';
import type { Backend } from '../runtime/backend/types.ts';
import { WebGL2Backend } from '../runtime/backend/webgl2/backend.ts';
import { nodeFileSystem } from '../runtime/platform/node.ts';
import { finetune } from '../runtime/train/finetune.ts';
import { TrainPass } from '../runtime/train/pass.ts';
import { randomModel, SHAPES } from '../tooling/random-model.ts';

/** A reference backend that reports itself as webgl2 and has no training ops. */
function noTraining(): Backend {
  const b = new ReferenceBackend();
  return Object.create(b, { training: { value: undefined }, info: { value: Object.freeze({ ...b.info, kind: 'webgl2' }) } }) as Backend;
}

/** The error `f` throws (or rejects with), or null. */
async function caught(f: () => unknown): Promise<{ code?: string; message?: string } | null> {
  try {
    await f();
    return null;
  } catch (e) {
    return e as { code?: string; message?: string };
  }
}

/** UNSUPPORTED, naming the backend and --backend wasm. */
function refused(t: Test, e: { code?: string; message?: string } | null, what: string): void {
  t.equal(e?.code, 'UNSUPPORTED', `${what}: UNSUPPORTED`);
  t.match(e?.message ?? '', /\bwebgl2 backend\b.*--backend wasm/, `${what}: names the backend and --backend wasm`);
}

t.test('backends that train expose training; WebGL2 has none and no stubs', async (t) => {
  const ref = new ReferenceBackend();
  t.ok(ref.training, 'reference: training');
  t.equal(requireTraining(ref, 'fine-tuning'), ref.training, 'requireTraining returns the ops');
  t.notOk('training' in WebGL2Backend.prototype, 'webgl2: no training');
  for (const op of ['matmulNN', 'matmulTN', 'attentionBackward', 'adamw', 'softLabelLoss']) t.notOk(op in WebGL2Backend.prototype, `webgl2: no ${op} stub`);
});

t.test('requireTraining names the backend and the way out', async (t) => {
  const e = await caught(() => requireTraining(noTraining(), 'fine-tuning'));
  refused(t, e, 'requireTraining');
  t.match(e?.message ?? '', /^the webgl2 backend runs inference and sampling only: fine-tuning needs/);
});

t.test('finetune on a backend without training fails at start, before samples or output', async (t) => {
  const model = randomModel(SHAPES['tiny-qwen2-96'], noTraining(), 'f32');
  const dir = mkdtempSync(join(tmpdir(), 'lr-capability-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const out = join(dir, 'adapter');
  // Unparseable samples: a job that read them first would fail with BAD_INPUT instead.
  refused(t, await caught(() => finetune({ fs: nodeFileSystem, model, samplesText: 'not json\n', samplesFile: 'samples.jsonl', out })), 'finetune');
  t.notOk(existsSync(out), 'nothing written');
  refused(t, await caught(() => new TrainPass(model, { config: { r: 1, alpha: 1, dropout: 0, targetModules: [] }, scaling: 1, layers: [] })), 'TrainPass');
});
