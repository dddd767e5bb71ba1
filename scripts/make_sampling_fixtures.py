#!/usr/bin/env python3
"""Build the LightReasoner stage-1 (contrastive sampling) golden fixtures of lightreasoner-wasm.

Run from the repository root with the reference venv, after scripts/make_fixtures.py (it copies
the tokenizers from test/fixtures/tokenizers/, which that script writes):

    .venv-ref/bin/python scripts/make_sampling_fixtures.py

No network, no hub.  Deterministic (fixed seeds, single-threaded torch; two runs give
byte-identical files).  Takes about 10-15 s on a CPU: ~6 s of work after the imports, mostly
the expert reseeding and the noise-scale search.  Everything under test/fixtures/sampling/ is
deleted and rebuilt; nothing else is touched (the tokenizers are only read).

What it writes (see test/fixtures/README.md, "Sampling fixtures"):

* two expert/amateur pairs sharing a tokenizer, as save_pretrained checkpoints with the
  tokenizer files, under test/fixtures/sampling/models/<pair>/{expert,amateur}/:
    - llama-pair: expert = a Llama shaped like llama-gqa-tied-f32 (F32, tied, smol tokenizer);
      amateur = the expert with its MLP pruned (intermediate 96 -> 64), plus seeded noise,
      stored BF16.
    - qwen-pair: expert = Qwen2 with config vocab 448 (> tokenizer 426; F16, biases, untied,
      Qwen2.5-style generation_config with sampling defaults); amateur = the expert cut to vocab
      426 and MLP 88 -> 56, plus seeded noise, stored BF16.  Shared range = 426.
  The expert's extra MLP units (the ones the amateur lacks) are weak (down_proj columns x0.3),
  and the amateur is the pruned expert plus noise.  The noise scale is searched on a fixed grid
  so that the per-step KL straddles beta (30-70 % of the steps selected, target 50 %, no KL
  within 2e-3 of beta, no expert probability within 1e-4 (relative) of the mask edge).
* questions.jsonl: 4 GSM8K-style problems (one with an explicit "id").
* expected/<pair>.json and expected/<pair>.samples.jsonl: per-step KL, plausibility mask and
  contrastive soft label, computed exactly as runtime/backend/reference.ts contrast() does
  (float64 softmax of the float32 logits over each model's whole vocabulary, compared on the
  shared ids without renormalising, +1e-12 inside the logs).

The oracle reloads every checkpoint with dtype=torch.float32, attn_implementation="eager".
The expert trajectory is a no-KV-cache greedy argmax loop (stops at EOS, EOS included), checked
against model.generate(do_sample=False, repetition_penalty=1.0).  The amateur distributions come
from ONE teacher-forced forward over prompt + trajectory (the expert's too).  The script asserts
that every row equals a separate per-prefix forward over prompt + trajectory[:t] (max |diff| <
1e-4) and that the expert row's argmax is the trajectory token.  It also runs the reference
scripts' per-prefix re-encode (chat-template text + decode(trajectory[:t]), re-tokenised).  With
these random-weight trajectories, which are full of partial UTF-8 bytes, that re-encode usually
gives different ids.  So it is reported (how many steps differ, how many would flip
`selected`), not asserted.  The fixtures follow the exact-ids (teacher-forced) semantics.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_fixtures as mf  # noqa: E402  (sets the deterministic env / torch threads on import)

import json  # noqa: E402
import math  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402
import transformers  # noqa: E402
from transformers import (  # noqa: E402
    AutoModelForCausalLM,
    AutoTokenizer,
    GenerationConfig,
    LlamaConfig,
    LlamaForCausalLM,
    Qwen2Config,
    Qwen2ForCausalLM,
)

transformers.utils.logging.disable_progress_bar()

SAMPLING = mf.FIXTURES / "sampling"
ALPHA = 0.2
BETA = 0.4
MAX_NEW_TOKENS = 16
SYSTEM = "Please reason step by step."
EPS = 1e-12

MIN_GREEDY_MARGIN = 1e-2  # expert top1 - top2 logit gap at every trajectory step
MIN_MASK_MARGIN = 1e-4  # |pE_j / max pE - alpha| for every id: no mask membership near the edge
MIN_KL_MARGIN = 2e-3  # preferred |KL - beta| for every step (a flip is tolerated below 1e-3)
TARGET_FRACTION = (0.3, 0.7)
NOISE_GRID = [round(0.02 * 1.15**k, 5) for k in range(40)]  # 0.02 .. ~4.5

QUESTIONS = [
    {
        "question": "Tom has 3 boxes of apples with 6 apples in each box. He eats 4 apples. "
        "How many apples does he have left?",
        "answer": "Tom has 3 * 6 = <<3*6=18>>18 apples.\nAfter eating 4 he has 18 - 4 = <<18-4=14>>14 apples.\n#### 14",
    },
    {
        "id": "q-abc",
        "question": "Anna buys 5 pencils at $2 each and a notebook for $7. How much does she spend?",
        "answer": "The pencils cost 5 * 2 = <<5*2=10>>10 dollars.\nShe spends 10 + 7 = <<10+7=17>>17 dollars.\n#### 17",
    },
    {
        "question": "A baker makes 48 cookies and packs them into bags of 6. How many bags does he fill?",
        "answer": "He fills 48 / 6 = <<48/6=8>>8 bags.\n#### 8",
    },
    {
        "question": "Leo had 120 marbles. He gave half to Nina and then found 15 more. "
        "How many marbles does Leo have now?",
        "answer": "He gave away 120 / 2 = <<120/2=60>>60 marbles, keeping 60.\n"
        "Then he has 60 + 15 = <<60+15=75>>75 marbles.\n#### 75",
    },
]

PAIRS = [
    {
        "name": "llama-pair",
        "tokenizer": "smol",
        "cls": (LlamaConfig, LlamaForCausalLM),
        "seed": 601,
        "expert": {
            "dtype": torch.float32,
            "config": dict(mf.SPECS[0]["config"]),  # same shape as llama-gqa-tied-f32
            "extra_units_scale": 0.3,
            "generation": dict(bos_token_id=1, eos_token_id=2, pad_token_id=2),
        },
        "amateur": {
            "dtype": torch.bfloat16,
            "overrides": dict(intermediate_size=64),
            "generation": dict(bos_token_id=1, eos_token_id=2, pad_token_id=2),
        },
        "covers": "Llama pair, smol tokenizer, same vocab (449 = shared); expert F32 tied GQA "
        "(shape of llama-gqa-tied-f32); amateur BF16 with a pruned MLP (96 -> 64) = expert + noise",
        "eos_stop": False,
    },
    {
        "name": "qwen-pair",
        "tokenizer": "qwen",
        "cls": (Qwen2Config, Qwen2ForCausalLM),
        "seed": 701,
        "expert": {
            "dtype": torch.float16,
            "vocab": 448,
            "config": dict(mf.SPECS[2]["config"]),  # same shape as qwen2-bias-f16
            "extra_units_scale": 0.3,
            "generation": dict(mf.SPECS[2]["generation"]),  # sampling defaults: must be ignored
            "eos_boost": 2.2,  # lm_head row of <|im_end|> scaled so that some trajectory ends
        },
        "amateur": {
            "dtype": torch.bfloat16,
            "vocab": 426,
            "overrides": dict(intermediate_size=56),
            "generation": dict(
                eos_token_id=["<|im_end|>", "<|endoftext|>"],
                pad_token_id="<|endoftext|>",
                bos_token_id="<|endoftext|>",
            ),
        },
        "covers": "Qwen2 pair, qwen tokenizer; expert config vocab 448 (F16, biases, MQA, untied, "
        "Qwen2.5-style sampling generation_config), amateur vocab 426 (BF16, MLP 88 -> 56) = "
        "expert + noise; shared range 426 (the 151,936 vs 152,064 case)",
        "eos_stop": True,
    },
]


# --------------------------------------------------------------------------------------


def r7(x: float) -> float:
    return mf.round7(float(x))


def load_f32(d: Path):
    m = AutoModelForCausalLM.from_pretrained(d, dtype=torch.float32, attn_implementation="eager")
    m.eval()
    assert next(m.parameters()).dtype == torch.float32
    return m


def eos_ids(model) -> list[int]:
    e = model.generation_config.eos_token_id
    return list(e) if isinstance(e, list) else [e]


def save_model(model, cfg_dtype, gen: dict, tok, tok_src: Path, out: Path) -> None:
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    model = model.to(cfg_dtype)
    model.config.dtype = cfg_dtype
    model.generation_config = GenerationConfig(**{k: mf.resolve_ids(v, tok) for k, v in gen.items()})
    model.save_pretrained(out)
    mf.install_tokenizer(tok_src, out)


def build_expert(pair: dict, seed: int, tok, ntok: int):
    cfg_cls, model_cls = pair["cls"]
    spec = pair["expert"]
    vocab = spec.get("vocab", ntok)
    ckw = dict(spec["config"])
    if cfg_cls is Qwen2Config:
        ckw.update(
            bos_token_id=tok.convert_tokens_to_ids("<|endoftext|>"),
            eos_token_id=tok.convert_tokens_to_ids("<|im_end|>"),
        )
    torch.manual_seed(seed)
    model = model_cls(cfg_cls(vocab_size=vocab, **ckw))
    mf.init_weights(model, seed, keep_rows=ntok if vocab > ntok else None, tied=model.config.tie_word_embeddings)
    # The MLP units the pruned amateur lacks are made weak in the expert (down_proj columns
    # scaled), so that pruning alone moves the distributions only part of the way.
    ia = pair["amateur"]["overrides"]["intermediate_size"]
    with torch.no_grad():
        for layer in model.model.layers:
            layer.mlp.down_proj.weight[:, ia:] *= spec["extra_units_scale"]
    if spec.get("eos_boost"):
        with torch.no_grad():
            model.lm_head.weight[tok.convert_tokens_to_ids("<|im_end|>")] *= spec["eos_boost"]
    return model


def derive_amateur(pair: dict, expert, scale: float, seed: int):
    """Amateur = expert weights sliced to the amateur's shape + scale * std(tensor) * N(0, 1)."""
    cfg_cls, model_cls = pair["cls"]
    spec = pair["amateur"]
    cd = expert.config.to_dict()
    keep = {k: cd[k] for k in pair["expert"]["config"]}
    keep.update(spec["overrides"])
    for k in ("bos_token_id", "eos_token_id"):
        if cd.get(k) is not None:
            keep[k] = cd[k]
    model = model_cls(cfg_cls(vocab_size=spec.get("vocab", expert.config.vocab_size), **keep))
    src = dict(expert.named_parameters())
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in sorted(model.named_parameters(), key=lambda kv: kv[0]):
            e = src[name].detach().float()
            e = e[tuple(slice(0, n) for n in p.shape)]
            std = float(e.std()) if e.numel() > 1 else 0.0
            p.copy_(e + scale * std * torch.randn(p.shape, generator=g))
    return model


