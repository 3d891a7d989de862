"""Synthetic benchmarks in VLMEvalKit's own TSV formats, so its real dataset classes load and score them offline.

`write_benchmarks(lmudata)` writes three `$LMUData`-style TSVs (PNG images base64-encoded in `image`):

- `Synth_MCQ.tsv`  like MMBench: `ImageMCQDataset(dataset="Synth_MCQ")`, scored by exact option matching.
- `Synth_MME.tsv`  like MME: yes/no pairs, `ImageYORNDataset(dataset="Synth_MME")`, scored by `MME_rating`
  (the name must contain "MME"; the MCQ name must not contain "mmbench"/"circular", which switch on circular eval).
- `Synth_Math.tsv` like MathVision: free-form integers, `MathVision(dataset="Synth_Math")`, scored by an LLM judge.

For a name it does not know, VLMEvalKit reads `<LMUData>/<name>.tsv` with no md5 check and no download. Every
answer is computed from the drawn shapes, which never touch, so it can be re-derived from the pixels.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import random
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from filelock import FileLock
from PIL import Image

from ..atomic import write_text_atomic
from .shapes import COLORS, IMAGE_SIZE, KINDS, Shape, count, render

SYNTHETIC_BENCHMARKS = ("Synth_MCQ", "Synth_MME", "Synth_Math")
MANIFEST = "synthetic_benchmarks.json"
VERSION = 8  # bump whenever questions, scenes or rendering change: the cached sets are rebuilt
DEFAULT_N = 250  # questions per benchmark (Synth_MME: images, two questions each); see README, tiny world
COLUMNS = {
    "Synth_MCQ": ["index", "question", "hint", *"ABCD", "answer", "category", "l2-category", "split", "image"],
    "Synth_MME": ["index", "image", "image_path", "question", "answer", "category"],
    "Synth_Math": ["index", "image", "question", "answer", "choices", "category", "level"],
}
HALF = IMAGE_SIZE // 2
MIN_SHAPES, MAX_SHAPES = 3, 7
# Scenes sit on a 4 x 4 grid of 28-pixel cells, one shape per cell at most: a cell is exactly what one image token
# of the tiny models covers (Qwen2.5-VL: 14-pixel patches, merged 2 x 2), so looking at a shape is attending to
# one token, which a model two layers deep learns to do (README, tiny world).
GRID = 4
CELL = IMAGE_SIZE // GRID
LARGEST_RADIUS, SMALL_RADII = 12, (5, 7)
LOOKUP_RADII = (10, 12)


def encode_png(image: Image.Image) -> str:
    """Lossless base64 PNG; VLMEvalKit's `encode_image_to_base64` defaults to JPEG, which would blur the colours."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def separated(shapes: list[Shape]) -> bool:
    """No two shapes touch, not even diagonally. `random_scene` keeps the shapes' inscribed circles apart, but
    square and triangle corners reach past them, so shapes can merge or hide each other and the pixels would
    then disagree with the answer (15-20% of scenes touch somewhere)."""
    masks = [np.asarray(render([s]).convert("L")) < 255 for s in shapes]
    for i, mask in enumerate(masks):
        grown = mask.copy()  # one pixel wider in all eight directions; shapes never reach the image border
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                grown |= np.roll(mask, (dy, dx), axis=(0, 1))
        if any((grown & other).any() for other in masks[i + 1 :]):
            return False
    return True


def grid_scene(rng: random.Random, min_shapes: int = MIN_SHAPES, max_shapes: int = MAX_SHAPES) -> list[Shape]:
    """`min..max` shapes in distinct grid cells, each at least 2 pixels inside its cell (so none ever touch).

    The first one is clearly the largest: radius 12 against 5-7, so even a triangle of radius 12 covers more
    pixels than a square of radius 7."""
    n = rng.randint(min_shapes, max_shapes)
    shapes = []
    for i, cell in enumerate(rng.sample(range(GRID * GRID), n)):
        radius = LARGEST_RADIUS if i == 0 else rng.randint(*SMALL_RADII)
        slack = CELL // 2 - radius - 2
        row, col = divmod(cell, GRID)
        x = col * CELL + CELL // 2 + rng.randint(-slack, slack)
        y = row * CELL + CELL // 2 + rng.randint(-slack, slack)
        shapes.append(Shape(rng.choice(KINDS), rng.choice(list(COLORS)), x, y, radius))
    return shapes


