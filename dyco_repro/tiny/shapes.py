"""Synthetic scenes of coloured shapes and questions that need the image to answer.

Drawing and counting, shared by the synthetic benchmarks, the training set and the fixtures. Everything is
drawn from `random.Random(seed)`, so a seed fixes scenes, images and questions.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from PIL import Image, ImageDraw

COLORS = {"red": (220, 40, 40), "green": (40, 170, 60), "blue": (40, 80, 220), "yellow": (230, 200, 30)}
KINDS = ("circle", "square", "triangle")
IMAGE_SIZE = 112


@dataclass(frozen=True)
class Shape:
    kind: str
    color: str
    x: int
    y: int
    radius: int


@dataclass(frozen=True)
class Question:
    kind: str  # count_color | count_kind | compare | total | largest_color
    text: str
    answer: str  # always verifiable: an integer, "yes"/"no", or a colour name


def random_scene(rng: random.Random, min_shapes: int = 2, max_shapes: int = 6) -> list[Shape]:
    """Non-overlapping shapes; the first one is clearly the largest."""
    n = rng.randint(min_shapes, max_shapes)
    shapes: list[Shape] = []
    for _ in range(n * 20):
        if len(shapes) == n:
            break
        radius = 18 if not shapes else rng.randint(6, 11)
        x = rng.randint(radius + 1, IMAGE_SIZE - radius - 2)
        y = rng.randint(radius + 1, IMAGE_SIZE - radius - 2)
        if all((x - s.x) ** 2 + (y - s.y) ** 2 > (radius + s.radius + 2) ** 2 for s in shapes):
            shapes.append(Shape(rng.choice(KINDS), rng.choice(list(COLORS)), x, y, radius))
    return shapes


def render(shapes: list[Shape]) -> Image.Image:
    image = Image.new("RGB", (IMAGE_SIZE, IMAGE_SIZE), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    for s in shapes:
        box = (s.x - s.radius, s.y - s.radius, s.x + s.radius, s.y + s.radius)
        fill = COLORS[s.color]
        if s.kind == "circle":
            draw.ellipse(box, fill=fill)
        elif s.kind == "square":
            draw.rectangle(box, fill=fill)
        else:
            draw.polygon(
                [(s.x, s.y - s.radius), (s.x - s.radius, s.y + s.radius), (s.x + s.radius, s.y + s.radius)], fill=fill
            )
    return image


def count(shapes: list[Shape], color: str | None = None, kind: str | None = None) -> int:
    return sum((color is None or s.color == color) and (kind is None or s.kind == kind) for s in shapes)


def random_question(rng: random.Random, shapes: list[Shape]) -> Question:
    kind = rng.choice(["count_color", "count_kind", "compare", "total", "largest_color"])
    c1, c2 = rng.sample(list(COLORS), 2)
    if kind == "count_color":
        return Question(kind, f"How many {c1} shapes are in the image?", str(count(shapes, color=c1)))
    if kind == "count_kind":
        k = rng.choice(KINDS)
        return Question(kind, f"How many {k}s are in the image?", str(count(shapes, kind=k)))
    if kind == "compare":
        more = count(shapes, color=c1) > count(shapes, color=c2)
        return Question(
            kind, f"Are there more {c1} shapes than {c2} shapes? Answer yes or no.", "yes" if more else "no"
        )
    if kind == "total":
        total = count(shapes, color=c1) + count(shapes, color=c2)
        return Question(kind, f"How many {c1} shapes plus {c2} shapes are there in total?", str(total))
    return Question(kind, "What colour is the largest shape?", shapes[0].color)
