// `npm run bench -- --only quant` (issue 30): decode with quantized projections on Wasm and, where
// an adapter exists, WebGPU, and what quantizing the expert does to LightReasoner's stage 1.
//  * decode tokens/s at batch 1 and 8 for bf16, q8_0 and q4_0 projections (embeddings and LM head
//    stay bf16, as loading with --quantize does) on SmolLM2-135M/360M shapes (random weights), the
//    weight bytes read per batch-1 step as GB/s and as a share of the measured read ceiling;
//    targets: q4_0 batch 1 ≥ 2.5× bf16's tokens/s, ≥ 70 % of the read bandwidth (Wasm; WebGPU has
//    no measured ceiling here). On a software adapter (SwiftShader, lavapipe: WGSL emulated on the
//    CPU) a short run (SOFTWARE_RUN) shows the rows run; its figures say nothing about GPU speed;
//  * stage-1 agreement on the embedded default pair (models/default): the sample job run with the
//    expert as is and with --quantize-expert q8_0 / q4_0; the share of selected steps (problem,
//    step) that both select, and of those the share whose labels (token ids) are unchanged.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Backend, QuantDType } from '../runtime/backend/types.ts';
import { sampleJob } from '../runtime/engine/jobs.ts';
import { generateGreedy } from '../runtime/model/generate.ts';
import { nodePlatform } from '../runtime/platform/node.ts';
import { defaultPairDir } from '../runtime/platform/node-default-pair.ts';
import { defaultProblems } from '../runtime/run/pipeline.ts';
import { randomModel, randomValues, SHAPES } from '../tooling/random-model.ts';
import { median, type Result, withCeiling } from './common.ts';
import type { Ceilings } from './host.ts';

type Report = (r: Result) => void;
const TYPES = ['bf16', 'q8_0', 'q4_0'] as const;

async function stepSeconds(model: ReturnType<typeof randomModel>, batch: number, promptLen: number, steps: number): Promise<number> {
  const V = model.config.vocabSize;
  const prompts = Array.from({ length: batch }, (_, s) => Array.from(randomValues(promptLen, 77 + s, 0.5), (x) => Math.floor((x + 0.5) * V) % V));
  const marks: number[] = [];
  await generateGreedy(model, prompts, { maxNewTokens: steps + 1, eosTokenIds: [], onStep: () => marks.push(performance.now()) });
  return median(marks.slice(1).map((t, i) => (t - marks[i]) / 1000));
}

function dispose(b: Backend, m: ReturnType<typeof randomModel>): void {
  const w = m.weights;
  for (const t of new Set([w.embed, w.norm, w.lmHead, ...w.layers.flatMap((l) => Object.values(l))])) if (t) b.dispose(t);
}

/** Which shapes, how long a prompt and how many decode steps one run of the decode bench takes. */
export interface QuantDecodeRun {
  shapes: readonly string[];
  promptLen: number;
  steps: number;
  /** false on a software adapter: its ratios say nothing about the 2.5× target, so none is claimed */
  targets: boolean;
}
const FULL_RUN: QuantDecodeRun = { shapes: ['SmolLM2-135M', 'SmolLM2-360M'], promptLen: 64, steps: 16, targets: true };
/** A CPU-emulated GPU runs a 135M decode step in seconds: one shape, a short prompt, few steps. */
export const SOFTWARE_RUN: QuantDecodeRun = { shapes: ['SmolLM2-135M'], promptLen: 8, steps: 3, targets: false };