def lookup_scene(rng: random.Random) -> list[Shape]:
    """2 to 4 shapes of distinct colours in distinct grid cells, each nearly filling its cell (radius 10 to 12), so
    "the red shape" names one shape, looking it up is attending to one image token, and its kind is plain in that
    token (at radius 5-7 the warm-started models could not tell the kinds apart; README, tiny world)."""
    n = rng.randint(2, len(COLORS))
    shapes = []
    for cell, color in zip(rng.sample(range(GRID * GRID), n), rng.sample(list(COLORS), n), strict=True):
        radius = rng.randint(*LOOKUP_RADII)
        slack = CELL // 2 - radius - 2
        row, col = divmod(cell, GRID)
        x = col * CELL + CELL // 2 + rng.randint(-slack, slack)
        y = row * CELL + CELL // 2 + rng.randint(-slack, slack)
        shapes.append(Shape(rng.choice(KINDS), color, x, y, radius))
    return shapes


def describe(shape: Shape) -> str:
    return f"{shape.color} {shape.kind}"


def unique_shapes(shapes: list[Shape]) -> list[Shape]:
    """Shapes that a "<colour> <kind>" phrase names without ambiguity."""
    return [s for s in shapes if count(shapes, color=s.color, kind=s.kind) == 1]


def quadrant(shape: Shape) -> str | None:
    """The image quarter that wholly contains the shape, else None (a shape on a midline has no clear answer)."""
    vertical = "top" if shape.y + shape.radius < HALF else "bottom" if shape.y - shape.radius > HALF else None
    horizontal = "left" if shape.x + shape.radius < HALF else "right" if shape.x - shape.radius > HALF else None
    return f"{vertical} {horizontal}" if vertical and horizontal else None


def above(a: Shape, b: Shape) -> bool:
    """`a` is entirely above `b`, with no vertical overlap."""
    return b.y - a.y > a.radius + b.radius


def left_of(a: Shape, b: Shape) -> bool:
    return b.x - a.x > a.radius + b.radius


def shapes_phrase(n: int, color: str) -> str:
    return f"Is there exactly 1 {color} shape" if n == 1 else f"Are there exactly {n} {color} shapes"


# ---- Grounded lookup tasks: the synthetic benchmarks and the training set ----
#
# Each question is answered by looking up one to three shapes, by colour or by kind, and computing with what is seen.
# The warm-start reasoning (`think`) names each looked-up shape by the word that addresses it, followed at once by
# what the image shows ("red triangle. blue square. 3 + 4 = 7"; "triangle red."), so the token that writes a shape's
# kind or colour is predicted by the token naming it: one attention hop from that token to the shape's image token,
# which a two-layer model learns in a few hundred SFT steps. Counting (how many red shapes) and finding the largest
# shape are not in the set: the tiny models did not learn them (README, tiny world). The training set (`data.py`)
# asks the same questions about other scenes, so the warm start and RL cover every answer format the benchmarks ask.

SIDES = {"triangle": 3, "square": 4}  # circles are never asked about sides
L2 = {
    "attribute_recognition": "finegrained_perception (instance-level)",
    "attribute_comparison": "finegrained_perception (cross-instance)",
    # the real-format fixtures' MMBench questions (`fixtures.py`)
    "counting": "finegrained_perception (cross-instance)",
    "object_localization": "finegrained_perception (instance-level)",
}


def sided(shapes: list[Shape]) -> list[Shape]:
    return [s for s in shapes if s.kind in SIDES]


def only_of_kind(shapes: list[Shape]) -> list[Shape]:
    """Shapes that are the only one of their kind: "the triangle" names them."""
    return [s for s in shapes if count(shapes, kind=s.kind) == 1]


# ---- Synth_MCQ: (category, question, options, correct option, hint, think) or None when the scene does not fit ----


