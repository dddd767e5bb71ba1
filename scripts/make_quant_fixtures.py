#!/usr/bin/env python3
"""Golden files for the quantizers (runtime/quant) and GGUF export (runtime/gguf), from llama.cpp's own
Python package `gguf` (gguf-py). Tests never run Python; they read what this writes:

  test/fixtures/quant/cases.json   inputs (f32/f16/bf16 row-major) + the bytes of
                                   gguf.quants.quantize(x, Q8_0 / Q4_0) + gguf.quants.dequantize of them
  test/fixtures/quant/gguf.json    for each fixture model and export type: every tensor GGUF export must
                                   write (llama.cpp name, ggml type, ggml shape, sha-256 of its bytes),
                                   computed here independently from the safetensors (llama.cpp
                                   converter's q/k permutation, gguf.quants for the blocks), the
                                   metadata values llama.cpp reads, and the sha-256 of OUR exported file
                                   after gguf's GGUFReader read it back and every tensor and key matched.

Run from the repository root (needs node_modules; ~1 min):
    /work/venv-ref/bin/python scripts/make_quant_fixtures.py
Deterministic: a fixed seed, no network.
"""
from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from gguf import GGMLQuantizationType as Q
from gguf import GGUFReader
from gguf.quants import dequantize, quantize
from safetensors import safe_open

ROOT = Path(__file__).resolve().parent.parent
FIX = ROOT / "test" / "fixtures"
OUT = FIX / "quant"
MODELS = ["llama-gqa-tied-f32", "llama-untied-bf16-llama3rope", "qwen2-bias-f16", "qwen2-tied-bf16"]
TYPES = ["f32", "f16", "q8_0", "q4_0"]
QTYPE = {"q8_0": Q.Q8_0, "q4_0": Q.Q4_0}

b64 = lambda b: base64.b64encode(bytes(b)).decode()
sha = lambda b: hashlib.sha256(bytes(b)).hexdigest()


# ---- quantizer cases ---------------------------------------------------------------------------

def to_bytes(x: np.ndarray, dtype: str) -> bytes:
    t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    if dtype == "f32":
        return t.numpy().tobytes()
    if dtype == "f16":
        return t.to(torch.float16).view(torch.int16).numpy().tobytes()
    return t.to(torch.bfloat16).view(torch.int16).numpy().tobytes()


def from_bytes(b: bytes, dtype: str, shape) -> np.ndarray:
    if dtype == "f32":
        return np.frombuffer(b, dtype=np.float32).reshape(shape)
    if dtype == "f16":
        return np.frombuffer(b, dtype=np.float16).astype(np.float32).reshape(shape)
    bits = torch.from_numpy(np.frombuffer(b, dtype=np.int16).copy())
    return bits.view(torch.bfloat16).to(torch.float32).numpy().reshape(shape)


def q8_product_ties() -> np.ndarray:
    """Blocks whose values x give x·id (id = 1/d in f32) exactly k + 0.5 once the product is rounded
    to f32 but not in exact arithmetic, so Q8_0's rounding of the product to f32 decides q."""
    rows = []
    for amax in (100.0, 77.7, 3.3):
        d = np.float32(np.float32(amax) / np.float32(127))
        inv = np.float32(1) / d
        row = [np.float32(amax)]
        k = -15
        while len(row) < 32:
            half = np.float32(k + 0.5)
            x = np.float32(half / inv)
            for _ in range(8):  # walk a few ulps around the quotient for an x that ties only in f32
                if np.float32(x * inv) == half and float(x) * float(inv) != float(half):
                    row.append(x)
                    break
                x = np.nextafter(x, np.float32(1e9))
            k = k + 1 if k < 60 else -15
        rows.append(row)
    return np.array(rows, np.float32)


