// Pair diagnostics: what stage 1's samples say about an expert/amateur pair before any training.
// LightReasoner can only move the expert where its soft labels disagree with what the expert already
// does: a label whose argmax is the expert's own greedy token (a "copy") trains the expert toward
// the choice it makes anyway. So beside the selection rate and the KL distribution this counts, over
// the selected steps, the plausibility mask's size, the label's entropy, and the "label flips" —
// steps whose label argmax differs from the expert's greedy token — and turns them into a verdict
// line. Accumulated per problem into a small JSON state (kept in the sampling state file, so a
// resumed run reports exactly what an uninterrupted one does). Portable: no host imports.

import type { PromptResult } from './contrast.ts';

/** KL histogram: bin 0 holds KL < 1e-4, then 10 log-spaced bins a decade up to 100, then ≥ 100. */
const KL_LO = 1e-4,
  KL_DECADES = 6,
  KL_PER_DECADE = 10;
const KL_BINS = 2 + KL_DECADES * KL_PER_DECADE;
/** Mask sizes 1 … 16 have a bin each; the last bin holds 17 and more. */
const MASK_BINS = 17;

/** Thresholds of the verdict: below these, labels are near-copies of the expert's greedy choices. */
const DIAGNOSTIC_THRESHOLDS = Object.freeze({ minFlipRate: 0.1, minMeanMask: 1.5 });

export interface DiagnosticsState {
  problems: number;
  steps: number;
  selected: number;
  klSum: number;
  klSelectedSum: number;
  /** Counts per KL bin over every contrasted step. */
  klHist: number[];
  /** Counts per mask size over the selected steps. */
  maskHist: number[];
  maskSum: number;
  flips: number;
  entropySum: number;
}

export interface PairDiagnostics {
  problems: number;
  contrasted_steps: number;
  selected_steps: number;
  selection_rate: number;
  /** KL(P_E ‖ P_A) over every contrasted step; quantiles are read off a 10-bins-a-decade histogram (±13 %). */
  kl: { mean: number; p10: number; median: number; p90: number; selected_mean: number | null };
  /** Plausibility-mask sizes at the selected steps: mean, the share with a single token, counts of sizes 1 … 16 and 17+. */
  mask: { mean: number | null; single_token_rate: number | null; counts: number[] };
  /** Selected steps whose soft label's argmax is not the expert's own greedy token. */
  label_flips: number;
  label_flip_rate: number | null;
  /** Mean entropy of the soft labels, in nats (0: one-hot). */
  label_entropy_mean: number | null;
  verdict: { ok: boolean; message: string };
}

export function emptyDiagnostics(): DiagnosticsState {
  return {
    problems: 0,
    steps: 0,
    selected: 0,
    klSum: 0,
    klSelectedSum: 0,
    klHist: new Array<number>(KL_BINS).fill(0),
    maskHist: new Array<number>(MASK_BINS).fill(0),
    maskSum: 0,
    flips: 0,
    entropySum: 0,
  };
}

function klBin(kl: number): number {
  if (!(kl >= KL_LO)) return 0;
  return Math.min(KL_BINS - 1, 1 + Math.floor(Math.log10(kl / KL_LO) * KL_PER_DECADE));
}

/** The KL value at the geometric middle of a bin (for quantiles). */
function klBinValue(b: number): number {
  if (b === 0) return 0;
  if (b === KL_BINS - 1) return KL_LO * 10 ** KL_DECADES;
  return KL_LO * 10 ** ((b - 0.5) / KL_PER_DECADE);
}

/** Add one problem's contrasted steps (its trajectory gives the expert's greedy token at each step). */
export function addToDiagnostics(d: DiagnosticsState, r: Pick<PromptResult, 'trajectory' | 'steps'>): void {
  d.problems++;
  for (const s of r.steps) {
    d.steps++;
    d.klSum += s.kl;
    d.klHist[klBin(s.kl)]++;
    if (!s.selected || !s.tokenIds || !s.weights) continue;
    d.selected++;
    d.klSelectedSum += s.kl;
    const size = s.tokenIds.length;
    d.maskSum += size;
    d.maskHist[Math.min(size, MASK_BINS) - 1]++;
    let best = 0,
      entropy = 0;
    for (let j = 0; j < size; j++) {
      const w = s.weights[j];
      if (w > s.weights[best]) best = j;
      if (w > 0) entropy -= w * Math.log(w);
    }
    d.entropySum += entropy;
    if (s.tokenIds[best] !== r.trajectory[s.step]) d.flips++;
  }
}