# Options are listed in one fixed order (colours as in COLORS, kinds as in KINDS; two shapes in the order the
# question names them), so an option's letter follows from its value: the two-layer models could not learn to find
# a value among shuffled options (Zero-Shot stayed at chance, 35.6 against 36.1).


def mcq_color_of(rng, shapes):
    if not only_of_kind(shapes):
        return None
    shape = rng.choice(only_of_kind(shapes))
    question = f"What colour is the {shape.kind}?"
    options = list(COLORS)
    return "attribute_recognition", question, options, shape.color, None, f"{shape.kind} {shape.color}."


def mcq_kind_of(rng, shapes):
    """Three options (D left empty), as some MMBench questions have."""
    shape = rng.choice(shapes)
    question = f"Which kind of shape is the {shape.color} one?"
    return "attribute_recognition", question, list(KINDS), shape.kind, None, f"{describe(shape)}."


def mcq_more_sides(rng, shapes):
    """Look twice, compare (two options, C and D empty)."""
    pairs = [(a, b) for a in sided(shapes) for b in sided(shapes) if SIDES[a.kind] > SIDES[b.kind]]
    if not pairs:
        return None
    a, b = rng.choice(pairs)
    first, second = rng.sample([a, b], 2)
    question = f"Which has more sides, the {first.color} shape or the {second.color} shape?"
    think = f"{describe(first)}. {describe(second)}. {SIDES[a.kind]} > {SIDES[b.kind]}."
    return "attribute_comparison", question, [first.color, second.color], a.color, None, think


# A colour question comes first, so pandas reads the option columns as text.
MCQ_BUILDERS = (mcq_color_of, mcq_kind_of, mcq_more_sides)


# ---- Synth_MME: (category, yes question, no question, yes think, no think) or None; MME's perception categories ----


def mme_kind_color(rng, shapes):
    if not only_of_kind(shapes):
        return None
    shape = rng.choice(only_of_kind(shapes))
    wrong = rng.choice([c for c in COLORS if c != shape.color])
    question = f"Is the {shape.kind} {{}}?"
    seen = f"{shape.kind} {shape.color}."
    return "color", question.format(shape.color), question.format(wrong), seen, f"{seen} {shape.color} is not {wrong}."


def mme_has_kind(rng, shapes):
    """Looked up by kind, which the tiny models copy from the question reliably (a colour only about half the time)."""
    absent = [k for k in KINDS if not count(shapes, kind=k)]
    if not absent or not only_of_kind(shapes):
        return None
    shape, missing = rng.choice(only_of_kind(shapes)), rng.choice(absent)
    question = "Is there a {} in the image?"
    return (
        "existence",
        question.format(shape.kind),
        question.format(missing),
        f"{shape.kind} {shape.color}.",
        f"{missing} none.",
    )


def mme_sides(rng, shapes):
    """Is there a shape with 3 (a triangle) or 4 (a square) sides: the kind follows from the number, then one look."""
    present = [k for k in SIDES if count(shapes, kind=k) == 1]
    absent = [k for k in SIDES if not count(shapes, kind=k)]
    if not present or not absent:
        return None
    shape = next(s for s in shapes if s.kind == rng.choice(present))
    missing = absent[0]
    question = "Is there a shape with {} sides in the image?"
    return (
        "count",
        question.format(SIDES[shape.kind]),
        question.format(SIDES[missing]),
        f"{SIDES[shape.kind]} sides: {shape.kind} {shape.color}.",
        f"{SIDES[missing]} sides: {missing} none.",
    )


MME_BUILDERS = (mme_kind_color, mme_has_kind, mme_sides)


# ---- Synth_Math: (category, level, question, integer answer, think) or None ----


def math_sides_two(rng, shapes):
    if len(sided(shapes)) < 2:
        return None
    a, b = rng.sample(sided(shapes), 2)
    question = f"How many sides do the {a.color} shape and the {b.color} shape have in total?"
    total = SIDES[a.kind] + SIDES[b.kind]
    return (
        "arithmetic",
        1,
        question,
        total,
        f"{describe(a)}. {describe(b)}. {SIDES[a.kind]} + {SIDES[b.kind]} = {total}",
    )


