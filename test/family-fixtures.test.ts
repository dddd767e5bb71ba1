// The Qwen3 and Gemma 3 family fixtures (scripts/make_family_fixtures.py) checked for internal
// consistency only, without our runtime: configs, safetensors headers, expected logits, LoRA
// gradients and merged logits must agree with each other on every shape, so that a parity test
// written against them fails only for the runtime's reasons. Safetensors headers are parsed here
// by hand (8-byte little-endian length + JSON), on purpose independent of our reader.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { FIXTURES } from './helpers/cli.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const readJson = (...p: string[]): Json => JSON.parse(readFileSync(join(FIXTURES, ...p), 'utf8'));

const QWEN3 = 'qwen3-qknorm-tied-bf16';
const GEMMA3 = 'gemma3-sliding-f32';
const TARGETS = ['down_proj', 'gate_proj', 'k_proj', 'o_proj', 'q_proj', 'up_proj', 'v_proj'];
const blockOf = (module: string) => (['gate_proj', 'up_proj', 'down_proj'].includes(module) ? 'mlp' : 'self_attn');

function safetensorsHeader(path: string): Record<string, { dtype: string; shape: number[] }> {
  const bytes = readFileSync(path);
  const n = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + n).toString('utf8'));
  delete header.__metadata__;
  return header;
}

/** [out, in] of each LoRA target module, from the config. */
function moduleShapes(c: Json): Record<string, [number, number]> {
  const q = c.num_attention_heads * c.head_dim,
    kv = c.num_key_value_heads * c.head_dim,
    h = c.hidden_size,
    f = c.intermediate_size;
  return { q_proj: [q, h], k_proj: [kv, h], v_proj: [kv, h], o_proj: [h, q], gate_proj: [f, h], up_proj: [f, h], down_proj: [h, f] };
}

/** Every tensor the checkpoint must hold, with its shape (tied: no lm_head). */
function expectedTensors(c: Json): Record<string, number[]> {
  const out: Record<string, number[]> = { 'model.embed_tokens.weight': [c.vocab_size, c.hidden_size], 'model.norm.weight': [c.hidden_size] };
  const norms =
    c.model_type === 'gemma3_text'
      ? ['input_layernorm', 'post_attention_layernorm', 'pre_feedforward_layernorm', 'post_feedforward_layernorm']
      : ['input_layernorm', 'post_attention_layernorm'];
  for (let i = 0; i < c.num_hidden_layers; i++) {
    const L = `model.layers.${i}`;
    for (const [m, shape] of Object.entries(moduleShapes(c))) out[`${L}.${blockOf(m)}.${m}.weight`] = shape;
    out[`${L}.self_attn.q_norm.weight`] = [c.head_dim];
    out[`${L}.self_attn.k_norm.weight`] = [c.head_dim];
    for (const n of norms) out[`${L}.${n}.weight`] = [c.hidden_size];
  }
  return out;
}

/** Per-layer kind and RoPE of a Gemma 3 config, from the transformers-5 keys. */
function perLayerNew(c: Json) {
  return (c.layer_types as string[]).map((kind) => ({ kind, rope: c.rope_parameters[kind] }));
}

/** The same from the transformers-4.5x keys of Hub checkpoints (see test/fixtures/README.md). */
function perLayerLegacy(c: Json) {
  return Array.from({ length: c.num_hidden_layers }, (_, i) => {
    const kind = (i + 1) % c.sliding_window_pattern === 0 ? 'full_attention' : 'sliding_attention';
    const rope =
      kind === 'full_attention'
        ? { ...(c.rope_scaling ?? { rope_type: 'default' }), rope_theta: c.rope_theta }
        : { rope_type: 'default', rope_theta: c.rope_local_base_freq };
    return { kind, rope };
  });
}

