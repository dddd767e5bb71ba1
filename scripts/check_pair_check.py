"""An independent check of `pair-check` with PyTorch + transformers: greedy and contrastive decoding
(CD) of the embedded pair, written from LIGHTREASONER.md's formulas (not from our code), compared
output by output with a `pair-check --out` file.

CD at a step: P_E, P_A = softmax of each model's logits; mask = {i : P_E_i >= alpha * max P_E};
choice = argmax over the mask of ln(P_E + 1e-12) - ln(P_A + 1e-12). Selective CD uses it only at
steps t >= 1 with KL(P_E || P_A) = sum P_E (ln(P_E + 1e-12) - ln(P_A + 1e-12)) >= beta.

    node cli/main.ts problems --set dev --count 1000 --out dev.jsonl
    node cli/main.ts pair-check --data dev.jsonl --count 1000 --alpha 0.1,0.5 --beta 1 --out check.json
    /work/venv-ref/bin/python scripts/check_pair_check.py check.json dev.jsonl [N]

Prints, per variant, how many of the first N outputs are identical and both accuracies. Needs torch
and transformers; tests never run it.
"""
import json
import sys

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

SYSTEM = "Please reason step by step, and put your final answer within \\boxed{}."
EPS = 1e-12


def decode(expert, amateur, ids, alpha, beta, max_new, eos):
    out = []
    pe_past = pa_past = None
    inp = torch.tensor([ids])
    for t in range(max_new):
        with torch.no_grad():
            e = expert(input_ids=inp, past_key_values=pe_past, use_cache=True)
            a = amateur(input_ids=inp, past_key_values=pa_past, use_cache=True)
        pe_past, pa_past = e.past_key_values, a.past_key_values
        le, la = e.logits[0, -1].double(), a.logits[0, -1].double()
        pe, pa = torch.softmax(le, -1), torch.softmax(la, -1)
        n = min(pe.shape[0], pa.shape[0])
        pe, pa = pe[:n], pa[:n]
        choice = int(torch.argmax(le))
        contrast = torch.log(pe + EPS) - torch.log(pa + EPS)
        kl = float((pe * contrast).sum())
        if alpha is not None and (beta is None or (t >= 1 and kl >= beta)):
            mask = pe >= alpha * pe.max()
            scores = torch.where(mask, contrast, torch.tensor(-float("inf"), dtype=contrast.dtype))
            choice = int(torch.argmax(scores))
        out.append(choice)
        if choice in eos:
            break
        inp = torch.tensor([[choice]])
    return out


def main():
    check = json.load(open(sys.argv[1]))
    problems = {p["id"]: p for p in map(json.loads, open(sys.argv[2]))}
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 50
    torch.set_num_threads(1)
    src = check["models"]
    expert = AutoModelForCausalLM.from_pretrained(src["expert"]["source"], torch_dtype=torch.float32).eval()
    amateur = AutoModelForCausalLM.from_pretrained(src["amateur"]["source"], torch_dtype=torch.float32).eval()
    tok = AutoTokenizer.from_pretrained(src["expert"]["source"])
    eos = set(expert.generation_config.eos_token_id if isinstance(expert.generation_config.eos_token_id, list) else [expert.generation_config.eos_token_id])
    max_new = check["settings"]["max_new_tokens"]
    for v in check["variants"]:
        same = ours_right = 0
        differ = []
        for r in check["records"][:n]:
            q = problems[r["id"]]["question"]
            ids = tok.apply_chat_template([{"role": "system", "content": SYSTEM}, {"role": "user", "content": q}], add_generation_prompt=True, tokenize=True)
            if not isinstance(ids, list):
                ids = ids["input_ids"]
            text = tok.decode(decode(expert, amateur, ids, v["alpha"], v["beta"], max_new, eos), skip_special_tokens=True)
            ours = r["outputs"][v["name"]]
            ours_right += ours["correct"]
            if text == ours["output"]:
                same += 1
            else:
                differ.append(r["id"])
        print(f"{v['name']}: {same}/{n} outputs identical to transformers'; ours right on {ours_right}/{n}; differ: {differ[:10]}")


if __name__ == "__main__":
    main()
