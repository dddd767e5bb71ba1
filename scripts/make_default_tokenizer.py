#!/usr/bin/env python3
"""Build the tokenizer of the embedded default expert/amateur pair (models/default/tokenizer/).

A tiny byte-level BPE (SmolLM2-style: specials <|endoftext|>, <|im_start|>, <|im_end|> at ids 0-2,
Digits(individual_digits=True) so every number is spelled digit by digit, then ByteLevel), trained
with the `tokenizers` library on generated `pretrain` problem text, with a ChatML chat template.
This is tokenizer construction only; the models are trained by scripts/build-default-pair.ts.

    node --import @tapjs/typescript/import scripts/build-default-pair.ts --write-corpus tmp/default-corpus.txt
    .venv-ref/bin/python scripts/make_default_tokenizer.py tmp/default-corpus.txt models/default/tokenizer

Deterministic for a given corpus (tokenizers 0.23).
"""
import json
import sys
from pathlib import Path

from tokenizers import AddedToken, Tokenizer, decoders, pre_tokenizers, processors
from tokenizers.models import BPE
from tokenizers.trainers import BpeTrainer

VOCAB_SIZE = int(sys.argv[3]) if len(sys.argv) > 3 else 768
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
# ChatML without a default system message: the prompt is exactly the messages given.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def entry(content: str, special: bool = True) -> dict:
    return {"content": content, "lstrip": False, "normalized": False, "rstrip": False, "single_word": False, "special": special}


def main() -> None:
    corpus_path, out = Path(sys.argv[1]), Path(sys.argv[2])
    corpus = corpus_path.read_text().split("\n\n")
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
        vocab_size=VOCAB_SIZE,
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
        "added_tokens_decoder": {str(i): entry(t) for i, t in enumerate(SPECIALS)},
        "additional_special_tokens": ["<|im_start|>", "<|im_end|>"],
        "bos_token": "<|im_start|>",
        "chat_template": CHAT_TEMPLATE,
        "clean_up_tokenization_spaces": False,
        "eos_token": "<|im_end|>",
        "model_max_length": 1024,
        "pad_token": "<|im_end|>",
        "tokenizer_class": "GPT2Tokenizer",
        "unk_token": "<|endoftext|>",
        "vocab_size": tok.get_vocab_size(),
    }
    (out / "tokenizer_config.json").write_text(json.dumps(cfg, indent=2, ensure_ascii=False) + "\n")
    stm = {
        "additional_special_tokens": ["<|im_start|>", "<|im_end|>"],
        "bos_token": entry("<|im_start|>"),
        "eos_token": entry("<|im_end|>"),
        "pad_token": entry("<|im_end|>"),
        "unk_token": entry("<|endoftext|>"),
    }
    for v in stm.values():
        if isinstance(v, dict):
            v.pop("special")
    (out / "special_tokens_map.json").write_text(json.dumps(stm, indent=2) + "\n")
    print(f"{out}: vocab {tok.get_vocab_size()}")


if __name__ == "__main__":
    main()
