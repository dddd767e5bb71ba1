// Stage 1 on WebGL2 against the float32 PyTorch fixtures (test/fixtures/sampling), in the browser:
// the checks of test/sample-parity.test.ts (same trajectories, same selected steps except where
// |KL − β| < 1e-3, KL within 1e-3 relative, weights within 1e-4, amateur token counts), reported
// as Check records. The fixtures are read over HTTP with the browser platform.

import type { Backend } from '../../runtime/backend/types.ts';
import { loadModel } from '../../runtime/model/model.ts';
import { browserPlatform } from '../../runtime/platform/browser.ts';
import { parseProblems, type ProblemResult, sampleContrastive } from '../../runtime/stage/sample.ts';
import type { Check } from '../portable/model-parity.ts';

interface Step {
  step: number;
  kl: number;
  selected: boolean;
  token_ids: number[];
  weights: number[];
  prefix_token_ids: number[];
  prefix: string;
}
interface Expected {
  settings: { alpha: number; beta: number; max_new_tokens: number; system: string };
  problems: { id: string; prompt_token_ids: number[]; trajectory_token_ids: number[]; steps: Step[] }[];
}

export interface SamplingOptions {
  pairs: string[];
  /** Problems per pair (the fixtures have 4) and trajectory cut (fixtures: max_new_tokens). */
  problems?: number;
  maxNewTokens?: number;
}

export async function checkSampling(backend: () => Promise<Backend>, fixtures: string, o: SamplingOptions, log: (c: Check) => void): Promise<void> {
  const fs = browserPlatform.fs;
  const dir = fs.join(fixtures, 'sampling');
  const all = parseProblems(await fs.readText(fs.join(dir, 'questions.jsonl')));
  for (const pair of o.pairs) {
    const exp = JSON.parse(await fs.readText(fs.join(dir, 'expected', `${pair}.json`))) as Expected;
    const b = await backend();
    try {
      const expert = await loadModel(fs.join(dir, 'models', pair, 'expert'), { fs, backend: b });
      const amateur = await loadModel(fs.join(dir, 'models', pair, 'amateur'), { fs, backend: b });
      const s = exp.settings;
      const maxNewTokens = o.maxNewTokens ?? s.max_new_tokens;
      const problems = all.slice(0, o.problems ?? all.length);
      const got: ProblemResult[] = [];
      const settings = { alpha: s.alpha, beta: s.beta, maxNewTokens, system: s.system, batchSize: 3 };
      for await (const e of sampleContrastive(expert, amateur, problems, settings)) if (e.status === 'problem') got.push(e.result);
      compare(`${pair} [${b.info.kind}]`, exp, got, s.beta, maxNewTokens, log);
    } finally {
      b.destroy();
    }
  }
}

const same = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((x, i) => x === b[i]);

function compare(tag: string, exp: Expected, got: ProblemResult[], beta: number, maxNewTokens: number, log: (c: Check) => void): void {
  let flips = 0,
    steps = 0;
  for (const [i, g] of got.entries()) {
    const p = exp.problems[i];
    const traj = p.trajectory_token_ids.slice(0, maxNewTokens);
    const want = p.steps.filter((s) => s.step < maxNewTokens);
    log({ name: `${tag} ${p.id}: prompt ids = apply_chat_template`, ok: same(g.promptTokenIds, p.prompt_token_ids), detail: '' });
    log({ name: `${tag} ${p.id}: trajectory`, ok: same(g.trajectory, traj), detail: `got ${JSON.stringify(g.trajectory)}\nwant ${JSON.stringify(traj)}` });
    log({
      name: `${tag} ${p.id}: amateur read prompt + T − 1 tokens`,
      ok: g.amateurTokens === p.prompt_token_ids.length + traj.length - 1,
      detail: `${g.amateurTokens}`,
    });
    const bySample = new Map(g.samples.map((x) => [x.step, x]));
    const bad: string[] = [];
    for (const [j, s] of want.entries()) {
      const h = g.steps[j];
      if (!h || h.step !== s.step) {
        bad.push(`step ${s.step}: missing`);
        continue;
      }
      steps++;
      if (!(Math.abs(h.kl - s.kl) <= 1e-3 * Math.abs(s.kl) + 1e-6)) bad.push(`step ${s.step}: KL ${h.kl} vs ${s.kl}`);
      if (h.selected !== s.selected) {
        if (Math.abs(s.kl - beta) < 1e-3) flips++;
        else bad.push(`step ${s.step}: selected ${h.selected} vs ${s.selected}`);
        continue;
      }
      if (!s.selected) continue;
      const sample = bySample.get(s.step);
      if (!sample) {
        bad.push(`step ${s.step}: no sample`);
        continue;
      }
      if (!same(sample.token_ids, s.token_ids)) bad.push(`step ${s.step}: label ids ${JSON.stringify(sample.token_ids)} vs ${JSON.stringify(s.token_ids)}`);
      const dw = Math.max(0, ...s.weights.map((w, k) => Math.abs(w - (sample.weights[k] ?? Infinity))));
      if (!(dw <= 1e-4)) bad.push(`step ${s.step}: weights differ by ${dw}`);
      if (sample.prefix !== s.prefix || !same(sample.prefix_token_ids, s.prefix_token_ids)) bad.push(`step ${s.step}: prefix`);
    }
    log({ name: `${tag} ${p.id}: ${want.length} steps' KL, selection, labels and weights`, ok: bad.length === 0, detail: bad.slice(0, 8).join('\n') });
  }
  log({
    name: `${tag}: ${got.length} problems, ${steps} steps compared (${flips} selection flips at |KL − β| < 1e-3)`,
    ok: got.length > 0 && steps > 0,
    detail: '',
  });
}
