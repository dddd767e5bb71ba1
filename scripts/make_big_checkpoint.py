#!/usr/bin/env python3
"""A random checkpoint with the full layer shape of Qwen2.5-7B (issue 29), for the big-model bench
and the "past 4 GiB on Wasm" check. Not committed: it is gigabytes.

    .venv-ref/bin/python scripts/make_big_checkpoint.py OUT_DIR [--layers 10] [--expected]

Writes OUT_DIR as save_pretrained does (config.json, generation_config.json, bf16
model-0000k-of-0000n.safetensors in 2 GB shards with model.safetensors.index.json) plus the qwen
fixture tokenizer (426 tokens; the config's 152,064-row vocabulary is padded, as Qwen2.5's is).
hidden 3584, 28 q / 4 kv heads of 128, ffn 18944, vocab 152064, untied LM head, q/k/v biases:
Qwen2.5-7B's layer and vocabulary shape; 10 layers make 6.8 GB of bf16 (a 28-layer file would
be the full 15.2 GB).

With --expected it then reloads the checkpoint in float32 (eager attention) and writes
OUT_DIR/expected.json: greedy ids of transformers' generate for two fixed prompts and the smallest
top-1/top-2 logit gap on the way (how much f32 summation order could matter). Float32 needs 2x the
bf16 bytes of RAM (13.6 GB for 10 layers).
"""

from __future__ import annotations

import argparse
import gc
import json
import shutil
import time
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, GenerationConfig, Qwen2Config, Qwen2ForCausalLM

ROOT = Path(__file__).resolve().parent.parent
TOKENIZER = ROOT / "test" / "fixtures" / "models" / "qwen2-tied-bf16"
TOKENS = 426  # the fixture tokenizer's size
PROMPTS = [[422, 882, 198, 40, 1079, 264, 3405, 13], [17, 18, 19, 20, 21, 30, 31]]
NEW_TOKENS = 8


def config(layers: int) -> Qwen2Config:
    return Qwen2Config(
        hidden_size=3584, intermediate_size=18944, num_hidden_layers=layers, num_attention_heads=28, num_key_value_heads=4,
        vocab_size=152064, max_position_embeddings=32768, rope_theta=1e6, rms_norm_eps=1e-6, tie_word_embeddings=False,
        use_sliding_window=False, bos_token_id=None, eos_token_id=423, torch_dtype="bfloat16",
    )


def build(out: Path, layers: int) -> None:
    torch.manual_seed(29)
    t0 = time.time()
    with torch.device("meta"):
        model = Qwen2ForCausalLM(config(layers))
    model = model.to_empty(device="cpu").to(torch.bfloat16)
    g = torch.Generator().manual_seed(29)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.copy_(torch.rand(p.shape, generator=g) + 0.5)
            elif name.endswith(".bias"):
                p.copy_(torch.randn(p.shape, generator=g) * 0.1)
            else:
                # std 1/sqrt(fan_in) keeps activations and logits O(1) through the layers
                p.copy_(torch.randn(p.shape, generator=g) / p.shape[-1] ** 0.5)
        # The vocabulary is padded past the tokenizer (as Qwen2.5's 152,064 rows are past its 151,665
        # tokens): trained models never pick the padding; zero rows keep random ones from picking it
        # too, so that a small amateur with the tokenizer's vocabulary can follow the expert.
        model.lm_head.weight[TOKENS:] = 0
    model.generation_config = GenerationConfig(eos_token_id=423, do_sample=False)
    model.save_pretrained(out, max_shard_size="2GB")
    for f in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
        shutil.copy(TOKENIZER / f, out / f)
    print(f"wrote {out} in {time.time() - t0:.0f} s: {sum(p.numel() for p in model.parameters()) / 1e9:.2f} B parameters")


def expected(out: Path) -> None:
    t0 = time.time()
    model = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32, attn_implementation="eager")
    model.eval()
    results = []
    for ids in PROMPTS:
        with torch.no_grad():
            o = model.generate(torch.tensor([ids]), max_new_tokens=NEW_TOKENS, do_sample=False, output_scores=True, return_dict_in_generate=True, pad_token_id=0, eos_token_id=None)
        gaps = [float(s[0].topk(2).values[0] - s[0].topk(2).values[1]) for s in o.scores]
        results.append({"prompt_token_ids": ids, "greedy_token_ids": o.sequences[0, len(ids):].tolist(), "min_top2_gap": min(gaps)})
    (out / "expected.json").write_text(json.dumps({"dtype": "float32", "attn_implementation": "eager", "prompts": results}, indent=1))
    print(f"expected.json in {time.time() - t0:.0f} s: {results}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("out", type=Path)
    ap.add_argument("--layers", type=int, default=10)
    ap.add_argument("--expected", action="store_true")
    a = ap.parse_args()
    if not (a.out / "config.json").exists():
        build(a.out, a.layers)
        gc.collect()
    if a.expected:
        expected(a.out)


if __name__ == "__main__":
    main()
