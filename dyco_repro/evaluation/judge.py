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
from dataclasses import dataclass, field

from ..data.answers import answers_match, response_answer
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
    """The configured OpenAI-compatible endpoint as it may be recorded (credentials in the URL masked; VLMEvalKit
    reads the real one from the environment), or None when no key is set."""
    from ..tracking import mask_credentials

    if not os.environ.get("OPENAI_API_KEY"):
        return None
    return mask_credentials(os.environ.get("OPENAI_API_BASE") or "https://api.openai.com/v1/chat/completions")


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


# --- rule-based scoring (judge=rule): never mixed silently with judged numbers ---------------------
# The extractor is the one the training reward uses (dyco_repro.data.answers); here the response's
# reasoning is removed first and free text falls back to its last number, as an LLM judge would read it.


def parse_options(raw) -> list[str]:
    """A benchmark's option list from its TSV cell ("['1', '2']"), read as a literal, never executed."""
    if isinstance(raw, list):
        return raw
    try:
        value = ast.literal_eval(str(raw))
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return []
    return [str(v) for v in value] if isinstance(value, (list, tuple)) else []


def rule_match(prediction: str, answer: str, options: list[str] | None = None) -> bool:
    """Whether a raw prediction's committed answer matches the reference (see `answers.answers_match`)."""
    return answers_match(response_answer(str(prediction)), str(answer), options or None, last_number=True)


def rule_score(predictions) -> dict:
    """Accuracy (0-100) of the rule-read answers over a prediction frame."""
    hits = [
        rule_match(row["prediction"], row["answer"], parse_options(row.get("choices", row.get("options", ""))))
        for _, row in predictions.iterrows()
    ]
    return {"Overall": 100.0 * sum(hits) / len(hits) if hits else 0.0, "hit": sum(hits), "tot": len(hits)}
