#!/usr/bin/env python3
"""Build the golden test fixtures of lightreasoner-wasm from scratch.

Run from the repository root with the reference venv:

    .venv-ref/bin/python scripts/make_fixtures.py

It needs no network and no model hub: a small arithmetic word-problem corpus is
generated from a fixed seed, two tiny byte-level BPE tokenizers are trained on it
with `tokenizers`, four tiny random-weight Llama/Qwen2 checkpoints are written with
`save_pretrained`, and the reference outputs (logits for every prompt position,
greedy continuations, tokenizer encode/decode checks) are computed with the
checkpoints reloaded in float32 with eager attention.

This script's own models under test/fixtures/models, their test/fixtures/expected files
and test/fixtures/tokenizers are deleted and rebuilt (the family fixtures of
scripts/make_family_fixtures.py beside them are left alone; rerun that script after this one
if the tokenizers changed).  The run is deterministic (fixed seeds, single-threaded torch and BPE
training) and takes about 5-10 seconds on a laptop CPU (mostly imports).

Known-good versions: torch 2.13 (CPU), transformers 5.18, tokenizers 0.23,
safetensors 0.8.  See test/fixtures/README.md for what each fixture covers.
"""

from __future__ import annotations

import os

os.environ.setdefault("RAYON_NUM_THREADS", "1")  # deterministic BPE training
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import json
import math
import random
import shutil
import sys
import time
from pathlib import Path

import torch
import tokenizers
import transformers
from tokenizers import AddedToken, Regex, Tokenizer, decoders, normalizers, pre_tokenizers, processors
from tokenizers.models import BPE
from tokenizers.trainers import BpeTrainer
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    GenerationConfig,
    LlamaConfig,
    LlamaForCausalLM,
    Qwen2Config,
    Qwen2ForCausalLM,
)

transformers.logging.set_verbosity_error()
torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "test" / "fixtures"
MODELS = FIXTURES / "models"
EXPECTED = FIXTURES / "expected"
TOKDIR = FIXTURES / "tokenizers"

MAX_NEW_TOKENS = 12
MIN_GREEDY_MARGIN = 1e-2  # top1 - top2 logit gap required at every greedy step

# --------------------------------------------------------------------------------------
# Chat templates
# --------------------------------------------------------------------------------------

SMOL_DEFAULT_SYSTEM = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"
QWEN_DEFAULT_SYSTEM = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."

# SmolLM2-*-Instruct template (verbatim structure).
SMOL_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\n" + SMOL_DEFAULT_SYSTEM + "<|im_end|>\n' }}"
    "{% endif %}"
    "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

# Qwen2.5-*-Instruct template (tools branch included, as shipped).
QWEN_CHAT_TEMPLATE = """{%- if tools %}
    {{- '<|im_start|>system\\n' }}
    {%- if messages[0]['role'] == 'system' %}
        {{- messages[0]['content'] }}
    {%- else %}
        {{- 'You are Qwen, created by Alibaba Cloud. You are a helpful assistant.' }}
    {%- endif %}
    {{- "\\n\\n# Tools\\n\\nYou may call one or more functions to assist with the user query.\\n\\nYou are provided with function signatures within <tools></tools> XML tags:\\n<tools>" }}
    {%- for tool in tools %}
        {{- "\\n" }}
        {{- tool | tojson }}
    {%- endfor %}
    {{- "\\n</tools>\\n\\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\\n<tool_call>\\n{\\"name\\": <function-name>, \\"arguments\\": <args-json-object>}\\n</tool_call><|im_end|>\\n" }}
{%- else %}
    {%- if messages[0]['role'] == 'system' %}
        {{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}
    {%- else %}
        {{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\\n' }}
    {%- endif %}
{%- endif %}
{%- for message in messages %}
    {%- if (message.role == "user") or (message.role == "system" and not loop.first) or (message.role == "assistant" and not message.tool_calls) %}
        {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}
    {%- elif message.role == "assistant" %}
        {{- '<|im_start|>' + message.role }}
        {%- if message.content %}
            {{- '\\n' + message.content }}
        {%- endif %}
        {%- for tool_call in message.tool_calls %}
            {%- if tool_call.function is defined %}
                {%- set tool_call = tool_call.function %}
            {%- endif %}
            {{- '\\n<tool_call>\\n{"name": "' }}
            {{- tool_call.name }}
            {{- '", "arguments": ' }}
            {{- tool_call.arguments | tojson }}
            {{- '}\\n</tool_call>' }}
        {%- endfor %}
        {{- '<|im_end|>\\n' }}
    {%- elif message.role == "tool" %}
        {%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != "tool") %}
            {{- '<|im_start|>user' }}
        {%- endif %}
        {{- '\\n<tool_response>\\n' }}
        {{- message.content }}
        {{- '\\n</tool_response>' }}
        {%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}
            {{- '<|im_end|>\\n' }}
        {%- endif %}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\\n' }}
{%- endif %}
"""

