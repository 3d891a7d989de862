"""The offline tiny world: tiny Qwen2.5-VL checkpoints and synthetic visual-reasoning data."""

from .data import write_dataset
from .model import SIZES, build_tiny_model, ensure_tiny_model

__all__ = ["SIZES", "build_tiny_model", "ensure_tiny_model", "write_dataset"]
