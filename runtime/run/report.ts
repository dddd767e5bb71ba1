// report.html of `run`: one self-contained page (inline CSS and inline SVG; no scripts, no network,
// no external fonts) that shows what a run did and what came of it — accuracy before/after, the
// paper's efficiency table, the KL distribution with β, where the selected steps fall in the
// trajectories, the training loss, and a few held-out examples. Pure: report in, HTML text out.

import { formatP, formatPValue } from '../eval/stats.ts';
import type { EvalModel, EvalResult, Histogram, RunReport } from './report-types.ts';
import type { HubRevision } from '../hub/ids.ts';
import { esc, int, pct } from './html.ts';
import { diagnosticsHtml, kindsHtml, pairCheckHtml, seedsHtml, whatChangedHtml } from './report-stats.ts';

export function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return '–';
  if (s < 1) return `${(s * 1000).toFixed(0)} ms`;
  if (s < 60) return `${s.toFixed(1)} s`;
  if (s < 3600) {
    const t = Math.round(s);
    return `${Math.floor(t / 60)} min ${t % 60} s`;
  }
  const m = Math.round(s / 60);
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

function compact(n: number): string {
  if (Math.abs(n) >= 1e9) return `${(n / 1e9).toFixed(2)}B`;
  if (Math.abs(n) >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (Math.abs(n) >= 1e4) return `${(n / 1e3).toFixed(1)}k`;
  return int(n);
}

const COLORS = {
  amateur: '#9aa5b1',
  expert_before: '#5b7db1',
  expert_after: '#e0663a',
  expert_sft: '#3d9a6b',
  grid: '#e6e8eb',
  axis: '#6b7280',
  muted: '#c9d1db',
} as const;
const LABELS: Record<EvalModel, string> = {
  amateur: 'Amateur',
  expert_before: 'Expert (before)',
  expert_after: 'Expert + LightReasoner',
  expert_sft: 'Expert + SFT baseline',
};

/** About `n` round tick values covering [0, max]. */
function ticks(max: number, n = 5): number[] {
  if (!(max > 0)) return [0, 1];
  const raw = max / n;
  const p = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * p).find((s) => s >= raw) ?? 10 * p;
  const out: number[] = [];
  for (let v = 0; v <= max + step * 1e-9; v += step) out.push(+v.toPrecision(12));
  if (out[out.length - 1] < max) out.push(+(out[out.length - 1] + step).toPrecision(12));
  return out;
}
const tickLabel = (v: number) => (Math.abs(v) >= 1e4 ? compact(v) : +v.toPrecision(4) + '');

interface Frame {
  W: number;
  H: number;
  L: number;
  R: number;
  T: number;
  B: number;
}
const frame = (W = 520, H = 260): Frame => ({ W, H, L: 52, R: 16, T: 16, B: 44 });

function svgOpen(f: Frame, label: string): string {
  return `<svg class="chart" viewBox="0 0 ${f.W} ${f.H}" width="${f.W}" height="${f.H}" role="img" aria-label="${esc(label)}" xmlns="http://www.w3.org/2000/svg">`;
}

function yAxis(f: Frame, yt: number[], yMax: number, title: string): string {
  const ph = f.H - f.T - f.B;
  let s = '';
  for (const v of yt) {
    const y = f.T + ph - (v / yMax) * ph;
    s += `<line x1="${f.L}" x2="${f.W - f.R}" y1="${y.toFixed(1)}" y2="${y.toFixed(1)}" stroke="${COLORS.grid}"/>`;
    s += `<text x="${f.L - 6}" y="${(y + 4).toFixed(1)}" text-anchor="end" class="tick">${tickLabel(v)}</text>`;
  }
  s += `<text transform="translate(13 ${f.T + ph / 2}) rotate(-90)" text-anchor="middle" class="axis-title">${esc(title)}</text>`;
  return s;
}

function xTitle(f: Frame, title: string): string {
  return `<text x="${f.L + (f.W - f.L - f.R) / 2}" y="${f.H - 6}" text-anchor="middle" class="axis-title">${esc(title)}</text>`;
}

