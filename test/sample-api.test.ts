// The portable job API (runSampling): an AbortSignal stops it at a step boundary leaving a
// resumable state, and the resume (in another batch position) gives the uninterrupted bytes.
import t from 'tap';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ReferenceBackend } from '../runtime/backend/reference.ts';
import { loadModel } from '../runtime/model/model.ts';
import { nodePlatform } from '../runtime/platform/node.ts';
import { type RunEvent, runSampling, type RunSamplingOptions } from '../runtime/stage/sampling.ts';
import { parseProblems } from '../runtime/stage/sample.ts';
import { FIXTURES } from './helpers/cli.ts';

t.test('abort, then resume = uninterrupted', async (t) => {
  const tmp = mkdtempSync(join(tmpdir(), 'lr-sample-api-'));
  t.teardown(() => rmSync(tmp, { recursive: true, force: true }));
  const b = new ReferenceBackend();
  const dir = join(FIXTURES, 'sampling', 'models', 'llama-pair');
  const expert = await loadModel(join(dir, 'expert'), { fs: nodePlatform.fs, backend: b });
  const amateur = await loadModel(join(dir, 'amateur'), { fs: nodePlatform.fs, backend: b });
  const text = readFileSync(join(FIXTURES, 'sampling', 'questions.jsonl'), 'utf8');
  const problems = [...parseProblems(text), ...parseProblems(text).map((p) => ({ ...p, id: `${p.id}b` }))];
  const base: Omit<RunSamplingOptions, 'out'> = {
    fs: nodePlatform.fs,
    expert,
    amateur,
    problems,
    settings: { alpha: 0.2, beta: 0.4, maxNewTokens: 12, batchSize: 3, system: 'Please reason step by step.' },
    identity: { expert: { source: 'e', fingerprint: 'x' }, amateur: { source: 'a', fingerprint: 'y' }, data: 'd', backend: 'reference' },
  };
  const full = join(tmp, 'full.jsonl'),
    cut = join(tmp, 'cut.jsonl');
  const summary = await runSampling({ ...base, out: full });
  t.equal(summary.problems, 8);
  t.equal(
    summary.amateur_tokens,
    summary.trajectory_tokens -
      8 +
      problems.reduce(
        (a, p) =>
          a +
          expert.tokenizer.encodeChat([
            { role: 'system', content: 'Please reason step by step.' },
            { role: 'user', content: p.question },
          ]).length,
        0,
      ),
    'amateur tokens = Σ prompt + T − 1',
  );

  // An abort stops at the next step: the batch in flight is dropped, committed problems stay.
  const aborted = join(tmp, 'aborted.jsonl');
  const controller = new AbortController();
  await t.rejects(
    runSampling({ ...base, out: aborted, signal: controller.signal, onEvent: (e) => e.status === 'committed' && e.done === 3 && controller.abort() }),
    { code: 'ABORTED' },
  );
  t.equal(JSON.parse(readFileSync(`${aborted}.state.json`, 'utf8')).committed, 3, 'the first batch is committed at the abort');
  const resumedSummary = await runSampling({ ...base, out: aborted, resume: true });
  t.ok(readFileSync(aborted).equals(readFileSync(full)), 'aborted + resumed = uninterrupted');
  t.same(resumedSummary.diagnostics, summary.diagnostics, 'aborted + resumed: the same pair diagnostics');
  t.equal(summary.diagnostics.selected_steps, summary.selected_steps);

  // A crash in the middle of committing the second batch (problem 4 is committed, 5 is not).
  const crash = (e: RunEvent) => {
    if (e.status === 'committed' && e.done === 4) throw new Error('crash');
  };
  await t.rejects(runSampling({ ...base, out: cut, onEvent: crash }), /crash/);
  const state = JSON.parse(readFileSync(`${cut}.state.json`, 'utf8'));
  t.equal(state.committed, 4, 'four problems committed at the crash');
  await t.rejects(
    runSampling({ ...base, out: cut, resume: true, identity: { ...base.identity, expert: { source: 'e', fingerprint: 'other' } } }),
    /other settings, models or data \(identity\.expert\.fingerprint was "x", now "other"\)/,
    'other models refused',
  );
  await t.rejects(runSampling({ ...base, problems: problems.slice(0, 7), out: cut, resume: true }), /problems was 8, now 7/, 'another problem count refused');
  const events: RunEvent[] = [];
  await runSampling({ ...base, out: cut, resume: true, onEvent: (e) => events.push(e) });
  t.match(events[0], { status: 'start', total: 8, committed: 4 });
  t.match(
    events.find((e) => e.status === 'batch'),
    { status: 'batch', batch: 1, first: 3, recomputed: 1 },
    'the partly committed batch is recomputed whole',
  );
  t.ok(readFileSync(cut).equals(readFileSync(full)), 'byte-identical');

  // A bare file name, as the README writes `--out samples.jsonl`: the current folder.
  const cwd = process.cwd();
  process.chdir(tmp);
  try {
    await runSampling({ ...base, problems: problems.slice(0, 2), out: 'bare.jsonl' });
  } finally {
    process.chdir(cwd);
  }
  t.ok(existsSync(join(tmp, 'bare.jsonl')) && existsSync(join(tmp, 'bare.jsonl.summary.json')), 'a bare --out name is written in the current folder');
});
