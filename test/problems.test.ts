// The word-problem generator (runtime/data/problems.ts): deterministic, internally consistent
// worked solutions in GSM8K's format, and disjoint pretrain / dev / sample / eval sets.
import t from 'tap';
import { createHash } from 'node:crypto';
import { parseGold } from '../runtime/eval/grade.ts';
import {
  boxedSolution,
  fnv1a,
  generateProblems,
  mulberry32,
  placeValueSolution,
  PROBLEM_SETS,
  problemsToJsonl,
  SEED_RANGES,
  setOfQuestion,
  TEMPLATE_NAMES,
} from '../runtime/data/problems.ts';

t.test('same seed, same bytes; longer runs extend shorter ones', async (t) => {
  for (const set of [undefined, ...PROBLEM_SETS]) {
    const a = problemsToJsonl(generateProblems(3, 200, { set }));
    const b = problemsToJsonl(generateProblems(3, 200, { set }));
    t.equal(a, b, `${set ?? 'raw'}: identical bytes`);
    t.equal(problemsToJsonl(generateProblems(3, 300, { set })).startsWith(a), true, `${set ?? 'raw'}: 200 is a prefix of 300`);
    t.not(problemsToJsonl(generateProblems(4, 200, { set })), a, `${set ?? 'raw'}: another seed differs`);
  }
  // The PRNG and hash are pure 32-bit integer arithmetic: pin their values so a change (or a
  // runtime difference) shows here, and pin the eval set that the embedded default ships.
  const r = mulberry32(42);
  t.same(
    [r(), r(), r()].map((x) => Math.floor(x * 2 ** 32)),
    [2581720956, 1925393290, 3661312704],
  );
  t.equal(fnv1a('hello'), 0x4f9f2cab);
  // (Deno gives the same digest.) Changing a template changes this on purpose: update it then.
  t.equal(
    generateProblems(0, 1, { set: 'eval' })[0].question,
    'Ravi buys 3 candles that cost $6 each and 2 scarves that cost $20 each. How much does he spend in all?',
  );
  const digest = createHash('sha256')
    .update(problemsToJsonl(generateProblems(0, 100, { set: 'eval' })))
    .digest('hex');
  t.equal(digest, '23bcd72f111d773c18028cd0213b5cac446c4f7d24594d6f635ea01805040df6', 'eval set (seed 0, 100 problems) digest');
});

/** Evaluate "a op b op c" with * and / before + and -, integers only. */
function evalExpr(expr: string): number {
  const tokens = expr.trim().split(/\s+/);
  const nums: number[] = [Number(tokens[0])];
  const ops: string[] = [];
  for (let i = 1; i < tokens.length; i += 2) {
    const op = tokens[i],
      v = Number(tokens[i + 1]);
    if (op === '*') nums.push(nums.pop()! * v);
    else if (op === '/') {
      const a = nums.pop()!;
      if (a % v !== 0) throw new Error(`inexact division ${a} / ${v}`);
      nums.push(a / v);
    } else {
      ops.push(op);
      nums.push(v);
    }
  }
  let acc = nums[0];
  for (const [i, op] of ops.entries()) acc = op === '+' ? acc + nums[i + 1] : acc - nums[i + 1];
  return acc;
}

t.test('every step line re-evaluates; the final line is the result', async (t) => {
  const problems = [...generateProblems(11, 1500), ...PROBLEM_SETS.flatMap((set) => generateProblems(0, 300, { set }))];
  const templates = new Set<string>(),
    steps = new Set<number>(),
    questions = new Set<string>();
  let bad = 0;
  for (const p of problems) {
    templates.add(p.template);
    steps.add(p.steps);
    const lines = p.answer.split('\n');
    const final = lines.pop()!;
    const ok: string[] = [];
    if (final !== `#### ${p.result}`) ok.push(`final line "${final}" is not #### ${p.result}`);
    if (lines.length !== p.steps || p.steps < 1 || p.steps > 4) ok.push(`${lines.length} step lines for steps=${p.steps}`);
    if (!Number.isInteger(p.result) || p.result < 0) ok.push(`result ${p.result} is not a non-negative integer`);
    let last = NaN;
    for (const line of lines) {
      const m = /(\d+(?: [-+*/] \d+)+) = (\d+)/.exec(line);
      if (!m) {
        ok.push(`no "a op b = c" in "${line}"`);
        continue;
      }
      try {
        const v = evalExpr(m[1]);
        if (v !== Number(m[2])) ok.push(`"${m[0]}" evaluates to ${v}`);
        if (v < 0) ok.push(`negative intermediate in "${line}"`);
      } catch (e) {
        ok.push(`${(e as Error).message} in "${line}"`);
      }
      last = Number(m[2]);
    }
    if (last !== p.result) ok.push(`last step gives ${last}, result is ${p.result}`);
    if (parseGold(p) !== String(p.result)) ok.push('the grader reads another gold answer');
    if (questions.has(`${p.id}\u0000${p.question}`)) ok.push('duplicate');
    questions.add(`${p.id}\u0000${p.question}`);
    if (ok.length) {
      bad++;
      if (bad <= 5) t.fail(`${p.id} (${p.template}/${p.steps}): ${ok.join('; ')}\n${p.question}\n${p.answer}`);
    }
  }
  t.equal(bad, 0, `${problems.length} problems consistent`);
  t.ok(templates.size >= 6, `${templates.size} templates used: ${[...templates].join(', ')}`);
  t.same([...steps].sort(), [1, 2, 3, 4], 'one to four steps');
  t.same([...templates].sort(), [...TEMPLATE_NAMES].sort(), 'every template appears');
});

