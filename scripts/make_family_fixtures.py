#!/usr/bin/env python3
"""Golden fixtures for two more model families: Qwen3 (q/k RMSNorm per head) and Gemma 3 text
(sliding-window + full layers, per-layer-type RoPE, (1 + w) RMSNorms, scaled embeddings).

Run from the repository root with the reference venv, AFTER scripts/make_fixtures.py (it copies
that script's tokenizers from test/fixtures/tokenizers):

    .venv-ref/bin/python scripts/make_family_fixtures.py

No network, no hub; deterministic (fixed seeds, one torch thread, sorted peft target_modules), so
two runs give byte-identical files; a few seconds of CPU. It rebuilds exactly these paths:

* models/qwen3-qknorm-tied-bf16/, models/gemma3-sliding-f32/: save_pretrained checkpoints
  (transformers 5.18 config.json) with the fixture tokenizers copied in.
* models/gemma3-legacy-config/config.json: the Gemma model's config in the transformers-4.5x key
  layout of real Hub checkpoints (rope_theta, rope_local_base_freq, rope_scaling,
  sliding_window_pattern; no layer_types / rope_parameters), no weights. Asserted here to load
  into the same per-layer values and the same logits.
* expected/<name>.json: the schema of scripts/make_fixtures.py (mf.compute_expected itself), with
  two shorter prompts (18 and 42 tokens, both >= 3x Gemma's sliding window of 5) to keep files small.
* finetune/<name>/{init-adapter/, grads.json, merged_logits.json}: LoRA gradient goldens on 4
  samples defined in scripts/family_lora.py (not on the sampling fixtures).

Also asserted: the sliding window matters (logits change at positions >= window, and only there,
when it is made huge), Gemma's linear RoPE factor on full layers matters, q_norm/k_norm matter,
and Gemma's (1 + w) norm offset matters. See test/fixtures/README.md ("Model families").
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_fixtures as mf  # noqa: E402  (deterministic env, one torch thread, on import)
import family_lora  # noqa: E402  (the finetune/<name>/ goldens)

import copy  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402
from transformers import (  # noqa: E402
    AutoConfig,
    AutoModelForCausalLM,
    AutoTokenizer,
    Gemma3ForCausalLM,
    Gemma3TextConfig,
    GenerationConfig,
    Qwen3Config,
    Qwen3ForCausalLM,
)

ROOT = mf.ROOT
FIXTURES = mf.FIXTURES
SLIDING_WINDOW = 5
LEGACY_DIR = mf.MODELS / "gemma3-legacy-config"

# Two prompts, shorter than mf.PROMPTS' three: every prompt position's T x V logits make up most
# of an expected file (~10 bytes each), and the two tokenizers and their templates are already
# covered by the four models of make_fixtures.py. Both are >= 3x Gemma's sliding window of 5
# (18 and 42 tokens with either tokenizer), the chat one has every role, and their lengths
# differ, so batched greedy decoding still mixes lengths.
PROMPTS = [
    {"name": "plain", "chat": False, "text": "Tom has 3 apples and buys 5 more."},
    {
        "name": "long",
        "chat": True,
        "messages": [
            {"role": "system", "content": "Think."},
            {"role": "user", "content": "6 * 7?"},
            {"role": "assistant", "content": "42."},
            {"role": "user", "content": "Less 5?"},
        ],
    },
]

SPECS = [
    {
        "name": "qwen3-qknorm-tied-bf16",
        "arch": "Qwen3ForCausalLM",
        "classes": (Qwen3Config, Qwen3ForCausalLM),
        "tokenizer": "qwen",
        "template_in_jinja": False,
        "dtype": torch.bfloat16,
        "seed": 505,
        "config": dict(
            hidden_size=64,
            intermediate_size=96,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            head_dim=24,  # != hidden/heads: q_proj 64->96, k/v 64->48, o_proj 96->64
            max_position_embeddings=1024,
            rms_norm_eps=1e-6,
            rope_parameters={"rope_type": "default", "rope_theta": 1000000.0},
            tie_word_embeddings=True,
            attention_bias=False,
            use_sliding_window=False,
        ),
        "special_ids": dict(bos_token_id="<|endoftext|>", eos_token_id="<|im_end|>"),
        "generation": dict(eos_token_id=["<|im_end|>", "<|endoftext|>"], pad_token_id="<|endoftext|>", bos_token_id="<|endoftext|>"),
        "covers": "Qwen3: per-head q_norm/k_norm RMSNorm (weights U(1, 3)) before RoPE, no q/k/v biases, "
        "explicit head_dim 24 != hidden/heads, GQA 4q/2kv, tied embeddings, BF16, qwen tokenizer + Qwen2.5 template",
    },
    {
        "name": "gemma3-sliding-f32",
        "arch": "Gemma3ForCausalLM",
        "classes": (Gemma3TextConfig, Gemma3ForCausalLM),
        "tokenizer": "smol",
        "dtype": torch.float32,
        "seed": 606,
        "config": dict(
            hidden_size=64,
            intermediate_size=96,
            num_hidden_layers=3,
            layer_types=["sliding_attention", "sliding_attention", "full_attention"],
            num_attention_heads=4,
            num_key_value_heads=1,
            head_dim=32,
            query_pre_attn_scalar=24,  # != head_dim: scores are scaled by 24^-0.5, not 32^-0.5
            sliding_window=SLIDING_WINDOW,
            hidden_activation="gelu_pytorch_tanh",
            max_position_embeddings=1024,
            rms_norm_eps=1e-6,
            rope_parameters={
                "sliding_attention": {"rope_type": "default", "rope_theta": 10000.0},
                "full_attention": {"rope_type": "linear", "factor": 2.0, "rope_theta": 1000000.0},
            },
            tie_word_embeddings=True,
            final_logit_softcapping=None,
            attn_logit_softcapping=None,
        ),
        "special_ids": dict(bos_token_id="<|im_start|>", eos_token_id="<|im_end|>", pad_token_id="<|im_end|>"),
        "generation": dict(bos_token_id="<|im_start|>", eos_token_id="<|im_end|>", pad_token_id="<|im_end|>"),
        "covers": "Gemma 3 text: sliding window 5 on layers 0-1 (prompts >= 3x longer), full attention on layer 2; "
        "RoPE per layer type (sliding: default theta 1e4; full: linear factor 2, theta 1e6); query_pre_attn_scalar 24 "
        "!= head_dim 32; MQA 4q/1kv; q_norm/k_norm; 4 norms per layer + final, all (1 + w) with w ~ N(mean, 0.5²), means 0 (pre-norms), 3 (post-norms), 1 (q/k), 2 (final); "
        "embeddings x sqrt(hidden); gelu_pytorch_tanh; tied; F32; no softcapping; smol tokenizer",
    },
]

# --------------------------------------------------------------------------------------
# checkpoints


# Gemma norm weights w ~ N(mean, 0.5²), read as (1 + w). The means keep greedy decoding from
# collapsing into repeats: Gemma multiplies the tied embedding by sqrt(hidden) = 8 at the input,
# so with all means 0 the token's own embedding dominates the residual stream and the next token
# is mostly a function of the last one (measured: 0 of 10 seeds non-degenerate). Louder
# post-sublayer norms (1 + w ≈ 4), sharper q/k norms (≈ 2) and a louder final norm (≈ 3) give
# 6 of 10. Every mean is far from -1 (w = -1 is an identity-free (1 + w) = 0) and from 0 in
# (1 + w) terms, so both "w instead of 1 + w" and "ones" are wrong by a lot.
GEMMA_NORM_MEAN = {
    "input_layernorm": 0.0,
    "pre_feedforward_layernorm": 0.0,
    "post_attention_layernorm": 3.0,
    "post_feedforward_layernorm": 3.0,
    "q_norm": 1.0,
    "k_norm": 1.0,
    "model.norm": 2.0,
}


def init_family_weights(model, spec: dict, seed: int) -> None:
    """mf.init_weights (loud matrices, norms U(0.5, 1.5)), then per family:
    Qwen3: q_norm/k_norm ×2, i.e. U(1, 3): sharper attention (with U(0.5, 1.5), 0 of 10 seeds
    gave non-degenerate greedy continuations, 7 of 10 with U(1, 3)).
    Gemma: every norm redrawn as N(GEMMA_NORM_MEAN, 0.5²) (read as 1 + w), embedding std 0.125."""
    mf.init_weights(model, seed, tied=True)
    g = torch.Generator().manual_seed(seed + 7)
    with torch.no_grad():
        for name, p in sorted(model.named_parameters(), key=lambda kv: kv[0]):
            if spec["arch"] == "Qwen3ForCausalLM" and name.endswith(("q_norm.weight", "k_norm.weight")):
                p.mul_(2.0)
            elif spec["arch"] == "Gemma3ForCausalLM" and "norm" in name:
                mean = next(v for k, v in GEMMA_NORM_MEAN.items() if k in name)
                p.copy_(mean + 0.5 * torch.randn(p.shape, generator=g))
            elif spec["arch"] == "Gemma3ForCausalLM" and "embed_tokens" in name:
                p.mul_(0.25)  # std 0.125, x sqrt(64) = 8 at the input: RMS 1


def build_model(spec: dict, retries: int = 20) -> tuple[Path, dict, int]:
    mdir = mf.MODELS / spec["name"]
    tok_src = mf.TOKDIR / spec["tokenizer"]
    tok = AutoTokenizer.from_pretrained(tok_src)
    cfg_cls, model_cls = spec["classes"]
    ckw = dict(spec["config"]) | {k: mf.resolve_ids(v, tok) for k, v in spec["special_ids"].items()}
    for attempt in range(retries):
        seed = spec["seed"] + 1000 * attempt
        if mdir.exists():
            shutil.rmtree(mdir)
        mdir.mkdir(parents=True)
        torch.manual_seed(seed)
        model = model_cls(cfg_cls(vocab_size=len(tok), **copy.deepcopy(ckw)))
        init_family_weights(model, spec, seed)
        model = model.to(spec["dtype"])
        model.config.dtype = spec["dtype"]
        model.generation_config = GenerationConfig(**{k: mf.resolve_ids(v, tok) for k, v in spec["generation"].items()})
        model.save_pretrained(mdir)
        mf.install_tokenizer(tok_src, mdir, spec.get("template_in_jinja", False))
        exp = mf.compute_expected(spec, mdir, PROMPTS)
        m = min(p["greedy_min_margin"] for p in exp["prompts"])
        degenerate = [p["name"] for p in exp["prompts"] if mf.is_degenerate(p["greedy_token_ids"])]
        if m >= mf.MIN_GREEDY_MARGIN and not degenerate:
            return mdir, exp, seed
        print(f"  {spec['name']}: seed {seed}: min greedy margin {m:.3g}, degenerate {degenerate}; reseeding", file=sys.stderr)
    raise RuntimeError(f"no seed with a clear greedy margin for {spec['name']}")


def load(mdir: Path, **overrides):
    m = AutoModelForCausalLM.from_pretrained(mdir, dtype=torch.float32, attn_implementation="eager", **overrides)
    return m.eval()


def all_logits(model, ids: list[int]) -> torch.Tensor:
    with torch.no_grad():
        return model(torch.tensor([ids])).logits[0].double()


def check_sensitivity(spec: dict, mdir: Path, ids: list[int]) -> dict:
    """Assert that each family-specific feature changes the logits (so a runtime that ignores it fails)."""
    model = load(mdir)
    ref = all_logits(model, ids)
    out = {}

    def diff(other) -> float:
        return float((all_logits(other, ids) - ref).abs().max())

    def variant(edit):
        m = copy.deepcopy(model)
        with torch.no_grad():
            for name, p in m.named_parameters():
                edit(name, p)
        return m

    ident = 0.0 if spec["arch"] == "Gemma3ForCausalLM" else 1.0  # the weight of an identity norm
    out["qk_norm_identity"] = diff(variant(lambda n, p: p.fill_(ident) if n.endswith(("q_norm.weight", "k_norm.weight")) else None))
    assert out["qk_norm_identity"] > 0.1, out
    if spec["arch"] == "Gemma3ForCausalLM":
        # Llama-style w·x instead of (1 + w)·x: shift every stored weight by -1 so (1 + w') = w.
        out["norm_without_1_plus"] = diff(variant(lambda n, p: p.sub_(1.0) if "norm" in n else None))
        assert out["norm_without_1_plus"] > 0.1, out
        W = spec["config"]["sliding_window"]
        wide = all_logits(load(mdir, sliding_window=4096), ids)
        per_pos = (wide - ref).abs().amax(dim=1)
        out["sliding_window_huge_before_window"] = float(per_pos[:W].max())
        out["sliding_window_huge_min_after_window"] = float(per_pos[W:].min())
        assert out["sliding_window_huge_before_window"] < 1e-5, per_pos  # positions < W see their whole past anyway
        assert out["sliding_window_huge_min_after_window"] > 1e-2, per_pos  # every later position sees the window
        rope = copy.deepcopy(spec["config"]["rope_parameters"])
        rope["full_attention"] = {"rope_type": "default", "rope_theta": 1000000.0}
        out["full_rope_without_linear_factor"] = diff(load(mdir, rope_parameters=rope))
        assert out["full_rope_without_linear_factor"] > 1e-2, out
        rope = copy.deepcopy(spec["config"]["rope_parameters"])
        rope["sliding_attention"]["rope_theta"] = 1000000.0
        out["sliding_rope_theta_1e6"] = diff(load(mdir, rope_parameters=rope))
        assert out["sliding_rope_theta_1e6"] > 1e-2, out
        out["query_pre_attn_scalar_as_head_dim"] = diff(load(mdir, query_pre_attn_scalar=spec["config"]["head_dim"]))
        assert out["query_pre_attn_scalar_as_head_dim"] > 1e-2, out
    return {k: float(f"{v:.4g}") for k, v in out.items()}


def float64_headroom(mdir: Path, exp: dict) -> dict:
    """The stored f32 logits against the same forward in float64: how much of the runtime's
    tolerance (|Δ| <= 1e-4 + 1e-4·|ref|, test/portable/model-parity.ts) torch's own f32 uses."""
    m = load(mdir).double()
    d, ratio = 0.0, 0.0
    for p in exp["prompts"]:
        ref = torch.tensor(p["logits"], dtype=torch.float64)
        got = all_logits(m, p["prompt_token_ids"]).reshape(-1)
        d = max(d, float((got - ref).abs().max()))
        ratio = max(ratio, float(((got - ref).abs() / (1e-4 + 1e-4 * ref.abs())).max()))
    return {"max_abs_diff": float(f"{d:.3g}"), "tolerance_used": float(f"{ratio:.3g}")}