/** Histogram: every contrasted step in grey, the selected ones on top in the accent colour. */
function histogramSvg(h: Histogram, opts: { xTitle: string; label: string; marker?: { at: number; text: string } }): string {
  const f = frame();
  const pw = f.W - f.L - f.R,
    ph = f.H - f.T - f.B;
  const x0 = h.edges[0],
    x1 = h.edges[h.edges.length - 1];
  const X = (v: number) => f.L + ((v - x0) / (x1 - x0 || 1)) * pw;
  const yt = ticks(Math.max(1, ...h.all));
  const yMax = yt[yt.length - 1];
  const Y = (c: number) => f.T + ph - (c / yMax) * ph;
  let s = svgOpen(f, opts.label) + yAxis(f, yt, yMax, 'steps');
  for (let b = 0; b < h.all.length; b++) {
    const xa = X(h.edges[b]) + 0.5,
      xb = X(h.edges[b + 1]) - 0.5;
    const w = Math.max(0.5, xb - xa);
    if (h.all[b])
      s += `<rect x="${xa.toFixed(1)}" y="${Y(h.all[b]).toFixed(1)}" width="${w.toFixed(1)}" height="${(Y(0) - Y(h.all[b])).toFixed(1)}" fill="${COLORS.muted}"><title>${tickLabel(h.edges[b])}–${tickLabel(h.edges[b + 1])}: ${h.all[b]} steps, ${h.selected[b]} selected</title></rect>`;
    if (h.selected[b])
      s += `<rect x="${xa.toFixed(1)}" y="${Y(h.selected[b]).toFixed(1)}" width="${w.toFixed(1)}" height="${(Y(0) - Y(h.selected[b])).toFixed(1)}" fill="${COLORS.expert_after}"/>`;
  }
  s += `<line x1="${f.L}" x2="${f.W - f.R}" y1="${Y(0)}" y2="${Y(0)}" stroke="${COLORS.axis}"/>`;
  for (const v of ticks(x1 - x0, 6)
    .map((v) => v + x0)
    .filter((v) => v <= x1 + 1e-9)) {
    s += `<line x1="${X(v).toFixed(1)}" x2="${X(v).toFixed(1)}" y1="${Y(0)}" y2="${Y(0) + 4}" stroke="${COLORS.axis}"/><text x="${X(v).toFixed(1)}" y="${Y(0) + 16}" text-anchor="middle" class="tick">${tickLabel(v)}</text>`;
  }
  if (opts.marker && opts.marker.at >= x0 && opts.marker.at <= x1) {
    const mx = X(opts.marker.at);
    s += `<line x1="${mx.toFixed(1)}" x2="${mx.toFixed(1)}" y1="${f.T}" y2="${Y(0)}" stroke="#111827" stroke-width="1.5" stroke-dasharray="5 3"/>`;
    const right = mx < f.L + pw * 0.7;
    s += `<text x="${(mx + (right ? 6 : -6)).toFixed(1)}" y="${f.T + 12}" text-anchor="${right ? 'start' : 'end'}" class="marker">${esc(opts.marker.text)}</text>`;
  }
  s += xTitle(f, opts.xTitle) + '</svg>';
  return s;
}

