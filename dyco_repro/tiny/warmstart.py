"""A short supervised warm start for the tiny world, so RL starts from a policy that earns rewards.

A random tiny checkpoint almost never writes ``<think>...</think><answer>...</answer>``, so every reward is 0
and RL has no signal. `ensure_warm_start` fine-tunes `ensure_tiny_model(size)` with TRL's `SFTTrainer` on
synthetic samples whose prompts are exactly the RL prompts (`dyco_repro.data.load_jsonl`, FORMAT_INSTRUCTION
included) and whose targets are in the reward format: a short templated reasoning from the question, then
the reference answer. The result is a full HF checkpoint (model + left-padding processor) cached under
`cache_dir()`, written atomically, with a manifest, so it is built once and rebuilt only when the recipe,
the base model or the library versions change.

The warm-start samples come from their own seed (`SFT_DATA_SEED + seed`), disjoint from the RL training set
(seed 0) and from the held-out prompts `reward_means` scores by default (`HELDOUT_SEED`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import random
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from filelock import FileLock

from ..atomic import atomic_directory
from .data import VERSION as DATA_VERSION
from .model import MANIFEST as BASE_MANIFEST
from .model import SIZES, cache_dir, ensure_tiny_model

WARMSTART_VERSION = 5  # bump whenever targets or training change: cached warm starts are rebuilt
MANIFEST = "warmstart_manifest.json"
SFT_DATA_SEED = 10_000  # the warm-start samples use seed SFT_DATA_SEED + seed
HELDOUT_SEED = 20_000  # default seed of the held-out prompts `reward_means` scores
RL_MAX_COMPLETION_TOKENS = 32  # profile=tiny's train.max_completion_length: every target must fit in it


@dataclasses.dataclass(frozen=True)
class WarmStartRecipe:
    """How the warm start is trained; any change rebuilds the cached checkpoint."""

    # 8192 fresh samples (1.2 epochs): with 1024 the models memorised scenes instead of learning to look.
    n_samples: int = 8192
    max_steps: int = 1200
    batch_size: int = 8
    # 5e-3 fits the text and never the image (matched and mismatched images gave the same loss); 2e-3 learns both.
    learning_rate: float = 2e-3
    warmup_steps: int = 10
    lr_scheduler_type: str = "cosine"
    weight_decay: float = 0.0
    # The vision tower stays as built: its random features already separate the colours and kinds (a linear probe
    # reads a token's colour at 98%), and SFT at this learning rate collapsed it to one image-independent output
    # (two scenes' image tokens 0.2% apart after 1200 steps). The language model learns to read it.
    train_vision: bool = False
    # One intra-op thread: the same float reduction order on any machine (hence the same weights), and no
    # OpenMP spin-wait slowdown when other processes share the cores (2 threads on 2 busy cores: ~8x slower).
    num_threads: int = 1


DEFAULT_RECIPE = WarmStartRecipe()


def target_completion(think: str, answer: str) -> str:
    """The warm-start target, in the format `format_reward` accepts: `<think>...</think><answer>...</answer>`.

    `think` is the training row's reasoning (`data.synthetic_rows`): what is seen, then the computation on it."""
    return f"<think>{think}</think><answer>{answer}</answer>"


def prompt_text(prompt: list[dict]) -> str:
    """The text parts of a conversational prompt (as `load_jsonl` builds it), joined."""
    return "\n".join(
        part["text"] for message in prompt for part in message["content"] if part.get("type") == "text" and part["text"]
    )


def warm_start_dir(size: str, root: str | Path | None = None, seed: int = 0) -> Path:
    return Path(root or cache_dir()) / f"tiny_{size}_seed{seed}_sft"


