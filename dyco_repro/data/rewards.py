"""Verifiable rewards: answer accuracy and the <think>/<answer> format.

Both follow TRL's reward-function protocol (GRPOTrainer/RLOOTrainer 1.16 call
``fn(prompts=..., completions=..., completion_ids=..., **dataset_columns, trainer_state=..., ...)``):
``completions`` are strings, or, for conversational prompts, message lists such as
``[{"role": "assistant", "content": "..."}]``; ``solution`` is the dataset column of reference answers.
Each returns one float per completion.

math-verify's timeouts use ``signal.alarm``, which works only in the main thread; off the main thread
parsing and verification run without a timeout (inputs are capped in length instead), so the rewards can be
called from any thread.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from .answers import answers_match, committed_answer

_FORMAT_RE = re.compile(r"\A\s*<think>(.*?)</think>\s*<answer>(.*?)</answer>\s*\Z", re.DOTALL)
_TAG_RE = re.compile(r"</?(?:think|answer)>")


def completion_text(completion: Any) -> str:
    """The text of one completion: a string, a message dict, or a list of messages (the last assistant one)."""
    if completion is None:
        return ""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, dict):
        return _content_text(completion.get("content"))
    if isinstance(completion, Sequence):
        messages = [m for m in completion if isinstance(m, dict)]
        assistant = [m for m in messages if m.get("role", "assistant") == "assistant"]
        chosen = assistant or messages
        return _content_text(chosen[-1].get("content")) if chosen else ""
    return str(completion)


def _content_text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # structured parts: [{"type": "text", "text": ...}, ...]
        return "".join(p.get("text") or "" for p in content if isinstance(p, dict) and p.get("type") == "text")
    return str(content)


def accuracy_reward(completions: Sequence[Any], solution: Sequence[str], **kwargs: Any) -> list[float]:
    """1.0 per completion whose last closed ``<answer>...</answer>`` commits to one answer matching
    `solution` (`answers.answers_match`); 0.0 without a closed answer (cut off, never closed), for a
    hedged answer ("3 or 4", "A or B") or a wrong one."""
    if len(completions) != len(solution):
        raise ValueError(f"accuracy_reward: {len(completions)} completions but {len(solution)} solutions")
    scores = []
    for completion, gold in zip(completions, solution, strict=True):
        answer = committed_answer(completion_text(completion))
        scores.append(float(answer is not None and answers_match(answer, "" if gold is None else str(gold))))
    return scores


def is_well_formatted(text: str) -> bool:
    """`<think>...</think>` then a non-empty `<answer>...</answer>`, only whitespace around, no nested or repeated
    tags."""
    m = _FORMAT_RE.match(text)
    return (
        m is not None and bool(m.group(2).strip()) and not _TAG_RE.search(m.group(1)) and not _TAG_RE.search(m.group(2))
    )


def format_reward(completions: Sequence[Any], **kwargs: Any) -> list[float]:
    """1.0 per completion of exactly the form `<think>...</think> <answer>...</answer>` with a non-empty answer."""
    return [float(is_well_formatted(completion_text(c))) for c in completions]


RewardFunction = Callable[..., list[float]]
REWARD_FUNCTIONS: dict[str, RewardFunction] = {"accuracy": accuracy_reward, "format": format_reward}


def get_reward_functions(names: str | Iterable[str]) -> list[RewardFunction]:
    """Reward functions by name (a name, a comma-separated string, or a list), in the order given."""
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    names = list(names)
    unknown = [n for n in names if n not in REWARD_FUNCTIONS]
    if unknown:
        raise ValueError(
            f"unknown reward function(s) {', '.join(map(repr, unknown))}; valid: {', '.join(REWARD_FUNCTIONS)}"
        )
    if not names:
        raise ValueError(f"no reward functions given; valid: {', '.join(REWARD_FUNCTIONS)}")
    return [REWARD_FUNCTIONS[n] for n in names]
