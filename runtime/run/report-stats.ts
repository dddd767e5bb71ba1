// The report page's statistics sections: the pair diagnostics (with their verdict) and, with
// several fine-tuning seeds, every seed's accuracy and paired test with mean ± sd. Pure HTML text.

import { variantLabel } from '../eval/pair-check-format.ts';
import { formatAccuracy, formatPValue } from '../eval/stats.ts';
import type { PairDiagnostics } from '../stage/diagnostics.ts';
import { esc, int, pct } from './html.ts';
import type { KindRow, RunReport, SeedRuns } from './report-types.ts';

const num = (x: number | null, d = 2) => (x === null ? '–' : x.toFixed(d));

/** Mask sizes 1 … 16, 17+ as a row of small bars. */
function maskBars(counts: number[]): string {
  const max = Math.max(1, ...counts),
    W = 17 * 22,
    H = 70;
  let s = `<svg class="chart" viewBox="0 0 ${W} ${H + 16}" width="${W}" height="${H + 16}" role="img" aria-label="mask sizes at the selected steps" xmlns="http://www.w3.org/2000/svg">`;
  counts.forEach((c, j) => {
    const h = (c / max) * H;
    s += `<rect x="${j * 22 + 3}" y="${(H - h).toFixed(1)}" width="16" height="${Math.max(h, 0.5).toFixed(1)}" fill="#e0663a"><title>mask of ${j === 16 ? '17 or more' : j + 1} tokens: ${c} steps</title></rect>`;
    if (j < 8 || j === 16) s += `<text x="${j * 22 + 11}" y="${H + 13}" text-anchor="middle" class="tick">${j === 16 ? '17+' : j + 1}</text>`;
  });
  return s + '</svg>';
}

export function diagnosticsHtml(d: PairDiagnostics): string {
  const rows: [string, string][] = [
    ['Steps selected (KL ≥ β)', `${int(d.selected_steps)} of ${int(d.contrasted_steps)} (${pct(d.selection_rate)}), ${int(d.problems)} problems`],
    [
      'KL(P_E ‖ P_A) per step',
      `mean ${num(d.kl.mean, 3)} · p10 ${num(d.kl.p10, 3)} · median ${num(d.kl.median, 3)} · p90 ${num(d.kl.p90, 3)} · selected mean ${num(d.kl.selected_mean, 3)}`,
    ],
    [
      'Plausibility mask at selected steps',
      `${num(d.mask.mean)} tokens on average; ${d.mask.single_token_rate === null ? '–' : pct(d.mask.single_token_rate)} hold one token`,
    ],
    [
      'Label flips',
      `${d.label_flip_rate === null ? '–' : pct(d.label_flip_rate)} (${int(d.label_flips)} steps) — the soft label's argmax is not the expert's own greedy token`,
    ],
    ['Label entropy', `${num(d.label_entropy_mean, 3)} nats on average (0 = one-hot)`],
  ];
  return `<section><h2>Pair diagnostics (stage 1, before any training)</h2>
<p class="verdict${d.verdict.ok ? '' : ' warn'}"><b>${d.verdict.ok ? 'Verdict' : 'Warning'}:</b> ${esc(d.verdict.message)}.</p>
<div class="grid"><table class="diag">${rows.map(([k, v]) => `<tr><th scope="row">${esc(k)}</th><td>${esc(v)}</td></tr>`).join('')}</table>
<div>${maskBars(d.mask.counts)}<p class="note">Mask sizes (tokens with P_E ≥ α · max P_E) at the selected steps.</p></div></div></section>`;
}

/** pair-check (run --pair-check): greedy vs contrastive decoding, paired, with its verdict. */
export function pairCheckHtml(r: RunReport): string {
  const c = r.pair_check;
  if (!c) return '';
  const rows = c.variants.map((v) => {
    const p = v.paired_vs_greedy;
    return `<tr><td>${esc(variantLabel(v))}</td><td class="num">${esc(formatAccuracy(v.accuracy, v.ci95))}</td><td class="num">${p ? p.fixed : ''}</td><td class="num">${p ? p.broken : ''}</td><td class="num">${p ? esc(formatPValue(p.p_value)) : ''}</td><td class="num">${v.alpha === null ? '' : `${int(v.changes)} (${pct(v.changes / Math.max(1, v.steps))})`}</td></tr>`;
  });
  const warn = c.verdict.direction !== 'toward';
  return `<section><h2>Pair check (before any training)</h2>
<p class="verdict${warn ? ' warn' : ''}"><b>Verdict:</b> the contrast ${esc(c.verdict.text)}.</p>
<table class="flips"><tr><th>decoding</th><th class="num">accuracy [95% CI]</th><th class="num">fixed</th><th class="num">broken</th><th class="num">McNemar p</th><th class="num">changed steps</th></tr>${rows.join('')}</table>
<p class="note">${int(c.problems)} problems (${esc(c.data.source)}), ${c.settings.max_new_tokens} new tokens. Contrastive decoding (CD) picks the argmax of log P_E − log P_A over the plausibility mask — the argmax of LightReasoner's soft label; at the KL ≥ β steps only, it is what perfect fine-tuning toward the labels would decode. Fixed/broken are against expert greedy on the same problems.</p></section>`;
}