def ensure_warm_start(
    size: str, root: str | Path | None = None, seed: int = 0, recipe: WarmStartRecipe | None = None
) -> Path:
    """Path of the cached warm-started tiny checkpoint of `size`, training it on first use.

    The base is `ensure_tiny_model(size, root, seed)`; the result lives at `<root>/tiny_<size>_seed<seed>_sft`
    (`root` defaults to `cache_dir()`) and reloads offline with `AutoProcessor` /
    `AutoModelForImageTextToText.from_pretrained`.
    """
    recipe = recipe or DEFAULT_RECIPE
    if size not in SIZES:
        raise ValueError(f"unknown tiny size {size!r}; use one of {sorted(SIZES)}")
    base = ensure_tiny_model(size, root, seed)
    out = warm_start_dir(size, root, seed)
    with FileLock(f"{out}.lock"):  # concurrent processes (ranks, sweep cells) train it once
        if not is_warm_started(out, base, size, seed, recipe):
            build_warm_start(base, out, size, seed, recipe)
    return out


def is_warm_started(
    out: str | Path, base: str | Path, size: str, seed: int = 0, recipe: WarmStartRecipe | None = None
) -> bool:
    try:
        found = json.loads((Path(out) / MANIFEST).read_text())
        return found == _manifest(base, size, seed, recipe or DEFAULT_RECIPE)
    except (OSError, ValueError):
        return False


def _manifest(base: str | Path, size: str, seed: int, recipe: WarmStartRecipe) -> dict:
    import transformers
    import trl

    return {
        "size": size,
        "seed": seed,
        "version": WARMSTART_VERSION,
        "data": DATA_VERSION,
        "recipe": dataclasses.asdict(recipe),
        "base": json.loads((Path(base) / BASE_MANIFEST).read_text()),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "trl": trl.__version__,
    }


def build_warm_start(
    base: str | Path, out: str | Path, size: str, seed: int = 0, recipe: WarmStartRecipe | None = None
) -> Path:
    """Fine-tune checkpoint `base` into `out` (atomically: a temp dir renamed into place)."""
    from transformers import AutoModelForImageTextToText, AutoProcessor
    from trl import SFTConfig, SFTTrainer

    recipe = recipe or DEFAULT_RECIPE
    base, out = Path(base), Path(out)
    if out.exists() and not (out / MANIFEST).is_file() and (not out.is_dir() or any(out.iterdir())):
        raise FileExistsError(f"{out} exists and is not a warm-started checkpoint; choose an empty or new --out")
    with atomic_directory(out) as tmp:
        with (
            _preserved_rng(),
            _torch_threads(recipe.num_threads),
            tempfile.TemporaryDirectory(prefix="dyco_warmstart_data.") as data_dir,
        ):
            processor = AutoProcessor.from_pretrained(base, padding_side="left")
            model = AutoModelForImageTextToText.from_pretrained(base, dtype=torch.float32)
            model.model.visual.requires_grad_(recipe.train_vision)
            dataset = sft_dataset(Path(data_dir), recipe.n_samples, SFT_DATA_SEED + seed)
            args = SFTConfig(
                output_dir=str(tmp / "trainer"),
                max_steps=recipe.max_steps,
                per_device_train_batch_size=recipe.batch_size,
                learning_rate=recipe.learning_rate,
                warmup_steps=recipe.warmup_steps,
                lr_scheduler_type=recipe.lr_scheduler_type,
                weight_decay=recipe.weight_decay,
                completion_only_loss=True,
                max_length=None,
                bf16=False,
                activation_checkpointing=False,
                use_cpu=True,
                seed=seed,
                data_seed=seed,
                dataloader_num_workers=0,
                save_strategy="no",
                logging_strategy="no",
                report_to="none",
                disable_tqdm=True,
            )
            trainer = SFTTrainer(model=model, args=args, train_dataset=dataset, processing_class=processor)
            trainer.train()
            shutil.rmtree(tmp / "trainer", ignore_errors=True)
            trainer.model.eval().save_pretrained(tmp)
            # Training leaves right padding in the tokenizer's backend state; save the base processor untouched.
            AutoProcessor.from_pretrained(base, padding_side="left").save_pretrained(tmp)
        (tmp / MANIFEST).write_text(json.dumps(_manifest(base, size, seed, recipe), indent=2))
    return out


