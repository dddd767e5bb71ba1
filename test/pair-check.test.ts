// pair-check (runtime/eval/pair-check.ts, runtime/stage/pair-decode.ts): greedy vs contrastive
// decoding of a pair, paired. Designed pairs whose outcome is provable — an amateur that follows a
// cue the expert half-resists (CD fixes the cue error), and an amateur sure of the expert's own right
// digit (CD breaks it) — with exact counts, kinds and verdicts; the shared-prefix pass equal to
// decoding each variant alone on the embedded pair; the greedy variant equal to `eval`'s decode;
// the Engine job; the CLI's table, --json and --out.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { createWasmBackend } from '../runtime/backend/wasm/index.ts';
import { ReferenceBackend } from '../runtime/backend/reference.ts';
import type { Backend } from '../runtime/backend/types.ts';
import { generateProblems, problemsToJsonl } from '../runtime/data/problems.ts';
import { createEngine } from '../runtime/engine/engine.ts';
import { createWorkerEngine, serveEngine } from '../runtime/engine/worker.ts';
import { evalPromptIds, type EvalProblem, parseEvalProblems } from '../runtime/eval/evaluate.ts';
import { pairCheck, pairCheckVariants, pairVerdict } from '../runtime/eval/pair-check.ts';
import { formatPairCheck } from '../runtime/eval/pair-check-format.ts';
import { mcnemarExact, mcnemarProblemsNeeded, type PairedComparison } from '../runtime/eval/stats.ts';
import { tokenKind } from '../runtime/eval/token-kinds.ts';
import { generateGreedy } from '../runtime/model/generate.ts';
import { type CausalLM, loadModel } from '../runtime/model/model.ts';
import { nodePlatform } from '../runtime/platform/node.ts';
import type { RunReport } from '../runtime/run/report-types.ts';
import { decodeVariants, type VariantTrajectory } from '../runtime/stage/pair-decode.ts';
import { ROOT } from './helpers/cli.ts';
import { runInProcess } from './helpers/cli-in-process.ts';
import { type DesignedProblem, designedModel, designedTokenizer } from './helpers/designed-pair.ts';
import { plainDecode } from './helpers/plain-cd.ts';

const letters = 'abcdefghijklmnopqrstuvwxyz';

// A cue the amateur follows and the expert half-resists: "pick 4 not 9" — the expert leans to the
// distractor 9 (0.50 vs 0.45), the amateur is sure of it (strong: 0.95 vs 0.01; mild: 0.60 vs 0.30).
// CD's contrast log P_E − log P_A is larger for 4 in both (3.81 vs −0.64; 0.41 vs −0.18), so it
// fixes the cue error; KL is 1.40 (strong) and 0.06 (mild), so selective CD at β 0.4 fixes only the
// strong ones. Easy problems: both models sure of the right answer; nothing changes.
const cue = (k: number, mild: boolean): DesignedProblem => ({
  question: `pick 4 not 9 ${letters[k]}`,
  gold: '4',
  expert: { '9': 0.5, '4': 0.45 },
  amateur: mild ? { '9': 0.6, '4': 0.3 } : { '9': 0.95, '4': 0.01 },
});
// The expert split on the right digit of 3+5 (8: 0.55, 6: 0.40), the amateur sure of the same right
// digit (strong: 0.98 vs 0.005; mild: 0.70 vs 0.20): dividing by the amateur favours 6 (4.38 vs
// −0.58; 0.69 vs −0.24) and breaks the answer; KL 1.50 (strong) and 0.11 (mild).
const digit = (k: number, mild: boolean): DesignedProblem => ({
  question: `what is 3+5 ${letters[k]}`,
  gold: '8',
  expert: { '8': 0.55, '6': 0.4 },
  amateur: mild ? { '8': 0.7, '6': 0.2 } : { '8': 0.98, '6': 0.005 },
});
const easy = (k: number): DesignedProblem => ({ question: `say 7 ${letters[k]}`, gold: '7', expert: { '7': 0.9 }, amateur: { '7': 0.9 } });

