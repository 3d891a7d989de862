"""The tiny_arith task's data: eight text-only arithmetic questions in tiny_arith.jsonl beside this file,
loaded by path relative to this module so the task works from any working directory."""

from __future__ import annotations

import json
from pathlib import Path

DATA = Path(__file__).with_name("tiny_arith.jsonl")


def load(**_kwargs):
    """lm-eval's custom_dataset hook (it passes the task's metadata): a DatasetDict with a `test` split."""
    import datasets

    rows = [json.loads(line) for line in DATA.read_text().splitlines() if line.strip()]
    return datasets.DatasetDict({"test": datasets.Dataset.from_list(rows)})
