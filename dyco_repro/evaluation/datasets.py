"""VLMEvalKit datasets built from local TSVs only: a missing TSV is an error, never a download.

A TSV whose md5 differs from VLMEvalKit's official file (a fixture, a local copy) is used with a warning
and marked `official_data: false`; it must still have the columns the benchmark's class reads
(`required_columns` in evaluation/benchmarks.yaml), or it is refused with one line naming the fix.
"""

from __future__ import annotations

import csv
import hashlib
import logging
import os
import sys
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

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


def tsv_columns(path: Path) -> list[str]:
    csv.field_size_limit(sys.maxsize)  # base64 images are long fields
    with open(path, newline="") as f:
        return next(csv.reader(f, delimiter="\t"), [])


def check_tsv(bench: Benchmark, root: Path) -> Path:
    """The benchmark's TSV, present and either VLMEvalKit's official file (md5) or a local file with the
    columns the class reads. Raises EvalError; nothing is downloaded."""
    path = root / f"{bench.dataset}.tsv"
    md5 = expected_md5(bench)
    if not path.is_file():
        want = f" (VLMEvalKit's md5 {md5})" if md5 else ""
        raise EvalError(
            f"{bench.key}: no TSV at {path}; put VLMEvalKit's {bench.dataset}.tsv there{want} "
            f"or point eval.lmudata / $LMUData at the folder that has it (nothing is downloaded)"
        )
    if not official_data(bench, root):
        missing = [c for c in bench.required_columns if c not in tsv_columns(path)]
        if missing:
            found = file_md5(path)
            raise EvalError(
                f"{bench.key}: {path} (md5 {found}, not VLMEvalKit's {md5}) lacks the column(s) {', '.join(missing)} "
                f"that {bench.vlmeval_class} reads; replace it with the official {bench.dataset}.tsv or write "
                f"fixtures with `python -m dyco_repro.tiny fixtures --out DIR` (we do not download)"
            )
    return path


_md5_cache: dict[tuple[str, int, int], str] = {}


def official_data(bench: Benchmark, root: Path) -> bool:
    """True when the TSV is VLMEvalKit's official file (its md5 matches); a name VLMEvalKit has no md5 for
    (the synthetic sets) is never official."""
    path = root / f"{bench.dataset}.tsv"
    md5 = expected_md5(bench)
    if md5 is None or not path.is_file():
        return False
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key not in _md5_cache:
        _md5_cache[key] = file_md5(path)
    return _md5_cache[key] == md5


def warn_unofficial(bench: Benchmark, root: Path) -> None:
    if expected_md5(bench) is not None and not official_data(bench, root):
        print(
            f"warning: {bench.key}: {root / (bench.dataset + '.tsv')} is not VLMEvalKit's official {bench.dataset}.tsv "
            f"(md5 differs); its scores are marked official_data: false",
            file=sys.stderr,
        )


def local_class(cls, path: Path):
    """The real class, reading `path` as it is: VLMEvalKit's `prepare_tsv` would re-download a file whose md5
    differs. Prompts and scoring stay the class's own; `evaluate` also returns MMBench's vanilla accuracies."""

    class Local(cls):
        def prepare_tsv(self, url, file_md5=None):
            from vlmeval.smp import load

            self.data_path = str(path)
            return load(str(path))

        def evaluate(self, eval_file, **judge_kwargs):
            parent = super().evaluate  # bound as the class defines it (MathVerse's is a classmethod)
            if cls.__name__ == "WeMath":
                with wemath_without_zero_division():
                    return parent(eval_file, **judge_kwargs)
            if not circular(self.dataset_name):
                return parent(eval_file, **judge_kwargs)
            with environ(PRINT_VANILLA="1"):  # VLMEvalKit's switch for its vanilla (non-circular) accuracies
                result = parent(eval_file, **judge_kwargs)
            return with_vanilla(result, eval_file)

    Local.__name__ = Local.__qualname__ = cls.__name__
    Local.__module__ = cls.__module__
    return Local


@contextmanager
def wemath_without_zero_division():
    """VLMEvalKit's WeMath scoring divides by zero in a displayed rate (rote memorisation among composite
    questions answered right) when no composite question is right, and so fails on a legitimate result.
    That rate alone becomes "n/a"; the scores (strict/loose) and every count are VLMEvalKit's own."""
    from vlmeval.dataset.utils import wemath

    original = wemath.evaluate_compute_final_scores

    def guarded(metrics, total_count):
        try:
            return original(metrics, total_count)
        except ZeroDivisionError:
            pass
        rows = {  # VLMEvalKit's counts: metrics[f"steps{2,3}_filtered_rows_<row>"]
            "InadequateGeneralization": "2",
            "InsufficientKnowledge": "3",
            "CompleteMastery_loose": "4_loose",
            "CompleteMastery_strict": "4_strict",
            "RoteMemorization_loose": "1_loose",
            "RoteMemorization_strict": "1_strict",
        }
        totals = {
            name: sum(len(metrics[f"steps{n}_filtered_rows_{row}"]) for n in (2, 3)) for name, row in rows.items()
        }

        def rate(part: int, whole: int) -> str:
            return f"{part / whole:.2%}" if whole else "n/a"

        rates = {f"{name}_rate": rate(totals[name], total_count) for name in list(rows)[:4]}
        for mode in ("loose", "strict"):
            rm, cm = totals[f"RoteMemorization_{mode}"], totals[f"CompleteMastery_{mode}"]
            rates[f"RoteMemorization_{mode}_rate"] = rate(rm, rm + cm)
        return totals, rates

    wemath.evaluate_compute_final_scores = guarded
    try:
        yield
    finally:
        wemath.evaluate_compute_final_scores = original


def circular(dataset_name: str) -> bool:
    """VLMEvalKit's own test in ImageMCQDataset.evaluate_heuristic."""
    return any(word in dataset_name.lower() for word in ("mmbench", "ccbench", "circular", "mmcr"))


@contextmanager
def environ(**values: str):
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def with_vanilla(result, eval_file: str):
    """The circular result (its rows keep their `split`, e.g. dev) plus VLMEvalKit's vanilla rows (split
    `vanilla_0_<split>`: first copies only; `vanilla_all_<split>`: every copy as its own question), read from
    the `_acc_all` file it writes under PRINT_VANILLA (which also renames the circular rows `circular_<split>`
    in the frame it returns: undone here)."""
    from vlmeval.smp import get_intermediate_file_path, load

    path = get_intermediate_file_path(eval_file, "_acc_all", "csv")
    if not isinstance(result, pd.DataFrame) or not os.path.exists(path):
        return result
    every = load(path)
    every["split"] = every["split"].astype(str).str.replace(r"^circular_", "", regex=True)
    circular_rows = ~every["split"].str.startswith("vanilla_")
    return pd.concat([every[circular_rows], every[~circular_rows]], ignore_index=True)


def build_dataset(bench: Benchmark, root: Path):
    """VLMEvalKit's own dataset object for the benchmark, from `root/<dataset>.tsv` (never downloaded)."""
    path = check_tsv(bench, root)
    os.environ["LMUData"] = str(root)  # VLMEvalKit reads the data root (and its image cache) from here
    return local_class(dataset_class(bench), path)(dataset=bench.dataset)