const CUE_PAIR = [...[0, 1, 2, 3, 4, 5].map((k) => cue(k, false)), cue(6, true), cue(7, true), easy(0), easy(1)];
const DIGIT_PAIR = [...[0, 1, 2, 3, 4, 5].map((k) => digit(k, false)), digit(6, true), easy(2), easy(3), easy(4)];

const asEval = (ps: DesignedProblem[]): EvalProblem[] =>
  ps.map((p, i) => ({ id: String(i), question: p.question, gold: p.gold, ...(p.kind ? { kind: p.kind } : {}) }));

async function checkDesigned(problems: DesignedProblem[], backend: Backend = new ReferenceBackend()) {
  const expert = designedModel(backend, problems, 'expert'),
    amateur = designedModel(backend, problems, 'amateur');
  return pairCheck(expert, amateur, designedTokenizer, asEval(problems), { alphas: [0.2], betas: [0.4], maxNewTokens: 8, batchSize: 4 });
}

/** Exact counts; the exact McNemar p (2 · 2⁻ⁿ when one side is 0) to rounding. */
function paired(t: Test, got: PairedComparison | null, fixed: number, broken: number, p: number) {
  t.same([got?.fixed, got?.broken], [fixed, broken], `fixed ${fixed}, broken ${broken}`);
  t.ok(Math.abs(got!.p_value - p) < 1e-12, `p ${got!.p_value} = ${p}`);
}

t.test('a cue-following amateur: CD fixes the cue error; exact counts, kinds and verdicts', async (t) => {
  const { report, records } = await checkDesigned(CUE_PAIR);
  t.same(
    report.variants.map((v) => v.name),
    ['greedy', 'cd alpha=0.2', 'cd alpha=0.2 kl>=0.4'],
  );
  const [g, full, sel] = report.variants;
  t.equal(g.correct, 2, 'greedy: only the easy problems (the expert follows the cue)');
  t.equal(full.correct, 10, 'full CD: every cue error fixed');
  paired(t, full.paired_vs_greedy, 8, 0, 2 / 256);
  t.equal(sel.correct, 8, 'selective CD: the mild cues have KL < β and stay greedy');
  paired(t, sel.paired_vs_greedy, 6, 0, 2 / 64);
  t.equal(full.verdict!.direction, 'toward');
  t.equal(sel.verdict!.direction, 'toward');
  t.equal(report.lightreasoner_variant, 'cd alpha=0.2 kl>=0.4');
  t.equal(report.verdict.direction, 'toward');
  t.match(report.verdict.text, /^points toward right answers \(fixed 6, broken 0, p = 0\.031\)/);
  t.equal(full.changes, 8, 'one change per cue problem');
  t.equal(full.steps, 30, '"=", the answer, EOS for each of 10 problems');
  t.same(full.kinds, { digit: 0, 'question-number': 8, operator: 0, word: 0, other: 0 }, 'the chosen 4 is a number of the question');
  t.same(full.replaced_kinds, { digit: 0, 'question-number': 8, operator: 0, word: 0, other: 0 });
  t.equal(full.changed_outputs, 8);
  const r0 = records[0].outputs;
  t.same([r0.greedy.output, r0['cd alpha=0.2'].output], ['=9', '=4'], 'the text without the EOS');
  t.same(
    r0['cd alpha=0.2'].changes.map((c) => [c.step, c.greedy, c.chosen, c.kind]),
    [[1, '9', '4', 'question-number']],
  );
  t.ok(Math.abs(r0['cd alpha=0.2'].changes[0].kl - 1.4) < 0.01, `KL ${r0['cd alpha=0.2'].changes[0].kl}`);
  t.ok(records[6].outputs['cd alpha=0.2'].changes[0].kl < 0.4, 'mild cue: KL below β');
});

t.test("an amateur sure of the expert's own right digit: CD breaks it; exact counts and verdicts", async (t) => {
  const { report } = await checkDesigned(DIGIT_PAIR);
  const [g, full, sel] = report.variants;
  t.equal(g.correct, 10);
  paired(t, full.paired_vs_greedy, 0, 7, 2 / 128);
  paired(t, sel.paired_vs_greedy, 0, 6, 2 / 64);
  t.equal(full.correct, 3);
  t.equal(report.verdict.direction, 'away');
  t.match(report.verdict.text, /^points away from right answers \(fixed 0, broken 6, p = 0\.031\): even perfect fine-tuning/);
  t.same(full.kinds, { digit: 7, 'question-number': 0, operator: 0, word: 0, other: 0 }, '6 is not in "what is 3+5"');
});

