// Cost of the non-finite scan at load: a SmolLM2-135M-shaped random bf16 checkpoint on disk,
// loaded by loadWeights into the Wasm backend; the scan timed alone over the same bytes.
import { writeFileSync, mkdirSync, existsSync } from 'node:fs';
import { SHAPES, randomValues } from './runtime/model/random.ts';
import { encodeFromF32, firstNonFinite } from './runtime/util/dtype.ts';
import { encodeSafetensors, readSafetensorsHeader, readTensorBytes } from './runtime/io/safetensors.ts';
import { loadWeights } from './runtime/model/weights.ts';
import { nodePlatform } from './runtime/platform/node.ts';
import { createWasmBackend } from './runtime/backend/wasm/index.ts';
const config = SHAPES['SmolLM2-135M'];
const dir = '/tmp/hostile/smol135-bf16';
const { hiddenSize: H, heads, kvHeads, headDim: D, intermediateSize: I, vocabSize: V } = config;
if (!existsSync(`${dir}/model.safetensors`)) {
  mkdirSync(dir, { recursive: true });
  const ts: { name: string; dtype: 'BF16'; shape: number[]; data: Uint8Array }[] = [];
  let k = 1;
  const w = (name: string, shape: number[]) => ts.push({ name, dtype: 'BF16', shape, data: encodeFromF32('bf16', randomValues(shape.reduce((a, b) => a * b, 1), k++ * 2654435761, 0.05)) });
  w('model.embed_tokens.weight', [V, H]); w('model.norm.weight', [H]);
  for (let l = 0; l < config.layers; l++) {
    const p = `model.layers.${l}.`;
    w(`${p}input_layernorm.weight`, [H]); w(`${p}post_attention_layernorm.weight`, [H]);
    w(`${p}self_attn.q_proj.weight`, [heads * D, H]); w(`${p}self_attn.k_proj.weight`, [kvHeads * D, H]); w(`${p}self_attn.v_proj.weight`, [kvHeads * D, H]); w(`${p}self_attn.o_proj.weight`, [H, heads * D]);
    w(`${p}mlp.gate_proj.weight`, [I, H]); w(`${p}mlp.up_proj.weight`, [I, H]); w(`${p}mlp.down_proj.weight`, [H, I]);
  }
  writeFileSync(`${dir}/model.safetensors`, encodeSafetensors(ts, { format: 'pt' }));
}
const fs = nodePlatform.fs;
const header = await readSafetensorsHeader(fs, `${dir}/model.safetensors`);
const params = [...header.tensors.values()].reduce((s, e) => s + e.byteLength / 2, 0);
const backend = await createWasmBackend({ threads: 1 });
const loads: number[] = [], scans: number[] = [];
for (let r = 0; r < 3; r++) {
  let t0 = performance.now();
  const w = await loadWeights(fs, dir, config, backend);
  loads.push(performance.now() - t0);
  for (const t of [w.embed, w.norm, ...w.layers.flatMap((l) => Object.values(l).filter((x) => x))]) backend.dispose(t as any);
  const bytes = await Promise.all([...header.tensors.values()].map((e) => readTensorBytes(fs, e)));
  t0 = performance.now();
  for (const b of bytes) if (firstNonFinite('bf16', b) !== -1) throw new Error('non-finite');
  scans.push(performance.now() - t0);
}
console.log(`${(params / 1e6).toFixed(1)}M parameters (bf16, ${(params * 2 / 2 ** 20).toFixed(0)} MiB): loadWeights ${loads.map((x) => x.toFixed(0)).join(' / ')} ms; the scan alone ${scans.map((x) => x.toFixed(1)).join(' / ')} ms`);
backend.destroy();
