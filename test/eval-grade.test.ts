// Golden table for answer extraction and grading (runtime/eval/grade.ts): every row was checked by
// hand against the rules of the Qwen2.5-Math toolkit as described in the issue.
import t from 'tap';
import { answersEqual, answerValue, extractAnswer, gradeOutput, lastBoxed, normalizeAnswer, parseGold } from '../runtime/eval/grade.ts';

// [model output, gold (as parseGold gives it), expected extracted answer, expected correct]
const CASES: [string, string, string | null, boolean][] = [
  // \boxed: the last one wins, braces are matched, \fbox counts too
  ['So the total is \\boxed{18}.', '18', '18', true],
  ['First \\boxed{3}, then corrected: \\boxed{5}', '5', '5', true],
  ['First \\boxed{5}, then corrected: \\boxed{3}', '5', '3', false],
  ['\\boxed{\\frac{1}{2}}', '0.5', '\\frac{1}{2}', true],
  ['\\boxed{\\dfrac{3}{4}}', '0.75', '\\frac{3}{4}', true],
  ['The answer is \\boxed{{12}}', '12', '12', true],
  ['\\boxed{\\text{12 apples}}', '12', '12', true],
  ['$\\boxed{1,234}$', '1234', '1234', true],
  ['\\boxed{1{,}234}', '1234', '1234', true],
  ['\\boxed{\\$ 45}', '45', '45', true],
  ['\\boxed{45\\%}', '45', '45', true],
  ['\\boxed{-7}', '-7', '-7', true],
  ['\\boxed{-7}', '7', '-7', false],
  ['\\boxed{.5}', '0.5', '0.5', true],
  ['\\boxed{x = 9}', '9', '9', true],
  ['\\fbox{27}', '27', '27', true],
  ['\\boxed{27} and later \\fbox{28}', '28', '28', true],
  ['$\\boxed 42$ is it', '42', '42', true],
  ['The result is \\boxed{3/4}', '0.75', '3/4', true],
  ['\\boxed{10\\text{ cm}}', '10', '10', true],
  ['\\boxed{90^\\circ}', '90', '90', true],
  ['\\boxed{1\\!000}', '1000', '1000', true],
  ['Truncated output \\boxed{12', '12', '12', true],
  // an empty box (the instruction echoed) is still the last box: nothing is extracted from it
  ['The answer is 7. Put your final answer within \\boxed{}.', '7', '', false],
  // a box beats "the answer is" and the last number
  ['The answer is 5 but \\boxed{6} and then 7', '6', '6', true],
  // "the answer is"
  ['The answer is $1,234.50.', '1234.5', '1234.50', true],
  ['Therefore, the answer is 42.', '42', '42', true],
  ['the answer is: 15 dollars.', '15', '15', true],
  ['The answer is 3. Then we check 4 + 4 = 8.', '3', '3', true],
  ['So the final answer is 64 cookies', '64', '64', true],
  ['The answer is:\n120', '120', '120', true],
  ['The answer is 50%.', '50', '50', true],
  ['The answer is -12.', '-12', '-12', true],
  ['The answer is 2/3', '0.6667', '2/3', true],
  ['The answer is 2/3', '0.67', '2/3', false],
  ['I think the answer is 8, then the answer is 9.', '9', '9', true],
  ['The answer is twelve.', '12', 'twelve', false],
  ['The answer is 5 apples and 3 oranges', '53', '5 3', false],
  // the last number (commas removed)
  ['She has 3 + 4 = 7 apples left.', '7', '7', true],
  ['Total: 1,250 dollars', '1250', '1250', true],
  ['It costs $0.75 in all', '0.75', '0.75', true],
  ['The temperature drops to -3 degrees', '-3', '-3', true],
  ['First 10, then 20, finally 30.5', '30.5', '30.5', true],
  ['Each gets .25 of the cake', '0.25', '0.25', true],
  ['No numbers here at all.', '5', null, false],
  ['', '5', null, false],
  // numeric tolerance 1e-4 (relative)
  ['\\boxed{100.005}', '100', '100.005', true],
  ['\\boxed{100.02}', '100', '100.02', false],
  ['\\boxed{18.00}', '18', '18.00', true],
  ['\\boxed{0.3333}', '1/3', '0.3333', true],
  ['\\boxed{\\frac{1}{3}}', '0.3333', '\\frac{1}{3}', true],
  ['\\boxed{\\frac12}', '0.5', '\\frac12', true],
  ['\\boxed{-\\frac{1}{4}}', '-0.25', '-\\frac{1}{4}', true],
  ['\\boxed{\\frac{-1}{4}}', '-0.25', '\\frac{-1}{4}', true],
  // string fallback (non-numeric answers)
  ['\\boxed{\\sqrt{2}}', '\\sqrt{2}', '\\sqrt{2}', true],
  ['\\boxed{\\pi}', '\\pi', '\\pi', true],
  ['\\boxed{(1, 2)}', '(1,2)', '1, 2', true],
  ['\\boxed{\\text{Yes}}', 'yes', 'Yes', true],
  ['\\boxed{\\text{No}}', 'yes', 'No', false],
  // a gold of 0
  ['\\boxed{0}', '0', '0', true],
  ['\\boxed{0.00001}', '0', '0.00001', false],
];