def chat_prompt(tok, question: str) -> tuple[list[int], str]:
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": question}]
    ids = mf.chat_ids(tok, messages)
    text = tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    assert ids == tok(text).input_ids
    return ids, text


def greedy(model, prompt: list[int], eos: list[int]) -> tuple[list[int], float, bool]:
    """No-KV-cache greedy argmax loop; stops after emitting an EOS id (included)."""
    cur, out, margin = list(prompt), [], math.inf
    with torch.no_grad():
        for _ in range(MAX_NEW_TOKENS):
            logits = model(torch.tensor([cur])).logits[0, -1]
            top = torch.topk(logits, 2)
            margin = min(margin, float(top.values[0] - top.values[1]))
            nxt = int(top.indices[0])
            out.append(nxt)
            cur.append(nxt)
            if nxt in eos:
                return out, margin, True
    return out, margin, False


def degenerate(ids: list[int]) -> bool:
    run = longest = 1
    for a, b in zip(ids, ids[1:]):
        run = run + 1 if a == b else 1
        longest = max(longest, run)
    return len(set(ids)) < min(6, len(ids) - 1) or longest > 3


def contrast_row(le: torch.Tensor, la: torch.Tensor, shared: int):
    """Mirror of runtime/backend/reference.ts contrast() for one row (float64 math)."""
    pe = torch.softmax(le.double(), dim=-1)[:shared]
    pa = torch.softmax(la.double(), dim=-1)[:shared]
    score = torch.log(pe + EPS) - torch.log(pa + EPS)
    kl = float((pe * score).sum())
    mx = float(pe.max())
    mask = pe >= ALPHA * mx
    ids = torch.nonzero(mask).flatten().tolist()
    w = torch.softmax(score[mask], dim=-1).tolist()
    mask_margin = float((pe / mx - ALPHA).abs().min())
    return kl, ids, w, mask_margin


