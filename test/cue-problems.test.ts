// Shallow-cue problems (runtime/data/cue-problems.ts, issue 27 item 2): deterministic, set-disjoint,
// the default problem sets untouched; every solution line's arithmetic right; the cue's solution
// different from the right one and built from the cue (the distractor's number, the keyword's
// opposite operation, the unit ignored); the right arithmetic easy.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { CUE_KINDS, cueProblemsToJsonl, generateCueProblems } from '../runtime/data/cue-problems.ts';
import { generateProblems, PROBLEM_SETS, setOfQuestion } from '../runtime/data/problems.ts';
import { runInProcess } from './helpers/cli-in-process.ts';

const ops: Record<string, (a: number, b: number) => number> = { '+': (a, b) => a + b, '-': (a, b) => a - b, '*': (a, b) => a * b, '/': (a, b) => a / b };

/** Every "a op b [op c] = r" in a solution evaluates to r; returns the operands. */
function checkLines(t: Test, answer: string, result: number, what: string): number[] {
  const operands: number[] = [];
  for (const m of answer.matchAll(/(\d+(?: [-+*/] \d+)+) = (\d+)/g)) {
    const parts = m[1].split(' ');
    let v = Number(parts[0]);
    operands.push(v);
    for (let i = 1; i < parts.length; i += 2) (v = ops[parts[i]](v, Number(parts[i + 1]))), operands.push(Number(parts[i + 1]));
    if (v !== Number(m[2])) t.fail(`${what}: ${m[0]} is wrong`);
  }
  t.equal(Number(answer.split('#### ')[1]), result, `${what}: #### ${result}`);
  return operands;
}

t.test('deterministic, distinct, in their set, every kind', async (t) => {
  const a = generateCueProblems(0, 300, { set: 'dev' }),
    b = generateCueProblems(0, 300, { set: 'dev' });
  t.equal(cueProblemsToJsonl(a), cueProblemsToJsonl(b), 'same bytes');
  t.same(generateCueProblems(0, 100, { set: 'dev' }), a.slice(0, 100), 'a prefix of a longer run');
  t.equal(new Set(a.map((p) => p.question)).size, 300, 'distinct questions');
  t.ok(
    a.every((p) => setOfQuestion(p.question) === 'dev'),
    'every question in the dev share',
  );
  t.same([...new Set(a.map((p) => p.kind))].sort(), [...CUE_KINDS].sort());
  t.same([...new Set(a.map((p) => p.cue))].sort(), ['age', 'cents', 'each', 'fewer-than', 'left', 'minutes', 'more-than', 'other-item', 'weeks']);
  const sets = PROBLEM_SETS.map((set) => new Set(generateCueProblems(0, 200, { set }).map((p) => p.question)));
  for (let i = 0; i < sets.length; i++)
    for (let j = i + 1; j < sets.length; j++) t.equal([...sets[i]].filter((q) => sets[j].has(q)).length, 0, `${PROBLEM_SETS[i]} ∩ ${PROBLEM_SETS[j]} = ∅`);
  // The default sets (the embedded pair's data) are not touched: tests/problems.test.ts pins the eval
  // digest; here the standard stream is simply not the cue stream.
  const std = new Set(generateProblems(0, 300, { set: 'dev' }).map((p) => p.question));
  t.equal(a.filter((p) => std.has(p.question)).length, 0);
  t.throws(() => generateCueProblems(0, 1, { kinds: ['nope' as never] }), RangeError);
});

