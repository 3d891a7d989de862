"""Settings checked before anything is written: DyCo values, data.limit / data.on_error (train and the sweep's
preflight), the per-benchmark dataset override, quoted commas in sweep values."""

from __future__ import annotations

import subprocess
import sys

import pytest
from run_helpers import tiny_config as config

from dyco_repro.evaluation.suite import resolve_benchmarks
from dyco_repro.sweep.preflight import PreflightError, preflight, split_values
from dyco_repro.train import ConfigError, plan_run


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("dyco.alpha=nan", "dyco.alpha=nan is not a finite number"),  # the issue: trained a NaN step, then crashed
        ("dyco.alpha=inf", "dyco.alpha=inf is not a finite number"),
        ("dyco.clamp=-0.5", "dyco.clamp=-0.5 is negative"),
        ("dyco.tau_vis=nan", "dyco.tau_vis=nan"),
        ("data.limit=0", "data.limit=0: not a positive whole number"),
        ("data.limit=-2", "data.limit=-2"),
        ("data.limit=abc", "data.limit=abc"),
        ("data.on_error=ignore", "data.on_error=ignore: not a choice"),
        ("data.limit=1.5", "data.limit=1.5"),  # ours
    ],
)
def test_train_plan_refuses_bad_values_in_one_line(tmp_path, override, message):
    with pytest.raises(ConfigError) as info:
        plan_run(config(tmp_path / "out", override))
    assert str(info.value).startswith(message) and "\n" not in str(info.value)
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
@pytest.mark.parametrize("override", ["dyco.alpha=nan", "data.limit=0"])
def test_train_cli_exits_2_before_anything_is_written(tmp_path, override):
    cmd = [sys.executable, "-m", "dyco_repro.train", "profile=tiny", f"output_root={tmp_path / 'out'}", override]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and result.stderr.startswith(f"error: {override}"), result.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("data.limit=0", "data.limit=0"),
        ("data.on_error=ignore", "data.on_error=ignore"),
        ("data.limit=5,abc", "data.limit=abc"),  # ours: the bad value of a swept axis
    ],
)
def test_sweep_preflight_refuses_bad_data_settings(override, message):
    with pytest.raises(PreflightError, match=message) as info:
        preflight(["-m", "profile=tiny", override])
    assert "\n" not in str(info.value)


def test_sweep_value_with_a_quoted_comma_is_one_value():
    """The issue: "eval.instruction='Answer briefly, then stop.'" was split into two values."""
    assert split_values("'Answer briefly, then stop.'") == ["'Answer briefly, then stop.'"]
    assert split_values('"a, b",c') == ['"a, b"', "c"]  # ours
    assert split_values("grpo,dapo") == ["grpo", "dapo"]
    preflight(["-m", "profile=tiny", "eval.instruction='Answer briefly, then stop.'"])


@pytest.mark.parametrize(
    "override", ["eval.datasets.MathVision=MathVision_MINI", "eval.datasets={MathVision: MathVision_MINI}"]
)
def test_per_benchmark_dataset_override_works_as_documented(tmp_path, override):
    """The issue: only the `+eval.datasets=...` form worked, with a multi-line Hydra error otherwise."""
    cfg = config(tmp_path, override)
    from omegaconf import OmegaConf

    chosen = {b.key: b.dataset for b in resolve_benchmarks("table1", OmegaConf.to_object(cfg.eval.datasets))}
    assert chosen["MathVision"] == "MathVision_MINI" and chosen["MathVerse"] == "MathVerse_MINI"


def test_every_benchmark_can_be_overridden_without_a_plus(tmp_path):
    from dyco_repro.evaluation.suite import all_benchmarks

    cfg = config(tmp_path)
    assert set(cfg.eval.datasets) == set(all_benchmarks())