QWEN2_PRETOKENIZE_REGEX = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
)

# --------------------------------------------------------------------------------------
# Corpus
# --------------------------------------------------------------------------------------

NAMES = ["Tom", "Anna", "Ben", "Maria", "Sam", "Lily", "Omar", "Grace", "Leo", "Nina", "Ravi", "Zoe"]
PRONOUN = {"Tom": "he", "Ben": "he", "Sam": "he", "Omar": "he", "Leo": "he", "Ravi": "he"}
ITEMS = ["apples", "pencils", "books", "marbles", "cookies", "stickers", "eggs", "coins", "cards", "oranges"]
CONTAINERS = ["boxes", "bags", "baskets", "packs", "jars"]


def _num(rng: random.Random, lo: int, hi: int) -> int:
    return rng.randint(lo, hi)


def fmt_int(n: int) -> str:
    return f"{n:,}"


def make_problem(rng: random.Random) -> tuple[str, str]:
    name = rng.choice(NAMES)
    he = PRONOUN.get(name, "she")
    item = rng.choice(ITEMS)
    kind = rng.randrange(7)
    if kind == 0:
        a, b = _num(rng, 2, 60), _num(rng, 2, 60)
        q = f"{name} has {a} {item} and buys {b} more. How many {item} does {he} have now?"
        s = f"{name} starts with {a} {item}. {a} + {b} = {a + b}. The answer is {a + b}."
    elif kind == 1:
        a = _num(rng, 20, 99)
        b = _num(rng, 1, a - 1)
        q = f"{name} has {a} {item} and gives {b} to a friend. How many {item} are left?"
        s = f"{name} gives away {b} of {a} {item}. {a} - {b} = {a - b}. The answer is {a - b}."
    elif kind == 2:
        a, b = _num(rng, 2, 12), _num(rng, 2, 12)
        box = rng.choice(CONTAINERS)
        q = f"There are {a} {box} with {b} {item} in each. How many {item} are there in total?"
        s = f"Each of the {a} {box} holds {b} {item}. {a} * {b} = {a * b}. The answer is {a * b}."
    elif kind == 3:
        b, c = _num(rng, 2, 9), _num(rng, 2, 12)
        a = b * c
        q = f"{name} shares {a} {item} equally among {b} friends. How many {item} does each friend get?"
        s = f"{a} / {b} = {c}. Each friend gets {c} {item}. The answer is {c}."
    elif kind == 4:
        price = _num(rng, 105, 995) / 100
        n = _num(rng, 2, 9)
        total = round(price * n, 2)
        q = f"One notebook costs ${price:.2f}. How much do {n} notebooks cost?"
        s = f"{n} x ${price:.2f} = ${total:.2f}. The answer is ${total:.2f}."
    elif kind == 5:
        a, b = _num(rng, 1000, 9999), _num(rng, 100, 5000)
        q = f"A library had {fmt_int(a)} books and received {fmt_int(b)} new books. How many books does it have?"
        s = f"{fmt_int(a)} + {fmt_int(b)} = {fmt_int(a + b)}. The answer is {fmt_int(a + b)}."
    else:
        a, b, c = _num(rng, 3, 30), _num(rng, 3, 30), _num(rng, 1, 20)
        q = (
            f"{name} picks {a} {item} on Monday and {b} {item} on Tuesday, then eats {c}. "
            f"How many {item} remain?"
        )
        t = a + b
        s = (
            f"First, {a} + {b} = {t}.\nThen, {t} - {c} = {t - c}.\nThe answer is {t - c}."
        )
    return q, s


def make_corpus(seed: int = 1234, n: int = 1500) -> list[str]:
    rng = random.Random(seed)
    lines: list[str] = []
    for i in range(n):
        q, s = make_problem(rng)
        style = i % 4
        if style == 0:
            lines.append(f"Question: {q}\nAnswer: {s}")
        elif style == 1:
            sysmsg = SMOL_DEFAULT_SYSTEM if rng.random() < 0.5 else QWEN_DEFAULT_SYSTEM
            # ChatML conversations without the special markers (specials are never merged).
            lines.append(f"system\n{sysmsg}\nuser\n{q}\nassistant\n{s}\n")
        elif style == 2:
            lines.append(f"user\n{q}\nassistant\nLet me think step by step. {s}\n")
        else:
            lines.append(f"{q} {s}")
    return lines