/** Loss per optimizer step (one or two series, each on its own scale when two are given). */
function lossSvg(series: { name: string; color: string; points: [number, number][] }[], label: string): string {
  const f = frame();
  const pw = f.W - f.L - f.R,
    ph = f.H - f.T - f.B;
  const pts = series.flatMap((s) => s.points);
  if (pts.length === 0) return `<p class="muted">No training steps were logged.</p>`;
  const xMax = Math.max(1, ...pts.map((p) => p[0]));
  const xt = ticks(xMax, 6);
  const X = (v: number) => f.L + (v / xt[xt.length - 1]) * pw;
  const yt = ticks(Math.max(1e-6, ...pts.map((p) => p[1]).filter(Number.isFinite)));
  const yMax = yt[yt.length - 1];
  const Y = (v: number) => f.T + ph - (v / yMax) * ph;
  let s = svgOpen(f, label) + yAxis(f, yt, yMax, 'loss');
  s += `<line x1="${f.L}" x2="${f.W - f.R}" y1="${Y(0)}" y2="${Y(0)}" stroke="${COLORS.axis}"/>`;
  for (const v of xt)
    s += `<line x1="${X(v).toFixed(1)}" x2="${X(v).toFixed(1)}" y1="${Y(0)}" y2="${Y(0) + 4}" stroke="${COLORS.axis}"/><text x="${X(v).toFixed(1)}" y="${Y(0) + 16}" text-anchor="middle" class="tick">${tickLabel(v)}</text>`;
  for (const se of series) {
    const p = se.points.filter((q) => Number.isFinite(q[1]));
    if (p.length === 0) continue;
    const d = p.map(([x, y], j) => `${j ? 'L' : 'M'}${X(x).toFixed(1)} ${Y(y).toFixed(1)}`).join(' ');
    s += `<path d="${d}" fill="none" stroke="${se.color}" stroke-width="2" stroke-linejoin="round"/>`;
    if (p.length <= 40)
      for (const [x, y] of p)
        s += `<circle cx="${X(x).toFixed(1)}" cy="${Y(y).toFixed(1)}" r="2.5" fill="${se.color}"><title>step ${x}: ${y.toFixed(4)}</title></circle>`;
  }
  s += xTitle(f, 'optimizer step') + '</svg>';
  return s;
}

/** Horizontal accuracy bars. */
function accuracySvg(rows: { key: EvalModel; r: EvalResult }[]): string {
  const rowH = 52;
  const f: Frame = { W: 500, H: 30 + rowH * rows.length + 6, L: 190, R: 70, T: 26, B: 6 };
  const pw = f.W - f.L - f.R;
  const X = (v: number) => f.L + v * pw;
  let s = svgOpen(f, 'accuracy on the held-out problems');
  for (const v of [0, 0.25, 0.5, 0.75, 1]) {
    s += `<line x1="${X(v)}" x2="${X(v)}" y1="${f.T - 4}" y2="${f.H - f.B}" stroke="${COLORS.grid}"/><text x="${X(v)}" y="${f.T - 9}" text-anchor="middle" class="tick">${v * 100}%</text>`;
  }
  rows.forEach(({ key, r }, j) => {
    const y = f.T + 6 + j * rowH;
    s += `<text x="${f.L - 10}" y="${y + 17}" text-anchor="end" class="bar-label">${esc(LABELS[key])}</text>`;
    s += `<text x="${f.L - 10}" y="${y + 33}" text-anchor="end" class="tick">${r.correct} / ${r.total} right</text>`;
    const [lo, hi] = r.ci95;
    s += `<rect x="${f.L}" y="${y}" width="${Math.max(1.5, r.accuracy * pw).toFixed(1)}" height="38" rx="3" fill="${COLORS[key]}"><title>${r.correct}/${r.total}, 95% interval ${pct(lo)}–${pct(hi)}</title></rect>`;
    // The 95 % Wilson interval as a whisker across the bar's end.
    s += `<g class="ci" stroke="#111827" stroke-width="1.5"><line x1="${X(lo).toFixed(1)}" x2="${X(hi).toFixed(1)}" y1="${y + 19}" y2="${y + 19}"/><line x1="${X(lo).toFixed(1)}" x2="${X(lo).toFixed(1)}" y1="${y + 12}" y2="${y + 26}"/><line x1="${X(hi).toFixed(1)}" x2="${X(hi).toFixed(1)}" y1="${y + 12}" y2="${y + 26}"/></g>`;
    s += `<text x="${(X(hi) + 8).toFixed(1)}" y="${y + 24}" class="bar-value">${pct(r.accuracy)}</text>`;
  });
  s += `<line x1="${f.L}" x2="${f.L}" y1="${f.T - 4}" y2="${f.H - f.B}" stroke="${COLORS.axis}"/>`;
  return s + '</svg>';
}

