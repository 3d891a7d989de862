"""`python -m dyco_repro.bench eval`'s command line (its numbers are measured, never asserted as timings)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def bench(*args):
    cmd = [sys.executable, "-m", "dyco_repro.bench", "eval", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_eval_bench_reports_both_process_counts_side_by_side():
    result = bench("--n", "8", "--batch-size", "4", "--repeats", "1")
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    one, two = report["1"], report["2"]
    assert one["items"] == two["items"] == 8 + 16 + 8  # Synth_MME has two questions per image
    assert one["generation_speedup"] == 1.0
    assert two["generation_speedup"] == pytest.approx(
        two["generation_items_per_s"] / one["generation_items_per_s"], rel=1e-2
    )
    assert all(r["generation_items_per_s"] > 0 and r["wall_s"] > 0 for r in (one, two))
    assert "Sharded evaluation" in result.stderr  # the table


@pytest.mark.parametrize(
    "args,message",
    [
        (["--processes", "1,x"], "comma-separated integers"),
        (["--processes", "0,2"], "distinct counts >= 1"),
        (["--processes", "2,2"], "distinct counts >= 1"),
        (["--repeats", "0"], "at least 1"),
    ],
)
def test_eval_bench_bad_input(args, message):
    result = bench(*args)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr
