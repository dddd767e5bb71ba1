// runtime/quant against llama.cpp's own Python quantizer: for every committed case
// (test/fixtures/quant/cases.json, written by scripts/make_quant_fixtures.py from
// gguf.quants.quantize / dequantize), the Q8_0 and Q4_0 bytes are equal bit for bit and the
// dequantized values are equal bit for bit. Plus the policy of which weights get quantized.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readSafetensorsHeader, readTensorBytes } from '../runtime/io/safetensors.ts';
import { nodePlatform } from '../runtime/platform/node.ts';
import { dequantize, quantizationPolicy, quantize, quantizeQ4_0, quantizeQ8_0, type SourceDType, typeBytes } from '../runtime/quant/index.ts';
import { FIXTURES } from './helpers/cli.ts';

interface Case {
  name: string;
  dtype: SourceDType;
  shape: number[];
  input_b64?: string;
  source?: { model: string; tensor: string };
  q8_0_b64: string;
  q4_0_b64: string;
  q8_0_dequant_b64: string;
  q4_0_dequant_b64: string;
}

const { cases } = JSON.parse(readFileSync(join(FIXTURES, 'quant', 'cases.json'), 'utf8')) as { cases: Case[] };
const b64 = (s: string) => new Uint8Array(Buffer.from(s, 'base64'));

/** Index of the first differing byte, or -1. */
function firstDiff(a: Uint8Array, b: Uint8Array): number {
  if (a.byteLength !== b.byteLength) return Math.min(a.byteLength, b.byteLength);
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return i;
  return -1;
}

async function input(c: Case): Promise<Uint8Array> {
  if (c.input_b64) return b64(c.input_b64);
  const fs = nodePlatform.fs;
  const header = await readSafetensorsHeader(fs, join(FIXTURES, 'models', c.source!.model, 'model.safetensors'));
  return readTensorBytes(fs, header.tensors.get(c.source!.tensor)!);
}

t.test('Q8_0 / Q4_0 bytes and dequantized values equal gguf.quants', async (t) => {
  t.ok(cases.length >= 10, `${cases.length} cases`);
  for (const c of cases) {
    const bytes = await input(c);
    const count = c.shape.reduce((a, b) => a * b, 1);
    for (const q of ['q8_0', 'q4_0'] as const) {
      const got = quantize(q, c.dtype, bytes, c.shape[c.shape.length - 1]);
      const want = b64(c[`${q}_b64`]);
      t.equal(got.byteLength, typeBytes(q, count), `${c.name}: ${q} size`);
      const d = firstDiff(got, want);
      t.equal(
        d,
        -1,
        `${c.name}: ${q} bytes equal gguf.quants${d >= 0 ? ` (first difference at byte ${d}, block ${Math.floor(d / (q === 'q8_0' ? 34 : 18))})` : ''}`,
      );
      const deq = new Uint8Array(dequantize(q, want, count).buffer);
      t.equal(firstDiff(deq, b64(c[`${q}_dequant_b64`])), -1, `${c.name}: ${q} dequantized values equal gguf.quants.dequantize`);
    }
  }
});

t.test('which weights are quantized', async (t) => {
  const p = (name: string, shape: number[]) => quantizationPolicy(name, shape);
  for (const m of ['self_attn.q_proj', 'self_attn.k_proj', 'self_attn.v_proj', 'self_attn.o_proj', 'mlp.gate_proj', 'mlp.up_proj', 'mlp.down_proj']) {
    t.ok(p(`model.layers.3.${m}.weight`, [128, 64]), `${m} with rows of 64`);
    t.notOk(p(`model.layers.3.${m}.weight`, [128, 48]), `${m} with rows of 48 stays (not a multiple of 32)`);
    t.notOk(p(`model.layers.3.${m}.bias`, [128]), `${m} bias stays`);
  }
  for (const name of [
    'model.embed_tokens.weight',
    'lm_head.weight',
    'model.norm.weight',
    'model.layers.0.input_layernorm.weight',
    'model.layers.0.post_attention_layernorm.weight',
  ]) {
    t.notOk(p(name, [64, 64]), `${name} stays`);
  }
});

t.test('bad input is refused, not quantized into garbage', async (t) => {
  const x = new Float32Array(32).fill(1);
  x[7] = NaN;
  t.throws(() => quantizeQ8_0(x), /non-finite/);
  x[7] = Infinity;
  t.throws(() => quantizeQ4_0(x), /non-finite/);
  t.throws(() => quantizeQ8_0(new Float32Array(40)), /multiple of 32/);
  t.throws(() => quantize('q4_0', 'f32', new Uint8Array(4 * 48), 48), /blocks of 32/);
});