# --------------------------------------------------------------------------------------
# legacy (transformers 4.5x) Gemma 3 config


def write_legacy_config(mdir: Path) -> dict:
    """The same model's config as Hub Gemma 3 checkpoints written by transformers 4.5x have it:
    per-layer kinds from sliding_window_pattern ((i + 1) % pattern != 0 -> sliding), the full
    layers' rope from rope_theta + rope_scaling, the sliding layers' from rope_local_base_freq."""
    new = json.loads((mdir / "config.json").read_text())
    rp, kinds = new["rope_parameters"], new["layer_types"]
    pattern = kinds.index("full_attention") + 1
    assert kinds == ["full_attention" if (i + 1) % pattern == 0 else "sliding_attention" for i in range(len(kinds))]
    full, local = rp["full_attention"], rp["sliding_attention"]
    assert local["rope_type"] == "default"
    # Dropped: the transformers-5 keys, and two that 4.50 did not write: use_bidirectional_attention
    # and 5.18's private "_sliding_window_pattern" (always the class default 6 there, whatever the
    # layer_types: a loader must never read it).
    dropped = ("rope_parameters", "layer_types", "dtype", "transformers_version", "use_bidirectional_attention", "_sliding_window_pattern")
    old = {k: v for k, v in new.items() if k not in dropped}
    old |= {
        "rope_theta": full["rope_theta"],
        "rope_local_base_freq": local["rope_theta"],
        "rope_scaling": {k: v for k, v in full.items() if k != "rope_theta"},
        "sliding_window_pattern": pattern,
        "cache_implementation": "hybrid",
        "torch_dtype": new["dtype"],
        "transformers_version": "4.50.0",
    }
    if LEGACY_DIR.exists():
        shutil.rmtree(LEGACY_DIR)
    LEGACY_DIR.mkdir(parents=True)
    (LEGACY_DIR / "config.json").write_text(json.dumps(dict(sorted(old.items())), indent=2) + "\n")
    # transformers 5.18 must read it as the same per-layer values, and the same weights must give
    # the same logits under it.
    a, b = AutoConfig.from_pretrained(LEGACY_DIR), AutoConfig.from_pretrained(mdir)
    for key in ("layer_types", "rope_parameters", "sliding_window", "query_pre_attn_scalar", "head_dim", "tie_word_embeddings"):
        assert getattr(a, key) == getattr(b, key), (key, getattr(a, key), getattr(b, key))
    ref = load(mdir)
    legacy = Gemma3ForCausalLM(a).eval()
    legacy.load_state_dict(ref.state_dict())
    legacy.config._attn_implementation = "eager"
    ids = list(range(3, 40))
    assert torch.equal(all_logits(legacy, ids), all_logits(ref, ids))
    return old


