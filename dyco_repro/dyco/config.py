"""DyCo-RL hyper-parameters (DESIGN.md section 1); every field is a Hydra field under `dyco.*`."""

from __future__ import annotations

import math
from dataclasses import dataclass

VARIANTS = ("token", "sequence")
TEXT_SCOPES = ("after_image", "all")


@dataclass
class DyCoConfig:
    alpha: float = 0.2
    tau_vis: float = 0.0
    tau_txt: float = 0.05
    variant: str = "token"
    layers: tuple[int, ...] = (-1,)
    text_scope: str = "after_image"
    clamp: float = 0.2
    min_completion_tokens: int = 0

    def __post_init__(self) -> None:
        self.layers = tuple(int(layer) for layer in self.layers)
        if self.variant not in VARIANTS:
            raise ValueError(f"dyco.variant={self.variant!r} is unknown; use one of {VARIANTS}")
        if self.text_scope not in TEXT_SCOPES:
            raise ValueError(f"dyco.text_scope={self.text_scope!r} is unknown; use one of {TEXT_SCOPES}")
        if not self.layers:
            raise ValueError("dyco.layers is empty; name at least one decoder layer, e.g. [-1]")
        for name in ("alpha", "tau_vis", "tau_txt", "clamp"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise ValueError(f"dyco.{name}={value} is not a finite number; give a real value, e.g. the default")
        if isinstance(self.min_completion_tokens, bool) or not isinstance(self.min_completion_tokens, int):
            raise ValueError(
                f"dyco.min_completion_tokens={self.min_completion_tokens} must be a whole number of tokens"
            )
        if self.clamp > 1:
            raise ValueError(
                f"dyco.clamp={self.clamp} lets the advantage factor 1 - clamp reach below 0 (flipping its sign); "
                "use 0 <= clamp <= 1"
            )
        if self.alpha < 0:
            raise ValueError(f"dyco.alpha={self.alpha} is negative; use alpha >= 0 (0 = baseline)")
        if self.clamp < 0:
            raise ValueError(f"dyco.clamp={self.clamp} is negative; use clamp >= 0")
        if self.tau_vis + self.tau_txt < 0:
            raise ValueError(
                f"dyco.tau_vis + dyco.tau_txt = {self.tau_vis + self.tau_txt} < 0 would make a token both "
                "visual and textual; raise one of the thresholds"
            )
        if self.min_completion_tokens < 0:
            raise ValueError("dyco.min_completion_tokens must be >= 0 (0 = off)")