/** Seconds per stage as horizontal bars. */
function timeSvg(r: RunReport): string {
  const rows: [string, number, string][] = [
    ['Loading the models', r.stages.load.seconds, COLORS.muted],
    ['Stage 1: sampling', r.stages.sample.seconds, COLORS.expert_after],
    ['Stage 2: fine-tuning', r.stages.finetune.seconds, COLORS.expert_after],
  ];
  const sft = r.stages.sft;
  if (sft) rows.push(['SFT: trajectories', sft.trajectory_seconds, COLORS.expert_sft], ['SFT: fine-tuning', sft.train_seconds, COLORS.expert_sft]);
  for (const [k, v] of Object.entries(r.stages.eval)) rows.push([`Eval: ${LABELS[k as EvalModel]}`, v!.seconds, COLORS.expert_before]);
  const rowH = 28;
  const f: Frame = { W: 520, H: 30 + rowH * rows.length, L: 210, R: 70, T: 24, B: 6 };
  const pw = f.W - f.L - f.R;
  const max = Math.max(1e-3, ...rows.map((x) => x[1]));
  const unit = max >= 300 ? 60 : 1; // minutes on the axis past 5 minutes, else seconds
  const xt = ticks(max / unit, 4).map((v) => v * unit);
  const X = (v: number) => f.L + (v / xt[xt.length - 1]) * pw;
  let s = svgOpen(f, 'time per stage');
  for (const v of xt)
    s += `<line x1="${X(v).toFixed(1)}" x2="${X(v).toFixed(1)}" y1="${f.T - 4}" y2="${f.H - f.B}" stroke="${COLORS.grid}"/><text x="${X(v).toFixed(1)}" y="${f.T - 9}" text-anchor="middle" class="tick">${v === 0 ? '0' : `${tickLabel(v / unit)} ${unit === 60 ? 'min' : 's'}`}</text>`;
  rows.forEach(([name, sec, color], j) => {
    const y = f.T + 4 + j * rowH;
    s += `<text x="${f.L - 10}" y="${y + 14}" text-anchor="end" class="bar-label small">${esc(name)}</text>`;
    s += `<rect x="${f.L}" y="${y}" width="${Math.max(1.5, X(sec) - f.L).toFixed(1)}" height="20" rx="2" fill="${color}"/>`;
    s += `<text x="${(X(sec) + 6).toFixed(1)}" y="${y + 14}" class="tick">${esc(formatSeconds(sec))}</text>`;
  });
  s += `<line x1="${f.L}" x2="${f.L}" y1="${f.T - 4}" y2="${f.H - f.B}" stroke="${COLORS.axis}"/>`;
  return s + '</svg>';
}

function headline(r: RunReport): string {
  const b = r.eval.expert_before.accuracy,
    a = r.eval.expert_after.accuracy;
  const d = 100 * (a - b);
  const n = r.eval.expert_before.total;
  const change = Math.abs(d) < 0.05 ? 'no change' : `${d > 0 ? '+' : '−'}${Math.abs(d).toFixed(1)} points`;
  const verdict = Math.abs(d) < 0.05 ? 'unchanged' : d > 0 ? 'improved' : 'worse';
  const pv = r.eval.expert_after.paired_vs_before;
  const test = pv
    ? ` Paired: ${pv.fixed} problems fixed, ${pv.broken} broken, exact McNemar ${formatP(pv.p_value)}${pv.p_value < 0.05 ? ' — significant at 5%' : ' — not significant at 5%'}.`
    : '';
  return `<p class="lead">On ${int(n)} held-out problems the expert went from <b>${pct(b)}</b> to <b>${pct(a)}</b> (<span class="delta ${verdict}">${change}</span>) after LightReasoner fine-tuning on <b>${int(r.stages.sample.samples)}</b> selected steps from ${int(r.stages.sample.problems)} problems. The amateur scores ${pct(r.eval.amateur.accuracy)}.${test}</p><p class="note">Bars show 95% Wilson intervals: with ${int(n)} problems an accuracy near ${pct(b)} is known to about ±${((100 * (r.eval.expert_before.ci95[1] - r.eval.expert_before.ci95[0])) / 2).toFixed(1)} points.</p>`;
}

function pairedTable(r: RunReport): string {
  const rows = (['expert_after', 'expert_sft'] as const)
    .filter((m) => r.eval[m]?.paired_vs_before)
    .map((m) => {
      const f = r.eval[m]!.paired_vs_before!;
      const net = f.fixed - f.broken;
      return `<tr><th scope="row"><span class="swatch" style="background:${COLORS[m]}"></span>${esc(LABELS[m])}</th><td class="num">${f.fixed}</td><td class="num">${f.broken}</td><td class="num">${net > 0 ? '+' : net < 0 ? '−' : '±'}${Math.abs(net)}</td><td class="num">${esc(formatPValue(f.p_value))}</td></tr>`;
    });
  if (rows.length === 0) return '';
  return `<table class="flips"><tr><th>Against the expert before</th><th class="num">fixed</th><th class="num">broken</th><th class="num">net</th><th class="num">McNemar p</th></tr>${rows.join('')}</table>`;
}

function efficiencyTable(r: RunReport): string {
  const s = r.stages,
    sft = s.sft;
  const trained = (v: string) => (sft?.skipped ? '–' : v);
  const lrTotal = s.sample.seconds + s.finetune.seconds;
  const rows: [string, string, string?][] = [
    ['Problems sampled', int(s.sample.problems), sft ? int(sft.problems) : undefined],
    ['Training examples', `${int(s.sample.samples)} steps`, sft ? `${int(sft.trajectories)} trajectories` : undefined],
    ...(sft ? [['Rejected (wrong answer)', '–', int(sft.rejected)] as [string, string, string]] : []),
    ['Tuned tokens', int(s.finetune.tuned_tokens), sft ? trained(int(sft.tuned_tokens)) : undefined],
    ['Tokens through the model in training', int(s.finetune.tokens_processed), sft ? trained(int(sft.tokens_processed)) : undefined],
    ['Optimizer steps', int(s.finetune.steps), sft ? trained(int(sft.steps)) : undefined],
    ['Sampling time', formatSeconds(s.sample.seconds), sft ? formatSeconds(sft.trajectory_seconds) : undefined],
    ['Training time', formatSeconds(s.finetune.seconds), sft ? trained(formatSeconds(sft.train_seconds)) : undefined],
    // sampling + training only, the paper's cost column; the whole run (loading, evaluations) is in the header and under Details
    ['Sampling + training time', formatSeconds(lrTotal), sft ? formatSeconds(sft.seconds) : undefined],
    ['Held-out accuracy', pct(r.eval.expert_after.accuracy), sft ? (r.eval.expert_sft ? pct(r.eval.expert_sft.accuracy) : 'not trained') : undefined],
  ];
  const head = `<tr><th></th><th class="num">LightReasoner</th>${sft ? '<th class="num">SFT baseline</th>' : ''}</tr>`;
  const body = rows
    .map(([k, a, b]) => `<tr><th scope="row">${esc(k)}</th><td class="num">${esc(a)}</td>${sft ? `<td class="num">${esc(b ?? '')}</td>` : ''}</tr>`)
    .join('');
  let note = `<p class="note">The paper (Qwen2.5-Math-1.5B on one H200): LightReasoner 1,000 problems, 0.02M tuned tokens, 0.5 h; rejection-sampling SFT 3,952 problems, 1.77M tuned tokens, 4.0 h.`;
  if (sft?.skipped) note += ` <b>SFT baseline not trained:</b> ${esc(sft.skipped)}.`;
  else if (!sft) note += ` Add <code>--compare-sft</code> to run the SFT baseline here beside it.`;
  note += `</p>`;
  return `<table class="eff">${head}${body}</table>${note}`;
}

function examplesHtml(r: RunReport): string {
  if (r.examples.length === 0) return '';
  const models: EvalModel[] = ['expert_before', 'expert_after', 'expert_sft'];
  const items = r.examples.map((e) => {
    const cols = models
      .filter((m) => e.outputs[m])
      .map((m) => {
        const o = e.outputs[m]!;
        return `<div class="out"><div class="out-head"><span class="swatch" style="background:${COLORS[m]}"></span>${esc(LABELS[m])} <span class="badge ${o.correct ? 'ok' : 'bad'}">${o.correct ? 'right' : 'wrong'}</span> <span class="muted">answer: ${esc(o.extracted ?? '(none)')}</span></div><pre>${esc(o.output.length > 1200 ? o.output.slice(0, 1200) + ' …' : o.output)}</pre></div>`;
      });
    return `<div class="example"><p class="q"><b>${esc(e.id)}.</b> ${esc(e.question)} <span class="muted">(gold: ${esc(e.gold)})</span></p><div class="outs">${cols.join('')}</div></div>`;
  });
  return `<section><h2>Examples from the held-out set</h2><p class="note">Problems where the expert's answer changed come first.</p>${items.join('')}</section>`;
}

/** A Hub model or data set by id and commit (the local snapshot path tells a reader little); else its source. */
function hubName(source: string, hub: HubRevision | null | undefined): string {
  return hub ? `${esc(source.startsWith('hf://') ? source : hub.id)} <span class="muted">at commit ${esc(hub.revision)}</span>` : esc(source);
}

function detailsHtml(r: RunReport): string {
  const m = (x: RunReport['models']['expert']) =>
    `${hubName(x.source, x.hub)} <span class="muted">(${esc(x.model_type)}, ${compact(x.parameters)} parameters, ${x.layers} layers, hidden ${x.hidden_size}, vocab ${int(x.vocab_size)})</span>`;
  const ft = r.settings.finetune,
    sa = r.settings.sample;
  const rows: [string, string][] = [
    ['Expert', m(r.models.expert)],
    ['Amateur', m(r.models.amateur)],
    [
      'Training problems',
      `${hubName(r.data.train.source, r.data.train.hub)} — ${int(r.data.train.problems)} problems${r.data.train.with_answers ? ` (${int(r.data.train.with_answers)} with answers, used only by the SFT baseline)` : ''}`,
    ],
    ['Held-out problems', `${hubName(r.data.eval.source, r.data.eval.hub)} — ${int(r.data.eval.problems)} problems`],
    ['Sampling', `α ${sa.alpha}, β ${sa.beta}, ≤ ${sa.maxNewTokens} new tokens, system “${esc(sa.system)}”`],
    [
      'Fine-tuning',
      `LoRA r ${ft.lora.r}, alpha ${ft.lora.alpha}, dropout ${ft.lora.dropout}, ${esc(ft.lora.targetModules.join(', '))}; lr ${ft.lr}, batch ${ft.batchSize} × ${ft.gradAccum}, ${ft.maxSteps} steps, seed ${ft.seed}`,
    ],
    ['Evaluation', `prompt ${esc(r.settings.eval.prompt)}, greedy, ≤ ${r.settings.eval.max_new_tokens} new tokens`],
    ['Backend', esc(r.backend)],
    [
      'Time',
      `${formatSeconds(r.total_seconds)} for the whole run — loading ${formatSeconds(r.stages.load.seconds)}; evaluation: ${Object.entries(r.stages.eval)
        .map(([k, v]) => `${LABELS[k as EvalModel]} ${formatSeconds(v!.seconds)}`)
        .join(', ')}`,
    ],
    ['Files', 'samples.jsonl, adapter/ (PEFT LoRA, train_log.jsonl), eval/*.jsonl (per-problem outputs), report.json' + (r.stages.sft ? ', sft/' : '')],
  ];
  return `<section><h2>Details</h2><table class="details">${rows.map(([k, v]) => `<tr><th scope="row">${esc(k)}</th><td>${v}</td></tr>`).join('')}</table></section>`;
}

const CSS = `
:root{color-scheme:light}
*{box-sizing:border-box}
body{margin:0;background:#f6f7f9;color:#1f2937;font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
main{max-width:1120px;margin:0 auto;padding:28px 24px 48px}
h1{font-size:26px;margin:0 0 4px}
h2{font-size:18px;margin:0 0 10px}
h3{font-size:15px;margin:0 0 6px}
.sub{color:#6b7280;margin:0 0 14px}
.lead{font-size:16px;margin:0 0 4px}
section{background:#fff;border:1px solid #e5e7eb;border-radius:10px;padding:18px 20px;margin:16px 0}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(440px,100%),1fr));gap:16px;margin:16px 0}
.grid section{margin:0}
.chart{display:block;width:100%;height:auto;max-width:min(100%,640px);margin:0 auto}
.tick{font-size:11px;fill:#6b7280}
.axis-title{font-size:12px;fill:#4b5563}
.marker{font-size:12px;font-weight:600;fill:#111827}
.bar-label{font-size:14px;fill:#1f2937}
.bar-value{font-size:15px;font-weight:600;fill:#1f2937}
.bar-label.small{font-size:12px}
.note{color:#6b7280;font-size:13px;margin:8px 0 0}
.muted{color:#6b7280}
.legend{display:flex;gap:14px;flex-wrap:wrap;font-size:12px;color:#4b5563;margin:2px 0 6px}
.swatch{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:5px;vertical-align:-1px}
table{border-collapse:collapse;width:100%}
th,td{padding:6px 10px;border-bottom:1px solid #eef0f3;text-align:left;vertical-align:top}
.eff th[scope=row]{font-weight:500;color:#374151}
.eff tr:first-child th{border-bottom:2px solid #d1d5db}
.num{text-align:right;font-variant-numeric:tabular-nums}
.eff td,.eff tr:first-child th,.flips td{white-space:nowrap}
.flips{margin-top:10px;font-size:14px}
.flips td.wrap{white-space:normal}
.verdict{border-left:4px solid #15803d;padding:8px 12px;background:#f0fdf4;margin:8px 0}
.verdict.warn{border-left-color:#b45309;background:#fffbeb}
.diag td,.diag th{font-size:14px}
.details th{width:170px;font-weight:500;color:#374151}
td{overflow-wrap:anywhere}
@media (max-width:600px){main{padding:16px 10px}section{padding:14px 12px}th,td{padding:5px 6px}}
.delta.improved{color:#15803d;font-weight:600}.delta.worse{color:#b91c1c;font-weight:600}.delta.unchanged{color:#6b7280;font-weight:600}
.example{border-top:1px solid #eef0f3;padding:10px 0}
.example:first-of-type{border-top:0}
.q{margin:0 0 8px}
.outs{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(280px,100%),1fr));gap:10px}
.out-head{font-size:13px;margin-bottom:4px}
pre{margin:0;white-space:pre-wrap;word-break:break-word;background:#f8fafc;border:1px solid #eef0f3;border-radius:6px;padding:8px 10px;font:12px/1.45 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;max-height:220px;overflow:auto}
.badge{display:inline-block;font-size:11px;font-weight:600;padding:0 6px;border-radius:8px}
.badge.ok{background:#dcfce7;color:#166534}.badge.bad{background:#fee2e2;color:#991b1b}
code{font:13px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;background:#f3f4f6;padding:1px 4px;border-radius:4px}
@media print{body{background:#fff}section{break-inside:avoid}}
`;

const legend = (items: [string, string][]) =>
  `<div class="legend">${items.map(([c, t]) => `<span><span class="swatch" style="background:${c}"></span>${esc(t)}</span>`).join('')}</div>`;

function totalsHtml(r: RunReport): string {
  const s = r.stages;
  const lr = s.sample.seconds + s.finetune.seconds,
    sft = s.sft?.seconds ?? NaN;
  const ratio =
    Number.isFinite(sft) && lr > 0 && !s.sft?.skipped
      ? `<p class="lead">The SFT baseline took <b>${(sft / lr).toFixed(1)}×</b> LightReasoner's time and tuned <b>${(s.sft!.tuned_tokens / Math.max(1, s.finetune.tuned_tokens)).toFixed(0)}×</b> as many tokens.</p>`
      : '';
  return `${ratio}<p class="note">LightReasoner: ${formatSeconds(lr)} (sampling + fine-tuning). SFT baseline: ${formatSeconds(sft)} (trajectories + fine-tuning). The paper: 0.5 h vs 4.0 h, 0.02M vs 1.77M tuned tokens.</p>`;
}

/** The report page. */
export function renderReport(r: RunReport): string {
  const accRows: { key: EvalModel; r: EvalResult }[] = [
    { key: 'amateur', r: r.eval.amateur },
    { key: 'expert_before', r: r.eval.expert_before },
    { key: 'expert_after', r: r.eval.expert_after },
  ];
  if (r.eval.expert_sft) accRows.push({ key: 'expert_sft', r: r.eval.expert_sft });
  const kl = r.charts.kl,
    st = r.charts.steps;
  const sel = r.stages.sample;
  const lossSeries = [{ name: 'LightReasoner (KL to the soft labels)', color: COLORS.expert_after, points: r.charts.loss.kl }];
  const sftLoss = r.charts.loss.sft;
  const timeSection = `<section><h2>Time per stage</h2>${timeSvg(r)}<p class="note">Wall-clock seconds on this machine (backend ${esc(r.backend)}).</p></section>`;
  const created = r.created.replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>LightReasoner run — ${esc(pct(r.eval.expert_before.accuracy))} → ${esc(pct(r.eval.expert_after.accuracy))}</title>
<style>${CSS}</style>
</head>
<body>
<main>
<h1>LightReasoner run</h1>
<p class="sub">The expert is fine-tuned only on the steps where it disagrees most with the amateur.<br>${esc(created)} · backend ${esc(r.backend)} · ${formatSeconds(r.total_seconds)} for the whole run (loading, sampling, training, evaluation)</p>
${headline(r)}
${pairCheckHtml(r)}
${diagnosticsHtml(r.diagnostics)}
${seedsHtml(r)}
<div class="grid">
<section><h2>Accuracy on held-out problems</h2>${accuracySvg(accRows)}${pairedTable(r)}<p class="note">Zero-shot pass@1, greedy, ${esc(r.settings.eval.prompt)} prompt, ${int(r.eval.expert_before.total)} problems; whiskers are 95% Wilson intervals; fixed = wrong before and right after, broken = the reverse; p is the exact two-sided McNemar test on those. ${accRows.map((a) => `${esc(LABELS[a.key])}: ${a.r.correct}/${a.r.total}`).join(' · ')}.</p></section>
<section><h2>Efficiency</h2>${efficiencyTable(r)}</section>
</div>
${kindsHtml(r)}
${whatChangedHtml(r)}
<div class="grid">
<section><h2>Expert–amateur KL per step</h2>${legend([
    [COLORS.muted, `all ${int(sel.contrasted_steps)} steps`],
    [COLORS.expert_after, `selected (KL ≥ β): ${int(sel.samples)}, ${pct(sel.selection_rate)}`],
  ])}${histogramSvg(kl, { xTitle: 'KL(P_expert ‖ P_amateur), nats (last bin: everything above)', label: 'KL histogram', marker: { at: kl.beta, text: `β = ${kl.beta}` } })}<p class="note">Steps where the two models disagree most become training targets; the rest are skipped.</p></section>
<section><h2>Where the selected steps fall</h2>${legend([
    [COLORS.muted, 'steps contrasted'],
    [COLORS.expert_after, 'steps selected'],
  ])}${histogramSvg(st, { xTitle: `position in the expert's trajectory (token index, ≤ ${st.max_new_tokens})`, label: 'selected step positions' })}<p class="note">Only a prefix of each solution is sampled (at most ${st.max_new_tokens} tokens).</p></section>
</div>
<div class="grid">
<section><h2>Training loss — LightReasoner</h2>${legend([[COLORS.expert_after, 'KL(soft label ‖ expert), mean per step']])}${lossSvg(lossSeries, 'LightReasoner training loss')}<p class="note">${int(r.stages.finetune.steps)} steps; final loss ${Number.isFinite(r.stages.finetune.final_loss) ? r.stages.finetune.final_loss.toFixed(4) : '–'}.</p></section>
${sftLoss ? `<section><h2>Training loss — SFT baseline</h2>${legend([[COLORS.expert_sft, 'token cross-entropy, mean per step']])}${lossSvg([{ name: 'SFT', color: COLORS.expert_sft, points: sftLoss }], 'SFT training loss')}<p class="note">A different loss from LightReasoner's: compare shapes, not values.</p></section>` : timeSection}
</div>
${sftLoss ? `<div class="grid">${timeSection}<section><h2>Totals</h2>${totalsHtml(r)}</section></div>` : ''}
${examplesHtml(r)}
${detailsHtml(r)}
</main>
</body>
</html>
`;
}
