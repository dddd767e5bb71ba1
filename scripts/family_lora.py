"""LoRA gradient goldens of the family fixtures (finetune/<name>/), for scripts/make_family_fixtures.py.

The base is test/fixtures/models/<name> reloaded in float32 with eager attention; the 4 samples are
defined here, so nothing depends on the sampling fixtures. See test/fixtures/README.md ("LoRA
goldens") for the files and their schemas.
"""

from __future__ import annotations

import copy
import json
import os
import random
import shutil
import warnings
from pathlib import Path

import make_finetune_fixtures as mft  # JSON/f32/peft-key helpers (and make_fixtures' deterministic setup)
import numpy as np
import torch
from peft import LoraConfig, PeftModel, get_peft_model
from safetensors import safe_open
from transformers import AutoModelForCausalLM, AutoTokenizer

FIXTURES = mft.mf.FIXTURES


def load(mdir: Path):
    return AutoModelForCausalLM.from_pretrained(mdir, dtype=torch.float32, attn_implementation="eager").eval()


LORA = dict(
    r=4,
    lora_alpha=8,
    lora_dropout=0.0,
    target_modules=sorted(["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]),
    bias="none",
    task_type="CAUSAL_LM",
)
B_STD = 0.05
LORA_SEED = {"qwen3-qknorm-tied-bf16": 9101, "gemma3-sliding-f32": 9201}
# (sequence length, loss position, label weights): lengths 12-20 (all > the window), the loss not
# always at the last position, weights dyadic so that they are exact in f32 and sum to exactly 1.
SAMPLE_SHAPES = [
    (12, 11, [1.0]),
    (16, 9, [0.75, 0.25]),
    (20, 19, [0.5, 0.3125, 0.1875]),
    (17, 13, [0.4375, 0.3125, 0.15625, 0.09375]),
]
MERGE_ATOL = 1e-4


def make_samples(tok, seed: int) -> list[dict]:
    """Input and label ids drawn from the tokenizer's ordinary (not added/special) ids."""
    ordinary = sorted(set(range(len(tok))) - set(tok.added_tokens_decoder))
    rng = random.Random(seed)
    return [
        {
            "index": i,
            "input_ids": [rng.choice(ordinary) for _ in range(n)],
            "loss_position": pos,
            "label_ids": rng.sample(ordinary, len(w)),
            "label_weights": w,
        }
        for i, (n, pos, w) in enumerate(SAMPLE_SHAPES)
    ]


def base_path(name: str) -> str:
    # relative to the repository root (the cwd), so adapter_config.json's base_model_name_or_path is portable
    return f"test/fixtures/models/{name}"


def sample_loss(model, s: dict) -> torch.Tensor:
    dtype = next(model.parameters()).dtype
    logits = model(input_ids=torch.tensor([s["input_ids"]])).logits[0, s["loss_position"]]
    logp = torch.log_softmax(logits.to(dtype), dim=-1)
    w = torch.tensor(s["label_weights"], dtype=torch.float32).to(dtype)
    return (w * (torch.log(w) - logp[torch.tensor(s["label_ids"])])).sum()


def save_init_adapter(name: str, adir: Path) -> None:
    base = load(Path(base_path(name)))
    torch.manual_seed(LORA_SEED[name])
    pm = get_peft_model(base, LoraConfig(**copy.deepcopy(LORA)))  # A: kaiming_uniform_(a=sqrt 5); B: zeros
    g = torch.Generator().manual_seed(LORA_SEED[name] + 1)
    with torch.no_grad():
        for k, p in mft.lora_params(pm).items():
            if ".lora_B." in k:
                assert float(p.abs().max()) == 0.0
                p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float32) * B_STD)
    pm.save_pretrained(adir)
    cfg = json.loads((adir / "adapter_config.json").read_text())
    cfg["target_modules"] = sorted(cfg["target_modules"])  # peft writes list(set): hash order
    assert cfg["base_model_name_or_path"] == base_path(name), cfg["base_model_name_or_path"]
    (adir / "adapter_config.json").write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n")
    (adir / "README.md").unlink(missing_ok=True)  # peft's model card: not part of the format
    os.chmod(adir / "adapter_model.safetensors", 0o644)
    with safe_open(adir / "adapter_model.safetensors", "pt") as f:
        assert f.metadata() == {"format": "pt"}
        saved = {k: f.get_tensor(k) for k in f.keys()}
    mine = mft.lora_params(pm)
    assert set(saved) == set(mine) and len(saved) == 2 * 7 * base.config.num_hidden_layers
    assert all(saved[k].dtype == torch.float32 and torch.equal(saved[k], mine[k].detach()) for k in mine)


