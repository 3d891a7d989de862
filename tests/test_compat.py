"""The torchvision compat shim: torchvision (hence transformers' processors) import on CPU."""

from __future__ import annotations

import subprocess
import sys


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
