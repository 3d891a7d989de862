"""The one image loader for training and evaluation: every image reaches the model as 8-bit RGB it can see.

`PIL.Image.convert("RGB")` (what ``datasets.Image(mode="RGB")`` and a bare ``convert`` do) misreads
images that are common in benchmark and training files:

* transparency (RGBA, LA, PA, palette with a transparent colour) is dropped, so what was transparent
  shows its stored colour, usually black: a black drawing on a transparent background becomes all black.
  Here it is composited on white, as Qwen's own ``qwen_vl_utils.to_rgb`` and transformers' ``convert_to_rgb``
  do for RGBA.
* 16-bit grey (``I;16*``, ``I``) is clipped at 255 (all white) and float (``F``) truncated (all black).
  Here they are scaled to 8 bits by their range: 16-bit by 65535 (the type's range), 32-bit integers
  holding values above 65535 and floats outside [0, 1] by their own min..max, floats in [0, 1] by 255.

Geometry: Qwen2.5-VL's image processor refuses an aspect ratio over 200:1 (``smart_resize``, transformers 5.x)
and an image smaller than one 14-pixel ViT patch carries no patch of its own. `geometry_problem` names
both (the training data check reports them as FILE:LINE); `fit_for_model` pads such an image with white
(evaluation: one bad item never stops a benchmark batch), and the caller counts what it adjusted.
"""

from __future__ import annotations

import math
import os
from typing import IO

import numpy as np
from PIL import Image

MAX_ASPECT_RATIO = 200  # Qwen2-VL / Qwen2.5-VL smart_resize: "absolute aspect ratio must be smaller than 200"
MIN_SIDE = 14  # one Qwen2.5-VL vision patch (patch_size 14)
WHITE = (255, 255, 255)
_ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")
_SIXTEEN_BIT = ("I;16", "I;16L", "I;16B", "I;16N")


def to_rgb(image: Image.Image) -> Image.Image:
    """An 8-bit RGB copy of `image`: transparency composited on white, 16-bit and float scaled by range."""
    mode = image.mode
    if mode == "RGB":
        return image
    if mode == "P" and "transparency" in image.info:
        image, mode = image.convert("RGBA"), "RGBA"
    if mode in _ALPHA_MODES:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (*WHITE, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if mode in _SIXTEEN_BIT or mode in ("I", "F"):
        return Image.fromarray(_to_uint8(np.asarray(image), mode), mode="L").convert("RGB")
    return image.convert("RGB")


def _to_uint8(values: np.ndarray, mode: str) -> np.ndarray:
    values = np.nan_to_num(values.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    low, high = (float(values.min()), float(values.max())) if values.size else (0.0, 0.0)
    if mode in _SIXTEEN_BIT or (mode == "I" and low >= 0 and high <= 65535):
        scaled = values / 65535.0 * 255.0
    elif mode == "F" and low >= 0 and high <= 1:
        scaled = values * 255.0
    elif high > low:
        scaled = (values - low) / (high - low) * 255.0
    else:
        scaled = np.zeros_like(values)
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def load_image(source: str | os.PathLike | IO[bytes] | Image.Image) -> Image.Image:
    """An image file (path or binary file) or a PIL image, fully read, as 8-bit RGB (`to_rgb`).

    Raises what PIL raises for a missing or unreadable file (OSError, ValueError, DecompressionBombError)."""
    if isinstance(source, Image.Image):
        return to_rgb(source)
    with Image.open(source) as image:
        image.load()
        return to_rgb(image)


def geometry_problem(width: int, height: int) -> str | None:
    """Why Qwen2.5-VL cannot take an image of this size (one clause naming the limit), or None."""
    if min(width, height) < MIN_SIDE:
        return f"image is {width}x{height} pixels, smaller than one {MIN_SIDE}-pixel vision patch"
    if max(width, height) / min(width, height) > MAX_ASPECT_RATIO:
        ratio = max(width, height) / min(width, height)
        return f"image is {width}x{height} pixels, aspect ratio {ratio:.0f}:1 over the processor's {MAX_ASPECT_RATIO}:1"
    return None


def fit_for_model(image: Image.Image) -> tuple[Image.Image, bool]:
    """`image` padded with white (centred) until no `geometry_problem` remains; (image, whether it changed)."""
    width, height = image.size
    if geometry_problem(width, height) is None:
        return image, False
    new_w, new_h = max(width, MIN_SIDE), max(height, MIN_SIDE)
    new_w = max(new_w, math.ceil(new_h / MAX_ASPECT_RATIO))
    new_h = max(new_h, math.ceil(new_w / MAX_ASPECT_RATIO))
    canvas = Image.new("RGB", (new_w, new_h), WHITE)
    canvas.paste(to_rgb(image), ((new_w - width) // 2, (new_h - height) // 2))
    return canvas, True


def load_for_model(source: str | os.PathLike | IO[bytes] | Image.Image) -> tuple[Image.Image, bool]:
    """`load_image`, then `fit_for_model`: (RGB image the processor accepts, whether it was padded)."""
    return fit_for_model(load_image(source))


def items_needing_fit(dataset) -> int:
    """How many items of a VLMEvalKit dataset have an image `fit_for_model` pads (headers only are read).

    `dataset` is a VLMEvalKit image dataset (``data`` frame, ``build_prompt(row)`` messages of
    ``{"type": "image", "value": path}``); an image that cannot be opened counts as adjusted too."""
    count = 0
    for i in range(len(dataset.data)):
        paths = [p["value"] for p in dataset.build_prompt(dataset.data.iloc[i]) if p["type"] == "image"]
        count += any(_needs_fit(path) for path in paths)
    return count


def _needs_fit(path: str) -> bool:
    try:
        with Image.open(path) as image:
            return geometry_problem(*image.size) is not None
    except Exception:  # noqa: BLE001 - PIL raises many types; the generator reports the file itself
        return True