t.test('configs: the families, shapes and choices the fixtures are meant to cover', async (t) => {
  const q = readJson('models', QWEN3, 'config.json');
  t.match(q, {
    model_type: 'qwen3',
    architectures: ['Qwen3ForCausalLM'],
    dtype: 'bfloat16',
    tie_word_embeddings: true,
    attention_bias: false,
    use_sliding_window: false,
    rope_parameters: { rope_type: 'default' },
  });
  t.not(q.head_dim, q.hidden_size / q.num_attention_heads, 'qwen3: explicit head_dim differs from hidden/heads');
  t.equal(q.num_attention_heads / q.num_key_value_heads, 2, 'qwen3: GQA');

  const g = readJson('models', GEMMA3, 'config.json');
  t.match(g, {
    model_type: 'gemma3_text',
    architectures: ['Gemma3ForCausalLM'],
    dtype: 'float32',
    tie_word_embeddings: true,
    hidden_activation: 'gelu_pytorch_tanh',
    final_logit_softcapping: null,
    attn_logit_softcapping: null,
    use_bidirectional_attention: false,
  });
  t.same(g.layer_types, ['sliding_attention', 'sliding_attention', 'full_attention']);
  t.equal(g.layer_types.length, g.num_hidden_layers);
  t.not(g.query_pre_attn_scalar, g.head_dim, 'gemma: query_pre_attn_scalar differs from head_dim');
  t.same(g.rope_parameters, {
    sliding_attention: { rope_type: 'default', rope_theta: 10000 },
    full_attention: { rope_type: 'linear', factor: 2, rope_theta: 1000000 },
  });
  t.equal(g.sliding_window, 5);
});

t.test('gemma3-legacy-config: the transformers-4.5x keys give the same per-layer values', async (t) => {
  const g = readJson('models', GEMMA3, 'config.json');
  const old = readJson('models', 'gemma3-legacy-config', 'config.json');
  for (const k of ['layer_types', 'rope_parameters', 'dtype', '_sliding_window_pattern']) t.notOk(k in old, `legacy config has no ${k}`);
  t.same(perLayerLegacy(old), perLayerNew(g));
  const shared = Object.keys(g).filter(
    (k) => !['layer_types', 'rope_parameters', 'dtype', 'transformers_version', 'use_bidirectional_attention', '_sliding_window_pattern'].includes(k),
  );
  for (const k of shared) t.same(old[k], g[k], `legacy ${k} equals the saved config's`);
});

