"""Re-derive a synthetic question's answer from the drawn pixels alone (shared by the data and benchmark tests)."""

from __future__ import annotations

import re

import numpy as np
from PIL import Image

from dyco_repro.tiny.shapes import COLORS


def pixel_shapes(image: Image.Image) -> list[dict]:
    """Connected single-colour regions (shapes never touch): colour, kind, bounding box, area."""
    pixels = np.asarray(image.convert("RGB"))
    found = []
    for colour, rgb in COLORS.items():
        mask = (pixels == np.array(rgb)).all(-1)
        while mask.any():
            stack, region = [tuple(np.argwhere(mask)[0])], []
            mask[stack[0]] = False
            while stack:
                y, x = stack.pop()
                region.append((y, x))
                for ny, nx in ((y + 1, x), (y - 1, x), (y, x + 1), (y, x - 1)):
                    if 0 <= ny < mask.shape[0] and 0 <= nx < mask.shape[1] and mask[ny, nx]:
                        mask[ny, nx] = False
                        stack.append((ny, nx))
            ys, xs = np.array(region).T
            top, bottom, left, right = ys.min(), ys.max(), xs.min(), xs.max()
            fill = len(region) / ((bottom - top + 1) * (right - left + 1))  # square 1, circle ~0.8, triangle ~0.5
            kind = "square" if fill > 0.9 else "circle" if fill > 0.65 else "triangle"
            found.append(
                dict(color=colour, kind=kind, top=top, bottom=bottom, left=left, right=right, area=len(region))
            )
    return found


def answer_from_pixels(question: str, image: Image.Image) -> str:
    """Re-derive the answer of every question template from the image alone."""
    shapes = pixel_shapes(image)
    largest = max(shapes, key=lambda s: s["area"])

    def n(color=None, kind=None):
        return sum((color in (None, s["color"])) and (kind in (None, s["kind"])) for s in shapes)

    def named(words):
        (shape,) = [s for s in shapes if f"{s['color']} {s['kind']}" == words]
        return shape

    def relation(a, how, b):
        return {
            "above": a["bottom"] < b["top"],
            "below": a["top"] > b["bottom"],
            "to the left of": a["right"] < b["left"],
            "to the right of": a["left"] > b["right"],
        }[how]

    def vertically(a, b):
        return "above" if relation(a, "above", b) else "below" if relation(a, "below", b) else "overlapping"

    yes_no = {True: "Yes", False: "No"}
    rules = [
        (r"How many (\w+) shapes are in the image\?", lambda c: n(color=c)),
        (r"How many (\w+)s are in the image\?", lambda k: n(kind=k)),
        (r"What colour is the largest shape\?", lambda: largest["color"]),
        (r"Which kind of shape is the largest one", lambda: largest["kind"]),
        (r"In which part of the image is the (\w+ \w+)\?", lambda w: quarter(named(w), image.height // 2)),
        (r"Is the (\w+ \w+) above or below the (\w+ \w+)\?", lambda a, b: vertically(named(a), named(b))),
        (r"(?:Is|Are) there exactly (\d+) (\w+) shapes? in", lambda k, c: yes_no[n(color=c) == int(k)]),
        (r"Is the largest shape (\w+)\?", lambda c: yes_no[largest["color"] == c]),
        (r"Is there a (\w+) (\w+) in the image\?", lambda c, k: yes_no[n(color=c, kind=k) > 0]),
        (
            r"Is the (\w+ \w+) (above|below|to the left of|to the right of) the (\w+ \w+)\?",
            lambda a, how, b: yes_no[relation(named(a), how, named(b))],
        ),
        (r"Are there more (\w+) shapes or more (\w+) shapes\?", lambda c1, c2: c1 if n(color=c1) > n(color=c2) else c2),
        (r"Are there more (\w+) shapes than (\w+) shapes in", lambda c1, c2: yes_no[n(color=c1) > n(color=c2)]),
        (r"How many sides do all the triangles and squares", lambda: 3 * n(kind="triangle") + 4 * n(kind="square")),
        (r"How many more (\w+)s than (\w+)s", lambda k1, k2: n(kind=k1) - n(kind=k2)),
        (r"How many (\w+) shapes and (\w+) shapes are there altogether", lambda c1, c2: n(color=c1) + n(color=c2)),
        (r"If all the (\w+) shapes were removed", lambda c: len(shapes) - n(color=c)),
    ]
    for pattern, rule in rules:
        if match := re.match(pattern, question):
            return str(rule(*match.groups()))
    raise AssertionError(f"no rule for {question!r}")


def quarter(shape: dict, half: int) -> str:
    vertical = "top" if shape["bottom"] < half else "bottom" if shape["top"] >= half else "?"
    horizontal = "left" if shape["right"] < half else "right" if shape["left"] >= half else "?"
    return f"{vertical} {horizontal}"