def quant_cases() -> list[dict]:
    rng = np.random.default_rng(3030)
    cases: list[tuple[str, str, np.ndarray]] = []
    z = np.zeros((3, 64), np.float32)
    z[2, 40] = 0.25  # one nonzero block after all-zero ones
    cases.append(("all-zero blocks", "f32", z))
    tiny = np.concatenate([rng.standard_normal((2, 32)) * 1e-8, rng.standard_normal((2, 32)) * 3e-6]).astype(np.float32)
    cases.append(("tiny values (f16 scale underflows / subnormal)", "f32", tiny))
    ties = rng.uniform(-1, 1, (4, 32)).astype(np.float32)
    ties[0, 3], ties[0, 20] = 2.0, -2.0   # +max first
    ties[1, 5], ties[1, 9] = -2.0, 2.0    # -max first
    ties[2, :] = 1.5                      # every value the max
    ties[3, ::2], ties[3, 1::2] = -0.75, 0.75
    cases.append(("±max ties (first of equal magnitudes sets the Q4_0 sign)", "f32", ties))
    # Q8_0: amax 127 → d = 1, so x·(1/d) = x and k + 0.5 lands exactly on a half. Q4_0: max -8 → d = 1,
    # so x + 8.5 is an exact integer for x = k + 0.5.
    halves8 = np.array([[127.0] + [k + 0.5 for k in range(-16, 15)]], np.float32)
    halves8 = np.concatenate([halves8, -halves8])
    halves4 = np.array([[-8.0] + [((k % 16) - 8) + 0.5 for k in range(31)]], np.float32)
    cases.append(("exact .5 cases (Q8_0 d = 1)", "f32", halves8))
    cases.append(("exact .5 cases (Q4_0 d = 1)", "f32", halves4))
    # Just below k + 0.5: x·id + 8.5 rounds up to an integer in f32 but not in f64, so these pin the
    # f32 rounding of the add before Q4_0's truncation.
    below = np.array([[-8.0] + [np.nextafter(np.float32(((k % 15) - 7) + 0.5), np.float32(-100)) for k in range(31)]], np.float32)
    cases.append(("just below .5 (f32 rounding before Q4_0 truncation)", "f32", below))
    cases.append(("x·(1/d) on a .5 only after f32 rounding (Q8_0)", "f32", q8_product_ties()))
    cases.append(("normal, mixed scales", "f32", (rng.standard_normal((4, 96)) * np.array([[1e-3], [0.1], [3.0], [250.0]])).astype(np.float32)))
    cases.append(("f16 input", "f16", (rng.standard_normal((3, 64)) * 0.05).astype(np.float32)))
    cases.append(("bf16 input", "bf16", (rng.standard_normal((3, 64)) * 2.0).astype(np.float32)))
    out = []
    for name, dtype, x in cases:
        raw = to_bytes(x, dtype)
        out.append(case_entry(name, dtype, list(x.shape), raw, {"input_b64": b64(raw)}))
    # Real weights, read by the test from the fixture models (not copied here).
    for model, tensor in [("llama-gqa-tied-f32", "model.layers.0.self_attn.q_proj.weight"), ("qwen2-bias-f16", "model.layers.1.mlp.up_proj.weight")]:
        with safe_open(FIX / "models" / model / "model.safetensors", "pt") as f:
            t = f.get_tensor(tensor)
        dtype = {torch.float32: "f32", torch.float16: "f16", torch.bfloat16: "bf16"}[t.dtype]
        raw = to_bytes(t.to(torch.float32).numpy(), dtype)
        out.append(case_entry(f"{model} {tensor}", dtype, list(t.shape), raw, {"source": {"model": model, "tensor": tensor}}))
    return out


def case_entry(name: str, dtype: str, shape: list[int], raw: bytes, src: dict) -> dict:
    x = from_bytes(raw, dtype, shape)
    e = {"name": name, "dtype": dtype, "shape": shape, **src}
    for q, qt in QTYPE.items():
        qb = quantize(x, qt)
        e[f"{q}_b64"] = b64(qb.tobytes())
        e[f"{q}_dequant_b64"] = b64(dequantize(qb, qt).astype(np.float32).tobytes())
    return e


# ---- GGUF expectations -------------------------------------------------------------------------