function klQuantile(d: DiagnosticsState, q: number): number {
  if (d.steps === 0) return 0;
  const target = q * d.steps;
  let seen = 0;
  for (let b = 0; b < KL_BINS; b++) {
    seen += d.klHist[b];
    if (seen >= target && d.klHist[b] > 0) return klBinValue(b);
  }
  return klBinValue(KL_BINS - 1);
}

export function summarizeDiagnostics(d: DiagnosticsState): PairDiagnostics {
  const sel = d.selected;
  const out: Omit<PairDiagnostics, 'verdict'> = {
    problems: d.problems,
    contrasted_steps: d.steps,
    selected_steps: sel,
    selection_rate: d.steps ? sel / d.steps : 0,
    kl: {
      mean: d.steps ? d.klSum / d.steps : 0,
      p10: klQuantile(d, 0.1),
      median: klQuantile(d, 0.5),
      p90: klQuantile(d, 0.9),
      selected_mean: sel ? d.klSelectedSum / sel : null,
    },
    mask: { mean: sel ? d.maskSum / sel : null, single_token_rate: sel ? d.maskHist[0] / sel : null, counts: [...d.maskHist] },
    label_flips: d.flips,
    label_flip_rate: sel ? d.flips / sel : null,
    label_entropy_mean: sel ? d.entropySum / sel : null,
  };
  return { ...out, verdict: verdict(out) };
}

function verdict(g: Omit<PairDiagnostics, 'verdict'>): PairDiagnostics['verdict'] {
  const { minFlipRate, minMeanMask } = DIAGNOSTIC_THRESHOLDS;
  if (g.selected_steps === 0) {
    return {
      ok: false,
      message: `no step was selected (no KL ≥ β in ${g.contrasted_steps} steps): the models agree everywhere, so there is nothing to learn from the amateur; lower β or pair the expert with a weaker amateur`,
    };
  }
  const flips = g.label_flip_rate!,
    mask = g.mask.mean!;
  const stats = `${(100 * flips).toFixed(1)}% label flips, mean mask ${mask.toFixed(2)} tokens, ${(100 * g.mask.single_token_rate!).toFixed(0)}% of selected steps with a one-token mask`;
  if (flips < minFlipRate || mask < minMeanMask) {
    return {
      ok: false,
      message:
        `the soft labels are near-copies of the expert's own greedy choices (${stats}): most of the training signal asks the expert to do what it already does, so fine-tuning has little to improve. ` +
        `LightReasoner needs an expert whose distribution keeps real alternatives at reasoning steps (its plausibility mask holds more than its greedy token) ` +
        `and an amateur that prefers other tokens there; try a less peaked expert, a lower α, or an amateur from another domain`,
    };
  }
  return {
    ok: true,
    message: `the labels disagree with the expert's greedy token at ${(100 * flips).toFixed(1)}% of ${g.selected_steps} selected steps (mean mask ${mask.toFixed(2)} tokens): there is something for fine-tuning to change`,
  };
}

/** A few lines for a terminal. */
export function formatDiagnostics(g: PairDiagnostics): string[] {
  const pct = (x: number | null) => (x === null ? '–' : `${(100 * x).toFixed(1)}%`);
  const num = (x: number | null, d = 2) => (x === null ? '–' : x.toFixed(d));
  return [
    `pair diagnostics: ${g.selected_steps}/${g.contrasted_steps} steps selected (${pct(g.selection_rate)}) over ${g.problems} problems`,
    `  KL(P_E‖P_A): mean ${num(g.kl.mean, 3)}, p10 ${num(g.kl.p10, 3)}, median ${num(g.kl.median, 3)}, p90 ${num(g.kl.p90, 3)}; selected mean ${num(g.kl.selected_mean, 3)}`,
    `  selected steps: mask ${num(g.mask.mean)} tokens on average (${pct(g.mask.single_token_rate)} one token), label flips ${pct(g.label_flip_rate)}, label entropy ${num(g.label_entropy_mean, 3)} nats`,
    `  ${g.verdict.ok ? 'verdict' : 'warning'}: ${g.verdict.message}`,
  ];
}

/** The diagnostics of two runs' problems together (a gathered run's, from its shards'). */
export function mergeDiagnostics(a: DiagnosticsState, b: DiagnosticsState): DiagnosticsState {
  const add = (x: number[], y: number[]) => x.map((v, i) => v + (y[i] ?? 0));
  return {
    problems: a.problems + b.problems,
    steps: a.steps + b.steps,
    selected: a.selected + b.selected,
    klSum: a.klSum + b.klSum,
    klSelectedSum: a.klSelectedSum + b.klSelectedSum,
    klHist: add(a.klHist, b.klHist),
    maskHist: add(a.maskHist, b.maskHist),
    maskSum: a.maskSum + b.maskSum,
    flips: a.flips + b.flips,
    entropySum: a.entropySum + b.entropySum,
  };
}
