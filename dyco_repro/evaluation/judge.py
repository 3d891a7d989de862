"""Which judge scores each benchmark, and the opt-in rule-based extractor.

auto    exact matching where VLMEvalKit says it is valid; the OpenAI-compatible judge for the rest
        when an endpoint is configured, else those are "not judged"
exact   exact matching where valid; the rest not judged
openai  the OpenAI-compatible judge for every benchmark (needs OPENAI_API_KEY)
rule    exact matching where valid; our rule-based extractor for the rest (marked unofficial)
"""

from __future__ import annotations

import ast
import os
import re
from dataclasses import dataclass, field

from .suite import Benchmark, EvalError

POLICIES = ("auto", "exact", "openai", "rule")
EXACT = "exact_matching"
RULE = "rule"
NOT_JUDGED = "none"


@dataclass(frozen=True)
class Judge:
    name: str  # exact_matching | <judge model> | rule | none
    official: bool  # scored the way VLMEvalKit's official pipeline scores this benchmark
    endpoint: str | None = None
    kwargs: dict = field(default_factory=dict)  # for the dataset's evaluate()


def openai_endpoint() -> str | None:
    """The configured OpenAI-compatible endpoint, or None when no key is set."""
    if not os.environ.get("OPENAI_API_KEY"):
        return None
    return os.environ.get("OPENAI_API_BASE") or "https://api.openai.com/v1/chat/completions"


def check_policy(policy: str) -> None:
    if policy not in POLICIES:
        raise EvalError(f"judge={policy} is not a judge policy; use judge=auto, exact, openai or rule")
    if policy == "openai" and openai_endpoint() is None:
        raise EvalError(
            "judge=openai needs an endpoint: export OPENAI_API_KEY (and OPENAI_API_BASE for a local "
            "OpenAI-compatible server), or use judge=auto"
        )


def choose_judge(policy: str, bench: Benchmark, judge_model: str, nproc: int = 4) -> Judge:
    check_policy(policy)
    endpoint = openai_endpoint()
    llm = Judge(judge_model, True, endpoint, {"model": judge_model, "nproc": nproc})
    if policy == "openai":
        return llm
    if not bench.needs_llm_judge:
        return Judge(EXACT, True, None, {"model": EXACT, "nproc": 1})
    if policy == "auto" and endpoint is not None:
        return llm
    if policy == "rule":
        return Judge(RULE, False)
    return Judge(NOT_JUDGED, False)


# --- rule-based extraction (judge=rule): never mixed silently with judged numbers ---------------

BOXED = re.compile(r"\\boxed\{((?:[^{}]|\{[^{}]*\})*)\}")
ANSWER_IS = re.compile(r"answer\s*(?:is|:)\s*[:\s]*\(?([^\n]+?)\)?\s*(?:\.|$)", re.IGNORECASE | re.MULTILINE)
LETTER = re.compile(r"^\(?([A-H])\)?(?:[.:)\s]|$)")
NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def parse_options(raw) -> list[str]:
    if isinstance(raw, list):
        return raw
    try:
        value = ast.literal_eval(str(raw))
    except (ValueError, SyntaxError):
        return []
    return list(value) if isinstance(value, (list, tuple)) else []


def extract_answer(prediction: str, options: list[str]) -> str:
    """The answer a response commits to: \\boxed{}, "answer is X", an option letter, else the last number."""
    text = str(prediction).strip()
    committed = bool(found := BOXED.findall(text)) or bool(found := ANSWER_IS.findall(text))
    if committed:
        text = found[-1].strip()
    if options:
        if match := LETTER.match(text):
            return match.group(1)
        for i, option in enumerate(options):
            if text.lower() == str(option).strip().lower():
                return chr(ord("A") + i)
        return text
    if committed or NUMBER.fullmatch(text):
        return text
    numbers = NUMBER.findall(text)
    return numbers[-1] if numbers else text


def answers_match(extracted: str, answer: str) -> bool:
    from math_verify import parse, verify

    if extracted.strip().lower() == str(answer).strip().lower():
        return True
    try:
        gold, pred = parse(f"${answer}$"), parse(f"${extracted}$")
        return bool(gold and pred and verify(gold, pred))
    except Exception:  # noqa: BLE001 - math-verify raises on unparsable text: not a match
        return False


def rule_score(predictions) -> dict:
    """Accuracy (0-100) of the rule-extracted answers over a prediction frame."""
    hits = [
        answers_match(
            extract_answer(row["prediction"], parse_options(row.get("choices", row.get("options", "")))), row["answer"]
        )
        for _, row in predictions.iterrows()
    ]
    return {"Overall": 100.0 * sum(hits) / len(hits) if hits else 0.0, "hit": sum(hits), "tot": len(hits)}