# --------------------------------------------------------------------------------------
# Tokenizers
# --------------------------------------------------------------------------------------

SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


def added_token_entry(content: str, special: bool = True) -> dict:
    return {
        "content": content,
        "lstrip": False,
        "normalized": False,
        "rstrip": False,
        "single_word": False,
        "special": special,
    }


def train_smol_tokenizer(corpus: list[str], out: Path, vocab_size: int = 449) -> None:
    """SmolLM2-style: specials at ids 0..2, Digits(individual) + ByteLevel pre-tokenizer."""
    tok = Tokenizer(BPE(dropout=None, unk_token=None, fuse_unk=False, byte_fallback=False))
    tok.normalizer = None
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True),
        ]
    )
    tok.post_processor = processors.ByteLevel(add_prefix_space=True, trim_offsets=False, use_regex=True)
    tok.decoder = decoders.ByteLevel(add_prefix_space=True, trim_offsets=True, use_regex=True)
    trainer = BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        show_progress=False,
        special_tokens=[AddedToken(t, special=True, normalized=False) for t in SPECIALS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(corpus, trainer=trainer)
    assert [tok.token_to_id(t) for t in SPECIALS] == [0, 1, 2]
    out.mkdir(parents=True, exist_ok=True)
    tok.save(str(out / "tokenizer.json"))

    cfg = {
        "add_bos_token": False,
        "add_eos_token": False,
        "add_prefix_space": False,
        "added_tokens_decoder": {str(i): added_token_entry(t) for i, t in enumerate(SPECIALS)},
        "additional_special_tokens": ["<|im_start|>", "<|im_end|>"],
        "bos_token": "<|im_start|>",
        "chat_template": SMOL_CHAT_TEMPLATE,
        "clean_up_tokenization_spaces": False,
        "eos_token": "<|im_end|>",
        "model_max_length": 2048,
        "pad_token": "<|im_end|>",
        "tokenizer_class": "GPT2Tokenizer",
        "unk_token": "<|endoftext|>",
        "vocab_size": tok.get_vocab_size(),
    }
    (out / "tokenizer_config.json").write_text(json.dumps(cfg, indent=2, ensure_ascii=False) + "\n")
    stm = {
        "additional_special_tokens": ["<|im_start|>", "<|im_end|>"],
        "bos_token": added_token_entry("<|im_start|>"),
        "eos_token": added_token_entry("<|im_end|>"),
        "pad_token": added_token_entry("<|im_end|>"),
        "unk_token": added_token_entry("<|endoftext|>"),
    }
    for v in stm.values():
        if isinstance(v, dict):
            v.pop("special")
    (out / "special_tokens_map.json").write_text(json.dumps(stm, indent=2) + "\n")


def train_qwen_tokenizer(corpus: list[str], out: Path, bpe_vocab_size: int = 421) -> None:
    """Qwen2-style: NFC + Split(regex) + ByteLevel(use_regex=False); specials appended AFTER the
    BPE vocab (as in Qwen2.5, where <|endoftext|> is 151643), plus two non-special added tokens
    <tool_call>, </tool_call> (Qwen2.5 ships them with special=false)."""
    tok = Tokenizer(
        BPE(
            dropout=None,
            unk_token=None,
            continuing_subword_prefix="",
            end_of_word_suffix="",
            fuse_unk=False,
            byte_fallback=False,
        )
    )
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(QWEN2_PRETOKENIZE_REGEX), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False),
        ]
    )
    tok.post_processor = processors.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)
    tok.decoder = decoders.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)
    trainer = BpeTrainer(
        vocab_size=bpe_vocab_size,
        min_frequency=2,
        show_progress=False,
        special_tokens=[],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(corpus, trainer=trainer)
    base = tok.get_vocab_size()
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in SPECIALS])
    tok.add_tokens([AddedToken(t, special=False, normalized=False) for t in ["<tool_call>", "</tool_call>"]])
    ids = {t: tok.token_to_id(t) for t in SPECIALS + ["<tool_call>", "</tool_call>"]}
    assert ids["<|endoftext|>"] == base, ids
    out.mkdir(parents=True, exist_ok=True)
    tok.save(str(out / "tokenizer.json"))
    # Make the file look like the one Qwen2.5 ships (written by an older `tokenizers`):
    # merges as "a b" strings instead of [a, b] pairs (the smol tokenizer keeps the new
    # pair form, so a loader must accept both), decoder flags all false.
    tj = json.loads((out / "tokenizer.json").read_text())
    tj["model"]["merges"] = [f"{a} {b}" for a, b in tj["model"]["merges"]]
    tj["decoder"] = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}
    (out / "tokenizer.json").write_text(json.dumps(tj, indent=2, ensure_ascii=False) + "\n")
    re_read = Tokenizer.from_file(str(out / "tokenizer.json"))
    for line in corpus[:200]:
        assert re_read.encode(line).ids == tok.encode(line).ids

    dec = {str(ids[t]): added_token_entry(t) for t in SPECIALS}
    dec.update({str(ids[t]): added_token_entry(t, special=False) for t in ["<tool_call>", "</tool_call>"]})
    cfg = {
        "add_bos_token": False,
        "add_prefix_space": False,
        "added_tokens_decoder": dec,
        "additional_special_tokens": ["<|im_start|>", "<|im_end|>"],
        "bos_token": None,
        "chat_template": QWEN_CHAT_TEMPLATE,
        "clean_up_tokenization_spaces": False,
        "eos_token": "<|im_end|>",
        "errors": "replace",
        "model_max_length": 32768,
        "pad_token": "<|endoftext|>",
        "split_special_tokens": False,
        "tokenizer_class": "Qwen2Tokenizer",
        "unk_token": None,
    }
    (out / "tokenizer_config.json").write_text(json.dumps(cfg, indent=2, ensure_ascii=False) + "\n")


