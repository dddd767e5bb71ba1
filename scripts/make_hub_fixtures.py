#!/usr/bin/env python3
"""Build the Hub test fixtures of lightreasoner-wasm (test/fixtures/hub/), used by test/hub.test.ts.

    python scripts/make_hub_fixtures.py        # needs pyarrow; no network; deterministic

A tiny data set laid out as openai/gsm8k is on the Hub: parquet files at
`{config}/{split}-00000-of-00001.parquet`, columns `question` and `answer` (GSM8K's
"... #### N"), written by pyarrow with its defaults (snappy), as the `datasets` library writes them.
Config "main" has train and test; config "socratic" has test only and an int64 `id` column (so
the reader's int64 → JSON path is exercised and choosing a config is necessary without one).
Beside each parquet file, the same rows as JSONL in our format, the "equivalent JSONL" the tests
compare against. The test's HTTP server serves the parquet files; the tiny models it serves are
test/fixtures/sampling/models/* (scripts/make_sampling_fixtures.py).
"""
import json
import pathlib

import pyarrow as pa
import pyarrow.parquet as pq

OUT = pathlib.Path(__file__).resolve().parent.parent / "test" / "fixtures" / "hub" / "gsm8k-tiny"

TRAIN = [
    ("Tom has 3 boxes of apples with 6 apples in each box. He eats 4 apples. How many apples does he have left?",
     "Tom has 3 * 6 = <<3*6=18>>18 apples.\nAfter eating 4 he has 18 - 4 = <<18-4=14>>14 apples.\n#### 14"),
    ("Anna buys 5 pencils at $2 each and a notebook for $7. How much does she spend?",
     "The pencils cost 5 * 2 = <<5*2=10>>10 dollars.\nShe spends 10 + 7 = <<10+7=17>>17 dollars.\n#### 17"),
    ("A baker makes 48 cookies and packs them into bags of 6. How many bags does he fill?",
     "He fills 48 / 6 = <<48/6=8>>8 bags.\n#### 8"),
    ("Zoë walks 1,250 meters to school and back every day. How many meters does she walk in 4 days?",
     "Each day she walks 2 * 1250 = <<2*1250=2500>>2500 meters.\nIn 4 days: 4 * 2500 = <<4*2500=10000>>10000 meters.\n#### 10000"),
]
TEST = [
    ("Sam has 12 marbles and gives 5 to his sister. How many marbles does Sam have now?",
     "Sam has 12 - 5 = <<12-5=7>>7 marbles.\n#### 7"),
    ("A shirt costs $15 and is 20% off. What is the sale price?",
     "The discount is 15 * 0.2 = <<15*0.2=3>>3 dollars.\nThe price is 15 - 3 = <<15-3=12>>12 dollars.\n#### 12"),
    ("There are 7 rows of 8 chairs. How many chairs are there?",
     "There are 7 * 8 = <<7*8=56>>56 chairs.\n#### 56"),
]
SOCRATIC_TEST = [(101, q, a.replace("\n####", "\nHow many? ** done.\n####")) for q, a in TEST[:2]]


def write(config: str, split: str, rows, with_id: bool = False) -> None:
    d = OUT / config
    d.mkdir(parents=True, exist_ok=True)
    cols = {"question": [r[-2] for r in rows], "answer": [r[-1] for r in rows]}
    if with_id:
        cols = {"id": pa.array([r[0] + i for i, r in enumerate(rows)], pa.int64()), **cols}
    pq.write_table(pa.table(cols), d / f"{split}-00000-of-00001.parquet", compression="snappy")
    with open(d / f"{split}.jsonl", "w", encoding="utf-8") as f:
        for i, r in enumerate(rows):
            # as GSM8K's own JSONL: no id unless the rows have one (the parsers then use the line index)
            rec = ({"id": r[0] + i} if with_id else {}) | {"question": r[-2], "answer": r[-1]}
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    write("main", "train", TRAIN)
    write("main", "test", TEST)
    write("socratic", "test", SOCRATIC_TEST, with_id=True)
    for p in sorted(OUT.rglob("*")):
        if p.is_file():
            print(p.relative_to(OUT.parent), p.stat().st_size)
