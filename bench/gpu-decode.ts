// The decode part of `npm run bench:gpu` (issue 19): greedy decoding of a random model on WebGPU,
// one sequence, with per-step counts (dispatches, submits, readbacks, bind groups created) and a
// time profile per token: encode (JavaScript recording the step), submit, and the GPU wait
// (mapAsync of the step's token ids). Target on a software GPU (SwiftShader): ≤ 15 ms a token for
// the 3-layer hidden-96 Qwen2 ('tiny-qwen2-96').
import type { WebGPUBackend } from '../runtime/backend/webgpu/backend.ts';
import { createWebGPUBackend } from '../runtime/backend/webgpu/index.ts';
import type { ModelConfig } from '../runtime/model/config.ts';
import { generateGreedy } from '../runtime/model/generate.ts';
import { randomModel, SHAPES } from '../tooling/random-model.ts';
import { median, type Reporter } from './common.ts';

export interface DecodeProfile {
  msPerToken: number;
  perStep: { dispatches: number; submits: number; readbacks: number; bindGroupsCreated: number };
  encodeMs: number;
  submitMs: number;
  waitMs: number;
  prefillMs: number;
}

/** Decode `newTokens` after a `promptLen`-token prompt; steps after the first `warm` are measured. */
export async function profileDecode(gpu: GPU, config: ModelConfig, promptLen: number, newTokens: number, warm = 4): Promise<DecodeProfile> {
  const backend = (await createWebGPUBackend(gpu)) as WebGPUBackend;
  const model = randomModel(config, backend, 'bf16', 3);
  try {
    const prompt = Array.from({ length: promptLen }, (_, i) => (i * 37 + 11) % config.vocabSize);
    const snaps: { t: number; s: typeof backend.stats }[] = [];
    const t0 = performance.now();
    await generateGreedy(model, [prompt], {
      maxNewTokens: newTokens,
      eosTokenIds: [],
      onStep: () => snaps.push({ t: performance.now(), s: { ...backend.stats } }),
    });
    const steps = snaps
      .slice(warm)
      .map((b, i) => {
        const a = snaps[warm + i - 1];
        const d = (k: keyof typeof b.s) => b.s[k] - a.s[k];
        return {
          ms: b.t - a.t,
          dispatches: d('dispatches'),
          submits: d('submits'),
          readbacks: d('readbacks'),
          bindGroupsCreated: d('bindGroupsCreated'),
          submitMs: d('submitMs'),
          waitMs: d('waitMs'),
        };
      })
      .slice(1);
    const med = (f: (s: (typeof steps)[number]) => number) => median(steps.map(f));
    const ms = med((s) => s.ms),
      submitMs = med((s) => s.submitMs),
      waitMs = med((s) => s.waitMs);
    return {
      msPerToken: ms,
      perStep: {
        dispatches: med((s) => s.dispatches),
        submits: med((s) => s.submits),
        readbacks: med((s) => s.readbacks),
        bindGroupsCreated: med((s) => s.bindGroupsCreated),
      },
      encodeMs: Math.max(0, ms - submitMs - waitMs),
      submitMs,
      waitMs,
      prefillMs: snaps[0].t - t0,
    };
  } finally {
    model.dispose();
  }
}

export async function reportDecode(gpu: GPU, rep: Reporter, software: boolean): Promise<void> {
  const name = software ? 'tiny-qwen2-96' : 'SmolLM2-360M';
  const c = SHAPES[name];
  const p = await profileDecode(gpu, c, 8, software ? 40 : 64);
  // Outside the layers: embedding, the gather of the logit rows, the LM head (norm fused), argmax.
  const perLayer = (p.perStep.dispatches - 4) / c.layers;
  rep.report({
    name: `WebGPU greedy decode, ${name} (${c.layers} layers, hidden ${c.hiddenSize}), batch 1`,
    value: p.msPerToken,
    unit: 'ms/token',
    backend: 'webgpu',
    ...(software ? { target: '≤ 15 ms/token', met: p.msPerToken <= 15 } : {}),
    note:
      `per step: ${p.perStep.dispatches} dispatches (${perLayer.toFixed(1)} a layer + 4 outside the layers), ${p.perStep.submits} submits, ${p.perStep.readbacks} readbacks, ${p.perStep.bindGroupsCreated} bind groups created; ` +
      `per token: encode ${p.encodeMs.toFixed(2)} ms, submit ${p.submitMs.toFixed(2)} ms, GPU wait ${p.waitMs.toFixed(2)} ms; prefill (8 tokens, first compile included) ${p.prefillMs.toFixed(0)} ms` +
      (software ? `; target ≤ 15 ms/token: ${p.msPerToken <= 15 ? 'MET' : 'not met'}` : ''),
  });
}
