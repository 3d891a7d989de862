"""The signal benchmark's command line (its numbers are measured, never asserted as timings)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

FIELDS = {
    "forward_s",
    "capture_s",
    "eager_all_layers_s",
    "capture_overhead_ratio",
    "eager_overhead_ratio",
    "capture_extra_peak_mb",
    "eager_extra_peak_mb",
}


def bench(*args):
    cmd = [sys.executable, "-m", "dyco_repro.bench", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_signal_bench_prints_a_table_and_a_json_line():
    result = bench("signal", "--shapes", "tiny", "--repeats", "1")
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert FIELDS <= set(report) and FIELDS <= set(report["shapes"]["tiny"])
    assert report["forward_s"] > 0 and report["capture_s"] > 0
    assert report["capture_overhead_ratio"] == pytest.approx(report["capture_s"] / report["forward_s"], rel=1e-2)
    assert "capture" in result.stderr  # the table


@pytest.mark.slow
@pytest.mark.parametrize(
    "args,message",
    [
        (["signal", "--shapes", "huge"], "unknown shape"),
        (["signal", "--repeats", "0"], "at least 1"),
        (["signal", "--device", "cuda:0"], "no CUDA device"),
        (["signal", "--device", "gpu"], "--device gpu: use cpu or cuda"),
        (["nonsense"], "invalid choice"),
    ],
)
def test_signal_bench_bad_input(args, message):
    import torch

    if "cuda:0" in args and torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    result = bench(*args)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1


@pytest.mark.parametrize("device", ["gpu", "mps", "cuda0"])
def test_an_unknown_device_is_one_line_before_any_work(device, tmp_path, monkeypatch, capsys):
    from dyco_repro import bench as module

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(module, "bench_signal", lambda *a: pytest.fail("the benchmark ran"))
    with pytest.raises(SystemExit) as exit_:
        module.main(["signal", "--shapes", "tiny", "--device", device])
    assert exit_.value.code == 2
    assert capsys.readouterr().err == f"error: --device {device}: use cpu or cuda\n"
    assert not list(tmp_path.iterdir())


@pytest.mark.slow
def test_train_bench_reports_each_algorithm():
    result = bench("train", "--algos", "grpo", "--steps", "1", "--blocks", "2")
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(report) == {"grpo"}
    grpo = report["grpo"]
    assert grpo["baseline_step_s"] > 0 and grpo["dyco_step_s"] > 0
    assert grpo["ratio"] == pytest.approx(grpo["dyco_step_s"] / grpo["baseline_step_s"], rel=1e-2)
    assert grpo["dyco_hook_s"] > 0 and grpo["hook_ratio"] > 1


@pytest.mark.slow
@pytest.mark.parametrize(
    "args,message", [(["train", "--algos", "ppo2"], "unknown algo"), (["train", "--steps", "0"], "at least 1")]
)
def test_train_bench_bad_input(args, message):
    result = bench(*args)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr
