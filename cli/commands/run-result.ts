// What `run` prints when it is done (its result on stdout): the accuracies with intervals and
// paired tests, per problem kind, what the training changed, the time and cost, where the report is.
import { resolve } from 'node:path';
import { formatPairCheck } from '../../runtime/eval/pair-check-format.ts';
import { formatAccuracy, formatP } from '../../runtime/eval/stats.ts';
import type { EvalResult, RunReport, SeedRuns } from '../../runtime/run/report-types.ts';
import { formatSeconds } from '../../runtime/run/report.ts';

/** What `run` prints when it is done: the accuracies, the time and cost, where the report is. */
export function resultLines(report: RunReport, out: string): string[] {
  const e = report.eval,
    st = report.stages;
  const lrCost = `LightReasoner ${st.sample.problems} problems, ${st.finetune.tuned_tokens} tuned tokens, ${formatSeconds(st.sample.seconds + st.finetune.seconds)}`;
  return [
    ...(report.pair_check ? [...formatPairCheck(report.pair_check), ''] : []),
    `held-out accuracy on ${e.expert_before.total} problems (95% Wilson interval; paired against the expert before, exact McNemar test):`,
    ...summaryLines(report),
    `time: sampling ${formatSeconds(st.sample.seconds)}, fine-tuning ${formatSeconds(st.finetune.seconds)}${st.sft ? `, SFT baseline ${formatSeconds(st.sft.seconds)}` : ''}, the whole run ${formatSeconds(report.total_seconds)}`,
    ...(st.sft
      ? [
          `efficiency (as the paper's table): ${lrCost}; SFT baseline ${st.sft.problems} problems, ${st.sft.tuned_tokens} tuned tokens, ${formatSeconds(st.sft.seconds)}`,
        ]
      : []),
    `report: ${resolve(out, 'report.html')}`,
  ];
}

/** The accuracy lines of the final summary: interval, and for tuned models the paired test (and seeds). */
function summaryLines(report: RunReport): string[] {
  const e = report.eval;
  const line = (name: string, r: EvalResult | null | undefined, seeds?: SeedRuns) => {
    if (!r) return `  ${name.padEnd(24)}   –    (not trained)`;
    let s = `  ${name.padEnd(24)} ${formatAccuracy(r.accuracy, r.ci95).padEnd(21)} (${r.correct}/${r.total})`;
    const p = r.paired_vs_before;
    if (p) s += `  fixed ${p.fixed}, broken ${p.broken}, ${formatP(p.p_value)}`;
    if (seeds) s += `; ${seeds.runs.length} seeds: ${(100 * seeds.accuracy.mean).toFixed(1)}% ± ${(100 * seeds.accuracy.sd).toFixed(1)}`;
    return s;
  };
  return [
    line('amateur', e.amateur),
    line('expert before', e.expert_before),
    line('expert + LightReasoner', e.expert_after, report.seeds?.expert_after),
    ...('expert_sft' in e ? [line('expert + SFT baseline', e.expert_sft, report.seeds?.expert_sft)] : []),
    ...kindLines(report),
    ...whatChangedLines(report),
  ];
}

/** The report's "what changed" in one line, with the step the preferred token rose most at. */
function whatChangedLines(report: RunReport): string[] {
  const w = report.what_changed;
  if (!w || w.preferred_other === 0) return [];
  const top = w.top[0];
  const pc = (x: number) => `${(100 * x).toFixed(0)}%`;
  return [
    `what changed: at ${w.preferred_other} of ${w.examined} multi-token training labels the contrast preferred another token than the expert's; it is the expert's top choice after tuning at ${w.now_top} (largest rise: ${JSON.stringify(top.preferred)} over ${JSON.stringify(top.expert_top)} after ${JSON.stringify(`…${top.context.slice(-40)}`)}, ${pc(top.p_before)} → ${pc(top.p_after)})`,
  ];
}

/** Per problem kind (when the data names kinds): the expert before → after, paired. */
function kindLines(report: RunReport): string[] {
  if (!report.by_kind) return [];
  const w = Math.max(4, ...report.by_kind.map((k) => k.kind.length));
  const acc = (c: number | undefined, n: number) => (c === undefined ? '–' : `${((100 * c) / n).toFixed(1)}%`);
  return [
    'per problem kind (expert before → + LightReasoner; fixed/broken against before):',
    ...report.by_kind.map((k) => {
      const p = k.paired.expert_after;
      const sft = k.paired.expert_sft ? `; SFT ${acc(k.correct.expert_sft, k.problems)}` : '';
      return `  ${k.kind.padEnd(w)} ${String(k.problems).padStart(5)}  ${acc(k.correct.expert_before, k.problems).padStart(6)} → ${acc(k.correct.expert_after, k.problems).padStart(6)}  fixed ${p.fixed}, broken ${p.broken}, ${formatP(p.p_value)}${sft}`;
    }),
  ];
}
