// Full-parameter training (tooling/full-train.ts): the gradients of every weight — each linear
// layer, the LM head and the input embedding (with repeated ids, tied and untied) — against central
// finite differences on a tiny random model (reference backend), the Wasm backend against the
// reference, the engine's loss against cross-entropy computed from the model's own forward logits,
// and a few optimizer steps that lower the loss and save a checkpoint our loader reads back exactly.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { ReferenceBackend } from '../runtime/backend/reference.ts';
import type { Backend } from '../runtime/backend/types.ts';
import { createWasmBackend } from '../runtime/backend/wasm/index.ts';
import type { CausalLM } from '../runtime/model/model.ts';
import { loadWeights } from '../runtime/model/weights.ts';
import { nodePlatform } from '../runtime/platform/node.ts';
import {
  type CeExample,
  DEFAULT_FULL_TRAIN,
  FullTrainer,
  initFullModel,
  llamaConfig,
  namedWeights,
  normalValues,
  saveLlamaCheckpoint,
  warmupCosineLr,
} from '../tooling/full-train.ts';

const shape = (tie: boolean) => ({
  ...llamaConfig({
    hiddenSize: 16,
    layers: 2,
    heads: 2,
    kvHeads: 1,
    intermediateSize: 24,
    vocabSize: 29,
    maxPositions: 64,
    ropeTheta: 10000,
    rmsEps: 1e-5,
    bosTokenId: 1,
    eosTokenId: 2,
  }),
  tieEmbeddings: tie,
});
// Repeated ids inside and across sequences (the embedding gradient must add them up).
const EXAMPLES: CeExample[] = [
  { prompt: [1, 5, 7, 5, 9], answer: [7, 7, 3, 2] },
  { prompt: [1, 4, 5], answer: [11, 5, 28, 2] },
  { prompt: [1, 20], answer: [2] },
];
const settings = { ...DEFAULT_FULL_TRAIN, maxSteps: 10, warmupSteps: 2 };

async function gradsOf(model: CausalLM): Promise<{ loss: number; grads: Map<string, Float32Array> }> {
  const tr = new FullTrainer(model, settings);
  const { loss } = await tr.gradients(EXAMPLES);
  const grads = new Map<string, Float32Array>();
  for (const p of tr.params) grads.set(p.name, (await model.backend.read(p.grad)) as Float32Array);
  tr.dispose();
  return { loss, grads };
}

/** Mean answer-token cross-entropy from the model's forward logits (float64 on the host). */
async function forwardLoss(model: CausalLM): Promise<number> {
  let sum = 0,
    count = 0;
  for (const ex of EXAMPLES) {
    const ids = [...ex.prompt, ...ex.answer.slice(0, -1)];
    const cache = model.createCache(1, ids.length);
    const rows = new Int32Array(ids.flatMap((_, p) => [0, p]));
    const pick = Int32Array.from(ex.answer.map((_, k) => ex.prompt.length - 1 + k));
    const logits = (await model.backend.read(model.forward({ tokens: Int32Array.from(ids), rows, logitRows: pick }, cache))) as Float32Array;
    model.disposeCache(cache);
    const V = model.config.vocabSize;
    ex.answer.forEach((tok, k) => {
      const row = logits.subarray(k * V, (k + 1) * V);
      const max = Math.max(...row);
      const lse = max + Math.log(row.reduce((a, x) => a + Math.exp(x - max), 0));
      sum += lse - row[tok];
      count++;
    });
  }
  return sum / count;
}

