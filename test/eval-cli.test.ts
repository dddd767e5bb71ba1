// `lightreasoner-wasm eval` and `problems` end to end on tiny checkpoints, plus the portable
// evaluate() API (events, batching, abort).
import t from 'tap';
import { wilsonInterval } from '../runtime/eval/stats.ts';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ReferenceBackend } from '../runtime/backend/reference.ts';
import { evaluate, evalMessages, evalRecordsToJsonl, parseEvalProblems, QWEN25_MATH_COT_SYSTEM, type EvalEvent } from '../runtime/eval/evaluate.ts';
import { generateProblems, problemsToJsonl } from '../runtime/data/problems.ts';
import { loadModel } from '../runtime/model/model.ts';
import { nodePlatform } from '../runtime/platform/node.ts';
import { loadAdapter } from '../runtime/train/peft.ts';
import { FIXTURES } from './helpers/cli.ts';
import { runEachInProcess, runInProcess } from './helpers/cli-in-process.ts';

const MODEL = join(FIXTURES, 'models', 'qwen2-tied-bf16');
const LLAMA_EXPERT = join(FIXTURES, 'sampling', 'models', 'llama-pair', 'expert');
const INIT_ADAPTER = join(FIXTURES, 'finetune', 'llama-pair', 'init-adapter'); // PEFT format, nonzero A and B
const tmp = mkdtempSync(join(tmpdir(), 'lr-eval-'));
t.teardown(() => rmSync(tmp, { recursive: true, force: true }));

// Three problems in the three accepted gold formats.
const DATA = join(tmp, 'three.jsonl');
writeFileSync(
  DATA,
  [
    {
      question:
        'Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. How many clips did Natalia sell altogether in April and May?',
      answer: 'Natalia sold 48/2 = <<48/2=24>>24 clips in May.\nNatalia sold 48+24 = <<48+24=72>>72 clips altogether in April and May.\n#### 72',
    },
    { id: 'n', question: 'What is 2 + 3?', answer: 5 },
    { id: 's', question: 'What is half of 3?', answer: '\\frac{3}{2}' },
  ]
    .map((o) => JSON.stringify(o))
    .join('\n') + '\n',
);
const FIELDS = ['id', 'question', 'output', 'extracted', 'gold', 'correct'];
const evalArgs = (extra: string[]) => ['eval', '--model', MODEL, '--data', DATA, '--backend', 'reference', '--max-new-tokens', '12', '--quiet', ...extra];