t.test("a nearly uniform expert (its mask overflows the device's 64 label slots): the host redoes the row, CD still fixes it", async (t) => {
  // Expert: 9 at 0.02, every other token ≈ 0.0132 ≥ 0.2 · 0.02, so the mask holds all 75 ids, and
  // the device's 64 slots keep only the lowest, which lack 4 (id 65). Amateur: sure of 9, 4 at 1e-6:
  // the contrast is largest for 4.
  const flat: DesignedProblem = { question: 'pick 4 not 9 z', gold: '4', expert: { '9': 0.02 }, amateur: { '9': 0.9, '4': 1e-6 } };
  const { report, records } = await checkDesigned([cue(0, false), flat]);
  t.same(
    report.variants.map((v) => v.correct),
    [0, 2, 2],
  );
  t.same(
    records[1].outputs['cd alpha=0.2'].changes.map((c) => [c.greedy, c.chosen]),
    [['9', '4']],
  );
});

t.test('both at once: fixed = broken resolves nothing, and says no N would', async (t) => {
  const kinded = (ps: DesignedProblem[], kind: string) => ps.map((p) => ({ ...p, kind }));
  const { report } = await checkDesigned([...kinded(CUE_PAIR.slice(0, 3), 'cue'), ...kinded(DIGIT_PAIR.slice(0, 3), 'digits')]);
  t.same(report.verdict, {
    direction: 'unresolved',
    text: 'resolves nothing at N = 6 (fixed 3, broken 3, p = 1); fixed = broken, so no direction to resolve',
    problems_needed: null,
  });
  // … and per problem kind, where each side went (greedy against CD at the selected steps)
  t.same(report.by_kind, [
    { kind: 'cue', problems: 3, greedy: 0, contrast: 3, fixed: 3, broken: 0, p_value: mcnemarExact(3, 0) },
    { kind: 'digits', problems: 3, greedy: 3, contrast: 0, fixed: 0, broken: 3, p_value: mcnemarExact(0, 3) },
  ]);
  t.ok(Math.abs(mcnemarExact(3, 0) - 0.25) < 1e-12, '2 · 2⁻³');
  t.match(
    formatPairCheck(report).join('\n'),
    /per problem kind \(expert greedy → CD α 0\.2, KL ≥ 0\.4\):\nkind +problems +greedy +contrast +fixed +broken +McNemar p\ncue +3 +0\.0% +100\.0% +3 +0 +0\.25\n/,
  );
});

t.test('the same designed pair on the Wasm backend: the same outcome', async (t) => {
  const b = await createWasmBackend();
  t.teardown(() => b.destroy());
  const { report } = await checkDesigned(CUE_PAIR, b);
  t.same(
    report.variants.map((v) => [v.correct, v.paired_vs_greedy?.fixed, v.paired_vs_greedy?.broken]),
    [
      [2, undefined, undefined],
      [10, 8, 0],
      [8, 6, 0],
    ],
  );
});

t.test('verdicts and the problems-needed estimate', async (t) => {
  t.equal(pairVerdict({ fixed: 10, broken: 2, p_value: 0.04 }, 100).direction, 'toward');
  t.equal(pairVerdict({ fixed: 2, broken: 10, p_value: 0.04 }, 100).direction, 'away');
  const u = pairVerdict({ fixed: 31, broken: 30, p_value: 1 }, 1000);
  t.equal(u.direction, 'unresolved');
  // Connor (1987) by hand: ψ = 0.061, δ = 0.001 → (1.95996·√0.061 + 0.84162·√(0.061 − 1e-6))² / 1e-6.
  const psi = 0.061,
    want = Math.ceil((1.959963984540054 * Math.sqrt(psi) + 0.8416212335729143 * Math.sqrt(psi - 1e-6)) ** 2 / 1e-6);
  t.equal(u.problems_needed, want);
  t.ok(want > 470_000 && want < 480_000, `${want}`);
  t.equal(mcnemarProblemsNeeded(4, 0, 10), 18, '(1.96·√0.4 + 0.8416·√0.24)² / 0.16 = 17.04');
  t.equal(mcnemarProblemsNeeded(10, 0, 10), 6, 'Connor says 3.84, but the exact test needs 6 discordant pairs');
  t.equal(mcnemarProblemsNeeded(3, 3, 10), null);
  t.throws(() => mcnemarProblemsNeeded(6, 6, 10), RangeError);
});

t.test('token kinds read whole numbers across tokens', async (t) => {
  const q = new Set(['12', '1250', '3.5']);
  t.equal(tokenKind(['5 * ', '1', '2', ' = 60'], 1, q), 'question-number', '"1" of 12, copied');
  t.equal(tokenKind(['5 * 12 = ', '6', '0'], 1, q), 'digit', '"6" of 60, a result');
  t.equal(tokenKind(['costs $', '1', ',', '250'], 3, q), 'question-number', 'thousands comma');
  t.equal(tokenKind(['3', '.', '5'], 2, q), 'question-number', 'decimal');
  t.equal(tokenKind(['a', ' +', 'b'], 1, q), 'operator');
  t.equal(tokenKind(['a', ' apples'], 1, q), 'word');
  t.equal(tokenKind(['a', ' ', '.'], 1, q), 'other');
});

t.test('bad settings are refused before any decoding', async (t) => {
  const b = new ReferenceBackend();
  const [e, a] = [designedModel(b, CUE_PAIR, 'expert'), designedModel(b, CUE_PAIR, 'amateur')];
  await t.rejects(pairCheck(e, a, designedTokenizer, asEval(CUE_PAIR), { alphas: [1.5] }), { code: 'BAD_INPUT', message: /alpha must be in \[0, 1\]/ });
  await t.rejects(pairCheck(e, a, designedTokenizer, asEval(CUE_PAIR), { alphas: [] }), { code: 'BAD_INPUT' });
  await t.rejects(pairCheck(e, a, designedTokenizer, [], {}), { code: 'BAD_INPUT', message: /no problems/ });
});

// ---- the embedded pair (a real checkpoint, Wasm) ------------------------------------------------

const PAIR = join(ROOT, 'models/default');
let expert: CausalLM, amateur: CausalLM;
t.before(async () => {
  expert = await loadModel(join(PAIR, 'expert'), { fs: nodePlatform.fs, backend: await createWasmBackend() });
  amateur = await loadModel(join(PAIR, 'amateur'), { fs: nodePlatform.fs, backend: await createWasmBackend() });
});
t.teardown(() => {
  expert?.dispose();
  amateur?.dispose();
});
const DEV = parseEvalProblems(problemsToJsonl(generateProblems(0, 12, { set: 'dev' })), { file: 'dev' });
const MAX_NEW = 160;

t.test('embedded pair: the shared-prefix pass gives each variant exactly the tokens of decoding it alone', async (t) => {
  const variants = pairCheckVariants([0.1, 0.5], [1, 0.4]);
  const prompts = DEV.map((p) => evalPromptIds(expert.tokenizer, 'qwen25-math-cot', p.question));
  const shared: VariantTrajectory[][] = [];
  let maxRows = 0;
  for await (const e of decodeVariants(expert, amateur, prompts, { variants, maxNewTokens: MAX_NEW, batchSize: 5 })) {
    if (e.status === 'problem') shared[e.index] = e.variants;
    else maxRows = Math.max(maxRows, e.rows);
  }
  let forked = 0;
  for (const [k, v] of variants.entries()) {
    const plain = await plainDecode(expert, amateur, prompts, v, MAX_NEW);
    t.same(
      shared.map((s) => s[k].tokens),
      plain.tokens,
      `${v.name}: tokens`,
    );
    t.same(
      shared.map((s) => s[k].finish),
      plain.finish,
      `${v.name}: finish`,
    );
    if (k > 0) forked += shared.filter((s) => s[k].tokens.join() !== s[0].tokens.join()).length;
  }
  t.ok(forked >= 10, `the CD variants left greedy's path on ${forked} of ${12 * 6} trajectories (the forks were exercised)`);
  t.ok(maxRows > 5, `up to ${maxRows} rows in a batch of 5 problems`);
  // Greedy is eval's decode.
  const g = await generateGreedy(expert, prompts, { maxNewTokens: MAX_NEW });
  t.same(
    shared.map((s) => s[0].tokens),
    g.tokens,
    'greedy = generateGreedy',
  );
});

