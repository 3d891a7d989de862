"""Role samples: a few completions of a DyCo training step with their per-token signals.

At each logging step (and the first step) the DyCo trainer hands `record_role_samples` the rows
whose signals it just computed; the first `SAMPLES_PER_STEP` completions are kept with, per token,
its text, role, ~r_vis, v_vis, v_txt and advantage factor, and per completion the image the model
saw, its reward and its advantage factor (mean over its tokens; constant along a completion for the
sequence variant). They are written to `<run dir>/roles/step_<step>.json` (the raw values) and
`step_<step>.html` (the page), plus `index.html` over every step so far, and logged to the active
MLflow run under `roles/`. The run directory is the parent of the trainer's `output_dir`
(train.py trains into `<run_dir>/checkpoints`).

`RoleSampleRows` is the trainer mixin that knows which rows those signals belong to: the loss's
micro-batch (GRPO family: the signal comes from the loss's forward) or the rollout (RLOO, PPO: from
the rollout's old-logps pass), and it keeps each rollout's rewards with its rows (`REWARD`) so that
TRL's shuffling and splitting carry them along. Recording never stops training: a failure is
reported once on stderr and recording stops.
"""

from __future__ import annotations

import base64
import io
import json
import math
import sys
from pathlib import Path
from typing import Any

import torch

from ..atomic import write_text_atomic
from ..dyco.signals import NEUTRAL, TEXTUAL, VISUAL, DyCoSignals
from .files import FORMAT, SAMPLES_DIR, validate

SAMPLES_PER_STEP = 4
REWARD = "dyco_reward"  # key under which a rollout keeps its rows' rewards `[B]`
ROLE_NAMES = {VISUAL: "visual", TEXTUAL: "textual", NEUTRAL: "neutral"}


class RoleSampleRows:
    """Mixin for a TRL trainer (GRPOTrainer, RLOOTrainer in TRL 1.16) with `self.dyco`.

    Keeps `self._role_rows`: the rows (a dict of `[B, ...]` tensors) the next DyCo signal belongs to.
    Does nothing when DyCo is off (`alpha = 0`): the stock trainer stays untouched.
    """

    _role_rows: dict[str, Any] | None = None
    _role_rewards: torch.Tensor | None = None

    def _role_on(self) -> bool:
        dyco = getattr(self, "dyco", None)
        return dyco is not None and dyco.alpha != 0

    def _calculate_rewards(self, *args: Any, **kwargs: Any):
        rewards_per_func = super()._calculate_rewards(*args, **kwargs)
        if self._role_on():
            self._role_rewards = rewards_per_func  # `[N, F]`, gathered over processes
        return rewards_per_func

    def _generate_and_score_completions(self, inputs):
        self._role_rewards = None
        output = super()._generate_and_score_completions(inputs)
        if self._role_on() and self._role_rewards is not None:
            per_func = self._role_rewards
            score = (per_func * self.reward_weights.to(per_func.device)).nansum(dim=1)  # as TRL sums them
            rows = output["completion_ids"].shape[0]
            start = self.accelerator.process_index * rows
            output[REWARD] = score[start : start + rows].to(output["completion_ids"].device)
        self._role_rewards = None
        self._role_rows = output  # RLOO and PPO compute the signal of these rows next
        return output

    def _compute_loss(self, model, inputs):
        previous, self._role_rows = self._role_rows, inputs  # the GRPO family's signal: this micro-batch
        try:
            return super()._compute_loss(model, inputs)
        finally:
            self._role_rows = previous


def sample_every(args: Any) -> int:
    """Steps between samples: the trainer's `logging_steps` (a ratio < 1 is of `max_steps`)."""
    steps = float(getattr(args, "logging_steps", 1) or 1)
    if steps >= 1:
        return int(steps)
    return max(1, math.ceil(max(int(getattr(args, "max_steps", 1) or 1), 1) * steps))


def record_role_samples(
    trainer: Any, signals: DyCoSignals, completion_mask: torch.Tensor, factor: torch.Tensor
) -> Path | None:
    """Keep this step's role samples if it is a logging step not yet sampled; the JSON file written, else None.

    signals: `[B, C]`; completion_mask `[B, C]`; factor `[B, C]` (the advantage multiplier, 1 on padding).
    The rows come from `trainer._role_rows` (`RoleSampleRows`); rows that do not match the signal's
    shape are skipped. Main process, training mode only.
    """
    if getattr(trainer, "_role_failed", False) or not trainer.model.training:
        return None
    if not trainer.accelerator.is_main_process:
        return None
    rows = getattr(trainer, "_role_rows", None)  # first: a trainer that kept no rollout rows has nothing to show
    completion_ids = rows.get("completion_ids") if isinstance(rows, dict) else None
    if completion_ids is None or tuple(completion_ids.shape) != tuple(completion_mask.shape):
        return None
    step = int(trainer.state.global_step) + 1  # the step being computed (TRL logs it once it completes)
    if getattr(trainer, "_role_step", None) == step or not (step == 1 or step % sample_every(trainer.args) == 0):
        return None
    trainer._role_step = step
    try:
        samples = collect(trainer, rows, signals, completion_mask, factor)
        return write_step(run_directory(trainer), step, samples, getattr(trainer.args, "run_name", None))
    except Exception as err:  # noqa: BLE001 - the viewer must never stop training
        trainer._role_failed = True
        print(f"warning: role samples stopped ({type(err).__name__}: {str(err)[:200]})", file=sys.stderr)
        return None


def run_directory(trainer: Any) -> Path:
    return Path(trainer.args.output_dir).resolve().parent


def collect(
    trainer: Any, rows: dict[str, Any], signals: DyCoSignals, completion_mask: torch.Tensor, factor: torch.Tensor
) -> list[dict[str, Any]]:
    """The first `SAMPLES_PER_STEP` rows with a valid token, as JSON-ready dicts (see `validate`)."""
    processor = trainer.processing_class
    tokenizer = getattr(processor, "tokenizer", processor)
    valid = completion_mask.bool()
    images = row_images(rows, processor)
    reward = rows.get(REWARD)
    picked = [i for i in range(valid.shape[0]) if valid[i].any()][:SAMPLES_PER_STEP]
    samples = []
    for i in picked:
        keep = valid[i]
        ids = rows["completion_ids"][i][keep].tolist()
        row_factor = factor[i][keep].float()
        tokens = [
            {
                "text": tokenizer.decode([token_id]),
                "role": ROLE_NAMES[int(role)],
                "r_vis": float(r_vis),
                "v_vis": float(v_vis),
                "v_txt": float(v_txt),
                "weight": float(weight),
            }
            for token_id, role, r_vis, v_vis, v_txt, weight in zip(
                ids,
                signals.role[i][keep].tolist(),
                signals.r_vis[i][keep].tolist(),
                signals.v_vis[i][keep].tolist(),
                signals.v_txt[i][keep].tolist(),
                row_factor.tolist(),
                strict=True,
            )
        ]
        prompt_ids = rows.get("prompt_ids")
        prompt = ""
        if prompt_ids is not None:
            prompt_mask = rows.get("prompt_mask")
            ids_p = prompt_ids[i][prompt_mask[i].bool()] if prompt_mask is not None else prompt_ids[i]
            prompt = tokenizer.decode(ids_p.tolist(), skip_special_tokens=True)
        samples.append(
            {
                "prompt": prompt,
                "tokens": tokens,
                "reward": None if reward is None else _finite(float(reward[i])),
                "advantage_factor": float(row_factor.mean()),
                "image_png": images[i] if images is not None else None,
            }
        )
    return samples


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def row_images(rows: dict[str, Any], processor: Any) -> list[str | None] | None:
    """Per row, the first image the model saw as base64 PNG; None when the layout is not Qwen2-VL's."""
    pixel_values, grid = rows.get("pixel_values"), rows.get("image_grid_thw")
    image_processor = getattr(processor, "image_processor", None)
    if pixel_values is None or grid is None or image_processor is None:
        return None
    n_rows = rows["completion_ids"].shape[0]
    counts = rows.get("num_images")
    counts = [int(c) for c in counts] if counts is not None else [1] * n_rows
    if sum(counts) != grid.shape[0] or len(counts) != n_rows:
        return None
    patches_per_image = [int(t * h * w) for t, h, w in grid.tolist()]
    if sum(patches_per_image) != pixel_values.shape[0]:
        return None
    offsets = [0]
    for n in patches_per_image:
        offsets.append(offsets[-1] + n)
    out: list[str | None] = []
    image_index = 0
    for count in counts:
        if count == 0:
            out.append(None)
            continue
        lo, hi = offsets[image_index], offsets[image_index + 1]
        array = unpatchify(pixel_values[lo:hi], grid[image_index].tolist(), image_processor)
        out.append(png_base64(array))
        image_index += count
    return out


def unpatchify(patches: torch.Tensor, grid_thw: list[int], image_processor: Any) -> torch.Tensor:
    """`[H, W, 3]` uint8: one image back from Qwen2-VL's flattened patches (the inverse of its processor's
    `reshape(t, tp, C, h/m, m, p, w/m, m, p).permute(0, 3, 6, 4, 7, 2, 1, 5, 8)`), un-normalised with the
    processor's mean and std; the first temporal frame."""
    t, h, w = (int(x) for x in grid_thw)
    p = int(image_processor.patch_size)
    tp = int(image_processor.temporal_patch_size)
    m = int(image_processor.merge_size)
    channels = patches.shape[1] // (tp * p * p)
    x = patches.detach().float().cpu().reshape(t, h // m, w // m, m, m, channels, tp, p, p)
    x = x.permute(0, 6, 5, 1, 3, 7, 2, 4, 8).reshape(t * tp, channels, h * p, w * p)[0]
    mean = torch.tensor(image_processor.image_mean, dtype=torch.float32)[:, None, None]
    std = torch.tensor(image_processor.image_std, dtype=torch.float32)[:, None, None]
    x = (x * std + mean).clamp(0, 1) * 255
    return x.round().to(torch.uint8).permute(1, 2, 0)


def png_base64(array: torch.Tensor) -> str:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(array.numpy()).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def write_step(run_dir: Path, step: int, samples: list[dict[str, Any]], run_name: str | None) -> Path:
    """`<run_dir>/roles/step_<step>.json` + `.html`, `index.html` over every step; logged to MLflow."""
    from .page import load_steps, render_page

    out = Path(run_dir) / SAMPLES_DIR
    out.mkdir(parents=True, exist_ok=True)
    data = {"format": FORMAT, "step": step, "run": run_name, "samples": samples}
    stem = f"step_{step:06d}"
    json_path = out / f"{stem}.json"
    write_text_atomic(json_path, json.dumps(data))
    html_path = out / f"{stem}.html"
    title = f"DyCo token roles: {run_name or run_dir.name}"
    write_text_atomic(html_path, render_page([validate(data)], f"{title}, step {step}"))
    index = out / "index.html"
    write_text_atomic(index, render_page(load_steps(out), title))
    _log_artifacts([json_path, html_path, index])
    return json_path


def _log_artifacts(paths: list[Path]) -> None:
    import mlflow

    if mlflow.active_run() is None:
        return
    for path in paths:
        mlflow.log_artifact(str(path), artifact_path=SAMPLES_DIR)