t.test('eval on a tiny checkpoint: JSONL with the fields, accuracy in [0, 1]', async (t) => {
  const out = join(tmp, 'sub', 'results.jsonl');
  const r = await runInProcess(evalArgs(['--batch-size', '2', '--out', out, '--json']));
  t.equal(r.code, 0, 'exits 0', { stderr: r.stderr });
  const summary = JSON.parse(r.stdout.trim());
  t.equal(summary.total, 3);
  t.ok(summary.accuracy >= 0 && summary.accuracy <= 1, `accuracy ${summary.accuracy}`);
  t.equal(summary.prompt, 'qwen25-math-cot');
  const lines = readFileSync(out, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  t.equal(lines.length, 3);
  for (const l of lines) for (const f of FIELDS) t.ok(f in l, `field ${f}`);
  t.same(
    lines.map((l) => l.id),
    ['0', 'n', 's'],
    'ids in input order (line index when absent)',
  );
  t.same(
    lines.map((l) => l.gold),
    ['72', '5', '\\frac{3}{2}'],
    'gold answers parsed',
  );
  t.equal(lines.filter((l) => l.correct).length, summary.correct);
  t.ok(lines.every((l) => typeof l.output === 'string' && l.generated_tokens >= 1 && l.generated_tokens <= 12));
  t.same(readdirSync(join(tmp, 'sub')), ['results.jsonl', 'results.jsonl.summary.json'], 'the results and their summary; no temp file left');

  // Batching does not change a single token; the human summary line.
  const out1 = join(tmp, 'results-b1.jsonl');
  const r1 = await runInProcess(evalArgs(['--batch-size', '1', '--out', out1]));
  t.equal(r1.code, 0, { stderr: r1.stderr });
  t.match(r1.stdout, /^accuracy \d+\.\d% \[\d+\.\d, \d+\.\d\] \(\d\/3; 95% Wilson interval\)/);
  t.equal(readFileSync(out1, 'utf8'), readFileSync(out, 'utf8'), 'batch size 1 gives the same records');
  t.same(summary.ci95, wilsonInterval(summary.correct, 3), 'the JSON summary carries the interval');

  // --paired-with: the paired test against earlier results; a base of other problems is refused.
  const flipped = join(tmp, 'flipped.jsonl');
  writeFileSync(flipped, lines.map((l, j) => JSON.stringify({ ...l, correct: j === 0 ? !l.correct : l.correct })).join('\n') + '\n');
  const [rp, rbad] = await runEachInProcess([evalArgs(['--paired-with', flipped, '--json']), evalArgs(['--paired-with', flipped, '--max-questions', '2'])]);
  t.equal(rp.code, 0, { stderr: rp.stderr });
  const first = lines[0].correct as boolean;
  t.same(JSON.parse(rp.stdout).paired, { fixed: first ? 1 : 0, broken: first ? 0 : 1, p_value: 1 }, 'one discordant problem, on the side of the flip');
  t.equal(rbad.code, 2);
  t.match(rbad.stderr, /--paired-with .*flipped\.jsonl: it holds 3 problems, these are 2/);

  const r2 = await runInProcess(evalArgs(['--prompt', 'plain', '--max-questions', '2', '--json']));
  t.equal(r2.code, 0, { stderr: r2.stderr });
  t.equal(JSON.parse(r2.stdout).total, 2, '--max-questions');
  t.equal(JSON.parse(r2.stdout).prompt, 'plain');
});

t.test('eval --adapter applies a PEFT adapter (the same records as the API with loadAdapter)', async (t) => {
  if (!existsSync(INIT_ADAPTER)) return t.pass('no adapter fixture', { skip: true });
  const out = join(tmp, 'adapted.jsonl');
  const r = await runInProcess([
    'eval',
    '--model',
    LLAMA_EXPERT,
    '--adapter',
    INIT_ADAPTER,
    '--data',
    DATA,
    '--backend',
    'reference',
    '--max-new-tokens',
    '8',
    '--batch-size',
    '3',
    '--quiet',
    '--out',
    out,
  ]);
  t.equal(r.code, 0, { stderr: r.stderr });
  const problems = parseEvalProblems(readFileSync(DATA, 'utf8'));
  const model = await loadModel(LLAMA_EXPERT, { fs: nodePlatform.fs, backend: new ReferenceBackend() });
  t.teardown(() => model.dispose());
  const base = await evaluate(model, problems, { maxNewTokens: 8 });
  model.adapter = await loadAdapter(nodePlatform.fs, INIT_ADAPTER, model);
  const adapted = await evaluate(model, problems, { maxNewTokens: 8 });
  t.equal(readFileSync(out, 'utf8'), evalRecordsToJsonl(adapted.records), 'CLI records = API records with the adapter');
  t.not(evalRecordsToJsonl(adapted.records), evalRecordsToJsonl(base.records), 'the (nonzero) adapter changes the outputs');
});

t.test('bad data lines: an error naming the file and line', async (t) => {
  const cases: [string, RegExp][] = [
    ['{"question":"a","answer":1}\n{oops\n', /f\.jsonl:2: not valid JSON/],
    ['{"question":"a","answer":1}\n\n{"question":"b"}\n', /f\.jsonl:3: no "answer"/],
    ['{"answer":1}\n', /f\.jsonl:1: no "question" string/],
    ['[1,2]\n', /f\.jsonl:1: not a JSON object/],
    ['{"question":"a","answer":""}\n', /f\.jsonl:1: cannot read a gold answer/],
    ['{"question":"a","answer":{"x":1}}\n', /f\.jsonl:1: cannot read a gold answer/],
    ['{"question":"a","answer":1,"id":[1]}\n', /f\.jsonl:1: "id" must be a string or a number/],
    ['{"id":1,"question":"a","answer":1}\n{"id":"1","question":"b","answer":2}\n', /f\.jsonl:2: duplicate id "1" \(first on line 1\)/],
    ['\n\n', /f\.jsonl: no problems/],
  ];
  for (const [text, re] of cases) t.throws(() => parseEvalProblems(text, { file: 'f.jsonl' }), { code: 'BAD_INPUT', message: re });
  t.same(parseEvalProblems('{"question":"q","solution":"so $\\\\boxed{4}$"}\n'), [{ id: '0', question: 'q', gold: '4', line: 1 }], 'MATH-style solution');
});

t.test('bad input on the command line: exit 2 (1 for a model problem) with a message', async (t) => {
  const badjson = join(tmp, 'badjson.jsonl');
  writeFileSync(badjson, '{"question":"a","answer":1}\n{oops\n');
  // A model without a chat template is a model problem (exit 1), said plainly.
  const dir = join(tmp, 'no-template');
  cpSync(join(FIXTURES, 'models', 'llama-gqa-tied-f32'), dir, { recursive: true });
  const cfgPath = join(dir, 'tokenizer_config.json');
  const cfg = JSON.parse(readFileSync(cfgPath, 'utf8'));
  delete cfg.chat_template;
  writeFileSync(cfgPath, JSON.stringify(cfg));
  const cases: [string[], number, RegExp][] = [
    [['--model', MODEL, '--data', badjson], 2, /badjson\.jsonl:2: not valid JSON/],
    [['--model', MODEL, '--data', DATA, '--prompt', 'chatty'], 2, /--prompt: choose one of qwen25-math-cot, plain/],
    [['--model', join(tmp, 'nomodel'), '--data', join(tmp, 'missing.jsonl')], 2, /missing\.jsonl: no such file/],
    [['--model', dir, '--data', DATA], 1, /no chat template/],
  ];
  const results = await runEachInProcess(cases.map(([args]) => ['eval', '--backend', 'reference', '--quiet', ...args]));
  for (const [i, [args, code, re]] of cases.entries()) {
    t.equal(results[i].code, code, `${args.join(' ')} exits ${code}`);
    t.match(results[i].stderr, re);
  }
});

t.test('problems: deterministic JSONL that eval reads', async (t) => {
  const a = join(tmp, 'p-a.jsonl');
  const [ra, rb, bad] = await runEachInProcess([
    ['problems', '--set', 'sample', '--seed', '7', '--count', '25', '--out', a],
    ['problems', '--count', '3', '--max-steps', '1'],
    ['problems', '--set', 'test', '--count', '3'],
  ]);
  t.equal(ra.code, 0, { stderr: ra.stderr });
  t.equal(readFileSync(a, 'utf8'), problemsToJsonl(generateProblems(7, 25, { set: 'sample' })), "the generator's bytes");
  const ps = parseEvalProblems(readFileSync(a, 'utf8'));
  t.equal(ps.length, 25);
  t.ok(
    ps.every((p) => /^\d+$/.test(p.gold)),
    'integer gold answers',
  );
  t.equal(rb.code, 0);
  const lines = rb.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  t.equal(lines.length, 3, 'stdout without --out');
  t.ok(
    lines.every((l) => l.answer.split('\n').length === 2),
    'one step each',
  );
  t.equal(bad.code, 2);
  t.match(bad.stderr, /--set: choose one of pretrain, dev, sample, eval/);
});

t.test('evaluate() API: events, prompt messages, abort', async (t) => {
  t.same(evalMessages('qwen25-math-cot', 'Q'), [
    { role: 'system', content: QWEN25_MATH_COT_SYSTEM },
    { role: 'user', content: 'Q' },
  ]);
  t.same(evalMessages('plain', 'Q'), [{ role: 'user', content: 'Q' }]);
  t.equal(QWEN25_MATH_COT_SYSTEM, 'Please reason step by step, and put your final answer within \\boxed{}.');
  const model = await loadModel(MODEL, { fs: nodePlatform.fs, backend: new ReferenceBackend() });
  t.teardown(() => model.dispose());
  const problems = parseEvalProblems(readFileSync(DATA, 'utf8'), { file: 'three.jsonl' });
  const events: EvalEvent['status'][] = [];
  const { records, summary } = await evaluate(model, problems, { maxNewTokens: 6, batchSize: 2, onEvent: (e) => events.push(e.status) });
  t.equal(records.length, 3);
  t.equal(events[0], 'start');
  t.equal(events[events.length - 1], 'done');
  t.equal(events.filter((e) => e === 'problem').length, 3);
  t.ok(events.includes('step'));
  t.equal(summary.correct, records.filter((r) => r.correct).length);
  t.equal(
    summary.generated_tokens,
    records.reduce((s, r) => s + r.generated_tokens, 0),
  );

  const controller = new AbortController();
  controller.abort();
  await t.rejects(evaluate(model, problems, { maxNewTokens: 6, signal: controller.signal }), { code: 'ABORTED' });
  await t.rejects(evaluate(model, problems, { batchSize: 0 }), { code: 'BAD_INPUT' });
});