t.test('embedded pair through the Engine: report fields, records, events', async (t) => {
  const events: string[] = [];
  const engine = createEngine(nodePlatform);
  const { report, records } = await engine.pairCheck(
    {
      expert: join(PAIR, 'expert'),
      amateur: join(PAIR, 'amateur'),
      problems: DEV.slice(0, 6),
      backend: 'wasm',
      threads: 1,
      settings: { alphas: [0.2], betas: [1], maxNewTokens: 48 },
    },
    { onEvent: (e) => events.push(e.status) },
  );
  t.equal(report.problems, 6);
  t.equal(report.backend, 'wasm');
  t.same(report.settings, { alphas: [0.2], betas: [1], max_new_tokens: 48, batch_size: 8, prompt: 'qwen25-math-cot' });
  t.equal(report.variants.length, 3);
  for (const v of report.variants) t.equal(v.total, 6);
  t.ok(report.tokens_fed > 6 * 48, `${report.tokens_fed} tokens fed`);
  t.equal(records.length, 6);
  t.same(Object.keys(records[0].outputs), ['greedy', 'cd alpha=0.2', 'cd alpha=0.2 kl>=1']);
  t.equal(events[0], 'start');
  t.equal(events.at(-1), 'done');
  t.equal(events.filter((e) => e === 'problem').length, 6);
});

t.test('CLI: table on stdout, --json one document, --out with records, bad input exit 2', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pair-check-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const data = join(dir, 'dev.jsonl');
  writeFileSync(data, problemsToJsonl(generateProblems(0, 4, { set: 'dev' })));
  const out = join(dir, 'check.json');
  const table = await runInProcess([
    'pair-check',
    '--data',
    data,
    '--max-new-tokens',
    '32',
    '--backend',
    'wasm',
    '--threads',
    '1',
    '--alpha',
    '0.1,0.5',
    '--beta',
    '1',
    '--out',
    out,
    '--quiet',
  ]);
  t.equal(table.code, 0, table.stderr);
  t.match(table.stdout, /expert greedy/);
  t.match(table.stdout, /CD α 0\.5, KL ≥ 1/);
  t.match(table.stdout, /\nverdict \(CD α 0\.1 at the steps LightReasoner selects, KL ≥ 1\): the pair's contrast (points|resolves)/);
  const doc = JSON.parse(readFileSync(out, 'utf8'));
  t.same(
    doc.variants.map((v: { name: string }) => v.name),
    ['greedy', 'cd alpha=0.1', 'cd alpha=0.5', 'cd alpha=0.1 kl>=1', 'cd alpha=0.5 kl>=1'],
  );
  t.equal(doc.records.length, 4);
  t.same(doc.data, { source: data, problems: 4 });
  const json = await runInProcess([
    'pair-check',
    '--data',
    data,
    '--count',
    '2',
    '--max-new-tokens',
    '16',
    '--backend',
    'wasm',
    '--threads',
    '1',
    '--json',
    '--quiet',
  ]);
  t.equal(json.code, 0, json.stderr);
  const parsed = JSON.parse(json.stdout);
  t.equal(parsed.problems, 2);
  t.equal(parsed.records, undefined, '--json: the report, without the per-problem records');
  t.ok(['toward', 'away', 'unresolved'].includes(parsed.verdict.direction));
  const again = await runInProcess(['pair-check', '--data', data, '--count', '1', '--max-new-tokens', '8', '--backend', 'wasm', '--out', out, '--quiet']);
  t.equal(again.code, 2, 'an existing --out is refused');
  t.match(again.stderr, /^error: .*check\.json/m);
  const bad = await runInProcess(['pair-check', '--data', data, '--alpha', '0.2,2']);
  t.equal(bad.code, 2);
  t.match(bad.stderr, /--alpha must be numbers in \[0, 1\]/);
  const half = await runInProcess(['pair-check', '--expert', join(PAIR, 'expert')]);
  t.equal(half.code, 2);
  t.match(half.stderr, /give both --expert and --amateur/);
});

