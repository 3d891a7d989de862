"""Table 1's seven benchmarks as small fixtures in VLMEvalKit's own TSV formats, with tiny-world images.

`write_fixtures(out)` writes `WeMath.tsv`, `MathVision.tsv`, `MathVerse_MINI.tsv`, `LogicVista.tsv`,
`HallusionBench.tsv`, `MME.tsv` and `MMBench_DEV_EN.tsv` (a few dozen rows each) into an `$LMUData`-style
folder, so VLMEvalKit's real dataset classes (`WeMath`, `MathVision`, `MathVerse`, `LogicVista`,
`ImageYORNDataset`, `ImageMCQDataset`) load, prompt and score them offline. Each file has the columns,
value conventions and grouping that the class's scoring code reads (checked against ms-vlmeval 0.0.20):

- WeMath: multi-step problems. `key` is `2steps_1`, `2steps_2`, `2steps_multi` (and `3steps_*`) and the rows
  of one problem share `ID`; `knowledge concept` is a leaf of VLMEvalKit's knowledge tree; options in `A`-`D`,
  `answer` a letter. Scored by `wemath_evaluate_models` (strict/loose, 525 problems fixed in its formula)
  and `wemath_accuracy` (one/two/three-step accuracy).
- MathVision: free-form (`choices` "[]", integer `answer`) and multiple-choice (`choices` a Python list
  literal of option texts, `answer` a letter); `category` is a MathVision subject, `level` 1-5.
- MathVerse_MINI: each problem in the five `problem_version`s (Text Dominant ... Vision Only) sharing
  `problem_index`; `metadata` is a single-quoted dict with `subject` and `subfield`; `question_for_eval`.
- LogicVista: lettered options inside `question`, `answer` "A" or "A, C" (several letters), `skill` one of
  inductive/deductive/numerical/spatial/mechanical.
- HallusionBench: `index` `<category>_<l2>_<sub>_<set_id>_<figure_id>_<question_id>` (VLMEvalKit reads the
  ids from parts 3-5); figure 1 of a set is figure 0 edited so the answers flip; answers Yes/No.
- MME: two questions per image (Yes, then No) sharing `image_path` (acc+ pairs); the second row's `image`
  holds the first row's index instead of the picture, as the real file does.
- MMBench_DEV_EN: circular groups: question g (index g) and its copies with the options rotated
  (index g + k * 1e6, `image` = "g"); `split` dev.

Everything comes from `random.Random(f"{name}:{seed}")`, so a seed fixes every file byte for byte.
"""

from __future__ import annotations

import json
import random
import shutil
from collections.abc import Callable
from pathlib import Path

import pandas as pd
from filelock import FileLock

from ..atomic import write_text_atomic
from .benchmarks import (
    FIXTURE_MME_BUILDERS,
    count,
    count_options,
    encode_png,
    mcq_count_color,
    mcq_count_kind,
    mcq_largest_color,
    mcq_largest_kind,
    mcq_locate,
    refuse_a_file,
    scene_for,
    sha256,
    unique_shapes,
)
from .shapes import COLORS, Shape, render

FIXTURES = ("WeMath", "MathVision", "MathVerse_MINI", "LogicVista", "HallusionBench", "MME", "MMBench_DEV_EN")
MANIFEST = "fixtures.json"
VERSION = 1
CIRCULAR_OFFSET = 1_000_000  # VLMEvalKit's circular copies: g_index = index % 1e6

# Leaves of VLMEvalKit's WeMath knowledge tree (vlmeval/dataset/utils/wemath.py, the last part of "full node").
WEMATH_CONCEPTS = (
    "Perimeter of Squares",
    "Area of Rectangles",
    "Properties and Understanding of Triangles",
    "Calculation and Comparison of Angles",
)
MATHVERSE_VERSIONS = ("Text Dominant", "Text Lite", "Vision Intensive", "Vision Dominant", "Vision Only")
LOGICVISTA_SKILLS = ("inductive", "deductive", "numerical", "spatial", "mechanical")
MME_REASONING = "numerical_calculation"


def mcq_scene(rng: random.Random, builder: Callable) -> tuple[list[Shape], tuple]:
    """A scene and the tiny world's multiple-choice question about it: (category, question, options, correct
    option, hint); the builders may return more (reasoning text), which the fixtures do not use."""
    shapes, built = scene_for(rng, builder)
    return shapes, tuple(built[:5])