t.test('right and cue solutions: correct arithmetic, different results, the cue visible', async (t) => {
  for (const p of generateCueProblems(7, 240, { set: 'sample' })) {
    const right = checkLines(t, p.answer, p.result, `${p.id} right`);
    const cue = checkLines(t, p.cue_answer, p.cue_result, `${p.id} cue`);
    if (p.result === p.cue_result) t.fail(`${p.id}: the cue gives the right answer`);
    if (Math.max(...right) > 99) t.fail(`${p.id}: right arithmetic not easy (${right})`);
    const q = new Set([...p.question.matchAll(/\d+/g)].map((m) => Number(m[0])));
    if (p.kind === 'distractor') {
      const unused = [...q].filter((x) => !right.includes(x));
      if (unused.length !== 1 || !cue.includes(unused[0])) t.fail(`${p.id}: one question number the right solution ignores and the cue uses (${unused})`);
    }
    if (p.cue === 'more-than' && !(p.question.includes('more than') && p.answer.includes(' - ') && p.cue_answer.includes(' + '))) t.fail(`${p.id}: more-than`);
    if (p.cue === 'each' && !(p.answer.includes(' / ') && p.cue_answer.includes(' * '))) t.fail(`${p.id}: each`);
    if (p.kind === 'unit' && p.cue_answer.split('\n').length >= p.answer.split('\n').length && p.cue !== 'cents')
      t.fail(`${p.id}: the cue skips the unit step`);
  }
  t.pass('checked 240 problems');
});

t.test('problems --cues writes them as JSONL with cue_answer', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cue-problems-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const r = await runInProcess(['problems', '--set', 'dev', '--count', '3', '--cues', '--out', join(dir, 'cues.jsonl')]);
  t.equal(r.code, 0, r.stderr);
  const lines = readFileSync(join(dir, 'cues.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  t.same(
    lines,
    JSON.parse(
      JSON.stringify(
        generateCueProblems(0, 3, { set: 'dev' }).map(({ id, question, answer, cue_answer, kind, cue, variant }) => ({
          id,
          question,
          answer,
          cue_answer,
          kind,
          cue,
          variant,
        })),
      ),
    ),
  );
});

/** The words of a solution's first line before its first number, the person's name or pronoun as "X". */
const lead = (answer: string) =>
  answer
    .split('\n')[0]
    .split(/\d/)[0]
    .replace(/^(He|She|[A-Z][a-z]+) /, 'X ');

t.test('holds twins: the cue is right, worded as the misleading cue solutions; decisions after the first token', async (t) => {
  const holds = generateCueProblems(0, 240, { set: 'sample', variant: 'holds' });
  const misleads = generateCueProblems(0, 240, { set: 'sample', variant: 'misleads' });
  t.equal(generateCueProblems(0, 240, { set: 'sample', variant: 'misleads' }).length, 240);
  t.same(generateCueProblems(0, 240, { set: 'sample' }), misleads, "'misleads' is the default variant");
  t.ok(
    holds.every((p) => p.variant === 'holds' && p.id.includes('-holds-') && p.cue_answer === p.answer && p.cue_result === p.result),
    'holds: the cue solution is the right one',
  );
  t.ok(
    misleads.every((p) => p.variant === 'misleads' && !p.id.includes('-holds-')),
    'misleads: ids of their own',
  );
  const mq = new Set(misleads.map((p) => p.question));
  t.equal(holds.filter((p) => mq.has(p.question)).length, 0, 'no question in both variants');
  for (const p of holds) checkLines(t, p.answer, p.result, `${p.id} holds`);
  t.same([...new Set(holds.map((p) => p.cue))].sort(), [...new Set(misleads.map((p) => p.cue))].sort(), 'every cue has its twin');
  // A model that learned the holds twins continues a misleading question the cue's way: the cue
  // solution begins with words the holds solutions of that cue begin with.
  const holdsLeads = new Map<string, Set<string>>();
  for (const p of holds) holdsLeads.set(p.cue, (holdsLeads.get(p.cue) ?? new Set()).add(lead(p.answer)));
  for (const p of misleads) {
    if (!holdsLeads.get(p.cue)!.has(lead(p.cue_answer))) t.fail(`${p.id} (${p.cue}): cue solution "${lead(p.cue_answer)}" is not a holds twin's wording`);
    // LightReasoner contrasts steps t ≥ 1: the right and the cue solution share their first word.
    if (p.answer.split(' ')[0] !== p.cue_answer.split(' ')[0]) t.fail(`${p.id} (${p.cue}): the right and the cue solution differ at the first token`);
  }
  t.pass('checked 240 twins and 240 misleading problems');
});