def math_sides_three(rng, shapes):
    if len(sided(shapes)) < 3:
        return None
    a, b, c = rng.sample(sided(shapes), 3)
    question = f"How many sides do the {a.color}, {b.color} and {c.color} shapes have in total?"
    total = SIDES[a.kind] + SIDES[b.kind] + SIDES[c.kind]
    sums = f"{SIDES[a.kind]} + {SIDES[b.kind]} + {SIDES[c.kind]} = {total}"
    return "arithmetic", 2, question, total, f"{describe(a)}. {describe(b)}. {describe(c)}. {sums}"


def math_sides_difference(rng, shapes):
    """How many more sides one shape has than another (0 when both have as many)."""
    pairs = [(a, b) for a in sided(shapes) for b in sided(shapes) if a is not b and SIDES[a.kind] >= SIDES[b.kind]]
    if not pairs:
        return None
    a, b = rng.choice(pairs)
    question = f"How many more sides does the {a.color} shape have than the {b.color} shape?"
    n1, n2 = SIDES[a.kind], SIDES[b.kind]
    return "arithmetic", 2, question, n1 - n2, f"{describe(a)}. {describe(b)}. {n1} - {n2} = {n1 - n2}"


MATH_BUILDERS = (math_sides_two, math_sides_three, math_sides_difference)


# ---- The real-format fixtures' scene questions (`fixtures.py`): counts, positions, the largest shape ----


def mcq_largest_color(rng, shapes):
    options = rng.sample(list(COLORS), len(COLORS))
    think = f"largest: {describe(shapes[0])}."
    return "attribute_recognition", "What colour is the largest shape?", options, shapes[0].color, None, think


def mcq_largest_kind(rng, shapes):
    """Three options only (D left empty), as some MMBench questions have."""
    options = rng.sample(KINDS, len(KINDS))
    question = "Which kind of shape is the largest one in the image?"
    return "attribute_recognition", question, options, shapes[0].kind, None, f"largest: {describe(shapes[0])}."


def mme_color(rng, shapes):
    wrong = rng.choice([c for c in COLORS if c != shapes[0].color])
    think = f"largest: {describe(shapes[0])}."
    return "color", f"Is the largest shape {shapes[0].color}?", f"Is the largest shape {wrong}?", think, think


def count_options(rng: random.Random, answer: int) -> list[str]:
    """The answer and three nearby wrong counts, shuffled: small counts in ascending order would mostly be A or B."""
    wrong = rng.sample([k for k in range(max(0, answer - 3), answer + 4) if k != answer], 3)
    return [str(k) for k in rng.sample([answer, *wrong], 4)]


def plural(kind: str, n: int | None = None) -> str:
    return kind if n == 1 else f"{kind}s"


def mcq_count_color(rng, shapes):
    color = rng.choice(list(COLORS))
    answer = count(shapes, color=color)
    question = f"How many {color} shapes are in the image?"
    return "counting", question, count_options(rng, answer), str(answer), None, f"{color}: {answer}."


def mcq_locate(rng, shapes):
    placed = [s for s in unique_shapes(shapes) if quadrant(s)]
    if not placed:
        return None
    shape = rng.choice(placed)
    options = rng.sample(["top left", "top right", "bottom left", "bottom right"], 4)
    question = f"In which part of the image is the {describe(shape)}?"
    hint = "The image is split into four equal quarters."
    return "object_localization", question, options, quadrant(shape), hint, f"{describe(shape)}: {quadrant(shape)}."


def mcq_count_kind(rng, shapes):
    kind = rng.choice(KINDS)
    answer = count(shapes, kind=kind)
    question = f"How many {kind}s are in the image?"
    return "counting", question, count_options(rng, answer), str(answer), None, f"{plural(kind)}: {answer}."


def mme_count(rng, shapes):
    color = rng.choice(sorted({s.color for s in shapes}))
    n = count(shapes, color=color)
    wrong = n + 1 if n == 1 or rng.random() < 0.5 else n - 1
    return (
        "count",
        f"{shapes_phrase(n, color)} in the image?",
        f"{shapes_phrase(wrong, color)} in the image?",
        f"{color}: {n}. {n} = {n}.",
        f"{color}: {n}. {n} is not {wrong}.",
    )


