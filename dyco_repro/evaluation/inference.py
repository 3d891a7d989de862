"""Batched greedy generation with the HF model over a VLMEvalKit dataset's own prompts.

Predictions are appended to a cache as each batch finishes, so an interrupted evaluation resumes
where it stopped; the cache is tied to the checkpoint and the generation settings. Under a launcher
each process generates its share of the items (`sharding`) into its own cache file, and rank 0
merges the shares.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from ..atomic import write_text_atomic
from .sharding import Processes, shard_batches


@dataclass(frozen=True)
class GenerationSettings:
    max_new_tokens: int
    batch_size: int
    min_pixels: int
    max_pixels: int
    instruction: str | None = None  # appended to the question (e.g. the RL format instruction)
    extract_answer_tag: bool = True  # score the <answer>...</answer> part when the model wrote one
    backend: str = "hf"  # hf: our batched generation; vlmeval: VLMEvalKit's Qwen2VLChat (CUDA + flash-attn)

    def as_dict(self) -> dict:
        return asdict(self) | {"do_sample": False}


def to_chat(message: list[dict], instruction: str | None) -> list[dict]:
    """VLMEvalKit's [{type: image|text, value}] as a Qwen chat turn."""
    content = []
    for part in message:
        if part["type"] == "image":
            content.append({"type": "image", "image": part["value"]})
        else:
            content.append({"type": "text", "text": part["value"]})
    if instruction:
        content.append({"type": "text", "text": instruction})
    return [{"role": "user", "content": content}]


class HFGenerator:
    """Greedy batched generation with a local HF checkpoint (left padding, as in training)."""

    def __init__(
        self,
        checkpoint: Path,
        settings: GenerationSettings,
        dtype: str = "auto",
        attn: str = "sdpa",
        device: str | None = None,
    ):
        import torch
        from transformers import AutoModelForImageTextToText, AutoProcessor

        self.settings = settings
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.processor = AutoProcessor.from_pretrained(
            checkpoint, min_pixels=settings.min_pixels, max_pixels=settings.max_pixels, padding_side="left"
        )
        self.model = AutoModelForImageTextToText.from_pretrained(checkpoint, dtype=dtype, attn_implementation=attn)
        self.model.to(self.device).eval()

    def __call__(self, messages: list[list[dict]], dataset_name: str | None = None) -> list[str]:
        import torch

        from ..images import load_for_model

        chats = [to_chat(m, self.settings.instruction) for m in messages]
        texts = [self.processor.apply_chat_template(c, tokenize=False, add_generation_prompt=True) for c in chats]
        images = [load_for_model(p["value"])[0] for m in messages for p in m if p["type"] == "image"]
        inputs = self.processor(text=texts, images=images or None, padding=True, return_tensors="pt").to(self.device)
        pad = self.processor.tokenizer.pad_token_id
        with torch.inference_mode():
            out = self.model.generate(
                **inputs, max_new_tokens=self.settings.max_new_tokens, do_sample=False, pad_token_id=pad
            )
        new = out[:, inputs["input_ids"].shape[1] :]
        return self.processor.batch_decode(new, skip_special_tokens=True)


class VLMEvalKitGenerator:
    """VLMEvalKit's own Qwen2VLChat (its prompts per dataset, one sample at a time), for GPUs."""

    def __init__(self, checkpoint: Path, settings: GenerationSettings):
        from ..compat import import_vlmeval_datasets

        import_vlmeval_datasets()  # VLMEvalKit imported with autograd left as it was
        from vlmeval.vlm import Qwen2VLChat

        self.settings = settings
        self.chat = Qwen2VLChat(
            model_path=str(checkpoint),
            min_pixels=settings.min_pixels,
            max_pixels=settings.max_pixels,
            max_new_tokens=settings.max_new_tokens,
            do_sample=False,
        )
        self.model, self.processor = self.chat.model, self.chat.processor  # the HF model, as lm-eval needs

    def __call__(self, messages: list[list[dict]], dataset_name: str | None = None) -> list[str]:
        extra = [{"type": "text", "value": self.settings.instruction}] if self.settings.instruction else []
        return [self.chat.generate(message=[*m, *extra], dataset=dataset_name) for m in messages]


def make_generator(
    checkpoint: Path, settings: GenerationSettings, dtype: str = "auto", attn: str = "sdpa", device: str | None = None
):
    """The configured backend's generator; `device` (hf backend) is this process's, e.g. cuda:3 under a launcher."""
    if settings.backend == "vlmeval":
        return VLMEvalKitGenerator(checkpoint, settings)
    return HFGenerator(checkpoint, settings, dtype, attn, device)


def scored_text(prediction: str, settings: GenerationSettings) -> str:
    """The answer part (`<answer>`, else the text after `</think>`: reasoning is never scored)."""
    from ..data.answers import response_answer

    return response_answer(prediction) if settings.extract_answer_tag else prediction