export async function benchQuantDecode(b: Backend, ceilings: Ceilings | null, report: Report, run: QuantDecodeRun = FULL_RUN): Promise<void> {
  const { promptLen, steps } = run;
  for (const shape of run.shapes) {
    const base: Record<string, number> = {};
    for (const type of TYPES) {
      const model = randomModel(SHAPES[shape], b, 'bf16', 1, type === 'bf16' ? undefined : type);
      await stepSeconds(model, 1, 8, 2); // warm-up
      const s1 = await stepSeconds(model, 1, promptLen, steps),
        s8 = await stepSeconds(model, 8, promptLen, steps);
      const bytes = model.weights.bytes,
        gbs = bytes / s1 / 1e9;
      base[type] ??= 1 / s1;
      const r1: Result = {
        name: `quant: decode ${shape} ${type}, batch 1`,
        value: 1 / s1,
        unit: 'tokens/s',
        backend: b.info.kind,
        note: `${(s1 * 1000).toFixed(1)} ms per step (median of ${steps}); ${(bytes / 2 ** 20).toFixed(0)} MiB of weights read per step: ${gbs.toFixed(1)} GB/s; ${b.info.device}${run.targets ? '' : ' (a software adapter: says nothing about GPU speed)'}`,
      };
      if (type !== 'bf16')
        Object.assign(r1, {
          baseline: base.bf16,
          baseline_unit: 'tokens/s',
          baseline_name: 'bf16 batch 1',
          ratio: 1 / s1 / base.bf16,
          ...(type === 'q4_0' && run.targets ? { target: '≥ 2.5', met: 1 / s1 / base.bf16 >= 2.5 } : {}),
        });
      if (ceilings)
        withCeiling(
          r1,
          (ceilings.readAll * 1e9) / bytes,
          'tokens/s',
          `read bandwidth (${ceilings.readAll.toFixed(1)} GB/s, all threads) over ${(bytes / 2 ** 20).toFixed(0)} MiB`,
          0.7,
        );
      report(r1);
      report({
        name: `quant: decode ${shape} ${type}, batch 8`,
        value: 8 / s8,
        unit: 'tokens/s',
        backend: b.info.kind,
        note: `${(s8 * 1000).toFixed(1)} ms per step of 8 rows (median of ${steps})`,
      });
      dispose(b, model);
    }
  }
}

/** Selected steps and their labels of one sample run: key "problem/step" → token ids. */
function selections(file: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    const s = JSON.parse(line) as { prompt_id: string; step: number; token_ids: number[] };
    out.set(`${s.prompt_id}/${s.step}`, s.token_ids.join(','));
  }
  return out;
}

export async function benchQuantAgreement(report: Report, notice: (m: string) => void, problemsCount = 16): Promise<void> {
  const pair = defaultPairDir();
  if (!pair) return notice('quant: no models/default in this copy: stage-1 agreement skipped');
  const dir = mkdtempSync(join(tmpdir(), 'lr-bench-quant-'));
  try {
    const problems = defaultProblems(problemsCount, 0).train.map(({ id, question }) => ({ id, question }));
    const run = async (q: QuantDType | undefined) => {
      const out = join(dir, `${q ?? 'plain'}.jsonl`);
      await sampleJob(
        { platform: nodePlatform },
        { expert: join(pair, 'expert'), amateur: join(pair, 'amateur'), problems, out, backend: 'wasm', quantizeExpert: q },
      );
      return selections(out);
    };
    const plain = await run(undefined);
    for (const q of ['q8_0', 'q4_0'] as const) {
      const got = await run(q);
      const both = [...plain.keys()].filter((k) => got.has(k));
      const union = new Set([...plain.keys(), ...got.keys()]).size;
      const sameLabels = both.filter((k) => plain.get(k) === got.get(k)).length;
      report({
        name: `quant: stage-1 selection agreement, expert bf16 vs ${q}`,
        value: union ? both.length / union : 1,
        unit: 'share',
        note: `default pair, ${problemsCount} problems: ${plain.size} steps selected with the bf16 expert, ${got.size} with ${q}, ${both.length} by both (share of the union); labels unchanged on ${sameLabels} of those ${both.length} (${both.length ? ((100 * sameLabels) / both.length).toFixed(1) : '–'} %)`,
      });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