def install_tokenizer(src: Path, dst: Path, template_in_jinja: bool = False) -> None:
    for f in src.iterdir():
        shutil.copyfile(f, dst / f.name)
    if template_in_jinja:
        cfg = json.loads((dst / "tokenizer_config.json").read_text())
        tmpl = cfg.pop("chat_template")
        (dst / "tokenizer_config.json").write_text(json.dumps(cfg, indent=2, ensure_ascii=False) + "\n")
        (dst / "chat_template.jinja").write_text(tmpl)


# --------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------


def init_weights(model: torch.nn.Module, seed: int, keep_rows: int | None = None, tied: bool = False) -> None:
    """Deterministic, deliberately 'loud' init so logits are spread out and greedy decoding
    is not degenerate.  Std chosen so attention scores have std ~2 (softmax mixes, so a wrong
    scale / mask / rope shows up in the logits) and logits have std ~4.

    keep_rows: if the config vocab is padded beyond the tokenizer, rows >= keep_rows of the
    embedding / LM head are shrunk (x0.05) so the padding ids are never the greedy choice,
    mimicking a trained checkpoint whose padding rows are never used.

    tied: the embedding doubles as the LM head; a loud embedding then makes every position
    predict its own input token (x = E[t] + ..., logits = norm(x) E^T), so it is kept at
    std 0.5 and the attention / MLP outputs dominate the residual stream."""
    g = torch.Generator().manual_seed(seed)
    std = {
        "embed_tokens": 1.0,
        "lm_head": 0.5,
        "q_proj": 0.18,
        "k_proj": 0.18,
        "v_proj": 0.25,
        "o_proj": 0.25,
        "gate_proj": 0.2,
        "up_proj": 0.2,
        "down_proj": 0.15,
    }
    if tied:
        std["embed_tokens"] = 0.5
        std["o_proj"] = 0.4
        std["down_proj"] = 0.25
    with torch.no_grad():
        for name, p in sorted(model.named_parameters(), key=lambda kv: kv[0]):
            if "norm" in name:
                p.copy_(0.5 + torch.rand(p.shape, generator=g))  # U(0.5, 1.5)
            elif name.endswith(".bias"):
                p.copy_(0.5 * torch.randn(p.shape, generator=g))
            else:
                key = next(k for k in std if k in name)
                p.copy_(std[key] * torch.randn(p.shape, generator=g))
                if keep_rows is not None and key in ("embed_tokens", "lm_head"):
                    p[keep_rows:] *= 0.05


