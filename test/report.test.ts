// report.html renders in headless Chromium (Debian's, via playwright-core): no console errors, no
// requests leave the page, every chart has a size; and a full-page screenshot for a person to look
// at (REPORT_SCREENSHOT=FILE keeps it; else a temp file, named in the test output).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import t from 'tap';
import type { Histogram, RunReport } from '../runtime/run/report-types.ts';
import { mcnemarExact, wilsonInterval } from '../runtime/eval/stats.ts';
import { renderReport } from '../runtime/run/report.ts';
import { addToDiagnostics, emptyDiagnostics, summarizeDiagnostics } from '../runtime/stage/diagnostics.ts';
import { CHROMIUM_ARGS, chromiumPath } from './helpers/browser.ts';

const dir = mkdtempSync(join(tmpdir(), 'lr-report-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

/** Diagnostics of made-up steps: masks of 1–4 tokens, every fifth label flipped. */
function fakeDiagnostics(kls: number[], sel: boolean[]): RunReport['diagnostics'] {
  const d = emptyDiagnostics();
  kls.forEach((kl, j) => {
    const size = 1 + (j % 4);
    const tokenIds = Array.from({ length: size }, (_, k) => k + 10);
    const weights = tokenIds.map((_, k) => (k === 0 ? 2 : 1) / (size + 1));
    addToDiagnostics(d, {
      trajectory: [0, j % 5 === 0 ? 11 : 10],
      steps: [{ step: 1, kl, maskSize: size, selected: sel[j], ...(sel[j] ? { tokenIds, weights } : {}) }],
    });
  });
  return summarizeDiagnostics(d);
}

/** A plausible run (numbers in the range the embedded default gives), deterministic. */
function fakeReport(withSft: boolean): RunReport {
  let seed = 7;
  const rand = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
  const kls: number[] = [],
    steps: number[] = [];
  for (let p = 0; p < 64; p++) for (let s = 1; s < 60 + (p % 40); s++) kls.push(-Math.log(1 - rand()) * (s < 12 ? 0.5 : 0.2)), steps.push(s);
  const beta = 0.4;
  const hist = (v: number[], edges: number[], sel: boolean[]): Histogram => {
    const all = new Array(edges.length - 1).fill(0),
      selected = new Array(edges.length - 1).fill(0);
    v.forEach((x, j) => {
      let b = 0;
      while (b < all.length - 1 && x >= edges[b + 1]) b++;
      all[b]++;
      if (sel[j]) selected[b]++;
    });
    return { edges, all, selected };
  };
  const sel = kls.map((k) => k >= beta);
  const nSel = sel.filter(Boolean).length;
  const ev = (correct: number, seconds: number, name: string, paired?: [number, number]) => ({
    accuracy: correct / 100,
    ci95: wilsonInterval(correct, 100),
    correct,
    total: 100,
    seconds,
    generated_tokens: 9000,
    file: `lightreasoner-run/eval/${name}.jsonl`,
    ...(paired ? { paired_vs_before: { fixed: paired[0], broken: paired[1], p_value: mcnemarExact(paired[0], paired[1]) } } : {}),
  });
  const loss = (n: number, a: number, b: number): [number, number][] =>
    Array.from({ length: n }, (_, j) => [j + 1, b + (a - b) * Math.exp(-j / 25) + 0.05 * (rand() - 0.5)]);
  const model = (source: string, hidden: number, layers: number) => ({
    source,
    hub: null,
    model_type: 'llama',
    parameters: hidden * hidden * 12 * layers + 512 * hidden,
    layers,
    hidden_size: hidden,
    vocab_size: 512,
  });
  const out = (text: string, extracted: string, correct: boolean) => ({ output: text, extracted, correct });
  return {
    version: 1,
    created: '2026-01-02T10:11:12.345Z',
    backend: 'wasm',
    models: { expert: model('models/default/expert', 256, 6), amateur: model('models/default/amateur', 128, 3) },
    data: {
      train: { source: 'generated problems (set "sample", seed 0)', hub: null, problems: 64, with_answers: 64 },
      eval: { source: 'generated problems (set "eval", seed 0)', hub: null, problems: 100 },
    },
    settings: {
      sample: { alpha: 0.2, beta, maxNewTokens: 128, batchSize: 8, system: 'Please reason step by step.' },
      finetune: {
        lora: { r: 8, alpha: 16, dropout: 0.05, targetModules: ['q_proj', 'v_proj'] },
        lr: 5e-5,
        batchSize: 8,
        gradAccum: 2,
        maxSteps: 100,
        saveSteps: 0,
        seed: 42,
        system: 'Please reason step by step.',
        objective: 'kl',
        shuffle: true,
        packed: true,
        maxRowsPerPass: 4096,
        maxGradNorm: 1,
      },
      eval: { prompt: 'qwen25-math-cot', max_new_tokens: 256 },
      ...(withSft ? { sft: { max_steps: 100, max_new_tokens: 256 } } : {}),
    },
    eval: {
      amateur: ev(12, 31.2, 'amateur'),
      expert_before: ev(41, 58.1, 'expert_before'),
      expert_after: ev(44, 57.3, 'expert_after', [7, 4]),
      ...(withSft ? { expert_sft: ev(43, 59.9, 'expert_sft', [6, 4]) } : {}),
    },
    diagnostics: fakeDiagnostics(kls, sel),
    stages: {
      load: { seconds: 0.4 },
      sample: {
        seconds: 48.2,
        problems: 64,
        samples: nSel,
        trajectory_tokens: kls.length + 64,
        contrasted_steps: kls.length,
        selection_rate: nSel / kls.length,
        kl_mean: kls.reduce((a, b) => a + b, 0) / kls.length,
      },
      finetune: { seconds: 71.5, steps: 100, tuned_tokens: 1600, tokens_processed: 52000, final_loss: 0.41 },
      ...(withSft
        ? {
            sft: {
              seconds: 260.3,
              trajectory_seconds: 80.1,
              train_seconds: 180.2,
              problems: 64,
              trajectory_tokens: 7100,
              trajectories: 27,
              rejected: 37,
              steps: 100,
              tuned_tokens: 48000,
              tokens_processed: 310000,
              final_loss: 0.35,
            },
          }
        : {}),
      eval: {
        amateur: { seconds: 31.2 },
        expert_before: { seconds: 58.1 },
        expert_after: { seconds: 57.3 },
        ...(withSft ? { expert_sft: { seconds: 59.9 } } : {}),
      },
    },
    charts: {
      kl: {
        beta,
        ...hist(
          kls,
          Array.from({ length: 31 }, (_, j) => +(0.1 * j).toFixed(1)),
          sel,
        ),
      },
      steps: {
        max_new_tokens: 128,
        ...hist(
          steps,
          Array.from({ length: 33 }, (_, j) => 4 * j),
          sel,
        ),
      },
      loss: { kl: loss(100, 1.1, 0.4), ...(withSft ? { sft: loss(100, 0.9, 0.3) } : {}) },
    },
    examples: [
      {
        id: 'eval-0-3',
        question: 'A farmer has 12 rows of 8 apple trees. He sells 30 trees. How many trees does he have left?',
        gold: '66',
        outputs: {
          expert_before: out('He has 12 * 8 = 96 trees.\nHe sells 30, so 96 - 30 = 64.\nThe answer is \\boxed{64}.', '64', false),
          expert_after: out('He has 12 * 8 = 96 trees.\nAfter selling 30 he has 96 - 30 = 66.\n\\boxed{66}', '66', true),
          ...(withSft ? { expert_sft: out('12 * 8 = 96\n96 - 30 = 66\n\\boxed{66}', '66', true) } : {}),
        },
      },
      {
        id: 'eval-0-7',
        question: 'Mia reads 15 pages a day for 6 days, then 20 pages on the seventh day. How many pages did she read?',
        gold: '110',
        outputs: {
          expert_before: out('15 * 6 = 90 pages, then 90 + 20 = 110 pages. \\boxed{110}', '110', true),
          expert_after: out('She reads 15 * 6 = 90 pages in six days and 90 + 20 = 110 in all. \\boxed{110}', '110', true),
          ...(withSft ? { expert_sft: out('15 * 6 = 90\n90 + 20 = 110\n\\boxed{110}', '110', true) } : {}),
        },
      },
    ],
    total_seconds: withSft ? 623.9 : 266.5,
  };
}

t.test('renderReport: self-contained HTML', async (t) => {
  for (const withSft of [false, true]) {
    const html = renderReport(fakeReport(withSft));
    t.match(html, /^<!doctype html>/);
    t.notMatch(html, /<script|<link|@import|url\(|https?:\/\/(?!www\.w3\.org\/2000\/svg)/, 'no scripts, links, imports or external URLs');
    t.notMatch(html, /NaN|undefined|\[object/, 'no NaN/undefined');
    t.equal((html.match(/<svg/g) ?? []).length, withSft ? 7 : 6, 'accuracy, mask sizes, KL, step positions, loss, time per stage (+ SFT loss)');
    t.match(html, /class="ci"/, 'accuracy bars carry their 95% interval');
    t.match(html, /fixed, 4 broken, exact McNemar p = 0\.55/, 'the headline names the paired test');
    t.match(html, /Pair diagnostics/);
    t.match(html, /Label flips/);
    t.match(html, /β = 0\.4/);
    t.match(html, /41\.0%<\/b> to <b>44\.0%/);
    t.equal(/SFT baseline<\/th>/.test(html), withSft, 'SFT column only with --compare-sft');
  }
  // Honest when it gets worse.
  const worse = fakeReport(false);
  worse.eval.expert_after = { ...worse.eval.expert_after, accuracy: 0.38, correct: 38 };
  t.match(renderReport(worse), /class="delta worse">−3\.0 points/);
  // Several seeds: a table of every seed and mean ± sd.
  const seeded = fakeReport(true);
  const runs = (accs: number[]) => ({
    runs: accs.map((a, k) => ({ seed: 42 + k, accuracy: a, correct: a * 100, fixed: 5, broken: 3, p_value: mcnemarExact(5, 3) })),
    accuracy: { mean: 0.43, sd: 0.01 },
  });
  seeded.seeds = { seeds: [42, 43, 44], expert_after: runs([0.44, 0.42, 0.43]), expert_sft: runs([0.43, 0.43, 0.43]) };
  const sh = renderReport(seeded);
  t.match(sh, /Fine-tuning seeds \(3/);
  t.match(sh, /43\.0% ± 1\.0/);
  t.notMatch(renderReport(fakeReport(false)), /Fine-tuning seeds/, 'no seeds table for one seed');
  // A near-copy pair gets the warning.
  const copy = fakeReport(false);
  copy.diagnostics = { ...copy.diagnostics, label_flip_rate: 0.03, verdict: { ok: false, message: 'the soft labels are near-copies' } };
  t.match(renderReport(copy), /class="verdict warn"><b>Warning:/);
  // A run with no selected step chart data and an escaped question renders.
  const odd = fakeReport(false);
  odd.examples[0].question = '<b>x</b> & "y"';
  t.match(renderReport(odd), /&lt;b&gt;x&lt;\/b&gt; &amp; &quot;y&quot;/);
});

t.test('report.html in headless Chromium: renders, no errors, charts have a size; screenshot', async (t) => {
  const exe = chromiumPath();
  if (!exe) {
    if (process.env.CI) t.fail('chromium is missing in CI');
    else t.plan(0, 'chromium not found (apt-get install chromium): the page is NOT rendered here');
    return;
  }
  const browser = await chromium.launch({ executablePath: exe, args: CHROMIUM_ARGS });
  t.teardown(() => browser.close());
  for (const withSft of [false, true]) {
    const file = join(dir, `report${withSft ? '-sft' : ''}.html`);
    writeFileSync(file, renderReport(fakeReport(withSft)));
    const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    const errors: string[] = [],
      requests: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
    page.on('request', (r) => !r.url().startsWith('file:') && requests.push(r.url()));
    await page.goto(`file://${file}`);
    const sizes = await page.$$eval('svg', (els) =>
      els.map((e) => {
        const r = e.getBoundingClientRect();
        return [r.width, r.height];
      }),
    );
    t.equal(sizes.length, withSft ? 7 : 6, 'all charts present');
    for (const [w, h] of sizes) t.ok(w > 100 && h > 50, `chart is ${Math.round(w)}×${Math.round(h)} px`);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    t.equal(overflow, 0, 'no horizontal scrolling at 1200 px');
    t.same(errors, [], 'no console errors');
    t.same(requests, [], 'no network requests');
    const shot = withSft && process.env.REPORT_SCREENSHOT ? process.env.REPORT_SCREENSHOT : join(dir, `report${withSft ? '-sft' : ''}.png`);
    await page.screenshot({ path: shot, fullPage: true });
    t.comment(`screenshot: ${shot}`);
    // Narrow screens: the charts still fit.
    await page.setViewportSize({ width: 420, height: 800 });
    const narrow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    t.equal(narrow, 0, 'no horizontal scrolling at 420 px');
    if (process.env.REPORT_SCREENSHOT && withSft)
      await page.screenshot({ path: process.env.REPORT_SCREENSHOT.replace(/\.png$/, '-narrow.png'), fullPage: true });
    await page.close();
  }
});