t.test('golden extraction and grading table', async (t) => {
  t.ok(CASES.length >= 50, `${CASES.length} cases`);
  for (const [output, gold, extracted, correct] of CASES) {
    const g = gradeOutput(output, gold);
    t.equal(g.extracted, extracted, `extracted from ${JSON.stringify(output)}`);
    t.equal(g.correct, correct, `${JSON.stringify(output)} vs gold ${gold}: ${correct ? 'correct' : 'wrong'}`);
  }
});

t.test('extraction method order: boxed, the answer is, last number', async (t) => {
  t.equal(extractAnswer('a \\boxed{1} the answer is 2, 3').method, 'boxed');
  t.equal(extractAnswer('the answer is 2, 3').method, 'answer-is');
  t.equal(extractAnswer('2 then 3').method, 'last-number');
  t.same(extractAnswer('nothing'), { raw: null, answer: null, method: 'none' });
  t.equal(lastBoxed('\\boxed{a{b{c}}d} \\boxed{x{y}z}'), 'x{y}z');
  t.equal(lastBoxed('no box'), null);
});

t.test('gold answers: GSM8K "#### N", plain answer fields, boxed solutions', async (t) => {
  const gsm = 'Natalia sold 48/2 = <<48/2=24>>24 clips in May.\nNatalia sold 48+24 = <<48+24=72>>72 clips altogether in April and May.\n#### 72';
  t.equal(parseGold({ answer: gsm }), '72');
  t.equal(parseGold({ answer: 'He pays 2 * 3,500 = 7,000 dollars.\n#### 7,000' }), '7000');
  t.equal(parseGold({ answer: 'Steps\n#### -4' }), '-4');
  t.equal(parseGold({ answer: '#### 0.5' }), '0.5');
  t.equal(parseGold({ answer: 18 }), '18');
  t.equal(parseGold({ answer: -2.5 }), '-2.5');
  t.equal(parseGold({ answer: '$1,200' }), '1200');
  t.equal(parseGold({ answer: '\\frac{3}{4}' }), '\\frac{3}{4}');
  t.equal(parseGold({ solution: 'so it is $\\boxed{\\frac{1}{2}}$.' }), '\\frac{1}{2}');
  t.equal(parseGold({ question: 'x' } as { answer?: unknown }), null);
  t.equal(parseGold({ answer: '' }), null);
  t.equal(parseGold({ answer: Number.NaN }), null);
  // graded against a parsed GSM8K gold
  t.ok(gradeOutput('Natalia sold 72 clips. \\boxed{72}', parseGold({ answer: gsm })).correct);
});

t.test('normalization and values', async (t) => {
  t.equal(normalizeAnswer('$1,234,567.00.'), '1234567.00');
  t.equal(normalizeAnswer('\\text{\\$}12'), '12');
  t.equal(normalizeAnswer('-.5'), '-0.5');
  t.equal(normalizeAnswer('+5'), '5');
  t.equal(normalizeAnswer('− 5'), '-5');
  t.equal(answerValue('3/4'), 0.75);
  t.equal(answerValue('\\frac{6}{3}'), 2);
  t.equal(answerValue('1/0'), null);
  t.equal(answerValue('abc'), null);
  t.equal(answersEqual(null, '5'), false);
  t.equal(answersEqual('5', null), false);
  // the toolkit's percentage leniency, on request only
  t.equal(answersEqual('0.25', '25'), false);
  t.equal(answersEqual('0.25', '25', { percentVariants: true }), true);
  t.equal(answersEqual('2500', '25', { percentVariants: true }), true);
});