SPECS = [
    {
        "name": "llama-gqa-tied-f32",
        "arch": "LlamaForCausalLM",
        "tokenizer": "smol",
        "dtype": torch.float32,
        "seed": 101,
        "config": dict(
            hidden_size=64,
            intermediate_size=96,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            head_dim=16,
            max_position_embeddings=256,
            rms_norm_eps=1e-5,
            rope_parameters={"rope_type": "default", "rope_theta": 100000.0},
            tie_word_embeddings=True,
            bos_token_id=1,
            eos_token_id=2,
            pad_token_id=2,
        ),
        "generation": dict(bos_token_id=1, eos_token_id=2, pad_token_id=2),
        "covers": "Llama, GQA 4q/2kv, tied embeddings (no lm_head tensor), F32 single file, "
        "default RoPE theta 1e5, SmolLM2 tokenizer + template (specials at ids 0-2)",
    },
    {
        "name": "llama-untied-bf16-llama3rope",
        "arch": "LlamaForCausalLM",
        "tokenizer": "smol",
        "dtype": torch.bfloat16,
        "seed": 202,
        "shard": "120KB",
        "config": dict(
            hidden_size=64,
            intermediate_size=88,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            head_dim=24,  # != hidden/heads: q_proj is 64->96, o_proj 96->64
            max_position_embeddings=512,
            rms_norm_eps=1e-5,
            rope_parameters={
                "rope_type": "llama3",
                "rope_theta": 500000.0,
                "factor": 8.0,
                "low_freq_factor": 1.0,
                "high_freq_factor": 4.0,
                "original_max_position_embeddings": 64,
            },
            tie_word_embeddings=False,
            bos_token_id=1,
            eos_token_id=2,
            pad_token_id=2,
        ),
        "generation": dict(bos_token_id=1, eos_token_id=2, pad_token_id=2),
        "covers": "Llama, untied lm_head, BF16, sharded safetensors + index.json, llama3 RoPE "
        "scaling (theta 5e5, factor 8, orig ctx 64: high/medium/low frequency bands all present), "
        "explicit head_dim 24 != hidden/heads, intermediate 88, prompts longer than 64 positions",
    },
    {
        "name": "qwen2-bias-f16",
        "arch": "Qwen2ForCausalLM",
        "tokenizer": "qwen",
        "dtype": torch.float16,
        "seed": 303,
        "pad_vocab_to": 64,  # Qwen2.5 pads 151,665 tokens to 151,936 (multiple of 64... and 128)
        "config": dict(
            hidden_size=64,
            intermediate_size=88,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=1,
            max_position_embeddings=1024,
            rms_norm_eps=1e-6,
            rope_parameters={"rope_type": "default", "rope_theta": 1000000.0},
            tie_word_embeddings=False,
            use_sliding_window=False,
            max_window_layers=2,
        ),
        # as Qwen2.5-*-Instruct ships it (sampling defaults + repetition penalty + 2 eos ids)
        "generation": dict(
            do_sample=True,
            temperature=0.7,
            top_p=0.8,
            top_k=20,
            repetition_penalty=1.05,
            eos_token_id=["<|im_end|>", "<|endoftext|>"],
            pad_token_id="<|endoftext|>",
            bos_token_id="<|endoftext|>",
        ),
        "covers": "Qwen2, q/k/v biases (nonzero), MQA 4q/1kv, untied, F16, config vocab_size "
        "padded above the tokenizer size (logits have extra columns), Qwen2 regex pre-tokenizer, "
        "NFC, specials after the BPE vocab, non-special added tokens, template in "
        "tokenizer_config.json, generation_config with sampling defaults and list eos",
    },
    {
        "name": "qwen2-tied-bf16",
        "arch": "Qwen2ForCausalLM",
        "tokenizer": "qwen",
        "template_in_jinja": True,
        "dtype": torch.bfloat16,
        "seed": 404,
        "config": dict(
            hidden_size=48,
            intermediate_size=72,
            num_hidden_layers=2,
            num_attention_heads=3,
            num_key_value_heads=1,
            max_position_embeddings=1024,
            rms_norm_eps=1e-6,
            rope_parameters={"rope_type": "default", "rope_theta": 1000000.0},
            tie_word_embeddings=True,
            use_sliding_window=False,
            max_window_layers=2,
        ),
        "generation": dict(
            eos_token_id=["<|im_end|>", "<|endoftext|>"],
            pad_token_id="<|endoftext|>",
            bos_token_id="<|endoftext|>",
        ),
        "covers": "Qwen2, tied embeddings, BF16, hidden 48 / 3 heads / 1 kv head, chat template "
        "in chat_template.jinja (not tokenizer_config.json)",
    },
]


def resolve_ids(val, tok):
    if isinstance(val, list):
        return [resolve_ids(v, tok) for v in val]
    if isinstance(val, str):
        i = tok.convert_tokens_to_ids(val)
        assert isinstance(i, int) and i >= 0
        return i
    return val


# --------------------------------------------------------------------------------------
# Prompts / checks
# --------------------------------------------------------------------------------------

PROMPTS = [
    {"name": "plain", "chat": False, "text": "Tom has 3 apples and buys 5 more. 3 + 5 ="},
    {
        "name": "chat",
        "chat": True,
        "messages": [{"role": "user", "content": "Anna has 12 pencils and gives 4 to a friend. How many are left?"}],
    },
    {
        "name": "long",
        "chat": True,
        "messages": [
            {"role": "system", "content": "Solve it step by step."},
            {"role": "user", "content": "6 boxes hold 7 eggs each. How many eggs?"},
            {"role": "assistant", "content": "6 * 7 = 42. The answer is 42."},
            {"role": "user", "content": "Leo eats 5. How many remain?"},
        ],
    },
]

ENCODE_STRINGS = [
    "It costs 1,234.5 dollars, not 1234.50!",
    "two  spaces,   three   spaces and a tab\there",
    "line one\nline two\n\n  indented\r\nwindows",
    "caf\u00e9 \u00bd price: 3\u20ac \u2014 na\u0131ve \u65e5\u672c \U0001f600",
    "digits 0123456789 and 31415926535897932384626 and x2y3",
    "<|im_start|>user\nHi<|im_end|>\n<tool_call>I'm here, you'll see.",
]


def chat_ids(tok, messages) -> list[int]:
    out = tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
    if hasattr(out, "keys"):  # transformers 5: returns a BatchEncoding by default (return_dict=True)
        out = out["input_ids"]
    if out and isinstance(out[0], list):
        out = out[0]
    return [int(x) for x in out]


def round7(x: float) -> float:
    return float(f"{x:.7g}")


def greedy_reference(model, ids: list[int], n: int) -> tuple[list[int], float]:
    """No-KV-cache greedy loop: full forward each step; returns ids and min top1-top2 margin."""
    cur = list(ids)
    out, margin = [], math.inf
    with torch.no_grad():
        for _ in range(n):
            logits = model(torch.tensor([cur])).logits[0, -1]
            top = torch.topk(logits, 2)
            margin = min(margin, float(top.values[0] - top.values[1]))
            nxt = int(top.indices[0])
            out.append(nxt)
            cur.append(nxt)
    return out, margin


def compute_expected(spec: dict, mdir: Path, prompt_specs: list[dict] | None = None) -> dict:
    """prompt_specs: PROMPTS unless given (scripts/make_family_fixtures.py passes shorter ones)."""
    tok = AutoTokenizer.from_pretrained(mdir)
    model = AutoModelForCausalLM.from_pretrained(mdir, dtype=torch.float32, attn_implementation="eager")
    model.eval()
    assert next(model.parameters()).dtype == torch.float32
    V = model.config.vocab_size
    eos = model.generation_config.eos_token_id
    eos_list = eos if isinstance(eos, list) else [eos]
    pad = model.generation_config.pad_token_id
    gen_cfg = GenerationConfig(
        do_sample=False,
        max_new_tokens=MAX_NEW_TOKENS,
        eos_token_id=eos_list,
        pad_token_id=pad,
        bos_token_id=model.generation_config.bos_token_id,
    )
    raw = Tokenizer.from_file(str(mdir / "tokenizer.json"))  # the Rust tokenizer, no transformers glue
    prompts = []
    for p in PROMPTS if prompt_specs is None else prompt_specs:
        entry: dict = {"name": p["name"], "chat": p["chat"]}
        if p["chat"]:
            rendered = tok.apply_chat_template(p["messages"], add_generation_prompt=True, tokenize=False)
            ids = chat_ids(tok, p["messages"])
            assert ids == tok(rendered, add_special_tokens=False).input_ids, p["name"]
            assert ids == raw.encode(rendered, add_special_tokens=False).ids, p["name"]
            entry["messages"] = p["messages"]
            entry["text"] = rendered
        else:
            rendered = p["text"]
            ids = tok(rendered).input_ids
            assert ids == raw.encode(rendered).ids
            entry["text"] = rendered
        entry["rendered"] = rendered
        entry["prompt_token_ids"] = ids
        x = torch.tensor([ids])
        with torch.no_grad():
            logits = model(x).logits[0].float()
        T = len(ids)
        assert tuple(logits.shape) == (T, V)
        entry["logits_shape"] = [T, V]
        entry["logits"] = [round7(v) for v in logits.reshape(-1).tolist()]
        with torch.no_grad():
            gen = model.generate(
                input_ids=x,
                attention_mask=torch.ones_like(x),
                generation_config=gen_cfg,
                # transformers 5 merges the checkpoint's generation_config.json into the one
                # passed here for every field left at its default: Qwen2.5-style
                # repetition_penalty=1.05 leaks into "greedy" decoding unless overridden.
                repetition_penalty=1.0,
            )
        new = [int(t) for t in gen[0, T:].tolist()]
        ref, margin = greedy_reference(model, ids, MAX_NEW_TOKENS)
        stopped = len(new) < MAX_NEW_TOKENS
        if stopped:
            assert new[-1] in eos_list and ref[: len(new)] == new, (new, ref)
        else:
            assert new == ref, (spec["name"], p["name"], new, ref)
        entry["greedy_token_ids"] = new
        entry["greedy_text"] = tok.decode(new, skip_special_tokens=False)
        entry["stopped_by_eos"] = stopped
        entry["greedy_min_margin"] = round7(margin)
        prompts.append(entry)

    decode_lists = [
        prompts[1]["prompt_token_ids"][:12],
        prompts[0]["prompt_token_ids"] + prompts[0]["greedy_token_ids"],
        [tok.convert_tokens_to_ids(t) for t in SPECIALS] + tok("The answer is 42.").input_ids,
        tok("caf\u00e9 \u00bd").input_ids,
        tok("caf\u00e9").input_ids[-1:],  # a lone UTF-8 continuation byte -> U+FFFD
        list(range(0, min(40, len(tok)))),
    ]
    decode = [
        {
            "ids": ids,
            "text": tok.decode(ids, skip_special_tokens=False),
            "text_skip_special": tok.decode(ids, skip_special_tokens=True),
        }
        for ids in decode_lists
    ]
    encode = []
    for s in ENCODE_STRINGS:
        ids = tok(s).input_ids
        assert ids == raw.encode(s).ids, (spec["name"], s, ids, raw.encode(s).ids)
        encode.append({"text": s, "ids": ids, "tokens": tok.convert_ids_to_tokens(ids)})

    return {
        "model": spec["name"],
        "model_dir": f"models/{spec['name']}",
        "arch": spec["arch"],
        "file_dtype": str(spec["dtype"]).replace("torch.", ""),
        "compute_dtype": "float32",
        "attn_implementation": "eager",
        "config_vocab_size": V,
        "tokenizer_size": len(tok),
        "generation": {
            "do_sample": False,
            "max_new_tokens": MAX_NEW_TOKENS,
            "eos_token_id": eos_list,
            "pad_token_id": pad,
        },
        "prompts": prompts,
        "decode_check": {"decode": decode, "encode": encode},
        "versions": {
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "tokenizers": tokenizers.__version__,
        },
    }


def dump_expected(data: dict, path: Path) -> None:
    """Pretty JSON, but each logits array on a single line."""
    blobs = {}
    for i, p in enumerate(data["prompts"]):
        key = f"@@LOGITS{i}@@"
        blobs[key] = json.dumps(p["logits"], separators=(",", ":"))
        p["logits"] = key
    text = json.dumps(data, indent=1, ensure_ascii=False)
    for key, blob in blobs.items():
        text = text.replace(f'"{key}"', blob)
    path.write_text(text + "\n")
    for i, p in enumerate(data["prompts"]):
        p["logits"] = json.loads(blobs[f"@@LOGITS{i}@@"])


def is_degenerate(ids: list[int]) -> bool:
    """Fewer than 6 distinct tokens in 12, or the same token more than 3 times in a row."""
    run = longest = 1
    for a, b in zip(ids, ids[1:]):
        run = run + 1 if a == b else 1
        longest = max(longest, run)
    return len(set(ids)) < 6 or longest > 3