def options_text(options: list[str]) -> str:
    return "\n".join(f"{'ABCDE'[i]}. {option}" for i, option in enumerate(options))


def letter(options: list[str], answer: str) -> str:
    return "ABCDE"[options.index(answer)]


# ---- WeMath ----


def wemath_problem(rng: random.Random, steps: int) -> tuple[list[Shape], list[tuple[str, list[str], str]]]:
    """(scene, [(question, options, correct option)] for step 1..steps then the composite question)."""

    def fits(rng, shapes):
        return rng.sample(sorted({s.color for s in shapes}), steps) if len({s.color for s in shapes}) >= steps else None

    shapes, colors = scene_for(rng, fits)
    parts = []
    for color in colors:
        n = count(shapes, color=color)
        parts.append((f"How many {color} shapes are in the image?", count_options(rng, n), str(n)))
    total = sum(count(shapes, color=c) for c in colors)
    names = ", ".join(colors[:-1]) + f" and {colors[-1]}"
    parts.append((f"How many {names} shapes are there altogether?", count_options(rng, total), str(total)))
    return shapes, parts


def wemath_rows(rng: random.Random) -> list[dict]:
    rows = []
    for problem, steps in enumerate((2, 2, 2, 2, 3, 3, 3)):
        shapes, parts = wemath_problem(rng, steps)
        image = encode_png(render(shapes))
        keys = [f"{steps}steps_{i + 1}" for i in range(steps)] + [f"{steps}steps_multi"]
        for key, (question, options, answer) in zip(keys, parts, strict=True):
            rows.append(
                {
                    "index": len(rows),
                    "ID": problem + 1,
                    "split": "testmini",
                    "key": key,
                    "knowledge concept": WEMATH_CONCEPTS[(problem + len(rows)) % len(WEMATH_CONCEPTS)],
                    "question": question,
                    **{"ABCD"[i]: option for i, option in enumerate(options)},
                    "answer": letter(options, answer),
                    "requirement": "Answer with the option's letter from the given choices directly.",
                    "image": image,
                }
            )
    return rows


# ---- MathVision ----


def mathvision_rows(rng: random.Random) -> list[dict]:
    """Alternating free-form (integer answer) and multiple-choice (letter answer) questions."""
    builders: tuple[Callable, ...] = (mcq_count_color, mcq_count_kind)
    rows = []
    for i in range(24):
        shapes, (_, question, options, answer, _) = mcq_scene(rng, builders[i % 2])
        free = i % 3 != 2
        rows.append(
            {
                "index": i,
                "image": encode_png(render(shapes)),
                "question": question if free else f"{question}\nChoices: {options_text(options)}",
                "answer": answer if free else letter(options, answer),
                "choices": "[]" if free else repr(options),
                "category": ("counting", "arithmetic")[i % 2],
                "level": 1 + i % 5,
            }
        )
    return rows


# ---- MathVerse_MINI ----


def mathverse_rows(rng: random.Random) -> list[dict]:
    """Six problems, each in the five problem versions (less text, more reliance on the figure)."""
    rows = []
    for problem in range(6):
        multi = problem % 2 == 1
        shapes, (_, question, options, answer, _) = mcq_scene(rng, (mcq_count_color, mcq_count_kind)[problem % 2])
        subfield = ("Length", "Area", "Property")[problem % 3]
        gold = letter(options, answer) if multi else answer
        choices = f"\nChoices:\n{options_text(options)}" if multi else ""
        texts = {
            "Text Dominant": f"The figure shows {len(shapes)} shapes of several colours. {question}{choices}",
            "Text Lite": f"{question}{choices}",
            "Vision Intensive": f"{question}{choices}",
            "Vision Dominant": f"Answer the question about the figure.{choices}",
            "Vision Only": "According to the question shown in the image, please directly answer the question.",
        }
        for version in MATHVERSE_VERSIONS:
            text = texts[version]
            rows.append(
                {
                    "index": len(rows),
                    "problem_index": problem + 1,
                    "problem_version": version,
                    "question": text,
                    "image": encode_png(render(shapes)),
                    "answer": gold,
                    "question_type": "multi-choice" if multi else "free-form",
                    "metadata": str(
                        {
                            "split": "testmini",
                            "source": "dyco_fixture",
                            "subject": "Plane Geometry",
                            "subfield": subfield,
                        }
                    ),
                    "query_wo": text,
                    "query_cot": f"{text}\nFirst think step by step, then answer.",
                    "question_for_eval": f"{question}{choices}",
                }
            )
    return rows


