"""The token-role viewer: which completion tokens DyCo calls visual or textual, beside the image.

`samples` records a few completions per logging step during DyCo training (JSON + HTML under
`<run dir>/roles/`, and the MLflow run's `roles/` artifacts); `page` renders them as one
self-contained HTML page; `python -m dyco_repro.viewer <run dir | MLflow run id>` writes that page.
"""

from .files import SAMPLES_DIR, validate
from .page import load_steps, render_page, render_sections

__all__ = ["SAMPLES_DIR", "load_steps", "render_page", "render_sections", "validate"]