def expert_runs(pair: dict, tok, edir: Path, problems: list[dict]):
    expert = load_f32(edir)
    eos = eos_ids(expert)
    runs = []
    for p in problems:
        prompt, text = chat_prompt(tok, p["question"])
        traj, margin, stopped = greedy(expert, prompt, eos)
        x = torch.tensor([prompt])
        with torch.no_grad():
            gen = expert.generate(
                input_ids=x,
                attention_mask=torch.ones_like(x),
                generation_config=GenerationConfig(
                    do_sample=False, max_new_tokens=MAX_NEW_TOKENS, eos_token_id=eos,
                    pad_token_id=expert.generation_config.pad_token_id,
                ),
                repetition_penalty=1.0,
            )
        assert gen[0, len(prompt):].tolist() == traj, (pair["name"], p["id"])
        with torch.no_grad():
            tf = expert(torch.tensor([prompt + traj])).logits[0].float()
        runs.append(dict(prompt=prompt, text=text, traj=traj, margin=margin, stopped=stopped, tf=tf))
    return expert, runs


def amateur_logits(amateur, run) -> torch.Tensor:
    with torch.no_grad():
        return amateur(torch.tensor([run["prompt"] + run["traj"]])).logits[0].float()


def steps_for(run, la: torch.Tensor, shared: int) -> list[dict]:
    P = len(run["prompt"])
    out = []
    for t in range(1, len(run["traj"])):
        kl, ids, w, mm = contrast_row(run["tf"][P - 1 + t], la[P - 1 + t], shared)
        out.append(dict(step=t, kl=kl, ids=ids, w=w, mask_margin=mm))
    return out