for (const tie of [false, true]) {
  t.test(`full-parameter gradients = finite differences (reference, ${tie ? 'tied' : 'untied'})`, async (t) => {
    const b = new ReferenceBackend();
    // A larger init than HF's 0.02 so gradients stand well above f32 rounding of the loss.
    const model = initFullModel(shape(tie), b, 7, null, 0.2);
    const { loss, grads } = await gradsOf(model);
    const ref = await forwardLoss(model);
    t.ok(Math.abs(loss - ref) <= 1e-5 * Math.max(1, ref), `engine loss ${loss} = CE from forward logits ${ref}`);
    const names = namedWeights(model).filter((w) => grads.has(w.name));
    const expected = 1 + 7 * 2 + (tie ? 0 : 1);
    t.equal(names.length, expected, `${expected} trainable tensors (norm gains frozen)`);
    const tr = new FullTrainer(model, settings);
    const h = 1e-2;
    let worst = 0;
    for (const [k, { name, tensor }] of names.entries()) {
      const g = grads.get(name)!;
      const w = (await b.read(tensor)) as Float32Array;
      const gNorm = Math.hypot(...g);
      // d/dε L(W + ε·u) for unit directions u: the gradient's own direction (= |G|), a random one
      // (= ⟨G, u⟩: a wrong entry anywhere shows), and the three largest entries (= G_i).
      const rand = normalValues(g.length, 1000 + k, 1);
      const rNorm = Math.hypot(...rand);
      const dirs: [string, Float32Array][] = [
        ['along G', g.map((x) => x / gNorm)],
        ['random direction', rand.map((x) => x / rNorm)],
        ...Array.from(g.keys())
          .sort((i, j) => Math.abs(g[j]) - Math.abs(g[i]))
          .slice(0, 3)
          .map((i): [string, Float32Array] => [`[${i}]`, Float32Array.from(g, (_, j) => (j === i ? 1 : 0))]),
      ];
      for (const [what, u] of dirs) {
        const at = async (eps: number) => {
          b.write(
            tensor,
            w.map((x, j) => x + eps * u[j]),
          );
          return (await tr.gradients(EXAMPLES)).loss;
        };
        const fd = ((await at(h)) - (await at(-h))) / (2 * h);
        b.write(tensor, w);
        const an = g.reduce((a, x, j) => a + x * u[j], 0);
        const err = Math.abs(fd - an) / gNorm;
        worst = Math.max(worst, err);
        t.ok(err <= 1e-2, `${name} ${what}: analytic ${an.toExponential(4)} vs finite difference ${fd.toExponential(4)} (|G| ${gNorm.toExponential(2)})`);
      }
    }
    t.comment(`worst |finite difference − analytic| / |G| = ${worst.toExponential(2)}`);
    tr.dispose();
    model.dispose();
  });
}

t.test('full-parameter gradients: wasm = reference', async (t) => {
  const backends: Backend[] = [new ReferenceBackend(), await createWasmBackend()];
  const [r, w] = await Promise.all(backends.map((b) => gradsOf(initFullModel(shape(false), b, 3, null, 0.1))));
  t.ok(Math.abs(r.loss - w.loss) <= 1e-5 * r.loss, `loss ${w.loss} vs ${r.loss}`);
  for (const [name, g] of r.grads) {
    const x = w.grads.get(name)!;
    let num = 0,
      den = 0;
    for (let i = 0; i < g.length; i++) {
      num = Math.max(num, Math.abs(x[i] - g[i]));
      den = Math.max(den, Math.abs(g[i]));
    }
    t.ok(num <= 1e-4 * den, `${name}: max |wasm − reference| / max |reference| = ${(num / den).toExponential(2)}`);
  }
  for (const b of backends) b.destroy();
});

t.test('optimizer steps lower the loss; the checkpoint reloads exactly', async (t) => {
  const b = await createWasmBackend();
  const config = shape(false);
  const model = initFullModel(config, b, 5);
  const tr = new FullTrainer(model, { ...settings, lr: 1e-2, maxSteps: 30 });
  t.equal(warmupCosineLr(tr.settings, 1), 5e-3, 'warm-up');
  t.ok(Math.abs(warmupCosineLr(tr.settings, 30) - 1e-3) < 1e-12, 'cosine ends at lr · minLrRatio');
  const first = await tr.trainStep(EXAMPLES);
  let last = first;
  for (let s = 1; s < 30; s++) last = await tr.trainStep(EXAMPLES);
  t.ok(last.loss < first.loss * 0.5, `loss ${first.loss.toFixed(3)} → ${last.loss.toFixed(3)}`);
  const dir = mkdtempSync(join(tmpdir(), 'full-train-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  await saveLlamaCheckpoint(nodePlatform.fs, dir, model, { dtype: 'F32', tokenizerFiles: {} });
  const ref = new ReferenceBackend();
  const loaded = await loadWeights(nodePlatform.fs, dir, config, ref);
  for (const [j, nw] of namedWeights(model).entries()) {
    const mine = (await b.read(nw.tensor)) as Float32Array;
    const back = (await ref.read(namedWeights({ weights: loaded, config } as CausalLM)[j].tensor)) as Float32Array;
    t.same(Array.from(back), Array.from(mine), `${nw.name} round-trips`);
  }
  tr.dispose();
  model.dispose();
});