# ---- LogicVista ----


def logicvista_rows(rng: random.Random) -> list[dict]:
    """Five questions per skill; every fifth has two right options ("A, C")."""
    builders: tuple[Callable, ...] = (mcq_largest_color, mcq_count_color, mcq_count_kind, mcq_locate, mcq_largest_kind)
    rows = []
    for i in range(25):
        if i % 5 == 4:  # "Which colours ...": every option naming a colour present is right, and some are not
            shapes, present = scene_for(rng, lambda _, s: c if 2 <= len(c := {x.color for x in s}) <= 3 else None)
            options = rng.sample(list(COLORS), len(COLORS))
            question = "Which of these colours appear in the image? Choose all that apply."
            gold = ", ".join("ABCD"[j] for j, c in enumerate(options) if c in present)
        else:
            shapes, (_, question, options, answer, _) = mcq_scene(rng, builders[i % len(builders)])
            gold = letter(options, answer)
        rows.append(
            {
                "index": i,
                "image": encode_png(render(shapes)),
                "question": f"{question}\nOptions: {options_text(options)}",
                "answer": gold,
                "skill": LOGICVISTA_SKILLS[i // 5],
                "capability": ("diagram", "patterns", "puzzles")[i % 3],
            }
        )
    return rows


# ---- HallusionBench ----

HALLUSION_L2 = (("VD", "illusion"), ("VD", "figure"), ("VS", "chart"), ("VS", "map"), ("VD", "math"), ("VS", "ocr"))


def hallusion_set(rng: random.Random) -> tuple[list[Shape], list[Shape], list[str]]:
    """(original scene, edited scene, two questions): both answers Yes on the original, No on the edited
    scene, whose largest shape is recoloured."""

    def fits(rng, shapes):
        big = shapes[0]
        return big if count(shapes, color=big.color, kind=big.kind) == 1 else None

    shapes, big = scene_for(rng, fits)
    new = rng.choice([c for c in COLORS if c != big.color])
    edited = [Shape(big.kind, new, big.x, big.y, big.radius), *shapes[1:]]
    questions = [f"Is the largest shape {big.color}?", f"Is there a {big.color} {big.kind} in the image?"]
    return shapes, edited, questions


def hallusion_rows(rng: random.Random) -> list[dict]:
    rows = []
    for set_id, (category, l2) in enumerate(HALLUSION_L2):
        original, edited, questions = hallusion_set(rng)
        for figure_id, scene in enumerate((original, edited)):
            image = encode_png(render(scene))
            for question_id, question in enumerate(questions):
                rows.append(
                    {
                        "index": f"{category}_{l2}_0_{set_id}_{figure_id}_{question_id}",
                        "category": category,
                        "subcategory": l2,
                        "l2-category": l2,
                        "set_id": set_id,
                        "figure_id": figure_id,
                        "question_id": question_id,
                        "question": question,
                        "answer": "Yes" if figure_id == 0 else "No",
                        "image": image,
                    }
                )
    return rows


# ---- MME ----


def mme_numerical(rng, shapes):
    c1, c2 = rng.sample(sorted({s.color for s in shapes}), 2) if len({s.color for s in shapes}) > 1 else (None, None)
    if c1 is None:
        return None
    total = count(shapes, color=c1) + count(shapes, color=c2)
    text = f"Is the number of {c1} shapes plus the number of {c2} shapes equal to {{}}?"
    return MME_REASONING, text.format(total), text.format(total + rng.choice((-1, 1)))


def mme_rows(rng: random.Random) -> list[dict]:
    """12 perception images (count, color, existence, position) and 4 reasoning ones, two questions each."""
    builders = [*FIXTURE_MME_BUILDERS * 3, *[mme_numerical] * 4]
    rows = []
    for i, builder in enumerate(builders):
        shapes, built = scene_for(rng, builder)
        category, yes, no = built[:3]  # the tiny world's builders may add reasoning text after these
        first = len(rows)
        for question, answer in ((yes, "Yes"), (no, "No")):
            rows.append(
                {
                    "index": len(rows),
                    "image": encode_png(render(shapes)) if len(rows) == first else str(first),
                    "image_path": f"{category}/{i:04d}.png",
                    "question": f"{question} Please answer yes or no.",
                    "answer": answer,
                    "category": category,
                }
            )
    return rows


# ---- MMBench_DEV_EN ----


def mmbench_rows(rng: random.Random) -> list[dict]:
    """Nine questions (seven with four options, two with two) and their circular copies."""

    def two_options(rng, shapes):
        named = unique_shapes(shapes)
        return (
            (
                "attribute_recognition",
                f"Is there a {named[0].color} {named[0].kind} in the image?",
                rng.sample(["yes", "no"], 2),
                "yes",
                None,
            )
            if named
            else None
        )

    builders = (
        mcq_count_color,
        mcq_largest_color,
        mcq_locate,
        mcq_count_kind,
        mcq_largest_color,
        mcq_count_color,
        mcq_locate,
        two_options,
        two_options,
    )
    l2 = {
        "counting": "finegrained_perception (cross-instance)",
        "attribute_recognition": "finegrained_perception (instance-level)",
        "object_localization": "finegrained_perception (instance-level)",
    }
    base, copies = [], []
    for g, builder in enumerate(builders):
        shapes, (category, question, options, answer, hint) = mcq_scene(rng, builder)
        options = [o for o in options if o]
        for k in range(len(options)):
            rotated = options[k:] + options[:k]
            row = {
                "index": g + k * CIRCULAR_OFFSET,
                "question": question,
                "hint": hint,
                **{"ABCD"[j]: (rotated[j] if j < len(rotated) else None) for j in range(4)},
                "answer": letter(rotated, answer),
                "category": category,
                "l2-category": l2[category],
                "split": "dev",
                "source": "dyco_fixture",
                "image": encode_png(render(shapes)) if k == 0 else str(g),
            }
            (base if k == 0 else copies).append(row)
    return base + copies


ROWS: dict[str, Callable[[random.Random], list[dict]]] = {
    "WeMath": wemath_rows,
    "MathVision": mathvision_rows,
    "MathVerse_MINI": mathverse_rows,
    "LogicVista": logicvista_rows,
    "HallusionBench": hallusion_rows,
    "MME": mme_rows,
    "MMBench_DEV_EN": mmbench_rows,
}


def fixture_frame(name: str, seed: int = 0) -> pd.DataFrame:
    """One fixture's rows; a string seed keeps the seven sets independent and stable across runs."""
    return pd.DataFrame(ROWS[name](random.Random(f"{name}:{seed}")))


def write_fixtures(out: str | Path, seed: int = 0) -> Path:
    """Write the seven fixture TSVs into `out` (each atomically); reuses files the manifest vouches for.

    Other TSVs in the folder are left alone. Raises FileExistsError when `out` is a file, OSError when the
    folder cannot be written.
    """
    out = Path(out)
    refuse_a_file(out, "choose a new or existing directory for --out")
    out.mkdir(parents=True, exist_ok=True)
    with FileLock(f"{out / MANIFEST}.lock"):
        manifest_path = out / MANIFEST
        try:
            old = json.loads(manifest_path.read_text())
            if old["version"] == VERSION and old["seed"] == seed:
                if all(sha256(out / f"{name}.tsv") == old["sha256"][name] for name in FIXTURES):
                    return out
        except (OSError, ValueError, KeyError, TypeError):
            pass
        checksums, rows = {}, {}
        for name in FIXTURES:
            # VLMEvalKit caches decoded images under images/<name>/ and never re-decodes an existing file.
            shutil.rmtree(out / "images" / name, ignore_errors=True)
            frame = fixture_frame(name, seed)
            write_text_atomic(out / f"{name}.tsv", frame.to_csv(sep="\t", index=False, lineterminator="\n"))
            checksums[name] = sha256(out / f"{name}.tsv")
            rows[name] = len(frame)
        manifest = {"version": VERSION, "seed": seed, "rows": rows, "sha256": checksums}
        write_text_atomic(manifest_path, json.dumps(manifest, indent=1))
    return out