def sft_dataset(data_dir: Path, n: int, seed: int):
    """Warm-start rows: the RL rows of a synthetic set (`prompt`, `images`) plus a `completion` in reward format.

    Every other row shows its prompt as evaluation does (`evaluation_prompt`), so the warm start knows both
    layouts: the policy RL trains and the model Table 1 scores read the same questions slightly differently."""
    from ..data import load_jsonl
    from .data import write_dataset

    path = write_dataset(data_dir / "set", n, seed) / "train.jsonl"
    raw = {row["id"]: row for row in map(json.loads, path.read_text().splitlines())}
    rows = load_jsonl(path).dataset

    def add_completion(row, index):
        source = raw[row["id"]]
        out = {"completion": [{"role": "assistant", "content": target_completion(source["think"], row["solution"])}]}
        if index % 2:
            out["prompt"] = evaluation_prompt(source["conversations"][0]["value"].removeprefix("<image>\n"))
        return out

    return rows.map(add_completion, with_indices=True).select_columns(["prompt", "completion", "images"])


def evaluation_prompt(question: str) -> list[dict]:
    """The user turn `dyco_repro.evaluation.inference.to_chat` builds for a synthetic benchmark question: the image,
    the question exactly as VLMEvalKit's `build_prompt` gives it, then the format instruction as its own part
    (profile=tiny's `eval.instruction`), with no separator between them."""
    from ..data import FORMAT_INSTRUCTION

    content = [
        {"type": "image", "text": None},
        {"type": "text", "text": question},
        {"type": "text", "text": FORMAT_INSTRUCTION},
    ]
    return [{"role": "user", "content": content}]


@contextlib.contextmanager
def _preserved_rng() -> Iterator[None]:
    """The Trainer seeds the global RNGs; give the caller its own streams back afterwards."""
    import numpy as np

    state = random.getstate(), np.random.get_state(), torch.random.get_rng_state()
    try:
        yield
    finally:
        random.setstate(state[0])
        np.random.set_state(state[1])
        torch.random.set_rng_state(state[2])


@contextlib.contextmanager
def _torch_threads(n: int) -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@torch.no_grad()
def reward_means(
    model_dir: str | Path,
    n: int = 32,
    seed: int = HELDOUT_SEED,
    do_sample: bool = False,
    temperature: float = 1.0,
    max_new_tokens: int = RL_MAX_COMPLETION_TOKENS,
    generation_seed: int = 0,
) -> dict[str, Any]:
    """Mean `format_reward` and `accuracy_reward` of the model's completions on `n` synthetic RL prompts.

    Prompts are built as in RL (`load_jsonl`), generated left padded in one batch and decoded without special
    tokens, as TRL's GRPOTrainer does. Returns {"format", "accuracy": means, "examples": 4 completions}.
    """
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from ..data import accuracy_reward, format_reward, load_jsonl
    from .data import write_dataset

    processor = AutoProcessor.from_pretrained(model_dir, padding_side="left")
    model = AutoModelForImageTextToText.from_pretrained(model_dir, dtype=torch.float32).eval()
    with tempfile.TemporaryDirectory(prefix="dyco_heldout.") as data_dir:
        rows = load_jsonl(write_dataset(Path(data_dir) / "set", n, seed) / "train.jsonl").dataset
        texts = [processor.apply_chat_template(p, add_generation_prompt=True) for p in rows["prompt"]]
        images = [image for row_images in rows["images"] for image in row_images]
        enc = processor(text=texts, images=images, return_tensors="pt", padding=True, padding_side="left")
    tokenizer = processor.tokenizer
    with _preserved_rng(), _torch_threads(1):
        torch.manual_seed(generation_seed)
        out = model.generate(
            **enc,
            max_new_tokens=max_new_tokens,
            do_sample=do_sample,
            temperature=temperature if do_sample else None,
            top_p=1.0,
            top_k=0 if do_sample else None,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
        )
    completions = tokenizer.batch_decode(out[:, enc["input_ids"].shape[1] :], skip_special_tokens=True)
    solutions = rows["solution"]
    fmt = format_reward(completions)
    acc = accuracy_reward(completions, solution=solutions)
    return {"format": sum(fmt) / n, "accuracy": sum(acc) / n, "examples": completions[:4]}
