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
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse, verify
from math_verify.errors import TimeoutException

MATH_TIMEOUT_S = 5
MAX_MATH_CHARS = 1000  # math-verify sees at most the last this many characters of an answer

_ANSWER_RE = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)
_FORMAT_RE = re.compile(r"\A\s*<think>(.*?)</think>\s*<answer>(.*?)</answer>\s*\Z", re.DOTALL)
_TAG_RE = re.compile(r"</?(?:think|answer)>")
_BOXED_RE = re.compile(r"\\(?:boxed|fbox)\s*\{")
_TEXT_RE = re.compile(r"\\(?:text|textbf|mathrm|mathbf)\s*\{([^{}]*)\}")

# Gold option letters: "B", "(B)", "B.", "(B) 12", "B. 12", "B) 12", "B: 12".
_GOLD_LETTER_RE = re.compile(r"\A\(?([A-H])\)?[.:]?\Z|\A\(([A-H])\)[.:]?\s+(.+)\Z|\A([A-H])[.):]\s*(.+)\Z", re.DOTALL)
# Predicted letters, tried in order: leading letter ("B", "(B)", "B.", "B) foo"), "answer/option is B", "(B)".
_PRED_LEADING_RE = re.compile(r"\A\(?([A-H])\)?(?=\Z|[\s.,:;)!])")
_PRED_LOWER_RE = re.compile(r"\A\(?([a-h])\)?\.?\Z")
_PRED_PHRASE_RE = re.compile(r"(?i:answer|option|choice)(?:\s+(?i:is))?\s*[:：]?\s*\(?([A-H])\)?(?![A-Za-z])")
_PRED_PAREN_RE = re.compile(r"\(([A-H])\)")
_MATH_HINT_RE = re.compile(r"[0-9\\$^π√∞]")
_LATEX_DELIMS = ("$", "\\(", "\\[", "\\boxed")
_MATH_CONFIG = (LatexExtractionConfig(), ExprExtractionConfig())
_STRIP_CHARS = " \t\n.,;:!?\"'`*"


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


def last_boxed(text: str) -> str | None:
    """Content of the last \\boxed{...} (balanced braces), or None."""
    starts = [m.end() for m in _BOXED_RE.finditer(text)]
    for start in reversed(starts):
        depth = 1
        for i in range(start, len(text)):
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            if depth == 0:
                return text[start:i]
    return None


def extract_answer(text: str) -> str:
    """The prediction: the last <answer>...</answer>, else the last \\boxed{...}, else the whole text."""
    answers = _ANSWER_RE.findall(text)
    if answers:
        return answers[-1].strip()
    boxed = last_boxed(text)
    if boxed is not None:
        return boxed.strip()
    return text.strip()


def _unwrap(text: str) -> str:
    """Drop a \\boxed{} wrapper (keeping its content) and \\text{} style wrappers."""
    boxed = last_boxed(text)
    if boxed is not None:
        text = boxed
    return _TEXT_RE.sub(r"\1", text).strip()


def normalize_text(text: str) -> str:
    """Case-insensitive, whitespace-free, without surrounding punctuation/quotes/$: for non-math answers."""
    text = _unwrap(text).lower()
    text = re.sub(r"\s+", "", text)
    return text.strip(_STRIP_CHARS + "$")


def _gold_letter(gold: str) -> tuple[str, str | None] | None:
    m = _GOLD_LETTER_RE.match(gold)
    if m is None:
        return None
    if m.group(1):
        return m.group(1), None
    if m.group(2):
        return m.group(2), m.group(3)
    return m.group(4), m.group(5)


def _pred_letter(pred: str) -> str | None:
    pred = _unwrap(pred).strip().strip("*").strip()
    for pattern in (_PRED_LEADING_RE, _PRED_LOWER_RE):
        m = pattern.match(pred)
        if m:
            return m.group(1).upper()
    for pattern in (_PRED_PHRASE_RE, _PRED_PAREN_RE):
        found = pattern.findall(pred)
        if found:
            return found[-1]
    return None


def _yes_no(text: str) -> str | None:
    """ "yes"/"no" if exactly one of the two words occurs ("No, it is not." -> no; "yes or no" -> None)."""
    found = {w for w in re.findall(r"[a-z]+", _unwrap(text).lower()) if w in ("yes", "no")}
    return found.pop() if len(found) == 1 else None


def _math_parse(text: str, timeout: int | None) -> list:
    text = text[-MAX_MATH_CHARS:]
    candidates = [text]
    if "\\" in text and not any(d in text for d in _LATEX_DELIMS):
        candidates.insert(0, f"${text}$")  # bare LaTeX (\frac{1}{2}) is only found between delimiters
    for candidate in candidates:
        try:
            parsed = parse(candidate, extraction_config=_MATH_CONFIG, parsing_timeout=timeout)
        except (Exception, TimeoutException):
            parsed = []
        if parsed:
            return parsed
    return []


def math_equal(gold: str, pred: str) -> bool:
    """math-verify equivalence of two answer strings; False when either does not parse or on any error."""
    timeout = MATH_TIMEOUT_S if threading.current_thread() is threading.main_thread() else None
    gold_parsed = _math_parse(gold, timeout)
    if not gold_parsed:
        return False
    pred_parsed = _math_parse(pred, timeout)
    if not pred_parsed:
        return False
    try:
        return bool(verify(gold_parsed, pred_parsed, timeout_seconds=timeout))
    except (Exception, TimeoutException):
        return False


def score_answer(prediction: str, gold: str) -> float:
    """1.0 if the extracted prediction matches the reference answer, else 0.0."""
    gold_answers = _ANSWER_RE.findall(gold)
    gold = (gold_answers[-1] if gold_answers else gold).strip()
    pred = prediction.strip()
    if not gold or not pred:
        return 0.0
    letter = _gold_letter(gold)
    if letter is not None:
        gold_letter, option_text = letter
        if _pred_letter(pred) == gold_letter:
            return 1.0
        return float(option_text is not None and normalize_text(pred) == normalize_text(option_text))
    gold_norm = normalize_text(gold)
    if gold_norm in ("yes", "no"):
        return float(_yes_no(pred) == gold_norm)
    if _MATH_HINT_RE.search(gold) and math_equal(gold, pred):
        return 1.0
    return float(bool(gold_norm) and normalize_text(pred) == gold_norm)


def accuracy_reward(completions: Sequence[Any], solution: Sequence[str], **kwargs: Any) -> list[float]:
    """1.0 per completion whose answer (last <answer>, else last \\boxed{}, else the text) matches `solution`."""
    if len(completions) != len(solution):
        raise ValueError(f"accuracy_reward: {len(completions)} completions but {len(solution)} solutions")
    return [
        score_answer(extract_answer(completion_text(c)), "" if s is None else str(s))
        for c, s in zip(completions, solution, strict=True)
    ]


def is_well_formatted(text: str) -> bool:
    """`<think>...</think>` then `<answer>...</answer>`, only whitespace around, no nested or repeated tags."""
    m = _FORMAT_RE.match(text)
    return m is not None and not _TAG_RE.search(m.group(1)) and not _TAG_RE.search(m.group(2))


def format_reward(completions: Sequence[Any], **kwargs: Any) -> list[float]:
    """1.0 per completion of exactly the form `<think>...</think> <answer>...</answer>`, else 0.0."""
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
