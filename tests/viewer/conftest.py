"""Fixtures of the viewer tests: a headless Chromium."""

from __future__ import annotations

import os
import shutil

import pytest


@pytest.fixture(scope="session")
def chromium() -> str:
    """The headless Chromium binary (scripts/browser/up.sh installs Debian's `chromium`; .ci/run calls it)."""
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        why = "no chromium on PATH: run `make browser-up` (scripts/browser/up.sh, root)"
        if os.environ.get("CI"):  # .ci/run installs it: in CI a missing browser is a failure, not a skip
            pytest.fail(why)
        pytest.skip(why)
    return binary