function seedRows(label: string, s: SeedRuns): string {
  const runs = s.runs.map(
    (r) =>
      `<tr><td>${esc(label)}</td><td class="num">${r.seed}</td><td class="num">${pct(r.accuracy)}</td><td class="num">${r.fixed}</td><td class="num">${r.broken}</td><td class="num">${esc(formatPValue(r.p_value))}</td></tr>`,
  );
  return (
    runs.join('') +
    `<tr><th scope="row">${esc(label)}</th><td class="num">mean ± sd</td><td class="num">${pct(s.accuracy.mean)} ± ${(100 * s.accuracy.sd).toFixed(1)}</td><td></td><td></td><td></td></tr>`
  );
}

export function seedsHtml(r: RunReport): string {
  if (!r.seeds) return '';
  const body = seedRows('LightReasoner', r.seeds.expert_after) + (r.seeds.expert_sft ? seedRows('SFT baseline', r.seeds.expert_sft) : '');
  return `<section><h2>Fine-tuning seeds (${r.seeds.seeds.length}, one set of samples)</h2><table class="flips"><tr><th></th><th class="num">seed</th><th class="num">accuracy</th><th class="num">fixed</th><th class="num">broken</th><th class="num">McNemar p</th></tr>${body}</table><p class="note">Each seed trains its own adapter (data order, LoRA initialization and dropout); the headline above is the first seed's. The spread shows how much of a change is the seed.</p></section>`;
}

/** The held-out results per problem kind (report.by_kind): where the expert changed. */
export function kindsHtml(r: RunReport): string {
  if (!r.by_kind) return '';
  const sft = r.by_kind.some((k) => k.paired.expert_sft);
  const cell = (c: number | undefined, n: number) => (c === undefined ? '' : `${pct(c / n)} (${c})`);
  const paired = (p: KindRow['paired']['expert_after'] | undefined) =>
    p ? `<td class="num">${p.fixed}</td><td class="num">${p.broken}</td><td class="num">${esc(formatPValue(p.p_value))}</td>` : '<td></td><td></td><td></td>';
  const rows = r.by_kind.map(
    (k) =>
      `<tr><td>${esc(k.kind)}</td><td class="num">${int(k.problems)}</td><td class="num">${cell(k.correct.amateur, k.problems)}</td><td class="num">${cell(k.correct.expert_before, k.problems)}</td><td class="num">${cell(k.correct.expert_after, k.problems)}</td>${paired(k.paired.expert_after)}${sft ? `<td class="num">${cell(k.correct.expert_sft, k.problems)}</td>${paired(k.paired.expert_sft)}` : ''}</tr>`,
  );
  const sftHead = sft ? '<th class="num">SFT</th><th class="num">fixed</th><th class="num">broken</th><th class="num">p</th>' : '';
  return `<section><h2>Held-out accuracy per problem kind</h2><table class="flips"><tr><th>kind</th><th class="num">problems</th><th class="num">amateur</th><th class="num">expert before</th><th class="num">+ LightReasoner</th><th class="num">fixed</th><th class="num">broken</th><th class="num">p</th>${sftHead}</tr>${rows.join('')}</table><p class="note">The same evaluation as above, split by the kind each problem's data names; fixed/broken and the exact McNemar p are against the expert before on that kind's problems. A kind's small count makes its own test weak: read the direction, and the overall test for significance.</p></section>`;
}

/** report.what_changed: the contrast-preferred continuations whose probability rose most. */
export function whatChangedHtml(r: RunReport): string {
  const w = r.what_changed;
  if (!w) return '';
  const p = (x: number) => `${(100 * x).toFixed(1)}%`;
  const rows = w.top.map(
    (s) =>
      `<tr><td class="wrap">${esc(s.question)}<br><code style="white-space:pre-wrap">…${esc(s.context)}</code></td><td class="num"><code>${esc(JSON.stringify(s.expert_top))}</code> → <code>${esc(JSON.stringify(s.preferred))}</code></td><td class="num">${p(s.weight)}</td><td class="num">${p(s.p_before)} → ${p(s.p_after)}</td></tr>`,
  );
  const summary =
    w.preferred_other === 0
      ? `Of ${int(w.examined)} training steps whose label holds two or more tokens, none prefers another token than the expert's own.`
      : `Of ${int(w.examined)} training steps whose label holds two or more tokens, the contrast preferred another token than the expert's own at ${int(w.preferred_other)}; after tuning that token is the expert's top choice at ${int(w.now_top)}, and its probability rose by ${(100 * (w.mean_rise ?? 0)).toFixed(1)} points on average.`;
  return `<section><h2>What changed: the continuations the contrast preferred</h2><p>${esc(summary)}</p>${
    rows.length
      ? `<table class="flips"><tr><th>question, and the expert's trajectory before the step</th><th class="num">expert's token → preferred</th><th class="num">label weight</th><th class="num">P(preferred) before → after</th></tr>${rows.join('')}</table>`
      : ''
  }<p class="note">The steps where the preferred token's probability under the expert rose most (the training prefixes; the adapter read with and without). A rise on a cue problem is the expert learning to resist the cue; a rise on a digit is the contrast moving arithmetic.</p></section>`;
}
