// The run report's derived data, computed from what the stages left behind: the models' sizes, the
// KL and step histograms, the training-loss curves, the per-seed summary and the examples shown. Pure, apart from
// readLog's read of a train_log.jsonl.

import { meanSd, pairedComparison } from '../eval/stats.ts';
import { hubRevisionOf } from '../hub/ids.ts';
import type { CausalLM } from '../model/model.ts';
import type { FileSystem } from '../platform/types.ts';
import type { EvalProblem, EvalRecord } from '../eval/evaluate.ts';
import { EVAL_MODELS, type EvalModel, type EvalResult, type Histogram, type KindRow, type ModelInfo, type RunReport, type SeedRuns } from './report-types.ts';

export function modelInfo(m: CausalLM): ModelInfo {
  const c = m.config;
  const attn = c.hiddenSize * c.heads * c.headDim * 2 + c.hiddenSize * c.kvHeads * c.headDim * 2;
  const mlp = 3 * c.hiddenSize * c.intermediateSize;
  const emb = c.vocabSize * c.hiddenSize * (c.tieEmbeddings ? 1 : 2);
  return {
    source: m.source,
    hub: hubRevisionOf(m.source),
    model_type: c.modelType,
    parameters: c.layers * (attn + mlp + 2 * c.hiddenSize) + emb + c.hiddenSize,
    layers: c.layers,
    hidden_size: c.hiddenSize,
    vocab_size: c.vocabSize,
    ...(m.weights.quantized ? { quantized: m.weights.quantized } : {}),
  };
}

export function histogram(values: number[], selected: boolean[], edges: number[]): Histogram {
  const n = edges.length - 1;
  const all = new Array<number>(n).fill(0),
    sel = new Array<number>(n).fill(0);
  for (const [j, v] of values.entries()) {
    let b = 0;
    while (b < n - 1 && v >= edges[b + 1]) b++;
    all[b]++;
    if (selected[j]) sel[b]++;
  }
  return { edges, all, selected: sel };
}

/** The smallest of 1, 2, 5 × 10^k that is ≥ x. */
function niceStep(x: number): number {
  if (!(x > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(x));
  for (const m of [1, 2, 5, 10]) if (m * p >= x * (1 - 1e-9)) return m * p;
  return 10 * p;
}

/** KL bins: about 30 of a round width up to the 99th percentile (the last bin holds the rest). */
export function klEdges(kls: number[], beta: number): number[] {
  const sorted = [...kls].sort((a, b) => a - b);
  const p99 = sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(0.99 * sorted.length))] : 1;
  const hi = Math.max(p99, beta * 2, 1e-3);
  const w = niceStep(hi / 30);
  const bins = Math.max(1, Math.ceil(hi / w - 1e-9));
  return Array.from({ length: bins + 1 }, (_, j) => +(w * j).toPrecision(12));
}

/** Generation-step bins: about 32 of a whole width up to the sampling's token budget. */
export function stepEdges(maxNew: number): number[] {
  const stepBin = Math.max(1, Math.ceil(maxNew / 32));
  return Array.from({ length: Math.ceil(maxNew / stepBin) + 1 }, (_, j) => j * stepBin);
}

/** A fine-tuning's (step, loss) curve from its train_log.jsonl; none when there is no log. */
export async function readLog(fs: FileSystem, file: string): Promise<[number, number][]> {
  if (!(await fs.exists(file))) return [];
  return (await fs.readText(file))
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => {
      const o = JSON.parse(l) as { step: number; loss: number };
      return [o.step, o.loss] as [number, number];
    });
}

export function seedSummary(runs: { seed: number; ev: EvalResult }[]): SeedRuns {
  const list = runs.map(({ seed, ev }) => ({ seed, accuracy: ev.accuracy, correct: ev.correct, ...ev.paired_vs_before! }));
  const { mean, sd } = meanSd(list.map((r) => r.accuracy));
  return { runs: list, accuracy: { mean, sd } };
}

/** Up to three evaluation problems side by side: where before and after differ first (changed correctness, then changed text), then the rest. */
export function pickExamples(records: Partial<Record<EvalModel, EvalRecord[]>>): RunReport['examples'] {
  const examples: RunReport['examples'] = [];
  const before = records.expert_before!,
    after = records.expert_after!;
  const order = before
    .map((_, j) => j)
    .sort((a, b) => {
      const score = (j: number) => (before[j].correct !== after[j].correct ? 0 : before[j].output !== after[j].output ? 1 : 2);
      return score(a) - score(b) || a - b;
    });
  for (const j of order.slice(0, 3)) {
    const outputs: RunReport['examples'][number]['outputs'] = {};
    for (const m of EVAL_MODELS) {
      const r = records[m]?.[j];
      if (r) outputs[m] = { output: r.output, extracted: r.extracted, correct: r.correct };
    }
    examples.push({ id: before[j].id, question: before[j].question, gold: before[j].gold, outputs });
  }
  return examples;
}

/** The held-out results per problem kind (in the order kinds first appear); none when no problem names a kind. */
export function perKind(problems: readonly EvalProblem[], records: Partial<Record<EvalModel, EvalRecord[]>>): KindRow[] | undefined {
  if (!problems.some((p) => p.kind)) return undefined;
  const ids = new Map<string, Set<string>>();
  for (const p of problems) {
    const k = p.kind ?? 'unnamed';
    if (!ids.has(k)) ids.set(k, new Set());
    ids.get(k)!.add(p.id);
  }
  return [...ids].map(([kind, set]) => {
    const of = (m: EvalModel) => records[m]?.filter((r) => set.has(r.id));
    const correct: KindRow['correct'] = {};
    for (const m of EVAL_MODELS) {
      const rs = of(m);
      if (rs) correct[m] = rs.filter((r) => r.correct).length;
    }
    const before = of('expert_before')!,
      sft = of('expert_sft');
    return {
      kind,
      problems: set.size,
      correct,
      paired: { expert_after: pairedComparison(before, of('expert_after')!), ...(sft ? { expert_sft: pairedComparison(before, sft) } : {}) },
    };
  });
}
