"""VLMEvalKit datasets built from local TSVs only: a missing or altered TSV is an error, never a download."""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

from .suite import Benchmark, EvalError


def lmudata_root(configured: str | None) -> Path:
    """eval.lmudata, else $LMUData, else ~/LMUData (VLMEvalKit's own default)."""
    root = configured or os.environ.get("LMUData") or str(Path.home() / "LMUData")
    return Path(root).expanduser().resolve()


def vlmeval_datasets():
    """`vlmeval.dataset`, imported without its stray root-logger ERROR ("Did not detect the .env file"),
    which would otherwise precede our one-line error on stderr."""
    from ..compat import import_vlmeval_datasets

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.CRITICAL)
    try:
        return import_vlmeval_datasets()
    finally:
        root.setLevel(level)


def dataset_class(bench: Benchmark):
    cls = getattr(vlmeval_datasets(), bench.vlmeval_class, None)
    if cls is None:
        raise EvalError(
            f"{bench.key}: VLMEvalKit has no dataset class {bench.vlmeval_class}; fix evaluation/benchmarks.yaml"
        )
    return cls


def expected_md5(bench: Benchmark) -> str | None:
    return dataset_class(bench).DATASET_MD5.get(bench.dataset)


def file_md5(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_tsv(bench: Benchmark, root: Path) -> Path:
    """The benchmark's TSV, present and (for official sets) with VLMEvalKit's md5."""
    path = root / f"{bench.dataset}.tsv"
    md5 = expected_md5(bench)
    if not path.is_file():
        want = f" (VLMEvalKit's md5 {md5})" if md5 else ""
        raise EvalError(
            f"{bench.key}: no TSV at {path}; put VLMEvalKit's {bench.dataset}.tsv there{want} "
            f"or point eval.lmudata / $LMUData at the folder that has it (nothing is downloaded)"
        )
    if md5 and (found := file_md5(path)) != md5:
        raise EvalError(
            f"{bench.key}: {path} has md5 {found} but VLMEvalKit expects {md5}; replace it with the official "
            f"{bench.dataset}.tsv (VLMEvalKit would re-download it; we do not)"
        )
    return path


def build_dataset(bench: Benchmark, root: Path):
    """VLMEvalKit's own dataset object for the benchmark, from `root/<dataset>.tsv`."""
    check_tsv(bench, root)
    os.environ["LMUData"] = str(root)  # VLMEvalKit reads the data root from here
    return dataset_class(bench)(dataset=bench.dataset)
