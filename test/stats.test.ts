// Accuracy statistics against values computed independently with scipy (test/fixtures/stats.json,
// from scripts/make_stats_fixtures.py): Wilson 95 % intervals and exact McNemar p-values; the paired
// counts and mean ± sd on small hand-checked cases.
import { readFileSync } from 'node:fs';
import t from 'tap';
import { formatAccuracy, formatP, formatPValue, mcnemarExact, meanSd, pairedComparison, wilsonInterval } from '../runtime/eval/stats.ts';

const golden = JSON.parse(readFileSync(new URL('./fixtures/stats.json', import.meta.url), 'utf8')) as {
  wilson: { correct: number; total: number; ci95: [number, number] }[];
  mcnemar: { fixed: number; broken: number; p_value: number }[];
};
const close = (a: number, b: number, rtol = 1e-9, atol = 1e-12) => Math.abs(a - b) <= atol + rtol * Math.abs(b);

t.test('Wilson intervals match scipy', async (t) => {
  t.ok(golden.wilson.length >= 10);
  for (const g of golden.wilson) {
    const [lo, hi] = wilsonInterval(g.correct, g.total);
    t.ok(close(lo, g.ci95[0]) && close(hi, g.ci95[1]), `${g.correct}/${g.total}: [${lo}, ${hi}] vs scipy [${g.ci95.join(', ')}]`);
  }
  t.same(wilsonInterval(0, 0), [0, 1], 'no trials: the whole range');
  t.throws(() => wilsonInterval(3, 2), /0 ≤ correct ≤ total/);
  t.throws(() => wilsonInterval(1.5, 2), /integers/);
});

t.test('exact McNemar p-values match scipy', async (t) => {
  for (const g of golden.mcnemar) {
    const p = mcnemarExact(g.fixed, g.broken);
    t.ok(close(p, g.p_value, 1e-9), `fixed ${g.fixed}, broken ${g.broken}: ${p} vs scipy ${g.p_value}`);
  }
  t.equal(mcnemarExact(4, 9), mcnemarExact(9, 4), 'symmetric');
  t.throws(() => mcnemarExact(-1, 2), /non-negative/);
});

t.test('paired comparison counts fixed and broken by id', async (t) => {
  const before = [
    { id: 'a', correct: true },
    { id: 'b', correct: false },
    { id: 'c', correct: false },
    { id: 'd', correct: true },
  ];
  const after = [
    { id: 'd', correct: false },
    { id: 'c', correct: true },
    { id: 'b', correct: true },
    { id: 'a', correct: true },
  ];
  const r = pairedComparison(before, after);
  t.same({ fixed: r.fixed, broken: r.broken }, { fixed: 2, broken: 1 });
  t.equal(r.p_value, 1, '3 discordant pairs, 2 vs 1: p = 1');
  t.throws(() => pairedComparison(before, after.slice(1)), /same problems/);
  t.throws(() => pairedComparison(before, [...after.slice(1), { id: 'zz', correct: true }]), /same problems/);
});

t.test('mean ± sd and formatting', async (t) => {
  const m = meanSd([0.2, 0.25, 0.3]);
  t.ok(close(m.mean, 0.25) && close(m.sd, 0.05), `${m.mean} ± ${m.sd}`);
  t.same(meanSd([0.4]), { mean: 0.4, sd: 0, n: 1 });
  t.throws(() => meanSd([]), /no values/);
  t.equal(formatAccuracy(0.21, wilsonInterval(42, 200)), '21.0% [15.9, 27.2]');
  t.equal(formatP(0.0004), 'p < 0.001');
  t.equal(formatP(0.0123), 'p = 0.012');
  t.equal(formatP(0.74), 'p = 0.74');
  t.equal(formatP(1), 'p = 1');
  t.equal(formatPValue(0.0004), '< 0.001');
  t.equal(formatPValue(0.25), '0.25');
});
