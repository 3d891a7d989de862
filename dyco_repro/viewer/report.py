"""The sweep report's `roles.html`: for each DyCo cell, a few completions from early and late in training.

Reads the cells' recorded samples (`<run dir>/roles/step_*.json`, see `samples`); writes one page.
"""

from __future__ import annotations

from pathlib import Path

from ..atomic import write_text_atomic
from .files import SAMPLES_DIR
from .page import load_steps, render_sections

PER_END = 2  # completions shown from the first and from the last sampled step


def early_and_late(steps: list[dict]) -> list[dict]:
    """The first and the last step (one, if only one was sampled), `PER_END` completions each."""
    chosen = steps[:1] + steps[1:][-1:]
    return [{**step, "samples": step["samples"][:PER_END]} for step in chosen]


def write_roles_page(cells: list[tuple[str, Path]], path: Path) -> Path:
    """`path`: a section per `(label, run dir)`; a cell without samples says so."""
    sections = [(label, early_and_late(load_steps(Path(run_dir) / SAMPLES_DIR))) for label, run_dir in cells]
    write_text_atomic(path, render_sections(sections, "DyCo token roles, early and late in training"))
    return path