t.test('every template gives every step count', async (t) => {
  for (const name of TEMPLATE_NAMES) {
    for (let s = 1; s <= 4; s++) {
      const ps = generateProblems(5, 20, { templates: [name], minSteps: s, maxSteps: s });
      t.ok(
        ps.every((p) => p.steps === s && p.template === name && p.answer.split('\n').length === s + 1),
        `${name}/${s}`,
      );
    }
  }
});

t.test('questions within a set are distinct and varied', async (t) => {
  const ps = generateProblems(1, 1000, { set: 'pretrain' });
  t.equal(new Set(ps.map((p) => p.question)).size, 1000, 'no duplicate question');
  t.equal(new Set(ps.map((p) => p.id)).size, 1000, 'no duplicate id');
  const names = new Set(ps.map((p) => p.question.split(' ')[0]));
  t.ok(names.size >= 15, `${names.size} different opening words`);
  t.ok(new Set(ps.map((p) => p.result)).size >= 100, 'results vary');
});

t.test('pretrain, dev, sample and eval never share a question', async (t) => {
  const sets = {
    pretrain: [...generateProblems(0, 3000, { set: 'pretrain' }), ...generateProblems(1, 1000, { set: 'pretrain' })],
    dev: [...generateProblems(0, 600, { set: 'dev' }), ...generateProblems(1, 300, { set: 'dev' })],
    sample: [...generateProblems(0, 600, { set: 'sample' }), ...generateProblems(1, 300, { set: 'sample' })],
    eval: [...generateProblems(0, 600, { set: 'eval' }), ...generateProblems(1, 300, { set: 'eval' })],
  };
  for (const [name, ps] of Object.entries(sets))
    t.ok(
      ps.every((p) => setOfQuestion(p.question) === name),
      `${name}: every question hashes to its own set`,
    );
  const q = (name: keyof typeof sets) => new Set(sets[name].map((p) => p.question));
  const [a, b, c, d] = [q('pretrain'), q('sample'), q('eval'), q('dev')];
  for (const [name, other] of [
    ['pretrain', a],
    ['sample', b],
    ['eval', c],
  ] as const)
    t.equal([...d].filter((x) => other.has(x)).length, 0, `dev ∩ ${name} = ∅`);
  t.equal([...b].filter((x) => a.has(x)).length, 0, 'sample ∩ pretrain = ∅');
  t.equal([...c].filter((x) => a.has(x)).length, 0, 'eval ∩ pretrain = ∅');
  t.equal([...c].filter((x) => b.has(x)).length, 0, 'eval ∩ sample = ∅');
  // The named seed ranges do not overlap either.
  const ranges = PROBLEM_SETS.map((s) => SEED_RANGES[s]).sort((x, y) => x.start - y.start);
  for (let i = 1; i < ranges.length; i++) t.ok(ranges[i - 1].start + ranges[i - 1].size <= ranges[i].start, 'seed ranges are disjoint');
  t.ok(ranges[ranges.length - 1].start + ranges[ranges.length - 1].size <= 2 ** 32, 'seeds fit 32 bits');
});

t.test('options are validated; boxed solutions', async (t) => {
  t.throws(() => generateProblems(-1, 3), /seed/);
  t.throws(() => generateProblems(0, 3, { set: 'nope' as 'eval' }), /unknown set/);
  t.throws(() => generateProblems(SEED_RANGES.eval.size, 3, { set: 'eval' }), /seed must be </);
  t.throws(() => generateProblems(0, 1.5), /count/);
  t.throws(() => generateProblems(0, 3, { minSteps: 0 }), /steps/);
  t.throws(() => generateProblems(0, 3, { templates: ['nope'] }), /unknown template/);
  t.same(generateProblems(0, 0), []);
  t.equal(problemsToJsonl([]), '');
  t.equal(boxedSolution('A is 2 + 3 = 5.\n#### 5'), 'A is 2 + 3 = 5.\nThe final answer is \\boxed{5}.');
});

t.test('placeValueSolution: two-digit × one-digit products by place value, the rest unchanged', async (t) => {
  t.equal(placeValueSolution('The pens cost 8 * 13 = 104 dollars.'), 'The pens cost 8 * 13 = 8 * 10 + 8 * 3 = 80 + 24 = 104 dollars.');
  t.equal(placeValueSolution('34 * 5 = 170'), '34 * 5 = 30 * 5 + 4 * 5 = 150 + 20 = 170', 'the two-digit operand first keeps its place');
  for (const same of ['3 * 4 = 12', '2 * 20 = 40', '12 * 11 = 132', '125 * 3 = 375', '18 + 20 = 38'])
    t.equal(placeValueSolution(same), same, `${same}: unchanged`);
  // Every generated solution stays arithmetically true, and its result line is untouched.
  for (const p of generateProblems(3, 300, { set: 'pretrain' })) {
    const pv = placeValueSolution(p.answer);
    t.equal(pv.split('\n').at(-1), `#### ${p.result}`);
    for (const m of pv.matchAll(/(\d+) \* (\d+) = (\d+) \* (\d+) \+ (\d+) \* (\d+) = (\d+) \+ (\d+) = (\d+)/g)) {
      const [a, b, c, d, e, f, g, h, r] = m.slice(1).map(Number);
      if (!(a * b === r && c * d === g && e * f === h && g + h === r && c * d + e * f === a * b)) t.fail(`wrong: ${m[0]}`);
    }
  }
});