def mme_existence(rng, shapes):
    present = sorted({(s.color, s.kind) for s in shapes})
    absent = [(c, k) for c in COLORS for k in KINDS if (c, k) not in present]
    (c1, k1), (c2, k2) = rng.choice(present), rng.choice(absent)
    n1 = count(shapes, color=c1, kind=k1)
    return (
        "existence",
        f"Is there a {c1} {k1} in the image?",
        f"Is there a {c2} {k2} in the image?",
        f"{c1} {plural(k1, n1)}: {n1}.",
        f"{c2} {k2}s: 0.",
    )


def mme_position(rng, shapes):
    named = unique_shapes(shapes)
    pairs = [(a, b, "above", "below", "y") for a in named for b in named if above(a, b)]
    pairs += [(a, b, "to the left of", "to the right of", "x") for a in named for b in named if left_of(a, b)]
    if not pairs:
        return None
    a, b, true, false, axis = rng.choice(pairs)
    think = f"{describe(a)}: {axis} {getattr(a, axis) // 10}. {describe(b)}: {axis} {getattr(b, axis) // 10}."
    return (
        "position",
        f"Is the {describe(a)} {true} the {describe(b)}?",
        f"Is the {describe(a)} {false} the {describe(b)}?",
        think,
        think,
    )


FIXTURE_MME_BUILDERS = (mme_count, mme_color, mme_existence, mme_position)


def scene_for(rng: random.Random, builder: Callable, scene: Callable = grid_scene):
    """Draw scenes until one is cleanly drawn and the builder can ask its question about it: (shapes, question)."""
    for _ in range(1000):
        shapes = scene(rng)
        if not separated(shapes):  # never true for grid scenes; kept as the guarantee the labels rely on
            continue
        built = builder(rng, shapes)
        if built is not None:
            return shapes, built
    raise RuntimeError(f"{builder.__name__}: no fitting scene in 1000 draws")


def mcq_item(rng: random.Random, builder: Callable) -> tuple[list[Shape], dict]:
    """One MCQ question about a fresh scene: (shapes, row fields without index/image, plus `think`)."""
    shapes, (category, question, options, answer, hint, observed) = scene_for(rng, builder, lookup_scene)
    letter = "ABCD"[options.index(answer)]
    return shapes, {
        "question": question,
        "hint": hint,
        **{key: (options[j] if j < len(options) else None) for j, key in enumerate("ABCD")},
        "answer": letter,
        "category": category,
        "l2-category": L2[category],
        "split": "dev",
        "think": f"{observed} {answer} is {letter}.",
    }


def mcq_prompt(row: dict) -> str:
    """The text VLMEvalKit's `ImageMCQDataset.build_prompt` shows the model for this row (hint, question, options)."""
    options = "".join(f"{key}. {row[key]}\n" for key in "ABCD" if row.get(key) is not None)
    hint = f"Hint: {row['hint']}\n" if row.get("hint") is not None else ""
    select = "Please select the correct answer from the options above. \n"
    return f"{hint}Question: {row['question']}\nOptions:\n{options}{select}"


def mme_items(rng: random.Random, builder: Callable) -> tuple[list[Shape], list[dict]]:
    """A yes question and a no question about one fresh scene, each with its `think`."""
    shapes, (category, yes, no, yes_think, no_think) = scene_for(rng, builder, lookup_scene)
    return shapes, [
        {"question": f"{question} Please answer yes or no.", "answer": answer, "category": category, "think": think}
        for question, answer, think in ((yes, "Yes", yes_think), (no, "No", no_think))
    ]


def math_item(rng: random.Random, builder: Callable) -> tuple[list[Shape], dict]:
    shapes, (category, level, question, answer, think) = scene_for(rng, builder, lookup_scene)
    return shapes, {
        "question": question,
        "answer": str(answer),
        "choices": "[]",
        "category": category,
        "level": level,
        "think": think,
    }


