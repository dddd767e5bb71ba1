// The bytes of the adapter we write, checked against PEFT's format with no Node API: the files
// go through an in-memory FileSystem (the same code path a browser or Deno host uses), and the
// safetensors header is parsed here by hand rather than with our own reader.
import t from 'tap';
import { ReferenceBackend } from '../runtime/backend/reference.ts';
import { parseConfig } from '../runtime/model/config.ts';
import { randomModel } from '../tooling/random-model.ts';
import type { FileSystem } from '../runtime/platform/types.ts';
import { type LoraTarget, peftKeys } from '../runtime/train/lora.ts';
import { loadAdapter, saveAdapter, targetShape, uploadAdapter } from '../runtime/train/peft.ts';

/** A whole FileSystem in a Map (directories are implied by their files' paths). */
function memoryFs(): FileSystem & { files: Map<string, Uint8Array> } {
  const files = new Map<string, Uint8Array>();
  const dirs = new Set<string>();
  const enc = (d: Uint8Array | string) => (typeof d === 'string' ? new TextEncoder().encode(d) : d.slice());
  const get = (p: string) => {
    const f = files.get(p);
    if (!f) throw Object.assign(new Error(`ENOENT ${p}`), { code: 'ENOENT' });
    return f;
  };
  return {
    files,
    readText: async (p) => new TextDecoder().decode(get(p)),
    readBytes: async (p, off, len) => {
      const f = get(p);
      return off === undefined ? f.slice() : f.slice(off, len === undefined ? undefined : off + len);
    },
    size: async (p) => get(p).byteLength,
    exists: async (p) => files.has(p) || dirs.has(p),
    join: (...parts) => parts.join('/'),
    writeFileAtomic: async (p, d) => void files.set(p, enc(d)),
    appendFile: async (p, d) => {
      const old = files.get(p) ?? new Uint8Array(0);
      const add = enc(d);
      const n = new Uint8Array(old.byteLength + add.byteLength);
      n.set(old);
      n.set(add, old.byteLength);
      files.set(p, n);
    },
    mkdir: async (p) => void dirs.add(p),
    rename: async (from, to) => {
      for (const [k, v] of [...files])
        if (k.startsWith(`${from}/`)) {
          files.delete(k);
          files.set(to + k.slice(from.length), v);
        }
      if (dirs.delete(from)) dirs.add(to);
    },
    rm: async (p) => {
      for (const k of [...files.keys()]) if (k === p || k.startsWith(`${p}/`)) files.delete(k);
      dirs.delete(p);
    },
  };
}

t.test('adapter_model.safetensors: metadata {"format":"pt"}, PEFT key names and shapes, F32 little-endian', async (t) => {
  const config = parseConfig(
    {
      architectures: ['LlamaForCausalLM'],
      model_type: 'llama',
      hidden_size: 32,
      intermediate_size: 48,
      num_hidden_layers: 3,
      num_attention_heads: 4,
      num_key_value_heads: 2,
      head_dim: 8,
      vocab_size: 50,
      max_position_embeddings: 64,
      rms_norm_eps: 1e-5,
      rope_theta: 10000,
      tie_word_embeddings: true,
      eos_token_id: 0,
    },
    'config.json',
  );
  const model = randomModel(config, new ReferenceBackend(), 'f32');
  const targets: LoraTarget[] = ['q_proj', 'k_proj', 'o_proj', 'up_proj', 'down_proj'];
  const r = 3;
  const layers = [];
  let v = 0;
  for (let l = 0; l < config.layers; l++) {
    const pairs: Record<string, { a: Float32Array; b: Float32Array }> = {};
    for (const tg of targets) {
      const [out, inp] = targetShape(config, tg);
      pairs[tg] = { a: Float32Array.from({ length: r * inp }, () => (v++ % 97) / 7 - 5), b: Float32Array.from({ length: out * r }, () => (v++ % 89) / 11 - 4) };
    }
    layers.push(pairs);
  }
  const host = { config: { r, alpha: 6, dropout: 0.1, targetModules: targets }, scaling: 2, layers };
  const fs = memoryFs();
  await saveAdapter(fs, 'out/adapter', uploadAdapter(host, model.backend, config), model, { baseModelNameOrPath: 'org/base' });
  t.same([...fs.files.keys()].sort(), ['out/adapter/adapter_config.json', 'out/adapter/adapter_model.safetensors'], 'exactly the two PEFT files, no temp left');

  const bytes = fs.files.get('out/adapter/adapter_model.safetensors')!;
  const view = new DataView(bytes.buffer, bytes.byteOffset);
  const n = Number(view.getBigUint64(0, true));
  t.equal((8 + n) % 8, 0, 'data section 8-byte aligned');
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
  t.same(header.__metadata__, { format: 'pt' });
  const expected: Record<string, number[]> = {};
  const mods: Record<string, string> = { q_proj: 'self_attn', k_proj: 'self_attn', o_proj: 'self_attn', up_proj: 'mlp', down_proj: 'mlp' };
  const dims: Record<string, [number, number]> = { q_proj: [32, 32], k_proj: [16, 32], o_proj: [32, 32], up_proj: [48, 32], down_proj: [32, 48] };
  for (let l = 0; l < 3; l++) {
    for (const tg of targets) {
      const base = `base_model.model.model.layers.${l}.${mods[tg]}.${tg}`;
      expected[`${base}.lora_A.weight`] = [r, dims[tg][1]];
      expected[`${base}.lora_B.weight`] = [dims[tg][0], r];
      t.same(peftKeys(l, tg), { a: `${base}.lora_A.weight`, b: `${base}.lora_B.weight` });
    }
  }
  const keys = Object.keys(header).filter((k) => k !== '__metadata__');
  t.same(keys.sort(), Object.keys(expected).sort(), 'exactly the PEFT keys');
  let ok = true;
  for (const k of keys) {
    const e = header[k];
    ok &&=
      e.dtype === 'F32' &&
      JSON.stringify(e.shape) === JSON.stringify(expected[k]) &&
      e.data_offsets[1] - e.data_offsets[0] === 4 * expected[k][0] * expected[k][1];
  }
  t.ok(ok, "every tensor F32 with PEFT's shape: A [r, in], B [out, r]");
  // The values, little-endian f32 row-major, straight from the bytes.
  const e = header['base_model.model.model.layers.2.mlp.down_proj.lora_B.weight'];
  const start = 8 + n + e.data_offsets[0];
  const got = Array.from({ length: 32 * r }, (_, i) => view.getFloat32(start + 4 * i, true));
  t.same(got, Array.from(layers[2].down_proj.b), 'B of layer 2 down_proj, bit for bit');

  const cfg = JSON.parse(await fs.readText('out/adapter/adapter_config.json'));
  t.match(cfg, {
    peft_type: 'LORA',
    task_type: 'CAUSAL_LM',
    r: 3,
    lora_alpha: 6,
    lora_dropout: 0.1,
    bias: 'none',
    base_model_name_or_path: 'org/base',
    use_rslora: false,
    use_dora: false,
    fan_in_fan_out: false,
  });
  t.same(cfg.target_modules, targets);

  const back = await loadAdapter(fs, 'out/adapter', model);
  t.same(
    Array.from((await model.backend.read(back.layers[1].up_proj!.a)) as Float32Array),
    Array.from(layers[1].up_proj.a),
    'loads back through the same FileSystem',
  );
});
