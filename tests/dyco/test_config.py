"""DyCoConfig refuses values that would train NaN steps or flip advantages, in one line."""

from __future__ import annotations

import math

import pytest

from dyco_repro.dyco import DyCoConfig


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("alpha", math.nan, "dyco.alpha=nan is not a finite number"),  # the issue: trained a NaN step
        ("alpha", math.inf, "dyco.alpha=inf is not a finite number"),
        ("clamp", -0.1, "dyco.clamp=-0.1 is negative"),
        ("tau_vis", math.nan, "dyco.tau_vis=nan is not a finite number"),
        ("tau_txt", math.nan, "dyco.tau_txt=nan is not a finite number"),
        ("tau_txt", -math.inf, "dyco.tau_txt=-inf is not a finite number"),  # ours
        ("clamp", 1.5, "dyco.clamp=1.5 lets the advantage factor"),  # ours: a factor below 0 flips the sign
        ("alpha", "0.2", "dyco.alpha=0.2 is not a finite number"),  # ours: a string is not a number
        ("min_completion_tokens", 1.5, "dyco.min_completion_tokens=1.5 must be a whole number"),
    ],
)
def test_bad_values_are_refused_in_one_line(field, value, message):
    with pytest.raises(ValueError) as info:
        DyCoConfig(**{field: value})
    assert str(info.value).startswith(message) and "\n" not in str(info.value)


def test_good_values_pass():
    DyCoConfig(alpha=0, clamp=0.0, tau_vis=-0.02, tau_txt=0.05)
    DyCoConfig(alpha=1, clamp=1, min_completion_tokens=60)