def load_peft(name: str, adir: Path, dtype=torch.float32, trainable=False):
    base = load(Path(base_path(name)))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pm = PeftModel.from_pretrained(base, adir, is_trainable=trainable)
    assert not [w for w in caught if "missing" in str(w.message).lower() or "unexpected" in str(w.message).lower()]
    return pm.to(dtype).eval()


def compute_grads(name: str, adir: Path, samples: list[dict], dtype) -> tuple[list[float], dict[str, torch.Tensor]]:
    pm = load_peft(name, adir, dtype, trainable=True)
    params = mft.lora_params(pm)
    assert sum(p.requires_grad for p in pm.parameters()) == len(params)
    losses = []
    for s in samples:  # one forward per sample, no padding
        loss = sample_loss(pm, s)
        (loss / len(samples)).backward()
        losses.append(float(loss.detach()))
    return losses, {k: p.grad.detach().clone() for k, p in params.items()}


def build_finetune(spec: dict, model_seed: int) -> dict:
    name = spec["name"]
    pdir = FIXTURES / "finetune" / name
    if pdir.exists():
        shutil.rmtree(pdir)
    adir = pdir / "init-adapter"
    adir.mkdir(parents=True)
    save_init_adapter(name, adir)
    tok = AutoTokenizer.from_pretrained(base_path(name))
    samples = make_samples(tok, model_seed)
    cfg = json.loads((mft.mf.MODELS / name / "config.json").read_text())
    common = {
        "model": name,
        "base_model_dir": f"models/{name}",
        "init_adapter_dir": f"finetune/{name}/init-adapter",
        "compute_dtype": "float32",
        "attn_implementation": "eager",
        "config_vocab_size": cfg["vocab_size"],
        "lora": {**LORA, "scaling": LORA["lora_alpha"] / LORA["r"], "init_seed": LORA_SEED[name], "b_std": B_STD},
    }
    losses, grads = compute_grads(name, adir, samples, torch.float32)
    losses64, grads64 = compute_grads(name, adir, samples, torch.float64)
    g_rel = max(float((grads[k].double() - grads64[k]).abs().max() / grads64[k].abs().max()) for k in grads)
    assert g_rel < 1e-4, g_rel
    assert all(float(g.abs().max()) > 0 for g in grads.values()), "every LoRA tensor (A and B) must get a gradient"
    mean_loss = float(np.mean(np.array(losses, dtype=np.float64)))
    mft.dump(
        {
            **common,
            "loss_formula": "sum_k w_k * (ln w_k - log_softmax(logits[loss_position])[id_k]); loss = mean over samples",
            "batch": {"samples": [s["index"] for s in samples], "reduction": "batchmean", "one_forward_per_sample": True},
            "loss": mean_loss,
            "losses": losses,
            "grad_norm": float(torch.sqrt(sum((g.double() ** 2).sum() for g in grads.values()))),
            "samples": [s | {"loss": l} for s, l in zip(samples, losses)],
            "keys": list(grads),
            "grads": mft.tensors_json(grads),
            "float64_check": {"loss_abs_diff": abs(mean_loss - float(np.mean(losses64))), "grad_max_rel_diff": g_rel},
            "versions": mft.versions(),
        },
        pdir / "grads.json",
    )

    prompts = [samples[0], samples[2]]  # last-position logits of the full sequences (12 and 20 ids)
    lb = [mft.last_logits(load(Path(base_path(name))), p["input_ids"]) for p in prompts]
    pm = load_peft(name, adir)
    la = [mft.last_logits(pm, p["input_ids"]) for p in prompts]
    merged = pm.merge_and_unload()
    assert not any("lora_" in n for n, _ in merged.named_parameters())
    lm = [mft.last_logits(merged, p["input_ids"]) for p in prompts]
    for a, m in zip(la, lm):
        assert bool(((a - m).abs() <= MERGE_ATOL + MERGE_ATOL * a.abs()).all()), float((a - m).abs().max())
    d_am, d_ab = mft.max_abs(la, lm), mft.max_abs(la, lb)
    assert d_ab > 1e-2, f"the init adapter barely changes the logits ({d_ab})"
    mft.dump(
        {
            **common,
            "prompts": [
                {
                    "sample_index": p["index"],
                    "input_ids": p["input_ids"],
                    "loss_position": len(p["input_ids"]) - 1,
                    "base_logits": mft.f32_list(x),
                    "adapter_logits": mft.f32_list(y),
                    "merged_logits": mft.f32_list(z),
                }
                for p, x, y, z in zip(prompts, lb, la, lm)
            ],
            "max_abs_diff": {"adapter_vs_merged": d_am, "adapter_vs_base": d_ab},
            "versions": mft.versions(),
        },
        pdir / "merged_logits.json",
    )
    return {"loss": mean_loss, "losses": losses, "g_rel": g_rel, "d_am": d_am, "d_ab": d_ab, "n_keys": len(grads)}