def build_model(spec: dict, tok_src: Path, margin_retries: int = 20) -> tuple[Path, dict, int]:
    mdir = MODELS / spec["name"]
    tok = AutoTokenizer.from_pretrained(tok_src)
    ntok = len(tok)
    vocab = ntok
    if spec.get("pad_vocab_to"):
        m = spec["pad_vocab_to"]
        vocab = (ntok + m - 1) // m * m
        if vocab == ntok:
            vocab += m
    cfg_cls, model_cls = (
        (LlamaConfig, LlamaForCausalLM) if spec["arch"] == "LlamaForCausalLM" else (Qwen2Config, Qwen2ForCausalLM)
    )
    ckw = dict(spec["config"])
    if spec["arch"] == "Qwen2ForCausalLM":
        ckw.update(
            bos_token_id=tok.convert_tokens_to_ids("<|endoftext|>"),
            eos_token_id=tok.convert_tokens_to_ids("<|im_end|>"),
        )
    for attempt in range(margin_retries):
        seed = spec["seed"] + 1000 * attempt
        if mdir.exists():
            shutil.rmtree(mdir)
        mdir.mkdir(parents=True)
        torch.manual_seed(seed)
        config = cfg_cls(vocab_size=vocab, **ckw)
        model = model_cls(config)
        init_weights(model, seed, keep_rows=ntok if vocab > ntok else None, tied=config.tie_word_embeddings)
        model = model.to(spec["dtype"])
        model.config.dtype = spec["dtype"]
        gen = {k: resolve_ids(v, tok) for k, v in spec["generation"].items()}
        model.generation_config = GenerationConfig(**gen)
        kw = {"max_shard_size": spec["shard"]} if spec.get("shard") else {}
        model.save_pretrained(mdir, **kw)
        install_tokenizer(tok_src, mdir, spec.get("template_in_jinja", False))
        exp = compute_expected(spec, mdir)
        m = min(p["greedy_min_margin"] for p in exp["prompts"])
        degenerate = [p["name"] for p in exp["prompts"] if is_degenerate(p["greedy_token_ids"])]
        if m >= MIN_GREEDY_MARGIN and not degenerate:
            return mdir, exp, seed
        print(
            f"  {spec['name']}: seed {seed}: min greedy margin {m:.3g}, degenerate {degenerate}; reseeding",
            file=sys.stderr,
        )
    raise RuntimeError(f"no seed with a clear greedy margin for {spec['name']}")


def dir_bytes(d: Path, pattern: str = "*") -> int:
    return sum(f.stat().st_size for f in d.glob(pattern) if f.is_file())


def main() -> None:
    t0 = time.time()
    # Only this script's own outputs: scripts/make_family_fixtures.py writes more models and
    # expected files beside them, which a rerun of this script must not delete.
    for d in [TOKDIR] + [MODELS / s["name"] for s in SPECS]:
        if d.exists():
            shutil.rmtree(d)
    for s in SPECS:
        (EXPECTED / f"{s['name']}.json").unlink(missing_ok=True)
    corpus = make_corpus()
    train_smol_tokenizer(corpus, TOKDIR / "smol")
    train_qwen_tokenizer(corpus, TOKDIR / "qwen")
    EXPECTED.mkdir(parents=True, exist_ok=True)

    rows = []
    for spec in SPECS:
        mdir, exp, seed = build_model(spec, TOKDIR / spec["tokenizer"])
        exp["seed"] = seed
        exp["covers"] = spec["covers"]
        # reorder so the descriptive keys come first
        exp = {k: exp[k] for k in ["model", "covers", "seed"] + [k for k in exp if k not in ("model", "covers", "seed")]}
        dump_expected(exp, EXPECTED / f"{spec['name']}.json")

        # load-back check (and parameter count)
        m = AutoModelForCausalLM.from_pretrained(mdir, dtype=torch.float32)
        AutoTokenizer.from_pretrained(mdir)
        params = sum(p.numel() for p in m.parameters())
        rows.append(
            (
                spec["name"],
                spec["arch"],
                str(spec["dtype"]).replace("torch.", ""),
                params,
                dir_bytes(mdir, "*.safetensors"),
                dir_bytes(mdir),
                (EXPECTED / f"{spec['name']}.json").stat().st_size,
                seed,
                [len(p["prompt_token_ids"]) for p in exp["prompts"]],
                [p["stopped_by_eos"] for p in exp["prompts"]],
            )
        )

    print()
    hdr = f"{'name':30} {'arch':18} {'dtype':9} {'params':>7} {'weights B':>10} {'dir B':>8} {'expected B':>10} {'seed':>5}  prompt_T  eos_stop"
    print(hdr)
    print("-" * len(hdr))
    for r in rows:
        print(f"{r[0]:30} {r[1]:18} {r[2]:9} {r[3]:7d} {r[4]:10d} {r[5]:8d} {r[6]:10d} {r[7]:5d}  {r[8]}  {r[9]}")
    total = sum(f.stat().st_size for f in FIXTURES.rglob("*") if f.is_file())
    print(f"\ntotal fixture bytes: {total}   time: {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
