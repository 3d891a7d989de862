"""Training data (ThinkLite-VL JSONL -> TRL rows) and verifiable rewards (accuracy, format)."""

from .jsonl import FORMAT_INSTRUCTION, DataError, LoadedData, check_settings, load_jsonl
from .rewards import REWARD_FUNCTIONS, accuracy_reward, format_reward, get_reward_functions

__all__ = [
    "FORMAT_INSTRUCTION",
    "REWARD_FUNCTIONS",
    "DataError",
    "LoadedData",
    "accuracy_reward",
    "check_settings",
    "format_reward",
    "get_reward_functions",
    "load_jsonl",
]
