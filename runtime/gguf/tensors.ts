// Hugging Face Llama/Qwen2 tensor names → llama.cpp's GGUF names (gguf-py constants.py
// MODEL_TENSOR / TENSOR_NAMES), and the q/k row permutation llama.cpp's converter applies to Llama.
//
// Why the permutation: transformers' Llama rotates the two halves of each head (rotate_half: channel
// i pairs with i + head_dim/2), llama.cpp's LLM_ARCH_LLAMA rotates adjacent channels (2i with 2i+1).
// convert_hf_to_gguf.py (LlamaModel.permute) reorders the rows of q_proj and k_proj (and their
// biases) within each head so that the adjacent-pair rotation computes the same thing: viewing a
// head's rows as [2, head_dim/2], it transposes them to [head_dim/2, 2]. Qwen2 maps to llama.cpp's
// NEOX rope (halves, as transformers does), so its rows stay in order.

const LAYER_PARTS: Readonly<Record<string, string>> = Object.freeze({
  input_layernorm: 'attn_norm',
  'self_attn.q_proj': 'attn_q',
  'self_attn.k_proj': 'attn_k',
  'self_attn.v_proj': 'attn_v',
  'self_attn.o_proj': 'attn_output',
  post_attention_layernorm: 'ffn_norm',
  'mlp.gate_proj': 'ffn_gate',
  'mlp.up_proj': 'ffn_up',
  'mlp.down_proj': 'ffn_down',
});

const GLOBAL: Readonly<Record<string, string>> = Object.freeze({
  'model.embed_tokens.weight': 'token_embd.weight',
  'model.norm.weight': 'output_norm.weight',
  'lm_head.weight': 'output.weight',
});

/** Tensors a checkpoint may carry that a GGUF file does not (the converter drops them too). */
export const isDroppedTensor = (name: string) => name.endsWith('.rotary_emb.inv_freq');

/** The GGUF name of a checkpoint tensor, or null when llama.cpp has no such tensor for Llama/Qwen2. */
export function ggufTensorName(name: string): string | null {
  if (Object.hasOwn(GLOBAL, name)) return GLOBAL[name];
  const m = /^model\.layers\.(\d+)\.(.+)\.(weight|bias)$/.exec(name);
  if (!m || !Object.hasOwn(LAYER_PARTS, m[2])) return null;
  return `blk.${m[1]}.${LAYER_PARTS[m[2]]}.${m[3]}`;
}

/** Order tensors as llama.cpp's converter lists them: embeddings, the layers in order, then the head. */
export function ggufOrder(a: string, b: string): number {
  const rank = (n: string) => (n.startsWith('token_embd') ? [0, 0] : n.startsWith('blk.') ? [1, Number(n.split('.')[1])] : [2, 0]);
  const [ra, rb] = [rank(a), rank(b)];
  return ra[0] - rb[0] || ra[1] - rb[1] || (a < b ? -1 : a > b ? 1 : 0);
}

/**
 * Llama's q/k row permutation (see above) of a row-major [heads·headDim, cols] matrix (cols 1 for a
 * bias), over raw elements of `bytesPerValue` bytes each, so it runs before any rounding.
 */
export function permuteQK(bytes: Uint8Array, heads: number, headDim: number, cols: number, bytesPerValue: number): Uint8Array {
  const rowBytes = cols * bytesPerValue;
  if (bytes.byteLength !== heads * headDim * rowBytes)
    throw new RangeError(`permuteQK: ${bytes.byteLength} bytes is not ${heads}×${headDim} rows of ${rowBytes}`);
  const out = new Uint8Array(bytes.byteLength);
  const half = headDim / 2;
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < half; i++) {
      for (let j = 0; j < 2; j++) {
        const from = (h * headDim + j * half + i) * rowBytes;
        const to = (h * headDim + i * 2 + j) * rowBytes;
        out.set(bytes.subarray(from, from + rowBytes), to);
      }
    }
  }
  return out;
}