LAYER = {"input_layernorm": "attn_norm", "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
         "self_attn.o_proj": "attn_output", "post_attention_layernorm": "ffn_norm", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down"}
GLOBAL = {"model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight", "lm_head.weight": "output.weight"}
PROJ = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
GGML = {"f32": 0, "f16": 1, "q4_0": 2, "q8_0": 8, "bf16": 30}


def gguf_name(n: str) -> str:
    if n in GLOBAL:
        return GLOBAL[n]
    parts = n.split(".")  # model.layers.N.<part…>.weight|bias
    return f"blk.{parts[2]}.{LAYER['.'.join(parts[3:-1])]}.{parts[-1]}"


def permute(w: torch.Tensor, n_head: int) -> torch.Tensor:
    # convert_hf_to_gguf.py LlamaModel.permute: each head's rows [2, d/2] → [d/2, 2].
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def load_tensors(model_dir: Path) -> dict[str, torch.Tensor]:
    out = {}
    for f in sorted(model_dir.glob("*.safetensors")):
        with safe_open(f, "pt") as sf:
            for k in sf.keys():
                out[k] = sf.get_tensor(k)
    return out


def expected_tensors(model: str, typ: str) -> dict:
    d = FIX / "models" / model
    cfg = json.loads((d / "config.json").read_text())
    arch = cfg["model_type"]
    heads, kv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    out = {}
    for name, t in load_tensors(d).items():
        if name == "lm_head.weight" and cfg.get("tie_word_embeddings"):
            continue
        src = {torch.float32: "f32", torch.float16: "f16", torch.bfloat16: "bf16"}[t.dtype]
        if arch == "llama" and (name.endswith("q_proj.weight") or name.endswith("q_proj.bias")):
            t = permute(t, heads)
        if arch == "llama" and (name.endswith("k_proj.weight") or name.endswith("k_proj.bias")):
            t = permute(t, kv)
        x = t.to(torch.float32).numpy()
        if t.dim() < 2:
            stored = "f32"
        elif typ in ("f32", "f16"):
            stored = typ
        else:
            is_proj = name.startswith("model.layers.") and name.endswith(".weight") and name.split(".")[-2] in PROJ
            stored = typ if (is_proj and t.shape[1] % 32 == 0) else src
        if stored == "f32":
            data = x.astype(np.float32).tobytes()
        elif stored == "f16":
            data = quantize(x, Q.F16).tobytes()
        elif stored == "bf16":
            data = t.contiguous().view(torch.int16).numpy().tobytes()  # kept as stored
        else:
            data = quantize(x, QTYPE[stored]).tobytes()
        out[gguf_name(name)] = {"type": GGML[stored], "shape": list(reversed(list(t.shape))), "sha256": sha(data)}
    return out


def expected_metadata(model: str, typ: str) -> dict:
    d = FIX / "models" / model
    cfg = json.loads((d / "config.json").read_text())
    arch = cfg["model_type"]
    rope = cfg.get("rope_parameters") or {}
    m = {
        "general.architecture": arch,
        "general.file_type": {"f32": 0, "f16": 1, "q4_0": 2, "q8_0": 7}[typ],
        f"{arch}.block_count": cfg["num_hidden_layers"],
        f"{arch}.context_length": cfg["max_position_embeddings"],
        f"{arch}.embedding_length": cfg["hidden_size"],
        f"{arch}.feed_forward_length": cfg["intermediate_size"],
        f"{arch}.attention.head_count": cfg["num_attention_heads"],
        f"{arch}.attention.head_count_kv": cfg["num_key_value_heads"],
        f"{arch}.rope.freq_base": float(np.float32(rope["rope_theta"])),
        f"{arch}.attention.layer_norm_rms_epsilon": float(np.float32(cfg["rms_norm_eps"])),
        "tokenizer.ggml.model": "gpt2",
        # The pre-tokenizer llama.cpp implements with the same split rules: smol = Digits(individual)
        # + ByteLevel regex = llama.cpp "smollm"; qwen = the Qwen2 Split regex = "qwen2".
        "tokenizer.ggml.pre": "smollm" if arch == "llama" else "qwen2",
    }
    hd = cfg.get("head_dim") or cfg["hidden_size"] // cfg["num_attention_heads"]
    if hd * cfg["num_attention_heads"] != cfg["hidden_size"]:
        m[f"{arch}.attention.key_length"] = hd
        m[f"{arch}.attention.value_length"] = hd
    if arch == "llama":
        m["llama.rope.dimension_count"] = hd
        m["llama.vocab_size"] = cfg["vocab_size"]
    tok = json.loads((d / "tokenizer.json").read_text())
    vocab = {**tok["model"]["vocab"], **{a["content"]: a["id"] for a in tok["added_tokens"]}}
    m["n_tokens"] = cfg["vocab_size"]
    m["n_merges"] = len(tok["model"]["merges"])
    tcfg = json.loads((d / "tokenizer_config.json").read_text())
    for typ_ in ("bos", "eos", "unk", "pad"):
        content = tcfg.get(f"{typ_}_token")
        content = content.get("content") if isinstance(content, dict) else content
        added = {a["content"]: a["id"] for a in tok["added_tokens"]}
        tid = added.get(content) if content else None
        if tid is None and isinstance(cfg.get(f"{typ_}_token_id"), int):
            tid = cfg[f"{typ_}_token_id"]
        if tid is not None:
            m[f"tokenizer.ggml.{typ_}_token_id"] = tid
    m["tokenizer.ggml.add_bos_token"] = bool(tcfg.get("add_bos_token", False))
    assert len(vocab) <= cfg["vocab_size"]
    return m


def llama3_rope_factors(model: str) -> list[float] | None:
    cfg = json.loads((FIX / "models" / model / "config.json").read_text())
    r = cfg.get("rope_parameters") or {}
    if r.get("rope_type") != "llama3":
        return None
    # As convert_hf_to_gguf.py LlamaModel.generate_extra_tensors (f32 frequencies).
    base, dim = r["rope_theta"], cfg.get("head_dim") or cfg["hidden_size"] // cfg["num_attention_heads"]
    freqs = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.float32) / dim))
    f, lo, hi, old = r["factor"], r["low_freq_factor"], r["high_freq_factor"], r["original_max_position_embeddings"]
    out = []
    for freq in freqs.tolist():
        wavelen = 2 * np.pi / freq
        if wavelen < old / hi:
            out.append(1.0)
        elif wavelen > old / lo:
            out.append(float(f))
        else:
            s = (old / wavelen - lo) / (hi - lo)
            out.append(1 / ((1 - s) / f + s))
    return [float(np.float32(v)) for v in out]


