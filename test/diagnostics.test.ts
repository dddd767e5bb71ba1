// Pair diagnostics (runtime/stage/diagnostics.ts): hand-made steps give the counts, rates, entropy
// and verdict they must; on a real sampling run every figure agrees with an independent recount
// from the contrast results and the samples file.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { ReferenceBackend } from '../runtime/backend/reference.ts';
import { loadModel } from '../runtime/model/model.ts';
import { nodePlatform } from '../runtime/platform/node.ts';
import { addToDiagnostics, emptyDiagnostics, formatDiagnostics, summarizeDiagnostics } from '../runtime/stage/diagnostics.ts';
import { parseProblems, type ProblemResult, sampleContrastive } from '../runtime/stage/sample.ts';
import { FIXTURES } from './helpers/cli.ts';

t.test('hand-made steps', async (t) => {
  const d = emptyDiagnostics();
  // Trajectory [5, 7, 9, 4]: steps 1–3 predict 7, 9, 4.
  addToDiagnostics(d, {
    trajectory: [5, 7, 9, 4],
    steps: [
      { step: 1, kl: 0.9, maskSize: 2, selected: true, tokenIds: [3, 7], weights: [0.75, 0.25] }, // flip: argmax 3 ≠ 7
      { step: 2, kl: 0.5, maskSize: 1, selected: true, tokenIds: [9], weights: [1] }, // copy
      { step: 3, kl: 0.01, maskSize: 3, selected: false },
    ],
  });
  const g = summarizeDiagnostics(d);
  t.match(g, { problems: 1, contrasted_steps: 3, selected_steps: 2, label_flips: 1, label_flip_rate: 0.5 });
  t.equal(g.selection_rate, 2 / 3);
  t.equal(g.mask.mean, 1.5);
  t.equal(g.mask.single_token_rate, 0.5);
  t.same(g.mask.counts.slice(0, 3), [1, 1, 0]);
  t.ok(Math.abs(g.kl.mean - 1.41 / 3) < 1e-12);
  t.ok(Math.abs(g.kl.selected_mean! - 0.7) < 1e-12);
  const h = -(0.75 * Math.log(0.75) + 0.25 * Math.log(0.25)) / 2;
  t.ok(Math.abs(g.label_entropy_mean! - h) < 1e-12, `entropy ${g.label_entropy_mean} = ${h}`);
  // Quantiles are read off log bins (10 a decade): within 13 % of the true value.
  t.ok(Math.abs(g.kl.median / 0.5 - 1) < 0.13, `median ${g.kl.median} ≈ 0.5`);
  t.ok(g.verdict.ok, g.verdict.message);
  t.equal(formatDiagnostics(g).length, 4);

  const copies = emptyDiagnostics();
  for (let i = 0; i < 20; i++)
    addToDiagnostics(copies, { trajectory: [1, 2], steps: [{ step: 1, kl: 2, maskSize: 1, selected: true, tokenIds: [2], weights: [1] }] });
  const c = summarizeDiagnostics(copies);
  t.equal(c.label_flip_rate, 0);
  t.notOk(c.verdict.ok);
  t.match(c.verdict.message, /near-copies of the expert's own greedy choices \(0\.0% label flips, mean mask 1\.00 tokens/);
  t.match(formatDiagnostics(c)[3], /^ {2}warning: /);
  const none = summarizeDiagnostics(emptyDiagnostics());
  t.notOk(none.verdict.ok);
  t.match(none.verdict.message, /no step was selected/);
  t.equal(none.label_flip_rate, null);
  t.same(JSON.parse(JSON.stringify(d)), d, 'the state is plain JSON (it lives in the sampling state file)');
});

t.test('a real run: independent recount from the contrast results', async (t) => {
  const b = new ReferenceBackend();
  const dir = join(FIXTURES, 'sampling', 'models', 'qwen-pair');
  const expert = await loadModel(join(dir, 'expert'), { fs: nodePlatform.fs, backend: b });
  const amateur = await loadModel(join(dir, 'amateur'), { fs: nodePlatform.fs, backend: b });
  const problems = parseProblems(readFileSync(join(FIXTURES, 'sampling', 'questions.jsonl'), 'utf8'));
  const results: ProblemResult[] = [];
  // β 0.05: this pair selects enough steps to exercise every figure.
  for await (const e of sampleContrastive(expert, amateur, problems, { alpha: 0.2, beta: 0.05, maxNewTokens: 16, batchSize: 2, system: 'S' }))
    if (e.status === 'problem') results.push(e.result);
  const d = emptyDiagnostics();
  for (const r of results) addToDiagnostics(d, r);
  const g = summarizeDiagnostics(d);
  const samples = results.flatMap((r) => r.samples.map((s) => ({ s, next: r.trajectory[s.step] })));
  t.ok(samples.length > 0, `${samples.length} samples`);
  t.equal(g.selected_steps, samples.length);
  t.equal(
    g.contrasted_steps,
    results.reduce((a, r) => a + r.steps.length, 0),
  );
  const flips = samples.filter(({ s, next }) => s.token_ids[s.weights.indexOf(Math.max(...s.weights))] !== next).length;
  t.equal(g.label_flips, flips, `${flips} flips`);
  t.ok(Math.abs(g.mask.mean! - samples.reduce((a, { s }) => a + s.token_ids.length, 0) / samples.length) < 1e-12, 'mask mean = mean label length');
  // The expert's greedy token is in its own mask (it is the argmax of P_E).
  t.ok(
    samples.every(({ s, next }) => s.token_ids.includes(next)),
    "every mask holds the expert's greedy token",
  );
});
