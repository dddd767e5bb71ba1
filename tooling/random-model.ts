// Random-weight models of a given shape, for benchmarks (the reference PyTorch benches use random
// weights too: only shapes matter for time). Weights are uploaded in the requested 16-bit dtype.
import type { Backend, Tensor, FloatDType, QuantDType } from '../runtime/backend/types.ts';
import { quantize as quantizeBytes } from '../runtime/quant/index.ts';
import { encodeFromF32 } from '../runtime/util/dtype.ts';
import type { ModelConfig } from '../runtime/model/config.ts';
import { CausalLM } from '../runtime/model/model.ts';
import type { LayerWeights, ModelWeights } from '../runtime/model/weights.ts';
import { plainArch } from '../runtime/model/architectures.ts';

/** Deterministic uniform(-scale, scale) values (xorshift32): reproducible across runtimes. */
export function randomValues(n: number, seed: number, scale: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    out[i] = ((s / 4294967296) * 2 - 1) * scale;
  }
  return out;
}

/** `quantize`: the attention and MLP projections (rows a multiple of 32) in that block format, from the `dtype` values (as loading with quantize does). */
export function randomModel(config: ModelConfig, backend: Backend, dtype: FloatDType = 'bf16', seed = 1, quantize?: QuantDType): CausalLM {
  let bytes = 0;
  let k = seed;
  const w = (shape: number[], scale = 0.05, project = false): Tensor => {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = encodeFromF32(dtype, randomValues(n, k++ * 2654435761, scale));
    if (project && quantize && shape[1] % 32 === 0) {
      const q = quantizeBytes(quantize, dtype, data, shape[1]);
      bytes += q.byteLength;
      return backend.createWeight(quantize, shape, q);
    }
    bytes += data.byteLength;
    return backend.createWeight(dtype, shape, data);
  };
  const p = (shape: number[]) => w(shape, 0.05, true);
  const ones = (n: number) => {
    const data = encodeFromF32(dtype, new Float32Array(n).fill(1));
    bytes += data.byteLength;
    return backend.createWeight(dtype, [n], data);
  };
  const { hiddenSize: H, heads, kvHeads, headDim: D, intermediateSize: I, vocabSize: V } = config;
  const embed = w([V, H]);
  const layers: LayerWeights[] = [];
  for (let l = 0; l < config.layers; l++) {
    layers.push({
      attnNorm: ones(H),
      mlpNorm: ones(H),
      attnOutNorm: null,
      mlpOutNorm: null,
      qNorm: null,
      kNorm: null,
      q: p([heads * D, H]),
      qBias: config.qkvBias ? w([heads * D]) : null,
      k: p([kvHeads * D, H]),
      kBias: config.qkvBias ? w([kvHeads * D]) : null,
      v: p([kvHeads * D, H]),
      vBias: config.qkvBias ? w([kvHeads * D]) : null,
      o: p([H, heads * D]),
      oBias: null,
      gate: p([I, H]),
      up: p([I, H]),
      down: p([H, I]),
      gateBias: null,
      upBias: null,
      downBias: null,
    });
  }
  const weights: ModelWeights = {
    embed,
    layers,
    norm: ones(H),
    lmHead: config.tieEmbeddings ? embed : w([V, H]),
    bytes: 0,
    dtype,
    ...(quantize ? { quantized: quantize } : {}),
  };
  weights.bytes = bytes;
  return new CausalLM(config, backend, weights, `random ${config.modelType} (${quantize ?? dtype})`);
}

/** Shapes of real checkpoints, for benches (from their config.json files). */
export const SHAPES: Readonly<Record<string, ModelConfig>> = Object.freeze({
  'SmolLM2-135M': shape('llama', 576, 30, 9, 3, 1536, 49152, true, 100000),
  'SmolLM2-360M': shape('llama', 960, 32, 15, 5, 2560, 49152, true, 100000),
  'Qwen2.5-0.5B': shape('qwen2', 896, 24, 14, 2, 4864, 151936, true, 1000000),
  /** Issue 19's decode workload on a software GPU: 3 layers, hidden 96 (6 heads of 16, 2 KV heads). */
  'tiny-qwen2-96': shape('qwen2', 96, 3, 6, 2, 256, 1024, true, 1000000),
});

function shape(
  modelType: 'llama' | 'qwen2',
  H: number,
  layers: number,
  heads: number,
  kvHeads: number,
  I: number,
  V: number,
  tie: boolean,
  theta: number,
): ModelConfig {
  return {
    modelType,
    architecture: modelType === 'llama' ? 'LlamaForCausalLM' : 'Qwen2ForCausalLM',
    hiddenSize: H,
    layers,
    heads,
    kvHeads,
    headDim: H / heads,
    intermediateSize: I,
    vocabSize: V,
    rmsEps: 1e-5,
    maxPositions: 8192,
    tieEmbeddings: tie,
    qkvBias: modelType === 'qwen2',
    oBias: false,
    mlpBias: false,
    rope: { theta, type: 'default', factor: 1, lowFreqFactor: 1, highFreqFactor: 1, originalMaxPositions: 0 },
    arch: plainArch(H / heads, layers, { theta, type: 'default', factor: 1, lowFreqFactor: 1, highFreqFactor: 1, originalMaxPositions: 0 }),
    bosTokenId: null,
    eosTokenIds: [],
  };
}