for (const name of [QWEN3, GEMMA3]) {
  t.test(`${name}: checkpoint tensors match config.json`, async (t) => {
    const c = readJson('models', name, 'config.json');
    const header = safetensorsHeader(join(FIXTURES, 'models', name, 'model.safetensors'));
    const want = expectedTensors(c);
    t.same(Object.keys(header).sort(), Object.keys(want).sort(), 'tensor names (tied: no lm_head)');
    for (const [k, shape] of Object.entries(want)) t.same(header[k]?.shape, shape, k);
    t.ok(
      Object.values(header).every((h) => h.dtype === (c.dtype === 'float32' ? 'F32' : 'BF16')),
      'file dtype',
    );
  });

  t.test(`${name}: expected logits and greedy ids`, async (t) => {
    const c = readJson('models', name, 'config.json');
    const e = readJson('expected', `${name}.json`);
    const window = c.sliding_window ?? 5;
    t.match(e, { model: name, model_dir: `models/${name}`, compute_dtype: 'float32', attn_implementation: 'eager', config_vocab_size: c.vocab_size });
    t.ok(e.prompts.length >= 2, 'at least two prompts (batched greedy mixes lengths)');
    for (const p of e.prompts) {
      const T = p.prompt_token_ids.length;
      t.ok(T >= 16 && T >= 3 * window, `${p.name}: ${T} tokens, >= 3x the window`);
      t.same(p.logits_shape, [T, c.vocab_size]);
      t.equal(p.logits.length, T * c.vocab_size);
      t.ok(p.logits.every(Number.isFinite), 'finite logits');
      t.equal(p.greedy_token_ids.length, e.generation.max_new_tokens, 'no EOS stop: every greedy id is compared');
      t.ok(p.greedy_min_margin >= 1e-2, 'greedy is unambiguous');
      t.ok(p.greedy_token_ids.every((id: number) => id >= 0 && id < e.tokenizer_size));
    }
  });

  t.test(`${name}: LoRA grads.json, init-adapter and merged_logits.json agree`, async (t) => {
    const c = readJson('models', name, 'config.json');
    const gr = readJson('finetune', name, 'grads.json');
    const cfg = readJson('finetune', name, 'init-adapter', 'adapter_config.json');
    const { r } = gr.lora;
    t.match(cfg, {
      peft_type: 'LORA',
      task_type: 'CAUSAL_LM',
      r: 4,
      lora_alpha: 8,
      lora_dropout: 0,
      bias: 'none',
      base_model_name_or_path: `test/fixtures/models/${name}`,
    });
    t.same(cfg.target_modules, TARGETS);
    t.same(gr.lora.target_modules, TARGETS);
    t.equal(gr.lora.scaling, cfg.lora_alpha / cfg.r);

    const shapes = moduleShapes(c);
    const want: Record<string, number[]> = {};
    for (let i = 0; i < c.num_hidden_layers; i++) {
      for (const m of TARGETS) {
        const [out, inp] = shapes[m];
        want[`base_model.model.model.layers.${i}.${blockOf(m)}.${m}.lora_A.weight`] = [r, inp];
        want[`base_model.model.model.layers.${i}.${blockOf(m)}.${m}.lora_B.weight`] = [out, r];
      }
    }
    t.same(Object.keys(gr.grads).sort(), Object.keys(want).sort(), 'one gradient per LoRA tensor');
    t.same([...gr.keys].sort(), Object.keys(want).sort());
    for (const [k, shape] of Object.entries(want)) {
      t.same(gr.grads[k].shape, shape, k);
      t.equal(gr.grads[k].values.length, shape[0] * shape[1], `${k} values`);
      t.ok(
        gr.grads[k].values.some((v: number) => v !== 0),
        `${k} has a nonzero gradient`,
      );
    }
    const header = safetensorsHeader(join(FIXTURES, 'finetune', name, 'init-adapter', 'adapter_model.safetensors'));
    t.same(Object.keys(header).sort(), Object.keys(want).sort(), 'adapter file keys = grads keys');
    for (const [k, shape] of Object.entries(want)) t.same([header[k]?.dtype, header[k]?.shape], ['F32', shape], k);

    t.equal(gr.samples.length, 4);
    t.equal(gr.losses.length, 4);
    t.ok(Math.abs(gr.loss - gr.losses.reduce((a: number, b: number) => a + b, 0) / 4) < 1e-9, 'loss = mean of losses');
    const window = c.sliding_window ?? 5;
    const positions = new Set<number>();
    for (const [i, s] of gr.samples.entries()) {
      const n = s.input_ids.length;
      t.ok(n >= 12 && n <= 20 && n > window, `sample ${i}: length ${n}`);
      t.ok(Number.isInteger(s.loss_position) && s.loss_position >= 0 && s.loss_position < n, `sample ${i}: loss_position`);
      positions.add(s.loss_position === n - 1 ? -1 : s.loss_position);
      t.equal(new Set(s.label_ids).size, s.label_ids.length, 'distinct label ids');
      t.ok(s.label_ids.length >= 1 && s.label_ids.length <= 4);
      t.equal(s.label_weights.length, s.label_ids.length);
      t.equal(
        s.label_weights.reduce((a: number, b: number) => a + b, 0),
        1,
        'weights sum to exactly 1',
      );
      t.ok([...s.input_ids, ...s.label_ids].every((id: number) => id >= 0 && id < c.vocab_size));
      t.equal(s.loss, gr.losses[i]);
    }
    t.ok(positions.size > 1, 'the loss position is not always the last');

    const ml = readJson('finetune', name, 'merged_logits.json');
    t.equal(ml.prompts.length, 2);
    for (const p of ml.prompts) {
      t.same(p.input_ids, gr.samples[p.sample_index].input_ids, 'merged-logits prompts are grads samples');
      t.equal(p.loss_position, p.input_ids.length - 1);
      for (const k of ['base_logits', 'adapter_logits', 'merged_logits']) t.equal(p[k].length, c.vocab_size, k);
      t.ok(
        p.adapter_logits.every((a: number, j: number) => Math.abs(a - p.merged_logits[j]) <= 1e-4 + 1e-4 * Math.abs(a)),
        'adapter ≈ merged',
      );
      t.ok(
        p.adapter_logits.some((a: number, j: number) => Math.abs(a - p.base_logits[j]) > 1e-2),
        'the adapter changes the logits',
      );
    }
  });
}