def evaluate(runs, las, shared):
    steps = [s for run, la in zip(runs, las) for s in steps_for(run, la, shared)]
    frac = sum(s["kl"] >= BETA for s in steps) / len(steps)
    kl_margin = min(abs(s["kl"] - BETA) for s in steps)
    mask_margin = min(s["mask_margin"] for s in steps)
    return frac, kl_margin, mask_margin


def dump_expected(data: dict, path: Path) -> None:
    """Pretty JSON with each step (and each id list) on one line."""
    blobs = {}

    def hold(v):
        key = f"@@{len(blobs)}@@"
        blobs[key] = json.dumps(v, ensure_ascii=False)
        return key

    d = json.loads(json.dumps(data))
    for p in d["problems"]:
        p["prompt_token_ids"] = hold(p["prompt_token_ids"])
        p["trajectory_token_ids"] = hold(p["trajectory_token_ids"])
        p["steps"] = [hold(s) for s in p["steps"]]
    s = json.dumps(d, indent=2, ensure_ascii=False)
    for k, v in blobs.items():
        s = s.replace(f'"{k}"', v)
    path.write_text(s + "\n")
    assert json.loads(path.read_text()) == json.loads(json.dumps(data))


def build_pair(pair: dict, problems: list[dict]) -> dict:
    name = pair["name"]
    tok_src = mf.TOKDIR / pair["tokenizer"]
    tok = AutoTokenizer.from_pretrained(tok_src)
    ntok = len(tok)
    pdir = SAMPLING / "models" / name
    edir, adir = pdir / "expert", pdir / "amateur"

    # 1. expert: reseed until every trajectory is clean (margins, not degenerate, EOS wish).
    for attempt in range(40):
        seed = pair["seed"] + 1000 * attempt
        model = build_expert(pair, seed, tok, ntok)
        save_model(model, pair["expert"]["dtype"], pair["expert"]["generation"], tok, tok_src, edir)
        expert, runs = expert_runs(pair, tok, edir, problems)
        margin = min(r["margin"] for r in runs)
        degen = [i for i, r in enumerate(runs) if degenerate(r["traj"])]
        stops = [r["stopped"] for r in runs]
        eos_ok = min(len(r["traj"]) for r in runs) >= 6 and (sum(stops) == 1 or not pair["eos_stop"])
        if margin >= MIN_GREEDY_MARGIN and not degen and eos_ok:
            break
        print(
            f"  {name}: expert seed {seed}: margin {margin:.3g} degenerate {degen} eos {stops}; reseeding",
            file=sys.stderr,
        )
    else:
        raise RuntimeError(f"{name}: no clean expert seed")
    expert_seed = seed

    # 2. amateur: smallest noise scale on the grid whose selected fraction is in range and
    #    closest to 50 %, with no KL within MIN_KL_MARGIN of beta and a clean mask edge.
    shared = min(expert.config.vocab_size, pair["amateur"].get("vocab", expert.config.vocab_size))
    noise_seed = expert_seed + 17
    best = None
    for scale in NOISE_GRID:
        am = derive_amateur(pair, expert, scale, noise_seed).to(pair["amateur"]["dtype"]).float().eval()
        frac, klm, mm = evaluate(runs, [amateur_logits(am, r) for r in runs], shared)
        ok = TARGET_FRACTION[0] <= frac <= TARGET_FRACTION[1] and klm >= MIN_KL_MARGIN and mm >= MIN_MASK_MARGIN
        if ok and (best is None or abs(frac - 0.5) < abs(best[1] - 0.5)):
            best = (scale, frac)
    if best is None:
        raise RuntimeError(f"{name}: no noise scale gives {TARGET_FRACTION} selected")
    scale = best[0]
    amateur = derive_amateur(pair, expert, scale, noise_seed)
    save_model(amateur, pair["amateur"]["dtype"], pair["amateur"]["generation"], tok, tok_src, adir)
    for f in tok_src.iterdir():
        assert (edir / f.name).read_bytes() == (adir / f.name).read_bytes()

    # 3. the oracle, from the checkpoints on disk
    expert, runs = expert_runs(pair, tok, edir, problems)
    amateur = load_f32(adir)
    Ve, Va = expert.config.vocab_size, amateur.config.vocab_size
    assert shared == min(Ve, Va)
    out_problems, samples, near, mask_margins = [], [], [], []
    max_tf_diff = 0.0
    reenc_diff = []  # (problem id, step, selection flips) where the re-encoded ids differ
    for p, run in zip(problems, runs):
        P, traj = len(run["prompt"]), run["traj"]
        la = amateur_logits(amateur, run)
        assert la.shape == (P + len(traj), Va) and run["tf"].shape == (P + len(traj), Ve)
        with torch.no_grad():
            for t in range(0, len(traj)):
                exact = run["prompt"] + traj[:t]
                row_a = amateur(torch.tensor([exact])).logits[0, -1].float()
                row_e = expert(torch.tensor([exact])).logits[0, -1].float()
                d = max(float((row_a - la[P - 1 + t]).abs().max()), float((row_e - run["tf"][P - 1 + t]).abs().max()))
                max_tf_diff = max(max_tf_diff, d)
                assert d < 1e-4, (name, p["id"], t, d)
                assert int(run["tf"][P - 1 + t].argmax()) == traj[t]
                if t == 0:
                    continue
                # the reference scripts' per-prefix amateur input: template text + decoded
                # prefix, re-tokenised.  Where it gives the exact ids, its distribution is the
                # teacher-forced row (asserted above); where BPE re-merges the text it differs.
                reenc = tok(run["text"] + tok.decode(traj[:t], skip_special_tokens=False)).input_ids
                if reenc != exact:
                    ref_a = amateur(torch.tensor([reenc])).logits[0, -1].float()
                    kl_ref = contrast_row(run["tf"][P - 1 + t], ref_a, shared)[0]
                    kl_tf = contrast_row(run["tf"][P - 1 + t], la[P - 1 + t], shared)[0]
                    reenc_diff.append((p["id"], t, (kl_ref >= BETA) != (kl_tf >= BETA)))
        steps = []
        for s in steps_for(run, la, shared):
            t = s["step"]
            assert s["mask_margin"] >= MIN_MASK_MARGIN and traj[t] in s["ids"]
            mask_margins.append(s["mask_margin"])
            if abs(s["kl"] - BETA) < 1e-3:
                near.append((p["id"], t, s["kl"]))
            prefix = tok.decode(traj[:t], skip_special_tokens=False)
            rec = {
                "step": t,
                "kl": r7(s["kl"]),
                "selected": s["kl"] >= BETA,
                "token_ids": s["ids"],
                "weights": [r7(w) for w in s["w"]],
                "prefix_token_ids": traj[:t],
                "prefix": prefix,
            }
            steps.append(rec)
            if rec["selected"]:
                samples.append(
                    {
                        "prompt_id": p["id"],
                        "step": t,
                        "prefix": prefix,
                        "tokens": [tok.decode([i]) for i in s["ids"]],
                        "token_ids": s["ids"],
                        "weights": rec["weights"],
                        "kl_divergence": rec["kl"],
                        "question": p["question"],
                        "prefix_token_ids": traj[:t],
                    }
                )
        out_problems.append(
            {
                "id": p["id"],
                "question": p["question"],
                "prompt_token_ids": run["prompt"],
                "trajectory_token_ids": traj,
                "trajectory_text": tok.decode(traj, skip_special_tokens=False),
                "stopped_by_eos": run["stopped"],
                "greedy_min_margin": r7(run["margin"]),
                "steps": steps,
            }
        )
    all_steps = [s for p in out_problems for s in p["steps"]]
    data = {
        "pair": name,
        "covers": pair["covers"],
        "settings": {"alpha": ALPHA, "beta": BETA, "max_new_tokens": MAX_NEW_TOKENS, "system": SYSTEM},
        "expert": {
            "dir": f"sampling/models/{name}/expert",
            "arch": expert.config.architectures[0],
            "file_dtype": str(pair["expert"]["dtype"]).replace("torch.", ""),
            "config_vocab_size": Ve,
            "seed": expert_seed,
        },
        "amateur": {
            "dir": f"sampling/models/{name}/amateur",
            "arch": amateur.config.architectures[0],
            "file_dtype": str(pair["amateur"]["dtype"]).replace("torch.", ""),
            "config_vocab_size": Va,
            "noise_scale": scale,
            "noise_seed": noise_seed,
        },
        "tokenizer_size": ntok,
        "eos_token_ids": eos_ids(expert),
        "shared_vocab": shared,
        "compute_dtype": "float32",
        "attn_implementation": "eager",
        "problems": out_problems,
        "selected_count": sum(s["selected"] for s in all_steps),
        "step_count": len(all_steps),
        "versions": {"torch": torch.__version__, "transformers": mf.transformers.__version__},
    }
    exp = SAMPLING / "expected"
    exp.mkdir(parents=True, exist_ok=True)
    dump_expected(data, exp / f"{name}.json")
    with open(exp / f"{name}.samples.jsonl", "w", encoding="utf-8") as f:
        for rec in samples:
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")
    assert len(samples) == data["selected_count"]
    kls = [s["kl"] for s in all_steps]
    return dict(
        name=name, steps=len(all_steps), selected=data["selected_count"], kl=(min(kls), statistics.median(kls), max(kls)),
        lens=[len(p["trajectory_token_ids"]) for p in out_problems], eos=[p["stopped_by_eos"] for p in out_problems],
        scale=scale, expert_seed=expert_seed, near=near, mask_margin=min(mask_margins),
        kl_margin=min(abs(k - BETA) for k in kls), max_tf_diff=max_tf_diff, reenc_diff=reenc_diff,
        mask_sizes=(min(len(s["token_ids"]) for s in all_steps), max(len(s["token_ids"]) for s in all_steps)),
    )


