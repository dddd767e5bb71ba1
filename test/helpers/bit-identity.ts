// A training pass for the bit-for-bit tests (test/sharded.test.ts, test/webgpu-big.test.ts): the loss
// and every LoRA gradient of one pass over a few made-up samples, all seven targets, dropout on (so
// the masks must agree too) and B nonzero (so A gets gradients).
import type { CausalLM } from '../../runtime/model/model.ts';
import { packTrajectories, type TrainSample } from '../../runtime/train/data.ts';
import { initLora } from '../../runtime/train/optimizer.ts';
import { TrainPass } from '../../runtime/train/pass.ts';
import { readLora } from './finetune.ts';

export async function trainPassGrads(model: CausalLM, sampleCount: number): Promise<{ loss: number; grads: Map<string, Float32Array> }> {
  const targetModules = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] as const;
  const adapter = initLora(model, { r: 4, alpha: 8, dropout: 0.1, targetModules: [...targetModules] }, 7);
  for (const layer of adapter.layers) {
    for (const p of Object.values(layer))
      model.backend.write(
        p.b,
        Float32Array.from({ length: p.b.size }, (_, j) => Math.sin(j * 1.7) * 0.05),
      );
  }
  const V = model.config.vocabSize;
  const samples: TrainSample[] = Array.from({ length: sampleCount }, (_, j) => ({
    line: j + 1,
    key: String(j),
    ids: Array.from({ length: 9 + 3 * j }, (_, p) => (p * 37 + j * 11 + 5) % V),
    labelIds: [j + 3, j + 9],
    labelWeights: [0.75, 0.25],
  }));
  const pass = new TrainPass(model, adapter);
  pass.zeroGrad();
  pass.pass({ trajectories: packTrajectories(samples, true), samples, lossScale: 1 / sampleCount, dropoutSeed: 5 });
  const loss = (await model.backend.read(pass.lossSum))[0];
  const grads = await readLora(model, pass.grads);
  pass.dispose();
  return { loss, grads };
}
