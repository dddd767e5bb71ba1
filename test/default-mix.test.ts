// The embedded pair's problem mix (runtime/data/default-mix.ts, issue 27): thirds of plain, holds
// and misleads problems, every line naming its kind, deterministic, and what `run` trains and
// evaluates on by default (defaultProblems), with the kinds the report splits by.
import t from 'tap';
import { defaultMixJsonl, mixCounts } from '../runtime/data/default-mix.ts';
import { setOfQuestion } from '../runtime/data/problems.ts';
import { parseEvalProblems } from '../runtime/eval/evaluate.ts';
import { defaultProblems } from '../runtime/run/pipeline.ts';

t.test('thirds, kinds named, deterministic, in their set', async (t) => {
  t.same(mixCounts(1000), { plain: 334, holds: 333, misleads: 333 });
  t.same(mixCounts(2), { plain: 2, holds: 0, misleads: 0 });
  const text = defaultMixJsonl(30, 'dev');
  t.equal(defaultMixJsonl(30, 'dev'), text, 'same bytes');
  const rows = text
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { id: string; question: string; kind: string; variant?: string });
  t.equal(rows.length, 30);
  t.equal(new Set(rows.map((r) => r.id)).size, 30, 'distinct ids');
  t.equal(rows.filter((r) => r.kind === 'plain').length, 10);
  t.equal(rows.filter((r) => r.variant === 'holds').length, 10);
  t.equal(rows.filter((r) => r.variant === 'misleads').length, 10);
  t.ok(
    rows.every((r) => setOfQuestion(r.question) === 'dev'),
    'every question in the dev share',
  );
  const kinds = new Set(parseEvalProblems(text).map((p) => p.kind));
  t.same([...kinds].sort(), [
    'distractor (holds)',
    'distractor (misleads)',
    'keyword (holds)',
    'keyword (misleads)',
    'plain',
    'unit (holds)',
    'unit (misleads)',
  ]);
  t.not(defaultMixJsonl(30, 'dev', 5), text, 'another seed, other problems');
});

t.test("defaultProblems: run's training and held-out sets are the mix, disjoint", async (t) => {
  const { train, eval: held } = defaultProblems(12, 9);
  t.equal(train.length, 12);
  t.equal(held.length, 9);
  t.ok(
    train.every((p) => p.gold !== null && setOfQuestion(p.question) === 'sample'),
    'training problems from the sample set, with answers',
  );
  t.ok(
    held.every((p) => p.kind && setOfQuestion(p.question) === 'eval'),
    'held-out problems from the eval set, each with its kind',
  );
  t.same(defaultProblems(0, 0), { train: [], eval: [] });
});