def mcq_rows(n: int, rng: random.Random) -> list[dict]:
    rows = []
    for i in range(n):
        shapes, item = mcq_item(rng, MCQ_BUILDERS[i % len(MCQ_BUILDERS)])
        rows.append({"index": i, **item, "image": encode_png(render(shapes))})
    return rows


def mme_rows(n: int, rng: random.Random) -> list[dict]:
    """Two rows per image, Yes then No, sharing `image_path`: MME_rating groups a category's rows by it (acc+)."""
    rows = []
    for i in range(n):
        shapes, items = mme_items(rng, MME_BUILDERS[i % len(MME_BUILDERS)])
        image = encode_png(render(shapes))
        for item in items:
            rows.append({"index": len(rows), "image": image, "image_path": f"synth_mme/{i:04d}.png", **item})
    return rows


def math_rows(n: int, rng: random.Random) -> list[dict]:
    """`choices` is the column `vlmeval.dataset.utils.mathv.post_check` reads; "[]" marks a free-form question."""
    rows = []
    for i in range(n):
        shapes, item = math_item(rng, MATH_BUILDERS[i % len(MATH_BUILDERS)])
        rows.append({"index": i, **item, "image": encode_png(render(shapes))})
    return rows


ROWS = {"Synth_MCQ": mcq_rows, "Synth_MME": mme_rows, "Synth_Math": math_rows}


def benchmark_tsv(name: str, n: int, seed: int) -> str:
    """One benchmark's TSV text; a string seed keeps the three sets independent and stable across runs."""
    rows = ROWS[name](n, random.Random(f"{name}:{seed}"))
    return pd.DataFrame(rows, columns=COLUMNS[name]).to_csv(sep="\t", index=False, lineterminator="\n")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def refuse_a_file(out: Path, fix: str) -> None:
    """Raise FileExistsError (`fix`: what to give instead) when the folder `out`, or one above it, is a
    file: checked before anything (a lock file included) is written beside it."""
    for path in (out, *out.parents):
        if path.exists():
            if not path.is_dir():
                what = f"{out} is a file" if path == out else f"{out}: {path} is a file"
                raise FileExistsError(f"{what}, not a directory; {fix}")
            return


def write_benchmarks(lmudata: str | Path, n: int = DEFAULT_N, seed: int = 1) -> Path:
    """Write the three synthetic TSVs into `lmudata` (n questions each; Synth_MME: n images, 2n questions).

    Reuses matching files (manifest of n/seed plus checksums). Each TSV is replaced atomically, so a
    reader never sees half a file; other files in the folder (real benchmarks) are left alone.
    """
    if n <= 0:
        raise ValueError(f"--n {n}: each benchmark needs at least one question")
    lmudata = Path(lmudata)
    refuse_a_file(lmudata, "choose a new or existing directory for --out")
    lmudata.mkdir(parents=True, exist_ok=True)
    with FileLock(f"{lmudata / MANIFEST}.lock"):  # concurrent evaluation workers build it once
        manifest_path = lmudata / MANIFEST
        try:
            old = json.loads(manifest_path.read_text())
            if old["version"] == VERSION and old["n"] == n and old["seed"] == seed:
                if all(sha256(lmudata / f"{name}.tsv") == old["sha256"][name] for name in SYNTHETIC_BENCHMARKS):
                    return lmudata
        except (OSError, ValueError, KeyError, TypeError):
            pass
        checksums = {}
        for name in SYNTHETIC_BENCHMARKS:
            # VLMEvalKit caches decoded images under images/<name>/ and never re-decodes an existing file,
            # so images of an earlier build would be shown with the new questions.
            shutil.rmtree(lmudata / "images" / name, ignore_errors=True)
            write_text_atomic(lmudata / f"{name}.tsv", benchmark_tsv(name, n, seed))
            checksums[name] = sha256(lmudata / f"{name}.tsv")
        manifest = {"version": VERSION, "n": n, "seed": seed, "sha256": checksums}
        write_text_atomic(manifest_path, json.dumps(manifest, indent=1))
    return lmudata
