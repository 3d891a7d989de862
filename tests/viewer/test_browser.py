"""The viewer page in a real browser (headless Chromium): it renders, and every non-neutral token is coloured."""

from __future__ import annotations

import numpy as np
from browser import dump_dom, role_spans, screenshot
from steps import HOSTILE, non_neutral, step_data, write_steps

from dyco_repro.viewer.__main__ import main

VISUAL_RGB, TEXTUAL_RGB = (0xF5, 0xA1, 0x42), (0x6E, 0xA8, 0xF0)  # page.CSS


def pixels_of(png: np.ndarray, rgb) -> int:
    return int((np.abs(png.astype(int) - np.array(rgb)).sum(axis=-1) <= 6).sum())


def test_chromium_renders_the_page_with_a_coloured_span_per_non_neutral_token(chromium, tmp_path):
    steps = [
        step_data(1, [["neutral", "visual", "textual", "visual"], ["textual", "textual", "neutral"]], hostile=True),
        step_data(7, [["visual", "neutral", "neutral", "textual", "visual"]]),
    ]
    run = tmp_path / "run"
    write_steps(run, steps)
    assert main([str(run)]) == 0
    url = (run / "roles" / "viewer.html").resolve().as_uri()

    png = screenshot(chromium, url, tmp_path / "page.png")
    assert png.std() > 20  # not a blank page
    assert pixels_of(png, VISUAL_RGB) > 100 and pixels_of(png, TEXTUAL_RGB) > 100

    dom = role_spans(dump_dom(chromium, url, tmp_path / "profile"))
    assert dom.roles.get("visual", 0) + dom.roles.get("textual", 0) == non_neutral(steps) == 8
    assert sum(dom.roles.values()) == 12  # every token, neutral ones included
    assert dom.tags.get("script", 0) == 0  # the completion's <script> stayed text
    assert HOSTILE in dump_dom(chromium, url, tmp_path / "profile").replace("&lt;", "<").replace("&gt;", ">")
