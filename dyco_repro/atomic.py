"""Results written whole or not at all: a temp sibling renamed into place. The project's one writer
of files and directories that a reader (or a resumed run) may find half written otherwise."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO


@contextmanager
def atomic_directory(out: str | Path) -> Iterator[Path]:
    """Yield a temp directory beside `out`; on success it replaces `out`, on error it is removed."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        yield tmp
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@contextmanager
def atomic_file(path: str | Path, mode: str = "w") -> Iterator[IO]:
    """Yield a handle on a uniquely named temp sibling of `path` (text: UTF-8, newlines as written);
    on success it replaces `path`, on error it is removed. Concurrent writers never share a temp file."""
    if mode not in ("w", "wb"):
        raise ValueError(f"mode={mode!r}: atomic_file writes whole files, use 'w' or 'wb'")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    text = {"encoding": "utf-8", "newline": ""} if mode == "w" else {}
    try:
        with os.fdopen(fd, mode, **text) as handle:
            yield handle
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write `text` (UTF-8) to `path` atomically."""
    with atomic_file(path) as handle:
        handle.write(text)
