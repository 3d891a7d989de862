import pytest

from dyco_repro.evaluation.judge import EXACT, NOT_JUDGED, RULE, choose_judge, parse_options, rule_match, rule_score
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
    ("prediction", "gold", "options"),
    [
        (r"so the total is \boxed{12}", "12", []),
        (r"\boxed{\frac{1}{2}}", r"\frac{1}{2}", []),
        ("I think the answer is 7.", "7", []),
        ("Answer: (C)", "C", ["1", "2", "3"]),
        ("B. two circles", "B", ["one", "two"]),
        ("two", "B", ["one", "two"]),
        ("first 3 then 4 so 9", "9", []),
        ("The answer is 3.5", "3.5", []),  # the issue: a decimal, not 3
        (r"so \boxed{\frac{\sqrt{2}}{2}}", r"\frac{\sqrt{2}}{2}", []),  # the issue: nested \boxed
        ("There are 1,000 dots", "1000", []),  # the issue: thousands separator
        ("<think>7? or 8</think> The answer is 12,500.", "12500", []),  # ours
        ("The correct answer is B because the square is bigger than A.", "B", ["1", "2", "3"]),
    ],
)
def test_rule_judge_reads_the_committed_answer(prediction, gold, options):
    assert rule_match(prediction, gold, options)


@pytest.mark.parametrize(
    ("prediction", "gold", "options"),
    [
        ("The answer is 3.5", "3", []),  # today's bug: read as 3
        ("It is 3 or 4", "4", []),
        ("A or B", "A", ["x", "y"]),
        ("<think>the answer is 7</think> I cannot tell", "7", []),  # reasoning is not the answer
        ("__import__('os').system('touch x') or 3", "3", []),
    ],
)
def test_rule_judge_refuses_hedges_and_reasoning(prediction, gold, options):
    assert not rule_match(prediction, gold, options)


def test_rule_match_is_mathematical_not_textual():
    assert rule_match("0.5", r"\frac{1}{2}")
    assert rule_match("C", "c")
    assert not rule_match("3", "4")


def test_rule_judge_and_reward_share_one_extractor():
    import dyco_repro.data.rewards as rewards
    import dyco_repro.evaluation.judge as judge

    assert judge.answers_match is rewards.answers_match
    assert not hasattr(judge, "extract_answer") and not hasattr(rewards, "extract_answer")


def test_options_are_read_as_literals_never_executed(tmp_path):
    marker = tmp_path / "pwned"
    assert parse_options(f"__import__('os').system('touch {marker}')") == []
    assert parse_options("['1', '2']") == ["1", "2"]
    assert not marker.exists()


def test_rule_score_over_a_frame():
    import pandas as pd

    frame = pd.DataFrame({"prediction": ["\\boxed{3}", "3 or 4", "<think>x</think>4"], "answer": ["3", "3", "4"]})
    assert rule_score(frame) == {"Overall": pytest.approx(200 / 3), "hit": 2, "tot": 3}


def test_vlmeval_backend_needs_a_gpu_and_unknown_backends_are_refused(monkeypatch):
    import torch

    from dyco_repro.evaluate import check_backend

    check_backend("hf")
    with pytest.raises(EvalError, match="eval.backend=hf"):
        check_backend("vllm")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(EvalError, match="needs a CUDA GPU"):
        check_backend("vlmeval")
