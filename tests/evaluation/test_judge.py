import pytest

from dyco_repro.evaluation.judge import EXACT, NOT_JUDGED, RULE, answers_match, choose_judge, extract_answer
from dyco_repro.evaluation.suite import EvalError, resolve_benchmarks

BENCH = {b.key: b for b in resolve_benchmarks("table1")}


@pytest.fixture
def no_endpoint(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_API_BASE", raising=False)


@pytest.fixture
def endpoint(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-local")
    monkeypatch.setenv("OPENAI_API_BASE", "http://127.0.0.1:9/v1/chat/completions")


def names(policy):
    return {k: choose_judge(policy, b, "gpt-4o-mini").name for k, b in BENCH.items()}


def test_auto_without_endpoint_exact_where_valid_and_the_rest_not_judged(no_endpoint):
    assert names("auto") == {
        "WeMath": EXACT,
        "HallusionBench": EXACT,
        "MME": EXACT,
        "MMBench": EXACT,
        "MathVision": NOT_JUDGED,
        "MathVerse": NOT_JUDGED,
        "LogicVista": NOT_JUDGED,
    }
    assert not choose_judge("auto", BENCH["MathVision"], "gpt-4o-mini").official


def test_auto_with_endpoint_uses_the_llm_judge_for_the_three(endpoint):
    judges = {k: choose_judge("auto", b, "gpt-4o-mini") for k, b in BENCH.items()}
    for key in ("MathVision", "MathVerse", "LogicVista"):
        assert judges[key].name == "gpt-4o-mini" and judges[key].official
        assert judges[key].endpoint == "http://127.0.0.1:9/v1/chat/completions"
        assert judges[key].kwargs["model"] == "gpt-4o-mini"
    assert judges["MME"].name == EXACT and judges["MME"].kwargs["model"] == "exact_matching"


def test_exact_never_calls_a_judge_even_with_an_endpoint(endpoint):
    assert set(names("exact").values()) == {EXACT, NOT_JUDGED}


def test_rule_is_opt_in_and_marked_unofficial(no_endpoint):
    judge = choose_judge("rule", BENCH["MathVerse"], "gpt-4o-mini")
    assert (judge.name, judge.official) == (RULE, False)
    assert choose_judge("rule", BENCH["MME"], "gpt-4o-mini").name == EXACT


def test_openai_judge_without_endpoint_is_one_clear_line(no_endpoint):
    with pytest.raises(EvalError, match="OPENAI_API_KEY") as err:
        choose_judge("openai", BENCH["MME"], "gpt-4o-mini")
    assert "\n" not in str(err.value)


def test_unknown_policy_names_the_choices():
    with pytest.raises(EvalError, match="auto, exact, openai or rule"):
        choose_judge("gpt4", BENCH["MME"], "gpt-4o-mini")


@pytest.mark.parametrize(
    ("prediction", "options", "expected"),
    [
        (r"so the total is \boxed{12}", [], "12"),
        (r"\boxed{\frac{1}{2}}", [], r"\frac{1}{2}"),
        ("I think the answer is 7.", [], "7"),
        ("Answer: (C)", ["1", "2", "3"], "C"),
        ("B. two circles", ["one", "two"], "B"),
        ("two", ["one", "two"], "B"),
        ("first 3 then 4 so 9", [], "9"),
    ],
)
def test_rule_extractor(prediction, options, expected):
    assert extract_answer(prediction, options) == expected


def test_rule_match_is_mathematical_not_textual():
    assert answers_match("0.5", r"\frac{1}{2}")
    assert answers_match("C", "c")
    assert not answers_match("3", "4")


def test_vlmeval_backend_needs_a_gpu_and_unknown_backends_are_refused(monkeypatch):
    import torch

    from dyco_repro.evaluate import check_backend

    check_backend("hf")
    with pytest.raises(EvalError, match="eval.backend=hf"):
        check_backend("vllm")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(EvalError, match="needs a CUDA GPU"):
        check_backend("vlmeval")