EXPORT_ALL = """
import { nodePlatform } from './runtime/platform/node.ts';
import { exportGguf } from './runtime/gguf/export.ts';
const [dir, ...jobs] = process.argv.slice(2);
for (const job of jobs) {
  const [model, type] = job.split(':');
  await exportGguf(nodePlatform.fs, `test/fixtures/models/${model}`, `${dir}/${model}-${type}.gguf`, { type: type as 'f32' });
}
"""


def export_ours(tmp: Path) -> None:
    script = ROOT / f".export-gguf-fixtures-{tmp.name}.ts"
    script.write_text(EXPORT_ALL)
    try:
        jobs = [f"{m}:{t}" for m in MODELS for t in TYPES]
        subprocess.run(["node", "--import=@tapjs/typescript/import", str(script), str(tmp), *jobs], cwd=ROOT, check=True)
    finally:
        script.unlink()


def field_value(r: GGUFReader, key: str):
    f = r.fields[key]
    return f.contents()


def check_with_reader(path: Path, tensors: dict, meta: dict, factors) -> None:
    r = GGUFReader(path)
    got = {t.name: t for t in r.tensors}
    want = set(tensors) | ({"rope_freqs.weight"} if factors else set())
    assert set(got) == want, (path.name, sorted(set(got) ^ want))
    for name, e in tensors.items():
        t = got[name]
        assert int(t.tensor_type) == e["type"], (path.name, name, t.tensor_type, e["type"])
        assert [int(x) for x in t.shape] == e["shape"], (path.name, name, list(t.shape), e["shape"])
        assert sha(t.data.tobytes()) == e["sha256"], (path.name, name, "tensor bytes differ")
    if factors:
        np.testing.assert_allclose(got["rope_freqs.weight"].data, factors, rtol=1e-6)
    for k, v in meta.items():
        if k == "n_tokens":
            assert len(field_value(r, "tokenizer.ggml.tokens")) == v == len(field_value(r, "tokenizer.ggml.token_type"))
        elif k == "n_merges":
            assert len(field_value(r, "tokenizer.ggml.merges")) == v
        else:
            got_v = field_value(r, k)
            assert got_v == v, (path.name, k, got_v, v)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "cases.json").write_text(json.dumps({"gguf_py": "gguf.quants", "cases": quant_cases()}, indent=1) + "\n")
    result = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        export_ours(tmp)
        for m in MODELS:
            factors = llama3_rope_factors(m)
            for t in TYPES:
                tensors, meta = expected_tensors(m, t), expected_metadata(m, t)
                path = tmp / f"{m}-{t}.gguf"
                check_with_reader(path, tensors, meta, factors)
                result[f"{m}:{t}"] = {"model": m, "type": t, "tensors": tensors, "metadata": meta, "rope_freqs": factors,
                                      "verified_file_sha256": sha(path.read_bytes()), "verified_file_bytes": path.stat().st_size}
                print(f"{m} {t}: {len(tensors)} tensors match gguf-py, file read back by GGUFReader", file=sys.stderr)
    (OUT / "gguf.json").write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
