"""Make a CUDA-only torchvision wheel importable on a CPU-only torch.

There is no CPU build of torchvision in the registries; the CUDA wheel's C++ ops fail to
load, and `import torchvision` then dies registering fake kernels for ops whose schemas
were never defined (``operator torchvision::nms does not exist``). The stock Qwen2.5-VL
processor and VLMEvalKit both import torchvision, so we define those schemas (no kernels:
calling the ops still fails loudly) and import again. Where torchvision works, or is not
installed at all, this does nothing.
"""

from __future__ import annotations

import sys

import torch

# Ops that torchvision registers fake kernels for unconditionally at import time.
_SCHEMAS = {
    "nms": "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms": "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
}
_library: torch.library.Library | None = None


def ensure_torchvision_importable() -> bool:
    """Import torchvision, defining missing op schemas if its C++ ops failed to load.

    Returns True when torchvision is importable afterwards, False when it is not installed.
    """
    global _library
    try:
        import torchvision  # noqa: F401

        return True
    except ModuleNotFoundError:
        return False
    except RuntimeError as err:
        if "torchvision::" not in str(err):
            raise
    for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
        del sys.modules[name]
    _library = torch.library.Library("torchvision", "FRAGMENT")  # noqa: TOR901
    for op, schema in _SCHEMAS.items():
        if not _op_exists(op):
            _library.define(schema)
    import torchvision  # noqa: F401

    return True


def _op_exists(op: str) -> bool:
    try:
        getattr(torch.ops.torchvision, op)
        return True
    except (AttributeError, RuntimeError):
        return False


def import_vlmeval_datasets():
    """`vlmeval.dataset`, made safe to score untrusted text with, leaving autograd as it was.

    VLMEvalKit turns gradients off for the whole process when imported (`torch.set_grad_enabled(False)`
    in vlmeval/vlm), which would silently break any training that follows in the same process. Its
    MathVision scoring (and its TSV readers) pass text to Python's `eval`: those functions are replaced
    here, before any dataset is built (`dyco_repro.evaluation.safe_scoring`)."""
    from .evaluation import safe_scoring

    enabled = torch.is_grad_enabled()
    try:
        import vlmeval.dataset as datasets

        safe_scoring.install()
    finally:
        torch.set_grad_enabled(enabled)
    return datasets