t.test("run --pair-check N: report.json and report.html carry the pair check, at the run's α and β", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pair-check-run-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const evalFile = join(dir, 'eval.jsonl');
  writeFileSync(evalFile, problemsToJsonl(generateProblems(0, 6, { set: 'eval' })));
  const out = join(dir, 'run');
  // The pair check on the held-out problems themselves (only here, to compare): its greedy row is `eval`'s expert.
  const r = await runInProcess([
    'run',
    '--max-questions',
    '4',
    '--eval-data',
    evalFile,
    '--pair-check',
    '6',
    '--pair-check-data',
    evalFile,
    '--max-steps',
    '2',
    '--max-new-tokens',
    '24',
    '--eval-max-new-tokens',
    '64',
    '--alpha',
    '0.2',
    '--beta',
    '0.5',
    '--backend',
    'wasm',
    '--threads',
    '1',
    '--out',
    out,
  ]);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stderr, /pair-check: greedy vs contrastive decoding…/);
  t.match(r.stderr, /verdict \(CD α 0\.2 at the steps LightReasoner selects, KL ≥ 0\.5\): the pair's contrast /, 'the verdict as a note, before sampling');
  t.match(r.stdout, /^pair-check on 6 problems [^]*\nverdict \(CD α 0\.2 [^]*\n\nheld-out accuracy on 6 problems/, 'the table at the top of the result');
  t.notMatch(r.stderr, /^ *variant /m, 'the table is not on stderr');
  const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as RunReport;
  const c = report.pair_check!;
  t.ok(c, 'report.pair_check');
  t.same(c.data, { source: evalFile, problems: 6 });
  t.same(c.settings, { alphas: [0.2], betas: [0.5], max_new_tokens: 64, batch_size: 8, prompt: 'qwen25-math-cot' });
  t.same(
    c.variants.map((v) => v.name),
    ['greedy', 'cd alpha=0.2', 'cd alpha=0.2 kl>=0.5'],
  );
  t.equal(c.lightreasoner_variant, 'cd alpha=0.2 kl>=0.5');
  t.ok(['toward', 'away', 'unresolved'].includes(c.verdict.direction));
  t.equal(c.variants[0].correct, report.eval.expert_before.correct, 'greedy in the pair check = the expert before, on the same problems');
  t.ok(report.stages.pair_check!.seconds > 0);
  const html = readFileSync(join(out, 'report.html'), 'utf8');
  t.match(html, /<h2>Pair check \(before any training\)<\/h2>/);
  t.notMatch(html, /NaN|undefined/);
  const bad = await runInProcess(['run', '--pair-check-data', evalFile, '--out', join(dir, 'x'), '--quiet']);
  t.equal(bad.code, 2);
  t.match(bad.stderr, /^error: --pair-check-data needs --pair-check N/m);
});

t.test('the Engine across a worker boundary: the same pair check, events included', async (t) => {
  const job = {
    expert: join(PAIR, 'expert'),
    amateur: join(PAIR, 'amateur'),
    problems: DEV.slice(0, 3),
    backend: 'wasm' as const,
    threads: 1,
    settings: { alphas: [0.5], betas: [1], maxNewTokens: 24 },
  };
  const local = await createEngine(nodePlatform).pairCheck(job);
  const { port1, port2 } = new MessageChannel();
  serveEngine(port2 as unknown as Parameters<typeof serveEngine>[0], nodePlatform);
  const remote = createWorkerEngine(port1 as unknown as Parameters<typeof createWorkerEngine>[0]);
  t.teardown(() => (port1.close(), port2.close()));
  let problems = 0;
  const r = await remote.pairCheck(job, { onEvent: (e) => void (e.status === 'problem' && problems++) });
  t.equal(problems, 3, 'progress events crossed');
  const strip = (x: typeof r) => ({ ...x, report: { ...x.report, created: '', seconds: 0 } });
  t.same(strip(r), strip(local), 'report and records as in this thread');
});
