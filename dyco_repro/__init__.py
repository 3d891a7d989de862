"""dyco-repro: reproduction and experiment suite for DyCo-RL."""

from .compat import ensure_torchvision_importable

# transformers imports torchvision on import; make a CPU-incompatible wheel importable first.
ensure_torchvision_importable()

__version__ = "0.1.0"
