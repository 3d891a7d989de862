"""Headless Chromium for the viewer tests: a page to PNG, a page's DOM after the browser parsed it."""

from __future__ import annotations

import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
from PIL import Image


def chromium_args(binary: str, profile: Path) -> list[str]:
    # --no-sandbox: the tests run as root in containers, where Chromium's sandbox cannot start.
    return [binary, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", f"--user-data-dir={profile}"]


def screenshot(binary: str, url: str, out: Path, size=(1200, 1400), wait_ms: int = 0) -> np.ndarray:
    """The page rendered at `size` as an `[H, W, 3]` uint8 array (also written to `out`)."""
    extra = [f"--virtual-time-budget={wait_ms}"] if wait_ms else []
    subprocess.run(
        [
            *chromium_args(binary, out.parent / "chromium-profile"),
            f"--window-size={size[0]},{size[1]}",
            f"--screenshot={out}",
            *extra,
            url,
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return np.asarray(Image.open(out).convert("RGB"))


def dump_dom(binary: str, url: str, profile: Path) -> str:
    proc = subprocess.run(
        [*chromium_args(binary, profile), "--dump-dom", url], check=True, capture_output=True, text=True, timeout=120
    )
    return proc.stdout


class RoleSpans(HTMLParser):
    """Counts the token spans of a DOM by `data-role`, and every element by tag."""

    def __init__(self) -> None:
        super().__init__()
        self.roles: dict[str, int] = {}
        self.tags: dict[str, int] = {}

    def handle_starttag(self, tag, attrs):
        self.tags[tag] = self.tags.get(tag, 0) + 1
        role = dict(attrs).get("data-role")
        if tag == "span" and role is not None:
            self.roles[role] = self.roles.get(role, 0) + 1


def role_spans(dom: str) -> RoleSpans:
    parser = RoleSpans()
    parser.feed(dom)
    return parser
