"""The compat module: torchvision (hence transformers' processors) import on CPU; VLMEvalKit imported safely."""

from __future__ import annotations

import subprocess
import sys

import pytest


def run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)


def test_shim_makes_torchvision_and_the_qwen_processor_importable():
    result = run(
        "from dyco_repro.compat import ensure_torchvision_importable as e\n"
        "assert e() is True and e() is True  # idempotent\n"
        "import torch, torchvision.transforms.v2.functional as F\n"
        "assert F.resize(torch.rand(3, 32, 32), [16, 16]).shape == (3, 16, 16)\n"
        "from transformers import Qwen2_5_VLProcessor, Qwen2VLImageProcessor\n"
        "print('ok')"
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "ok"


def test_shim_defines_only_missing_schemas_and_ops_still_fail_loudly():
    """Where the C++ ops did not load, calling one must raise, never silently compute nothing."""
    result = run(
        "import torch, dyco_repro, torchvision.extension as ext\n"
        "if ext._has_ops():\n"
        "    print('native')\n"
        "else:\n"
        "    try:\n"
        "        torch.ops.torchvision.nms(torch.zeros(1, 4), torch.zeros(1), 0.5)\n"
        "    except (RuntimeError, NotImplementedError):\n"
        "        print('raises')\n"
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() in {"raises", "native"}


def test_shim_reports_absent_torchvision():
    result = run(
        "import sys; sys.modules['torchvision'] = None\n"
        "from dyco_repro.compat import ensure_torchvision_importable\n"
        "print(ensure_torchvision_importable())"
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "False"


def test_importing_vlmeval_datasets_leaves_autograd_on():
    import torch

    from dyco_repro.compat import import_vlmeval_datasets

    datasets = import_vlmeval_datasets()
    assert hasattr(datasets, "ImageMCQDataset")
    assert torch.is_grad_enabled()


# ---- VLMEvalKit's scoring never executes model or dataset text (ms-vlmeval 0.0.20) ----------------------


def _mathv():
    from dyco_repro.compat import import_vlmeval_datasets

    import_vlmeval_datasets()
    from vlmeval.dataset.utils import mathv

    return mathv


def _line(prediction, answer="3", choices="[]", res=None):
    import pandas as pd

    return pd.Series({"prediction": prediction, "answer": answer, "choices": choices, "res": res or prediction})


def test_mathvision_prefetch_never_runs_a_prediction_and_scores_it_0(tmp_path):
    """The issue's example: upstream `is_equal` evals the prediction, runs the command and scores it as 3."""
    mathv = _mathv()
    marker = tmp_path / "pwned"
    for payload in (
        f"__import__('os').system('touch {marker}') or 3",
        f"(lambda: __import__('pathlib').Path('{marker}').touch())() or 3",  # ours
    ):
        assert mathv.post_check(_line(payload), prefetch=True) is False
        assert mathv.post_check(_line(payload), prefetch=False) is False
        assert mathv.is_equal(payload, "3") is False
    assert not marker.exists()


def test_mathvision_option_list_is_read_as_a_literal(tmp_path):
    mathv = _mathv()
    marker = tmp_path / "pwned"
    assert mathv.post_check(_line("B", "B", f"__import__('os').system('touch {marker}')"), prefetch=True) is False
    assert mathv.post_check(_line("The answer is B", "B", "['1', '2']"), prefetch=True) == "B"
    assert not marker.exists()


@pytest.mark.parametrize(
    ("prediction", "answer", "equal"),
    [
        ("1/2", "0.5", True),  # the issue: honest equivalents still score
        ("\\frac{1}{2}", "0.5", True),
        ("7", "7.0", True),
        ("2+1", "3", True),
        ("2**3", "8", True),  # ours: arithmetic VLMEvalKit's eval accepted
        ("\\sqrt{2}", "1.4142136", True),
        ("3", "4", False),
        ("9**9**9**9", "1", False),  # ours: too large to compute, not equal, no hang
    ],
)
def test_mathvision_is_equal_keeps_upstream_results_for_honest_answers(prediction, answer, equal):
    assert _mathv().is_equal(prediction, answer) is equal


def test_tsv_readers_are_literal_everywhere_in_vlmeval(tmp_path):
    _mathv()
    import sys

    from dyco_repro.evaluation import safe_scoring

    holders = [
        name
        for name, module in list(sys.modules.items())
        if name.startswith("vlmeval") and module is not None and getattr(module, "toliststr", None) is not None
    ]
    assert holders and all(sys.modules[n].toliststr is safe_scoring.toliststr for n in holders)
    marker = tmp_path / "pwned"
    with pytest.raises(ValueError):
        safe_scoring.toliststr(f"[__import__('os').system('touch {marker}')]")
    assert not safe_scoring.istype(f"__import__('os').system('touch {marker}')", int)
    assert safe_scoring.toliststr("['a.png', 'b.png']") == ["a.png", "b.png"] and safe_scoring.istype("3", int)
    assert not marker.exists()
