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

    def n(color=None, kind=None):
        return sum((color in (None, s["color"])) and (kind in (None, s["kind"])) for s in shapes)

    def colored(color):
        (shape,) = [s for s in shapes if s["color"] == color]  # lookup scenes: one shape per colour
        return shape

    def sides(*colors):
        return [{"triangle": 3, "square": 4}[colored(c)["kind"]] for c in colors]

    yes_no = {True: "Yes", False: "No"}

    def of_kind(kind):
        (shape,) = [s for s in shapes if s["kind"] == kind]  # asked only when the kind is unique
        return shape

    rules = [
        (r"What colour is the (\w+)\?", lambda k: of_kind(k)["color"]),
        (r"Which kind of shape is the (\w+) one\?", lambda c: colored(c)["kind"]),
        (r"Which has more sides, the (\w+) shape or the (\w+) shape\?", lambda a, b: max((a, b), key=sides)),
        (r"Is the (triangle|square|circle) (\w+)\?", lambda k, c: yes_no[of_kind(k)["color"] == c]),
        (r"Is there a (\w+) in the image\?", lambda k: yes_no[n(kind=k) > 0]),
        (r"Is there a shape with (\d) sides in", lambda k: yes_no[n(kind={"3": "triangle", "4": "square"}[k]) > 0]),
        (r"How many sides do the (\w+) shape and the (\w+) shape have", lambda a, b: sum(sides(a, b))),
        (r"How many sides do the (\w+), (\w+) and (\w+) shapes have", lambda *c: sum(sides(*c))),
        (
            r"How many more sides does the (\w+) shape have than the (\w+) shape\?",
            lambda a, b: sides(a, b)[0] - sides(b)[0],
        ),
    ]
    for pattern, rule in rules:
        if match := re.match(pattern, question):
            return str(rule(*match.groups()))
    raise AssertionError(f"no rule for {question!r}")
