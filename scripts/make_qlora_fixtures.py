#!/usr/bin/env python3
"""QLoRA gradient fixtures (issue 30 item 3): the LoRA gradients PyTorch + peft compute on a base whose
projections are llama.cpp-quantized and dequantized again (gguf.quants), i.e. what fine-tuning on a
frozen Q4_0 / Q8_0 base must give. Same samples, init adapter, loss and layout as grads.json of
scripts/make_finetune_fixtures.py (whose helpers this reuses); the only change is the base's weights:
every matrix the runtime quantizes (runtime/quant quantizationPolicy) replaced by
gguf.quants.dequantize(gguf.quants.quantize(W)), W the file's values in float32.

Writes test/fixtures/finetune/<pair>/qlora-<type>-grads.json. Tests never run Python.
    /work/venv-ref/bin/python scripts/make_qlora_fixtures.py
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_finetune_fixtures as ff  # noqa: E402  (deterministic torch settings on import)
from make_quant_parity_fixtures import POLICY  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from gguf import GGMLQuantizationType as Q  # noqa: E402
from gguf.quants import dequantize, quantize  # noqa: E402
from transformers import AutoTokenizer  # noqa: E402

CASES = [("llama-pair", "q4_0"), ("qwen-pair", "q4_0"), ("llama-pair", "q8_0")]
QTYPE = {"q8_0": Q.Q8_0, "q4_0": Q.Q4_0}


def quantized_base(original, qtype):
    def load(pair: str, dtype=torch.float32):
        m = original(pair, torch.float32)
        with torch.no_grad():
            for name, p in m.named_parameters():
                if POLICY.match(name) and p.dim() == 2 and p.shape[1] % 32 == 0:
                    w = p.detach().numpy().astype(np.float32)
                    p.copy_(torch.from_numpy(dequantize(quantize(w, qtype), qtype).astype(np.float32).reshape(w.shape)))
        return m if dtype == torch.float32 else m.to(dtype)
    return load


def main() -> None:
    original = ff.load_base
    for pair, tname in CASES:
        ff.load_base = quantized_base(original, QTYPE[tname])
        pdir = ff.FINETUNE / pair
        tok = AutoTokenizer.from_pretrained(ff.SAMPLING / "models" / pair / "expert")
        samples = ff.read_samples(pair, tok)[: ff.GRAD_SAMPLES]
        losses, grads = ff.compute_grads(pair, pdir / "init-adapter", samples, torch.float32)
        data = {
            "pair": pair,
            "quantize": tname,
            "about": "LoRA grads (PyTorch + peft, float32) on the gguf-dequantized base: scripts/make_qlora_fixtures.py",
            "system": ff.SYSTEM,
            "batch": {"samples": [s["index"] for s in samples], "reduction": "batchmean", "one_forward_per_sample": True},
            "loss": float(np.mean(np.array(losses, dtype=np.float64))),
            "keys": list(grads),
            "grads": ff.tensors_json(grads),
            "versions": ff.versions(),
        }
        ff.dump(data, pdir / f"qlora-{tname}-grads.json")
        print(pair, tname, "loss", data["loss"])
    ff.load_base = original


if __name__ == "__main__":
    main()
