"""DyCo-RL hyper-parameters (docs/method.md); every field is a Hydra field under `dyco.*`."""

from __future__ import annotations

import math
from dataclasses import dataclass

VARIANTS = ("token", "sequence")
TEXT_SCOPES = ("after_image", "all")


@dataclass
class DyCoConfig:
    """DyCo-RL's settings. `conf/method/dyco.yaml` sets them for `method=dyco`; `method=baseline` is `alpha=0`.

    Both variants:
        alpha: strength of the reweighting, >= 0. 0 is the baseline: the unmodified TRL trainer.
        tau_vis: role threshold (Eq. 8), in radians of Fisher–Rao distance (distances lie in [0, π], so a
            difference of two lies in [-π, π]): a token is visual when `v_vis - v_txt > tau_vis`. Released: 0.0.
        tau_txt: textual when `v_txt - v_vis > tau_txt` (same units). Released: 0.05.
        variant: `sequence` (the released code; what produced the paper's Table 1; default) or `token`
            (the paper's figure; not in the released code).
        layers: decoder layers whose head-averaged attention is read (negative: from the end); several
            are averaged. Released: the last layer, `[-1]`.
        text_scope: which keys count as text: `after_image` (after the last image token; default) or
            `all` (every non-image, non-padding key).
        sapo_length_tokens: under SAPO only (the trainer applies it when its `loss_type` is `sapo`), the
            advantage is also multiplied by `min(|o| / sapo_length_tokens, 1)`, |o| in tokens, as the
            released DyCo block did (60). 0 turns it off.

    Sequence variant only:
        clamp: `c` in `clamp(1 + alpha·S, 1 - c, 1 + c)`, >= 0. Released: 0.2.
        min_completion_tokens: a completion with fewer valid tokens gets `S = -1` (the released short-completion
            rule: 60 for 3B, 150 for 7B; `conf/model/*.yaml` sets it per model). 0 turns it off.

    Token variant only:
        token_mean_one: False: `A~_t = (1 + alpha·w_t)·A` as the paper writes it (mean factor 1 + alpha);
            True: `(1 + alpha·(w_t - 1))·A` (mean factor 1), for a fair ablation against the sequence variant.
    """

    alpha: float = 0.2
    tau_vis: float = 0.0
    tau_txt: float = 0.05
    variant: str = "sequence"
    layers: tuple[int, ...] = (-1,)
    text_scope: str = "after_image"
    clamp: float = 0.2
    min_completion_tokens: int = 0
    sapo_length_tokens: int = 60
    token_mean_one: bool = False

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
        if self.sapo_length_tokens < 0:
            raise ValueError("dyco.sapo_length_tokens must be >= 0 (0 = off)")