def main() -> None:
    t0 = time.time()
    assert (mf.TOKDIR / "smol" / "tokenizer.json").exists(), "run scripts/make_fixtures.py first"
    if SAMPLING.exists():
        shutil.rmtree(SAMPLING)
    SAMPLING.mkdir(parents=True)
    with open(SAMPLING / "questions.jsonl", "w", encoding="utf-8") as f:
        for q in QUESTIONS:
            f.write(json.dumps(q, ensure_ascii=False) + "\n")
    problems = [dict(q, id=q.get("id", str(i))) for i, q in enumerate(QUESTIONS)]
    rows = [build_pair(pair, problems) for pair in PAIRS]
    print()
    for r in rows:
        lo, med, hi = r["kl"]
        print(
            f"{r['name']:11} steps {r['steps']:3d}  selected {r['selected']:3d} ({r['selected'] / r['steps']:.0%})  "
            f"KL min/median/max {lo:.4g} / {med:.4g} / {hi:.4g}  trajectory lengths {r['lens']} eos {r['eos']}  "
            f"mask sizes {r['mask_sizes'][0]}..{r['mask_sizes'][1]}  noise {r['scale']}  expert seed {r['expert_seed']}  "
            f"max |teacher-forced - per-prefix| {r['max_tf_diff']:.2g}"
        )
        print(f"  min |KL - beta| {r['kl_margin']:.3g}; min |pE/max pE - alpha| {r['mask_margin']:.3g}")
        for pid, t, kl in r["near"]:
            print(f"  |KL - beta| < 1e-3: problem {pid} step {t} KL {kl:.7g}")
        rd = r["reenc_diff"]
        print(
            f"  reference per-prefix re-encode gives other ids than prompt + trajectory[:t] at {len(rd)} of "
            f"{r['steps']} steps ({sum(f for *_, f in rd)} would flip selected); first: {[(a, b) for a, b, _ in rd[:6]]}"
        )
        if not r["near"]:
            print("  no step has |KL - beta| < 1e-3")
    total = sum(f.stat().st_size for f in SAMPLING.rglob("*") if f.is_file())
    print(f"\ntotal sampling fixture bytes: {total}   time: {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