class PredictionCache:
    """index -> raw prediction, one JSON line per item, valid only for one checkpoint + settings.

    One append-only file per process: rank 0 (and a single process) writes `predictions.jsonl`, rank r
    `predictions.rank<r>.jsonl`, so no two processes ever write one file and a killed run keeps what every
    shard finished. `load` reads all the files, whichever process count wrote them; under a launcher only
    rank 0 opens the cache for reading (the others wait for its broadcast), so a reset or a repair never
    races a writer.
    """

    def __init__(self, folder: Path, identity: dict, rank: int = 0):
        self.folder = folder
        self.lines = folder / ("predictions.jsonl" if rank == 0 else f"predictions.rank{rank}.jsonl")
        self.meta = folder / "predictions.meta.json"
        folder.mkdir(parents=True, exist_ok=True)
        if rank == 0 and (not self.meta.exists() or json.loads(self.meta.read_text()) != identity):
            for path in self.shard_files():
                path.unlink(missing_ok=True)
            write_text_atomic(self.meta, json.dumps(identity, sort_keys=True))

    def shard_files(self) -> list[Path]:
        """Every process's file, rank 0's first."""
        ranked = self.folder.glob("predictions.rank*.jsonl")
        return [self.folder / "predictions.jsonl", *sorted(ranked, key=lambda p: p.name)]

    def load(self) -> dict[str, str]:
        done: dict[str, str] = {}
        for path in self.shard_files():
            done.update(_read_lines(path))
        return done

    def add(self, rows: list[tuple[str, str]]) -> None:
        with open(self.lines, "a") as f:
            f.writelines(json.dumps({"index": i, "prediction": p}) + "\n" for i, p in rows)
            f.flush()


def _read_lines(path: Path) -> dict[str, str]:
    done: dict[str, str] = {}
    if not path.exists():
        return done
    text = path.read_text()
    whole = []
    for line in text.splitlines():
        try:
            row = json.loads(line)
            done[str(row["index"])] = row["prediction"]
        except (ValueError, KeyError, TypeError):
            break  # a line cut short by a crash: everything after it is redone
        whole.append(line + "\n")
    if "".join(whole) != text:
        # Drop the cut line (and restore a missing final newline) before anything is appended:
        # otherwise the next prediction would be glued onto it and lost on every later load.
        write_text_atomic(path, "".join(whole))
    return done


@dataclass
class PredictionRun:
    predictions: dict[str, str]  # rank 0: every item's; another rank: those it generated now
    generated: int  # items generated now (not from the cache), all processes together
    seconds: float  # wall time of the generation: the slowest process's
    generated_per_process: list[int]  # in rank order; [generated] for one process


def predict(
    dataset,
    generator: Callable[[], Callable[[list[list[dict]], str], list[str]]],
    cache: PredictionCache,
    batch_size: int,
    desc: str,
    processes: Processes | None = None,
) -> PredictionRun:
    """Every item's raw prediction, generating only those not cached.

    Rank 0 reads the cache and broadcasts what is left (dataset positions); each process generates its
    batches of it (`shard_batches`) into its own cache file; rank 0 gathers the shares. `generator()`
    returns the model's generate function (loaded on first call, only by a process with work to do).
    """
    processes = processes or Processes()
    data = dataset.data
    done = cache.load() if processes.is_main else {}
    todo = processes.broadcast([i for i in range(len(data)) if str(data.iloc[i]["index"]) not in done])
    mine = shard_batches(todo, batch_size, processes.rank, processes.world)
    generate = generator() if mine else None
    new: dict[str, str] = {}
    start = time.perf_counter()
    if processes.distributed:
        desc = f"{desc} [{processes.rank + 1}/{processes.world}]"
    for batch in tqdm(mine, desc=desc, unit="batch", disable=not mine):
        rows = [data.iloc[i] for i in batch]
        outputs = generate([dataset.build_prompt(row) for row in rows], dataset.dataset_name)
        pairs = [(str(row["index"]), text) for row, text in zip(rows, outputs, strict=True)]
        cache.add(pairs)
        new.update(pairs)
    share = (new, sum(len(b) for b in mine), time.perf_counter() - start)
    shares = processes.gather(share)
    if shares is None:
        return PredictionRun(new, share[1], share[2], [])
    for predictions, _, _ in shares:
        done.update(predictions)
    counts = [count for _, count, _ in shares]
    return PredictionRun(done, sum(counts), max(seconds for _, _, seconds in shares), counts)


def write_prediction_file(dataset, predictions: dict[str, str], settings: GenerationSettings, path: Path) -> Path:
    """VLMEvalKit's prediction file: the dataset's rows without images, plus `prediction`."""
    from .scoring import committed_predictions

    data = dataset.data.drop(columns=[c for c in ("image",) if c in dataset.data.columns]).copy()
    data["prediction"] = [scored_text(predictions[str(i)], settings) for i in data["index"]]
    if settings.extract_answer_tag:  # CoT option / yes-no answers VLMEvalKit cannot place, read by our extractor
        data = committed_predictions(data, getattr(dataset, "TYPE", ""))
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    data.to_csv(tmp, sep="\t", index=False)
    tmp.replace(path)
    return path


def read_prediction_file(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t", keep_default_na=False)