# --------------------------------------------------------------------------------------


def main() -> None:
    t0 = time.time()
    os.chdir(ROOT)
    assert (mf.TOKDIR / "smol" / "tokenizer.json").exists(), "run scripts/make_fixtures.py first (it writes the tokenizers)"
    rows = []
    for spec in SPECS:
        t1 = time.time()
        mdir, exp, seed = build_model(spec)
        cfg = json.loads((mdir / "config.json").read_text())
        assert cfg.get("final_logit_softcapping") is None and cfg.get("attn_logit_softcapping") is None
        assert all(len(p["prompt_token_ids"]) >= max(16, 3 * SLIDING_WINDOW) for p in exp["prompts"])
        exp["seed"] = seed
        exp["covers"] = spec["covers"]
        exp = {k: exp[k] for k in ["model", "covers", "seed"] + [k for k in exp if k not in ("model", "covers", "seed")]}
        mf.dump_expected(exp, mf.EXPECTED / f"{spec['name']}.json")
        AutoTokenizer.from_pretrained(mdir)
        sens = {"float64": float64_headroom(mdir, exp)} | check_sensitivity(spec, mdir, exp["prompts"][-1]["prompt_token_ids"])
        if spec["arch"] == "Gemma3ForCausalLM":
            write_legacy_config(mdir)
        ft = family_lora.build_finetune(spec, seed)
        rows.append((spec, seed, exp, sens, ft, time.time() - t1))

    for spec, seed, exp, sens, ft, dt in rows:
        name = spec["name"]
        params = sum(p.numel() for p in load(mf.MODELS / name).parameters())
        print(f"{name}: seed {seed}, {params} params, prompt T {[len(p['prompt_token_ids']) for p in exp['prompts']]}, "
              f"min greedy margin {min(p['greedy_min_margin'] for p in exp['prompts']):.3g}, {dt:.1f} s")
        print(f"  logits change (max |Δ|) when: {sens}")
        print(f"  finetune: {ft['n_keys']} LoRA tensors, loss {ft['loss']:.6f} (per sample {', '.join(f'{x:.4f}' for x in ft['losses'])}), "
              f"f32-vs-f64 grad rel {ft['g_rel']:.1e}, |adapter - merged| {ft['d_am']:.1e}, |adapter - base| {ft['d_ab']:.3f}")
    paths = [mf.MODELS / s["name"] for s in SPECS] + [LEGACY_DIR, FIXTURES / "finetune"]
    files = [f for d in paths for f in d.rglob("*") if f.is_file() and not any(p in f.parts for p in ("llama-pair", "qwen-pair"))]
    files += [mf.EXPECTED / f"{s['name']}.json" for s in SPECS]
    for f in sorted(files):
        print(f"  {f.stat().st_size:8d}  {f.relative_to(FIXTURES)}")
    print(f"total {sum(f.stat().st_size for f in files) / 1e6:.3f} MB in {len(files)} files; {time.time() - t0:.1f} s")


if __name__ == "__main__":
    main()
