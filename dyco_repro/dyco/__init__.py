"""DyCo-RL: attention-derived token roles and advantage reweighting. Pure torch."""

from .capture import AttentionCapture, capture_attention, compute_signals
from .config import DyCoConfig
from .fisher_rao import fisher_rao
from .signals import DyCoSignals, key_masks, row_statistics, signals_from_attention
from .weights import advantage_factor, group_zscore, reweight, sapo_length_factor, sequence_scores, token_weights

__all__ = [
    "AttentionCapture",
    "DyCoConfig",
    "DyCoSignals",
    "advantage_factor",
    "capture_attention",
    "compute_signals",
    "fisher_rao",
    "group_zscore",
    "key_masks",
    "reweight",
    "row_statistics",
    "sapo_length_factor",
    "sequence_scores",
    "signals_from_attention",
    "token_weights",
]
