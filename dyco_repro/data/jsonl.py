"""Training data in the released ThinkLite-VL JSONL format, checked whole and turned into TRL rows.

Input, one JSON object per line::

    {"id": "...",                                   # optional
     "image": "rel/path.png" | ["a.png", "b.png"],  # relative to the image root (default: the file's folder)
     "conversations": [{"from": "human", "value": "<image>\\nquestion"}, {"from": "gpt", "value": "answer"}]}

Output: a `datasets.Dataset` with exactly the columns TRL 1.16's GRPOTrainer / RLOOTrainer read for a
vision-language model (see `_generate_and_score_completions` in trl/trainer/grpo_trainer.py):

* ``prompt``: conversational, one user message whose content is a list of parts,
  ``{"type": "image"}`` for each ``<image>`` placeholder in order and ``{"type": "text", "text": ...}``.
  TRL's ``prepare_multimodal_messages`` fills the bare image parts, in order, from ``images``.
* ``images``: the row's images, a list (TRL reads ``example["images"]`` as the list of that prompt's images;
  the singular ``image`` column would be wrapped in a one-element list). Stored as paths and decoded lazily
  by `RGBImage` (``datasets.Image`` decoding through `dyco_repro.images.load_image`, the loader evaluation
  uses too): every access yields 8-bit RGB ``PIL.Image`` objects, transparency on white, 16-bit and float
  scaled by range.
* ``solution``: the gpt answer string; every non-prompt column reaches reward functions as a keyword argument.
* ``id``: the row id (the JSON ``id``, or ``<file stem>-<line>``).

Everything is validated before anything is returned: a bad row is one line
``FILE:LINE: what is wrong; how to fix``. Bad rows include unreadable JSON, missing or unreadable images,
images Qwen2.5-VL's processor refuses (aspect ratio over 200:1, smaller than one patch), a duplicate ``id``
and conversation turns the row would drop (only one human question and the gpt answer after it are used).
A UTF-8 byte-order mark at the start of the file is allowed.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from datasets import Dataset, Features, Image, List, Value
from datasets.features.features import register_feature
from PIL import Image as PILImage
from tqdm.auto import tqdm

from ..images import geometry_problem, to_rgb

IMAGE_PLACEHOLDER = "<image>"
FORMAT_INSTRUCTION = (
    "First think through the problem step by step inside <think> </think> tags, "
    "then give only the final answer inside <answer> </answer> tags."
)
ON_ERROR = ("raise", "skip")
SKIP_HINT = "set data.on_error=skip to skip bad rows"
PROGRESS_MIN_ROWS = 1000
_HUMAN_ROLES = ("human", "user")
_GPT_ROLES = ("gpt", "assistant")
_CHUNK = 256  # rows whose images are checked together (in a thread pool)


@dataclass
class RGBImage(Image):
    """``datasets.Image`` decoded through the project's image loader (`dyco_repro.images.to_rgb`).

    Registered as its own feature type, so datasets derived by ``map``/``select``/``shuffle`` decode the same way."""

    _type: str = field(default="RGBImage", init=False, repr=False)

    def decode_example(self, value: dict, token_per_repo_id=None) -> PILImage.Image:
        return to_rgb(super().decode_example(value, token_per_repo_id=token_per_repo_id))


with warnings.catch_warnings():  # "register_feature is experimental" (datasets 4.x): the API we need
    warnings.simplefilter("ignore", UserWarning)
    register_feature(RGBImage, "RGBImage")

FEATURES = Features(
    {
        "id": Value("string"),
        "prompt": List(
            {
                "role": Value("string"),
                "content": List({"type": Value("string"), "text": Value("string")}),
            }
        ),
        "images": List(RGBImage()),
        "solution": Value("string"),
    }
)


class DataError(ValueError):
    """Training data that cannot be used; the message says where and how to fix it."""

    def __init__(self, message: str, errors: list[str] | None = None):
        super().__init__(message)
        self.errors = list(errors or [])


@dataclass
class LoadedData:
    dataset: Dataset
    skipped: int = 0
    errors: list[str] = field(default_factory=list)


class _RowError(Exception):
    """One problem with one row: `what is wrong; how to fix` (the caller adds FILE:LINE)."""


def check_settings(on_error: Any, limit: Any) -> None:
    """`data.on_error` and `data.limit` as one line naming the fix (`DataError`); train and the sweep's
    preflight call this before anything is written."""
    if on_error not in ON_ERROR:
        raise DataError(f"data.on_error={on_error}: not a choice; use data.on_error=raise or data.on_error=skip")
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
        raise DataError(
            f"data.limit={limit}: not a positive whole number of rows; use e.g. data.limit=100, or data.limit=null"
        )


def load_jsonl(
    path: str | os.PathLike,
    image_root: str | os.PathLike | None = None,
    on_error: str = "raise",
    limit: int | None = None,
) -> LoadedData:
    """Read and validate a ThinkLite-VL JSONL file; return TRL-ready rows.

    ``on_error="raise"`` raises `DataError` naming the first bad row (and how many others are bad);
    ``"skip"`` drops bad rows and reports them in ``.skipped`` / ``.errors``. ``limit`` keeps the
    first ``limit`` valid rows and stops reading there (everything read is validated).
    """
    check_settings(on_error, limit)
    path = Path(path)
    if not path.is_file():
        what = "is a directory, not a file" if path.is_dir() else "not found"
        raise DataError(f"{path}: training data file {what}; set data.path=<path to the ThinkLite-VL JSONL file>")
    root = Path(os.path.abspath(image_root if image_root is not None else path.parent))
    if not root.is_dir():
        raise DataError(
            f"{root}: image root not found; set data.image_root=<directory the image paths are relative to>"
        )

    with open(path, "rb") as f:
        total = sum(1 for _ in f)
    rows: list[dict[str, Any]] = []
    errors: list[str] = []
    with (
        tqdm(total=total, desc=f"checking {path.name}", unit="row", disable=total < PROGRESS_MIN_ROWS) as bar,
        ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool,
    ):
        chunk: list[tuple[int, dict[str, Any] | str]] = []

        def flush() -> None:
            parsed = [(n, r) for n, r in chunk if isinstance(r, dict)]
            checks = dict(zip([n for n, _ in parsed], pool.map(_check_images, [r for _, r in parsed]), strict=True))
            for lineno, row in chunk:
                problem = row if isinstance(row, str) else checks[lineno]
                if problem is None:
                    if limit is None or len(rows) < limit:
                        rows.append(row)
                else:
                    errors.append(f"{path}:{lineno}: {problem}")
            bar.update(len(chunk))
            chunk.clear()

        for lineno, row in _parse_lines(path, root):
            chunk.append((lineno, row))
            if len(chunk) >= _CHUNK or (limit is not None and len(rows) + len(chunk) >= limit):
                flush()
                if limit is not None and len(rows) >= limit:
                    break
        flush()

    if errors and on_error == "raise":
        more = f" (and {len(errors) - 1} more bad rows)" if len(errors) > 1 else ""
        raise DataError(f"{errors[0]}{more}; {SKIP_HINT}", errors)
    if not rows:
        if errors:
            raise DataError(f"{path}: no valid rows ({len(errors)} bad, first: {errors[0]}); fix the file", errors)
        raise DataError(f"{path}: no rows (the file is empty); set data.path=<a non-empty ThinkLite-VL JSONL file>")
    return LoadedData(Dataset.from_list(rows, features=FEATURES), skipped=len(errors), errors=errors)


def _parse_lines(path: Path, root: Path) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """Yield (line number, row or problem) for every non-blank line; images are not opened here."""
    first_line: dict[str, int] = {}  # row id -> the line it was first seen on
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, start=1):
            try:
                # utf-8-sig: a byte-order mark (Windows editors write one) is not part of the first row
                text = raw.decode("utf-8-sig" if lineno == 1 else "utf-8")
            except UnicodeDecodeError as e:
                yield lineno, f"not UTF-8 ({e.reason} at byte {e.start}); re-save the file as UTF-8"
                continue
            if not text.strip():
                continue
            try:
                row = _build_row(text, root, f"{path.stem}-{lineno}")
            except _RowError as e:
                yield lineno, str(e)
                continue
            if (seen := first_line.setdefault(row["id"], lineno)) != lineno:
                yield lineno, f"duplicate id {row['id']!r} (first on line {seen}); give each row its own id"
                continue
            yield lineno, row


def _build_row(text: str, root: Path, default_id: str) -> dict[str, Any]:
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        raise _RowError(f"malformed JSON ({e.msg} at column {e.colno}); write one JSON object per line") from None
    if not isinstance(obj, dict):
        raise _RowError(f"expected a JSON object, got {type(obj).__name__}; write one JSON object per line")

    if "image" not in obj:
        raise _RowError('missing key "image"; add "image": "<path>" or a list of paths')
    images = obj["image"]
    if isinstance(images, str):
        images = [images]
    if not isinstance(images, list) or not all(isinstance(p, str) and p.strip() for p in images):
        raise _RowError('"image" must be a non-empty path string or a list of them; fix the "image" value')
    if not images:
        raise _RowError('"image" is an empty list; give at least one image path')

    if "conversations" not in obj:
        raise _RowError('missing key "conversations"; add [{"from": "human", ...}, {"from": "gpt", ...}]')
    turns = obj["conversations"]
    if not isinstance(turns, list) or not all(
        isinstance(t, dict) and isinstance(t.get("from"), str) and isinstance(t.get("value"), str) for t in turns
    ):
        raise _RowError('"conversations" must be a list of {"from": str, "value": str}; fix the turns')
    human = next((i for i, t in enumerate(turns) if t["from"] in _HUMAN_ROLES), None)
    if human is None:
        raise _RowError('no human turn in "conversations"; add {"from": "human", "value": "<image>\\n<question>"}')
    gpt_index = next((i for i in range(human + 1, len(turns)) if turns[i]["from"] in _GPT_ROLES), None)
    if gpt_index is None:
        raise _RowError('no gpt turn after the human turn; add {"from": "gpt", "value": "<answer>"}')
    gpt = turns[gpt_index]
    dropped = [t["from"] for i, t in enumerate(turns) if i not in (human, gpt_index)]
    if dropped:
        raise _RowError(
            f"{len(dropped)} conversation turn(s) ({', '.join(dropped)}) besides the human question and the gpt "
            "answer would be dropped; keep one human and one gpt turn per row (split multi-turn conversations)"
        )
    solution = gpt["value"].strip()
    if not solution:
        raise _RowError('the gpt turn (the reference answer) is empty; give the answer in its "value"')

    question = turns[human]["value"]
    n_placeholders = question.count(IMAGE_PLACEHOLDER)
    if n_placeholders == 0 and len(images) == 1:
        question = IMAGE_PLACEHOLDER + question
    elif n_placeholders != len(images):
        raise _RowError(
            f"{n_placeholders} {IMAGE_PLACEHOLDER} placeholders in the human turn but {len(images)} images; "
            f'put one {IMAGE_PLACEHOLDER} per image in the question, in the order of "image"'
        )

    row_id = obj.get("id", default_id)
    if not isinstance(row_id, str | int) or isinstance(row_id, bool):
        raise _RowError('"id" must be a string or an integer; fix or remove it')
    return {
        "id": str(row_id),
        "prompt": [{"role": "user", "content": build_content(question)}],
        "images": [str(root / p) for p in images],
        "solution": solution,
    }


def build_content(question: str) -> list[dict[str, str | None]]:
    """User-message parts: an image part per placeholder, the text between them, FORMAT_INSTRUCTION last."""
    parts: list[dict[str, str | None]] = []
    for i, segment in enumerate(question.split(IMAGE_PLACEHOLDER)):
        if i > 0:
            parts.append({"type": "image", "text": None})
        if segment.strip():
            parts.append({"type": "text", "text": segment.strip()})
    if parts and parts[-1]["type"] == "text":
        parts[-1] = {"type": "text", "text": f"{parts[-1]['text']}\n{FORMAT_INSTRUCTION}"}
    else:
        parts.append({"type": "text", "text": FORMAT_INSTRUCTION})
    return parts


def _check_images(row: dict[str, Any]) -> str | None:
    """The first problem with the row's images (missing, unreadable, a size Qwen2.5-VL refuses), or None."""
    for image_path in row["images"]:
        if not os.path.isfile(image_path):
            return f"image not found: {image_path}; fix the path or set data.image_root=<directory it is relative to>"
        try:
            with PILImage.open(image_path) as im:
                im.load()
                size = im.size
        except Exception as e:  # PIL raises many types (OSError, SyntaxError, DecompressionBombError, ...)
            reason = " ".join(str(e).split()) or type(e).__name__
            return f"unreadable image {image_path} ({reason}); replace the file or remove the row"
        if problem := geometry_problem(*size):
            return f"{image_path}: {problem}; resize or pad the image, or remove the row"
    return None
