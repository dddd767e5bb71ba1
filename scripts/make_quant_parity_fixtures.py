#!/usr/bin/env python3
"""Parity fixtures for quantized loading (issue 30 item 2/3): what transformers computes, in float32, on
the weights llama.cpp's own package dequantizes. For each fixture model and Q8_0 / Q4_0, the projection
matrices the runtime quantizes (runtime/quant quantizationPolicy: q/k/v/o/gate/up/down of a layer whose
rows are a multiple of 32) are replaced by gguf.quants.dequantize(gguf.quants.quantize(W)), W the
file's values in float32; everything else keeps the file's values. Then transformers (eager, float32)
gives the last prompt position's logits and the greedy ids (a no-cache loop, as make_fixtures.py).

Writes test/fixtures/quant/parity.json (small: one logits row per case). Tests never run Python.
    /work/venv-ref/bin/python scripts/make_quant_parity_fixtures.py
"""
from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import torch
from gguf import GGMLQuantizationType as Q
from gguf.quants import dequantize, quantize
from transformers import AutoModelForCausalLM

ROOT = Path(__file__).resolve().parent.parent
FIX = ROOT / "test" / "fixtures"
MODELS = ["llama-gqa-tied-f32", "llama-untied-bf16-llama3rope", "qwen2-bias-f16"]
TYPES = {"q8_0": Q.Q8_0, "q4_0": Q.Q4_0}
NEW_TOKENS = 12
POLICY = re.compile(r"^model\.layers\.\d+\.(self_attn\.(q_proj|k_proj|v_proj|o_proj)|mlp\.(gate_proj|up_proj|down_proj))\.weight$")


def round7(x: float) -> float:
    return float(f"{x:.7g}")


def quantized_model(mdir: Path, qtype):
    model = AutoModelForCausalLM.from_pretrained(mdir, dtype=torch.float32, attn_implementation="eager")
    model.eval()
    count = 0
    with torch.no_grad():
        for name, p in model.named_parameters():
            if POLICY.match(name) and p.dim() == 2 and p.shape[1] % 32 == 0:
                # the file's values: a bf16/f16 checkpoint loads exactly into float32
                w = p.detach().numpy().astype(np.float32)
                dq = dequantize(quantize(w, qtype), qtype).astype(np.float32).reshape(w.shape)
                p.copy_(torch.from_numpy(dq))
                count += 1
    return model, count


def greedy(model, ids: list[int], n: int) -> tuple[list[int], float, list[float]]:
    cur, out, margin, first = list(ids), [], math.inf, None
    with torch.no_grad():
        for _ in range(n):
            logits = model(torch.tensor([cur])).logits[0, -1].float()
            if first is None:
                first = [round7(v) for v in logits.tolist()]
            top = torch.topk(logits, 2)
            margin = min(margin, float(top.values[0] - top.values[1]))
            out.append(int(top.indices[0]))
            cur.append(out[-1])
    return out, margin, first


def main() -> None:
    cases = []
    for m in MODELS:
        exp = json.loads((FIX / "expected" / f"{m}.json").read_text())
        prompt = exp["prompts"][0]
        for tname, qtype in TYPES.items():
            model, count = quantized_model(FIX / "models" / m, qtype)
            ids, margin, logits = greedy(model, prompt["prompt_token_ids"], NEW_TOKENS)
            cases.append({"model": m, "type": tname, "quantized_matrices": count, "prompt_name": prompt["name"],
                          "prompt_token_ids": prompt["prompt_token_ids"], "greedy_token_ids": ids,
                          "greedy_min_margin": round7(margin), "last_logits": logits})
            print(m, tname, count, "matrices", ids, f"margin {margin:.4g}")
    import gguf, transformers
    out = {"about": "transformers float32 on gguf-dequantized projections (scripts/make_quant_parity_fixtures.py)",
           "versions": {"torch": torch.__version__, "transformers": transformers.__version__, "gguf": getattr(gguf, "__version__", "?")},
           "cases": cases}
    (FIX / "quant" / "parity.json").write_text(json.dumps(out) + "\n")


if __name__ == "__main__":
    main()
