#!/usr/bin/env python3
"""Check that the embedded default pair (models/default/{expert,amateur}/) loads in transformers,
and record transformers' logits and greedy ids on one prompt into test/fixtures/default-pair.json
(test/default-pair.test.ts compares ours with them).

    .venv-ref/bin/python scripts/check_default_pair.py

Known-good: torch 2.13 (CPU), transformers 5.18, tokenizers 0.23. Run it after
scripts/build-default-pair.ts rebuilds the pair.
"""
import json
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

ROOT = Path(__file__).resolve().parent.parent
PAIR = ROOT / "models" / "default"
OUT = ROOT / "test" / "fixtures" / "default-pair.json"
SYSTEM = "Please reason step by step, and put your final answer within \\boxed{}."
# The first `eval`-set question (lightreasoner-wasm problems --set eval --seed 0): never trained on.
QUESTION = "Ravi buys 3 candles that cost $6 each and 2 scarves that cost $20 each. How much does he spend in all?"
LAST = 4  # positions whose full logits are recorded
GREEDY = 48


def round7(x: float) -> float:
    return float(f"{x:.7g}")


def main() -> None:
    torch.manual_seed(0)
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": QUESTION}]
    out = {"messages": messages, "last_positions": LAST, "models": {}}
    toks = {}
    for name in ["expert", "amateur"]:
        d = PAIR / name
        tok = AutoTokenizer.from_pretrained(d)
        model = AutoModelForCausalLM.from_pretrained(d, dtype=torch.float32).eval()
        assert type(model).__name__ == "LlamaForCausalLM", type(model)
        ids = tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=False)
        if isinstance(ids, dict) or hasattr(ids, "input_ids"):
            ids = ids["input_ids"]
        ids = list(ids)
        toks[name] = ids
        with torch.no_grad():
            logits = model(torch.tensor([ids])).logits[0]
            # Greedy decoding by hand (full recompute; no cache subtleties), with the top-2 margins.
            seq, gen, margins = list(ids), [], []
            for _ in range(GREEDY):
                lg = model(torch.tensor([seq])).logits[0, -1]
                top = torch.topk(lg, 2)
                margins.append(float(top.values[0] - top.values[1]))
                nxt = int(top.indices[0])
                gen.append(nxt)
                seq.append(nxt)
                if nxt == tok.eos_token_id:
                    break
        n = sum(p.numel() for p in model.parameters())
        print(f"{name}: {model.config.num_hidden_layers} layers, hidden {model.config.hidden_size}, {n} parameters; "
              f"greedy: {tok.decode(gen, skip_special_tokens=True)!r}")
        out["models"][name] = {
            "input_ids": ids,
            "logits": [[round7(v) for v in row] for row in logits[-LAST:].tolist()],
            "greedy_ids": gen,
            "greedy_min_margin": min(margins),
            "parameters": n,
        }
    assert toks["expert"] == toks["amateur"], "the pair must share one tokenizer"
    OUT.write_text(json.dumps(out) + "\n")
    print(f"wrote {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
