#!/usr/bin/env python3
"""Build the LightReasoner stage-2 (LoRA fine-tuning on soft labels) golden fixtures.

Run from the repository root with the reference venv, after scripts/make_sampling_fixtures.py.
This script reads that script's expert checkpoints and samples:

    .venv-ref/bin/python scripts/make_finetune_fixtures.py

No network and no hub. It is deterministic: fixed seeds, single-threaded torch, and
`target_modules` sorted in adapter_config.json, so two runs give byte-identical files. It takes
about 10-20 s on a CPU: ~12 s of CPU time, of which ~5 s are imports, ~3 s the init-seed search
and ~2 s the transformers.Trainer cross-check. It writes test/fixtures/finetune/<pair>/ for the
two pairs of test/fixtures/sampling/, and nothing else:

* init-adapter/: adapter_config.json and adapter_model.safetensors (F32, metadata
  {"format": "pt"}). This is a PEFT LoRA adapter for the pair's expert (r 8, alpha 16, dropout 0,
  q_proj and v_proj, bias "none", CAUSAL_LM). A is PEFT's Kaiming-uniform (a = sqrt 5) from
  torch.manual_seed(seed). B is NONZERO, N(0, 0.05²) from a seeded generator, so both A and B
  get gradients from the start. The seed is the best of 16 (see train(): the one whose AdamW
  steps depend least on near-zero gradient elements).
* grads.json: the batchmean soft-label KL loss of the first 8 samples, the per-sample losses and
  the gradient of every LoRA tensor. The computation is one forward and backward per sample,
  with no padding.
* steps.json: three AdamW steps from init-adapter with HF Trainer semantics: batch 4, grad-accum 2,
  clipping at 1.0, linear decay with no warm-up. The data order is file order, wrapping around,
  with no shuffling. It records loss, grad_norm and lr per step, and the LoRA tensors after each
  step. The same 3 steps are re-run with transformers.Trainer itself (sequential sampler) and
  must agree (params within 2e-5).
* merged_logits.json: last-position logits of 2 prompts for the base model, the base model plus
  init-adapter (peft), and merge_and_unload(). Adapter and merged are asserted equal.
* ours-adapter.logits.json: written only if ours-adapter/ exists (the runtime's own adapter, saved
  there later by a test or a person). That adapter is loaded with PeftModel.from_pretrained, with
  no missing or unexpected keys allowed, and the same 2 prompts are recorded. If ours-adapter/ is
  absent, this step is skipped with a message. The script never deletes ours-adapter/; everything
  else under finetune/<pair>/ is rebuilt.

The models are the experts reloaded with dtype=torch.float32 and attn_implementation="eager". For
qwen-pair that means f32 math on the F16 file's weights. The loss for one sample is taken at the
last token of chat_template([system, user: question], generation prompt) + prefix_token_ids:
    loss = sum_k w_k * (ln w_k - log_softmax(logits)[id_k])
with the label's (token_ids, weights) used exactly as in the JSONL, parsed as f32. The batch loss
is the mean over the samples.
As a check, gradients and the three steps are also run in float64 from the same adapter. The
f32-vs-f64 differences are stored in the JSON as `float64_check` and printed. See
test/fixtures/README.md ("Fine-tuning fixtures") for the schema.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_fixtures as mf  # noqa: E402  (sets the deterministic env / torch threads on import)

import contextlib  # noqa: E402
import copy  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import peft  # noqa: E402
import safetensors  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from peft import LoraConfig, PeftModel, get_peft_model  # noqa: E402
from safetensors import safe_open  # noqa: E402
from transformers import AutoModelForCausalLM, AutoTokenizer, get_linear_schedule_with_warmup  # noqa: E402

transformers.utils.logging.disable_progress_bar()

ROOT = mf.ROOT
FINETUNE = mf.FIXTURES / "finetune"
SAMPLING = mf.FIXTURES / "sampling"
SYSTEM = "Please reason step by step."

PAIRS = [
    {"name": "llama-pair", "seed": 8101},
    {"name": "qwen-pair", "seed": 8201},
]
LORA = dict(r=8, lora_alpha=16, lora_dropout=0.0, target_modules=["q_proj", "v_proj"], bias="none", task_type="CAUSAL_LM")
B_STD = 0.05
GRAD_SAMPLES = 8  # grads.json: the first 8 samples
TRAIN = dict(batch_size=4, grad_accum=2, max_steps=3, lr=5e-2, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, max_grad_norm=1.0, warmup_steps=0)
SEED_TRIES = 16  # init seeds tried per pair (seed .. seed + 15); the largest adam_margin wins
NOISE = 1e-5  # gradient-noise sensitivity check (recorded, not asserted)
MERGE_ATOL = 1e-4  # |adapter - merged| bound, plus the same relative term


# --------------------------------------------------------------------------------------
# helpers


def f32(x) -> float:
    """Shortest decimal that round-trips the float32 value (Math.fround(parse) gives it back)."""
    return float(str(np.float32(x)))


def f32_list(t: torch.Tensor) -> list[float]:
    return [f32(v) for v in t.detach().to(torch.float32).reshape(-1).tolist()]


def rel(p: Path) -> str:
    return p.relative_to(mf.FIXTURES).as_posix()


def dump(data, path: Path) -> None:
    """Indented JSON where every list of numbers is on one line."""
    blobs: dict[str, str] = {}

    def walk(v):
        if isinstance(v, dict):
            return {k: walk(x) for k, x in v.items()}
        if isinstance(v, list):
            if v and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v):
                key = f"@@{len(blobs)}@@"
                blobs[key] = json.dumps(v, separators=(",", ":"))
                return key
            return [walk(x) for x in v]
        return v

    s = json.dumps(walk(data), indent=1, ensure_ascii=False)
    for k, b in blobs.items():
        s = s.replace(f'"{k}"', b, 1)
    path.write_text(s + "\n")
    assert json.loads(path.read_text()) == json.loads(json.dumps(data))


def load_base(pair: str, dtype=torch.float32):
    # A path relative to the repository root, so that adapter_config.json's
    # base_model_name_or_path is the portable "test/fixtures/sampling/models/<pair>/expert".
    d = os.path.relpath(SAMPLING / "models" / pair / "expert", ROOT)
    m = AutoModelForCausalLM.from_pretrained(d, dtype=torch.float32, attn_implementation="eager")
    m.eval()
    if dtype != torch.float32:
        m = m.to(dtype)
    return m


def lora_config() -> LoraConfig:
    return LoraConfig(**copy.deepcopy(LORA))


def peft_key(name: str) -> str:
    """named_parameters name (adapter 'default' inside) -> the key PEFT saves."""
    assert ".lora_A.default." in name or ".lora_B.default." in name, name
    return name.replace(".default.", ".")


def lora_params(model) -> dict[str, torch.nn.Parameter]:
    out = {peft_key(n): p for n, p in model.named_parameters() if "lora_" in n}
    return dict(sorted(out.items(), key=lambda kv: layer_order(kv[0])))


def layer_order(key: str):
    # base_model.model.model.layers.{i}.self_attn.{q,v}_proj.lora_{A,B}.weight
    parts = key.split(".")
    i = parts.index("layers")
    return (int(parts[i + 1]), parts[i + 3], parts[i + 4])


def tensors_json(d: dict[str, torch.Tensor]) -> dict:
    return {k: {"shape": list(t.shape), "values": f32_list(t)} for k, t in d.items()}


def read_samples(pair: str, tok) -> list[dict]:
    lines = (SAMPLING / "expected" / f"{pair}.samples.jsonl").read_text().splitlines()
    out = []
    for i, line in enumerate(lines):
        s = json.loads(line)
        messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": s["question"]}]
        prompt = mf.chat_ids(tok, messages)
        ids = prompt + list(s["prefix_token_ids"])
        out.append(
            {
                "index": i,
                "prompt_id": s["prompt_id"],
                "step": s["step"],
                "prompt_len": len(prompt),
                "input_ids": ids,
                "loss_position": len(ids) - 1,
                "label_ids": list(s["token_ids"]),
                "label_weights": list(s["weights"]),
            }
        )
    return out


def sample_loss(model, s: dict) -> torch.Tensor:
    dtype = next(model.parameters()).dtype
    logits = model(input_ids=torch.tensor([s["input_ids"]])).logits[0, -1]
    logp = torch.log_softmax(logits.to(dtype), dim=-1)
    ids = torch.tensor(s["label_ids"])
    w = torch.tensor(s["label_weights"], dtype=torch.float32).to(dtype)  # parsed as f32, like the runtime
    return (w * (torch.log(w) - logp[ids])).sum()


def last_logits(model, ids: list[int]) -> torch.Tensor:
    with torch.no_grad():
        return model(input_ids=torch.tensor([ids])).logits[0, -1].detach().clone()


# --------------------------------------------------------------------------------------
# stages


def init_lora(name: str, seed: int):
    """Base expert + PEFT LoRA with A Kaiming-uniform (global RNG at `seed`) and B ~ N(0, B_STD²)."""
    base = load_base(name)
    torch.manual_seed(seed)
    pm = get_peft_model(base, lora_config())  # A: kaiming_uniform_(a=sqrt 5) from the global RNG; B: zeros
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for k, p in lora_params(pm).items():
            if ".lora_B." in k:
                assert float(p.abs().max()) == 0.0
                p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float32) * B_STD)
    return pm


def save_init_adapter(pm, name: str, out: Path) -> dict[str, torch.Tensor]:
    pm.save_pretrained(out)
    # Deterministic, portable config: peft writes target_modules as list(set) (hash order).
    cfg_path = out / "adapter_config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["target_modules"] = sorted(cfg["target_modules"])
    assert cfg["base_model_name_or_path"] == f"test/fixtures/sampling/models/{name}/expert", cfg["base_model_name_or_path"]
    cfg_path.write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n")
    readme = out / "README.md"  # peft's auto-generated model card: not part of the format
    if readme.exists():
        readme.unlink()
    os.chmod(out / "adapter_model.safetensors", 0o644)  # safetensors writes 0600
    with safe_open(out / "adapter_model.safetensors", "pt") as f:
        meta = f.metadata()
        saved = {k: f.get_tensor(k) for k in f.keys()}
    assert meta == {"format": "pt"}, meta
    mine = lora_params(pm)
    assert set(saved) == set(mine), (sorted(saved), sorted(mine))
    for k, t in saved.items():
        assert t.dtype == torch.float32 and torch.equal(t, mine[k].detach()), k
    return {k: saved[k] for k in mine}


def load_peft(pair: str, adapter: Path, dtype=torch.float32, trainable=False):
    base = load_base(pair)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pm = PeftModel.from_pretrained(base, adapter, is_trainable=trainable)
    bad = [str(w.message) for w in caught if "missing" in str(w.message).lower() or "unexpected" in str(w.message).lower()]
    assert not bad, bad
    if dtype != torch.float32:
        pm = pm.to(dtype)
    pm.eval()  # dropout is 0 anyway; eval() does not stop gradients
    return pm


def check_keys(pm, adapter: Path) -> list[str]:
    """The adapter file's keys/shapes must be exactly the model's LoRA tensors (no missing/unexpected)."""
    with safe_open(adapter / "adapter_model.safetensors", "pt") as f:
        file_shapes = {k: list(f.get_slice(k).get_shape()) for k in f.keys()}
    want = {k: list(p.shape) for k, p in lora_params(pm).items()}
    missing = sorted(set(want) - set(file_shapes))
    unexpected = sorted(set(file_shapes) - set(want))
    assert not missing and not unexpected, f"missing {missing}, unexpected {unexpected}"
    for k in want:
        assert file_shapes[k] == want[k], (k, file_shapes[k], want[k])
    # Also PEFT's own accounting, through load_adapter's result.
    res = pm.load_adapter(adapter, adapter_name="keycheck")
    assert not res.missing_keys and not res.unexpected_keys, res
    pm.delete_adapter("keycheck")
    return list(want)


def compute_grads(pair: str, adapter: Path, samples: list[dict], dtype) -> tuple[list[float], dict[str, torch.Tensor]]:
    pm = load_peft(pair, adapter, dtype, trainable=True)
    params = lora_params(pm)
    assert all(p.requires_grad for p in params.values())
    assert sum(p.requires_grad for p in pm.parameters()) == len(params)
    n = len(samples)
    losses = []
    for s in samples:
        loss = sample_loss(pm, s)
        (loss / n).backward()
        losses.append(float(loss.detach()))
    return losses, {k: p.grad.detach().clone() for k, p in params.items()}


def train(pm, samples: list[dict], noise: float = 0.0) -> list[dict]:
    """HF-Trainer-style steps on a PEFT model (LoRA params trainable).

    Each step also records `adam_margin`: min over tensors and elements of sqrt(v_hat) / max|g|
    (g = the clipped gradient of that tensor). An error δ in a gradient element moves that
    element's AdamW update by about lr·δ/sqrt(v_hat), so this bounds how much a runtime's f32
    gradient error (≈ ε·max|g|) can move the parameters: on step 1 sqrt(v_hat) = |g| and the
    update is lr·sign(g). `noise` (tests only) adds N(0, (noise·max|g|)²) to every gradient.
    """
    params = lora_params(pm)
    plist = list(params.values())
    opt = torch.optim.AdamW(plist, lr=TRAIN["lr"], betas=TRAIN["betas"], eps=TRAIN["eps"], weight_decay=TRAIN["weight_decay"])
    sched = get_linear_schedule_with_warmup(opt, num_warmup_steps=TRAIN["warmup_steps"], num_training_steps=TRAIN["max_steps"])
    bs, ga = TRAIN["batch_size"], TRAIN["grad_accum"]
    cursor, out = 0, []
    for step in range(TRAIN["max_steps"]):
        opt.zero_grad(set_to_none=True)
        step_loss, used = 0.0, []
        for _ in range(ga):
            batch = [samples[(cursor + j) % len(samples)] for j in range(bs)]
            cursor += bs
            micro = 0.0
            for s in batch:  # one forward per sample; micro-batch loss = batchmean, then / grad-accum (HF)
                loss = sample_loss(pm, s)
                (loss / bs / ga).backward()
                micro += float(loss.detach()) / bs
            step_loss += micro / ga
            used += [s["index"] for s in batch]
        if noise:
            gen = torch.Generator().manual_seed(1000 + step)
            for p in plist:
                p.grad += noise * p.grad.abs().max() * torch.randn(p.shape, generator=gen, dtype=torch.float64).to(p.dtype)
        grad_norm = float(torch.nn.utils.clip_grad_norm_(plist, TRAIN["max_grad_norm"]))
        lr = sched.get_last_lr()[0]
        opt.step()
        sched.step()
        margin = math.inf
        for p in plist:
            st = opt.state[p]
            vhat = st["exp_avg_sq"].double() / (1 - TRAIN["betas"][1] ** float(st["step"]))
            margin = min(margin, float(vhat.sqrt().min() / p.grad.double().abs().max()))
        out.append(
            {
                "step": step + 1,
                "samples": used,
                "loss": step_loss,
                "grad_norm": grad_norm,
                "clip_coef": min(1.0, TRAIN["max_grad_norm"] / (grad_norm + 1e-6)),
                "lr": lr,
                "adam_margin": margin,
                "lora_after": {k: p.detach().clone() for k, p in params.items()},
            }
        )
    return out


def trainer_check(name: str, adapter: Path, samples: list[dict], steps: list[dict]) -> dict:
    """Re-run the 3 steps with transformers.Trainer itself (its AdamW, scheduler, clipping,
    grad-accum scaling; only the sampler is made sequential) and compare with train()."""
    from torch.utils.data import SequentialSampler
    from transformers import Trainer, TrainerCallback, TrainingArguments

    class SeqTrainer(Trainer):
        def _get_train_sampler(self, *args, **kwargs):
            return SequentialSampler(self.train_dataset)

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            return torch.stack([sample_loss(model, s) for s in inputs["batch"]]).mean()

    logged: list[dict] = []

    class Log(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "grad_norm" in logs:
                logged.append(dict(logs))

    pm = load_peft(name, adapter, torch.float32, trainable=True)
    with tempfile.TemporaryDirectory() as td:
        args = TrainingArguments(
            output_dir=td, per_device_train_batch_size=TRAIN["batch_size"], gradient_accumulation_steps=TRAIN["grad_accum"],
            max_steps=TRAIN["max_steps"], learning_rate=TRAIN["lr"], lr_scheduler_type="linear", warmup_steps=TRAIN["warmup_steps"],
            max_grad_norm=TRAIN["max_grad_norm"], weight_decay=TRAIN["weight_decay"], adam_beta1=TRAIN["betas"][0],
            adam_beta2=TRAIN["betas"][1], adam_epsilon=TRAIN["eps"], optim="adamw_torch", logging_steps=1, save_strategy="no",
            report_to=[], remove_unused_columns=False, use_cpu=True, disable_tqdm=True, log_level="error",
        )
        with contextlib.redirect_stdout(io.StringIO()):  # Trainer prints its log dicts
            SeqTrainer(model=pm, args=args, train_dataset=samples, data_collator=lambda b: {"batch": b}, callbacks=[Log()]).train()
    got = lora_params(pm)
    p_diff = max(float((got[k].detach() - steps[-1]["lora_after"][k]).abs().max()) for k in got)
    gn_diff = max(abs(float(l["grad_norm"]) - s["grad_norm"]) / s["grad_norm"] for l, s in zip(logged, steps))
    loss_diff = max(abs(float(l["loss"]) - s["loss"]) for l, s in zip(logged, steps))
    assert len(logged) == len(steps) and p_diff < 2e-5 and gn_diff < 1e-5 and loss_diff < 1e-5, (p_diff, gn_diff, loss_diff, logged)
    assert all(abs(float(l["learning_rate"]) - s["lr"]) < 1e-12 for l, s in zip(logged, steps))
    return {"lora_max_abs_diff": p_diff, "grad_norm_max_rel_diff": gn_diff, "loss_max_abs_diff": loss_diff}


def logits_for(pm_or_model, prompts: list[dict]) -> list[torch.Tensor]:
    return [last_logits(pm_or_model, p["input_ids"]) for p in prompts]


def max_abs(a: list[torch.Tensor], b: list[torch.Tensor]) -> float:
    return max(float((x.double() - y.double()).abs().max()) for x, y in zip(a, b))


def record_ours(pair: str, pdir: Path, prompts: list[dict], out: Path | None, ref: dict | None = None) -> dict:
    """Load pdir as PEFT adapter (strict keys) and return/record last-position logits of prompts."""
    pm = load_peft(pair, pdir)
    keys = check_keys(pm, pdir)
    cfg = json.loads((pdir / "adapter_config.json").read_text())
    lg = logits_for(pm, prompts)
    data = {
        "pair": pair,
        "adapter_dir": rel(pdir) if pdir.is_relative_to(mf.FIXTURES) else str(pdir),
        "adapter_config": {k: cfg.get(k) for k in ("peft_type", "task_type", "r", "lora_alpha", "lora_dropout", "target_modules", "bias", "base_model_name_or_path")},
        "keys": keys,
        "prompts": [
            {"sample_index": p["index"], "input_ids": p["input_ids"], "loss_position": p["loss_position"], "logits": f32_list(x)}
            for p, x in zip(prompts, lg)
        ],
        "versions": versions(),
    }
    if ref is not None:
        data["max_abs_diff_vs"] = {k: max_abs(lg, v) for k, v in ref.items()}
    if out is not None:
        dump(data, out)
    return {"logits": lg, "data": data}


def versions() -> dict:
    return {"torch": torch.__version__, "transformers": transformers.__version__, "peft": peft.__version__, "safetensors": safetensors.__version__}


# --------------------------------------------------------------------------------------


def build_pair(pair: dict) -> dict:
    name = pair["name"]
    pdir = FINETUNE / name
    pdir.mkdir(parents=True, exist_ok=True)
    for child in pdir.iterdir():  # rebuild everything except the runtime's ours-adapter/
        if child.name == "ours-adapter":
            continue
        shutil.rmtree(child) if child.is_dir() else child.unlink()
    edir = SAMPLING / "models" / name / "expert"
    tok = AutoTokenizer.from_pretrained(edir)
    samples = read_samples(name, tok)
    adir = pdir / "init-adapter"
    # Pick the init seed (of SEED_TRIES) whose 3 float64 steps have the largest adam_margin, so that
    # no AdamW update hinges on a near-zero gradient element (see train()).
    tried = []
    for k in range(SEED_TRIES):
        seed = pair["seed"] + k
        st = train(init_lora(name, seed).to(torch.float64), samples)
        tried.append((min(x["adam_margin"] for x in st), seed))
    margin, seed = max(tried)
    init = save_init_adapter(init_lora(name, seed), name, adir)
    vocab = load_base(name).config.vocab_size
    common = {
        "pair": name,
        "base_model_dir": rel(edir),
        "samples_file": rel(SAMPLING / "expected" / f"{name}.samples.jsonl"),
        "init_adapter_dir": rel(adir),
        "compute_dtype": "float32",
        "attn_implementation": "eager",
        "config_vocab_size": vocab,
        "lora": {**LORA, "scaling": LORA["lora_alpha"] / LORA["r"], "init_seed": seed, "b_std": B_STD},
        "system": SYSTEM,
    }

    # ---- grads.json
    gs = samples[:GRAD_SAMPLES]
    losses, grads = compute_grads(name, adir, gs, torch.float32)
    losses64, grads64 = compute_grads(name, adir, gs, torch.float64)
    mean_loss = float(np.mean(np.array(losses, dtype=np.float64)))
    grad_norm = float(torch.sqrt(sum((g.double() ** 2).sum() for g in grads.values())))
    g_rel = max(float((grads[k].double() - grads64[k]).abs().max() / grads64[k].abs().max()) for k in grads)
    assert g_rel < 1e-4, g_rel
    nonzero = all(float(g.abs().max()) > 0 for g in grads.values())
    assert nonzero, "every LoRA tensor (A and B) must get a nonzero gradient"
    grads_data = {
        **common,
        "batch": {"samples": [s["index"] for s in gs], "reduction": "batchmean", "one_forward_per_sample": True},
        "loss": mean_loss,
        "grad_norm": grad_norm,
        "samples": [
            {k: s[k] for k in ("index", "prompt_id", "step", "prompt_len", "loss_position", "input_ids")} | {"loss": l}
            for s, l in zip(gs, losses)
        ],
        "keys": list(grads),
        "grads": tensors_json(grads),
        "float64_check": {
            "loss_abs_diff": abs(mean_loss - float(np.mean(losses64))),
            "grad_max_rel_diff": g_rel,  # max over tensors of max|g32 - g64| / max|g64|
        },
        "versions": versions(),
    }
    dump(grads_data, pdir / "grads.json")

    # ---- steps.json
    steps = train(load_peft(name, adir, torch.float32, trainable=True), samples)
    steps64 = train(load_peft(name, adir, torch.float64, trainable=True), samples)
    noisy = train(load_peft(name, adir, torch.float64, trainable=True), samples, noise=NOISE)
    noise_diff = max(float((a["lora_after"][k] - b["lora_after"][k]).abs().max()) for a, b in zip(noisy, steps64) for k in a["lora_after"])
    p_diff = max(float((a["lora_after"][k].double() - b["lora_after"][k]).abs().max()) for a, b in zip(steps, steps64) for k in a["lora_after"])
    moved = max(float((steps[-1]["lora_after"][k] - init[k]).abs().max()) for k in init)
    assert steps[0]["samples"] == list(range(8))  # file order
    assert abs(steps[0]["loss"] - mean_loss) < 1e-6  # step 1 sees the same 8 samples as grads.json
    steps_data = {
        **common,
        "train": {
            **TRAIN,
            "betas": list(TRAIN["betas"]),
            "shuffle": False,
            "schedule": "linear, lr_k = lr * (1 - k / max_steps) for k = 0..max_steps-1",
            "loss_scaling": "micro-batch loss = mean over its samples, divided by grad_accum",
            "clip": "torch.nn.utils.clip_grad_norm_ over all LoRA tensors; grad_norm is the norm before clipping",
        },
        "num_samples": len(samples),
        "steps": [
            {k: s[k] for k in ("step", "samples", "loss", "grad_norm", "clip_coef", "lr", "adam_margin")} | {"lora_after": tensors_json(s["lora_after"])}
            for s in steps
        ],
        "float64_check": {
            "lora_max_abs_diff": p_diff,  # max over steps/tensors/elements of |p32 - p64|
            "loss_max_abs_diff": max(abs(a["loss"] - b["loss"]) for a, b in zip(steps, steps64)),
            "grad_norm_max_rel_diff": max(abs(a["grad_norm"] - b["grad_norm"]) / b["grad_norm"] for a, b in zip(steps, steps64)),
            "gradient_noise": NOISE,  # float64 run with N(0, (noise·max|g|)²) added to every gradient, per tensor
            "gradient_noise_lora_max_abs_diff": noise_diff,
        },
        "hf_trainer_check": trainer_check(name, adir, samples, steps),  # transformers.Trainer, sequential sampler
        "seed_search": {"seeds": [t[1] for t in tried], "min_adam_margin": [t[0] for t in tried], "chosen": seed},
        "max_abs_change_from_init": moved,
        "versions": versions(),
    }
    dump(steps_data, pdir / "steps.json")

    # ---- merged_logits.json
    prompts = [samples[0], samples[-1]]
    base = load_base(name)
    lb = logits_for(base, prompts)
    pm = load_peft(name, adir)
    la = logits_for(pm, prompts)
    merged = pm.merge_and_unload()
    assert not any("lora_" in n for n, _ in merged.named_parameters())
    lm = logits_for(merged, prompts)
    for a, m in zip(la, lm):
        assert bool(((a - m).abs() <= MERGE_ATOL + MERGE_ATOL * a.abs()).all()), float((a - m).abs().max())
    d_am, d_ab = max_abs(la, lm), max_abs(la, lb)
    assert d_ab > 1e-2, f"the init adapter barely changes the logits ({d_ab})"
    merged_data = {
        **common,
        "prompts": [
            {
                "sample_index": p["index"],
                "prompt_id": p["prompt_id"],
                "step": p["step"],
                "input_ids": p["input_ids"],
                "loss_position": p["loss_position"],
                "base_logits": f32_list(x),
                "adapter_logits": f32_list(y),
                "merged_logits": f32_list(z),
            }
            for p, x, y, z in zip(prompts, lb, la, lm)
        ],
        "max_abs_diff": {"adapter_vs_merged": d_am, "adapter_vs_base": d_ab},
        "versions": versions(),
    }
    dump(merged_data, pdir / "merged_logits.json")

    # ---- hook: our runtime's adapter
    ref = {"base": lb, "init_adapter": la}
    with tempfile.TemporaryDirectory() as td:  # self-test of the hook on a copy of init-adapter
        tdir = Path(td) / "ours-adapter"
        shutil.copytree(adir, tdir)
        r = record_ours(name, tdir, prompts, None, ref)
        assert r["data"]["max_abs_diff_vs"]["init_adapter"] == 0.0
    odir = pdir / "ours-adapter"
    ours = None
    if odir.is_dir():
        ours = record_ours(name, odir, prompts, pdir / "ours-adapter.logits.json", ref)["data"]
        print(f"  {name}: ours-adapter loaded (keys OK); max |Δ| vs init adapter {ours['max_abs_diff_vs']['init_adapter']:.3g}, vs base {ours['max_abs_diff_vs']['base']:.3g}")
    else:
        print(f"  {name}: no {rel(odir)}/ — skipping ours-adapter.logits.json")

    return {
        "name": name,
        "n": len(samples),
        "grad_loss": mean_loss,
        "grad_norm": grad_norm,
        "per_sample": losses,
        "g_rel": g_rel,
        "steps": [(s["loss"], s["grad_norm"], s["lr"], s["adam_margin"]) for s in steps],
        "seed": seed,
        "noise_diff": noise_diff,
        "trainer": steps_data["hf_trainer_check"],
        "p_diff": p_diff,
        "moved": moved,
        "d_am": d_am,
        "d_ab": d_ab,
        "ours": ours is not None,
    }


def main() -> None:
    t0 = time.time()
    os.chdir(ROOT)
    FINETUNE.mkdir(parents=True, exist_ok=True)
    results = [build_pair(p) for p in PAIRS]
    print(f"peft {peft.__version__}, torch {torch.__version__}, transformers {transformers.__version__}")
    for r in results:
        print(f"{r['name']}: {r['n']} samples, init seed {r['seed']}")
        print(f"  grads.json: loss(8) {r['grad_loss']:.6f}, grad norm {r['grad_norm']:.6f}, f32-vs-f64 max rel grad diff {r['g_rel']:.2e}")
        print("    per-sample: " + ", ".join(f"{x:.4f}" for x in r["per_sample"]))
        for i, (loss, gn, lr, am) in enumerate(r["steps"]):
            print(f"  step {i + 1}: loss {loss:.6f}  grad_norm {gn:.6f}  lr {lr:.6g}  adam_margin {am:.2e}")
        print(f"  after 3 steps: max |Δ| from init {r['moved']:.4f}; f32-vs-f64 max |Δparam| {r['p_diff']:.2e}; "
              f"with gradient noise {NOISE:g}·max|g|: {r['noise_diff']:.2e}")
        print(f"  transformers.Trainer (sequential sampler) vs fixture: max |Δparam| {r['trainer']['lora_max_abs_diff']:.2e}, "
              f"grad_norm rel {r['trainer']['grad_norm_max_rel_diff']:.1e}")
        print(f"  logits: |adapter - merged| ≤ {r['d_am']:.2e}, |adapter - base| max {r['d_ab']:.3f}")
    total = sum(f.stat().st_size for f in FINETUNE.rglob("*") if f.is_file())
    print(f"test/fixtures/finetune: {total / 1e6:.3f} MB; {time.time() - t0:.1f} s")


if __name__ == "__main__":
    main()
