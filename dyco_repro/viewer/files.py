"""The role-sample file: `<run dir>/roles/step_<step>.json`, as `samples.write_step` writes it, and its
check on reading (the files are untrusted input: model text, numbers, an image). No torch here, so that
the page and the report read samples without it."""

from __future__ import annotations

import base64
import math
from typing import Any

SAMPLES_DIR = "roles"  # under the run directory, and the MLflow artifact path
FORMAT = 1
ROLES = ("visual", "textual", "neutral")


class SampleFileError(ValueError):
    """A role-sample file that is not what `write_step` writes."""


def validate(data: Any) -> dict[str, Any]:
    """A step's samples as read from an untrusted JSON file, checked field by field.

    Returns `{"step": int, "run": str | None, "samples": [...]}` with typed fields; an image that is not
    plain base64 is dropped. Raises SampleFileError naming the first bad field.
    """
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise SampleFileError(f"not a role-sample file (format {FORMAT})")
    step = data.get("step")
    if not isinstance(step, int) or isinstance(step, bool) or step < 0:
        raise SampleFileError("step is not a non-negative integer")
    samples = data.get("samples")
    if not isinstance(samples, list):
        raise SampleFileError("samples is not a list")
    run = data.get("run")
    clean = []
    for n, sample in enumerate(samples):
        if not isinstance(sample, dict) or not isinstance(sample.get("tokens"), list):
            raise SampleFileError(f"sample {n} has no token list")
        tokens = []
        for k, token in enumerate(sample["tokens"]):
            if not isinstance(token, dict) or token.get("role") not in ROLES:
                raise SampleFileError(f"sample {n} token {k}: role is not visual/textual/neutral")
            tokens.append(
                {
                    "text": str(token.get("text", "")),
                    "role": token["role"],
                    **{key: _number(token.get(key), f"sample {n} token {k}: {key}") for key in NUMBERS},
                }
            )
        image = sample.get("image_png")
        clean.append(
            {
                "prompt": str(sample.get("prompt", "")),
                "tokens": tokens,
                "reward": _number(sample.get("reward"), f"sample {n}: reward", optional=True),
                "advantage_factor": _number(sample.get("advantage_factor"), f"sample {n}: advantage_factor"),
                "image_png": image if isinstance(image, str) and _is_base64(image) else None,
            }
        )
    return {"step": step, "run": str(run) if run is not None else None, "samples": clean}


NUMBERS = ("r_vis", "v_vis", "v_txt", "weight")


def _number(value: Any, what: str, optional: bool = False) -> float | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise SampleFileError(f"{what} is not a finite number")
    return float(value)


def _is_base64(text: str) -> bool:
    try:
        base64.b64decode(text, validate=True)
    except ValueError:
        return False
    return bool(text)
