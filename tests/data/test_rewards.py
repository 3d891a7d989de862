"""Verifiable rewards: accuracy (letters, yes/no, math-verify, strings) and the <think>/<answer> format."""

from __future__ import annotations

import threading

import pytest

from dyco_repro.data import REWARD_FUNCTIONS, accuracy_reward, format_reward, get_reward_functions


def wrap(answer: str) -> str:
    return f"<think>Let me look at the image.</think>\n<answer>{answer}</answer>"


ACCURACY_CASES = [
    # option letters
    (wrap("B"), "B", 1.0),
    (wrap("(B)"), "B", 1.0),
    (wrap("B."), "B", 1.0),
    (wrap("B) 12 cm"), "B", 1.0),
    (wrap("The answer is B"), "B", 1.0),
    (wrap("Answer: (C)"), "C", 1.0),
    (wrap("**D**"), "D", 1.0),
    (wrap("b"), "B", 1.0),
    (wrap("C"), "B", 0.0),
    (wrap("The answer is C"), "B", 0.0),
    (wrap("Because it is larger"), "B", 0.0),
    (wrap("B"), "(B)", 1.0),
    (wrap("B"), "B. 12 cm", 1.0),
    (wrap("12 cm"), "B) 12 cm", 1.0),
    (wrap("A"), "B) 12 cm", 0.0),
    (wrap("\\boxed{E}"), "E", 1.0),
    # yes / no
    (wrap("Yes"), "yes", 1.0),
    (wrap("yes."), "Yes", 1.0),
    (wrap("No, there is not."), "no", 1.0),
    (wrap("NO"), "no", 1.0),
    (wrap("yes"), "no", 0.0),
    (wrap("maybe"), "yes", 0.0),
    (wrap("yes or no"), "yes", 0.0),
    # integers and numbers (math-verify)
    (wrap("3"), "3", 1.0),
    (wrap("3 shapes"), "3", 1.0),
    (wrap("13"), "3", 0.0),
    (wrap("4"), "3", 0.0),
    (wrap("1,000"), "1000", 1.0),
    # fractions vs decimals, LaTeX
    (wrap("0.5"), "1/2", 1.0),
    (wrap("1/2"), "0.5", 1.0),
    (wrap("\\frac{1}{2}"), "0.5", 1.0),
    (wrap("$\\frac{1}{2}$"), "1/2", 1.0),
    (wrap("\\frac{1}{3}"), "0.5", 0.0),
    (wrap("2\\sqrt{2}"), "$2\\sqrt{2}$", 1.0),
    (wrap("\\sqrt{8}"), "2\\sqrt{2}", 1.0),
    (wrap("\\sqrt{2}"), "2\\sqrt{2}", 0.0),
    (wrap("\\boxed{\\frac{3}{4}}"), "0.75", 1.0),
    # no closed <answer>: nothing was committed, whatever the text ends with (cut off, never closed)
    ("so the total is \\boxed{7}.", "7", 0.0),
    ("<think>counting 1, 2, 3, 4, 5, 6, 7", "7", 0.0),
    ("<think>so it is 7</think><answer>7", "7", 0.0),
    # \boxed{} inside the answer
    (wrap("first \\boxed{2}, no wait, \\boxed{\\frac{7}{1}}"), "7", 1.0),
    (wrap("\\boxed{7}"), "7", 1.0),
    (wrap("7.0"), "7", 1.0),
    (wrap("**7**"), "7", 1.0),
    (wrap("B. the circle"), "B", 1.0),
    # hedged answers: several values or options never pay
    (wrap("3 or 4"), "4", 0.0),
    (wrap("3, 4, 5"), "4", 0.0),
    (wrap("between 2 and 3"), "3", 0.0),
    (wrap("A or B"), "A", 0.0),
    (wrap("C and D"), "C", 0.0),
    (wrap("either 7 or 8"), "7", 0.0),  # ours
    (wrap("(B) or (C)"), "B", 0.0),  # ours
    (wrap("(1, 2)"), "(1, 2)", 1.0),  # ours: one pair is one value
    # math-verify 0.9.0's false equalities, closed by our relative-tolerance check and \sqrt() reading
    (wrap("1/2^{99}"), "1/2^{98}", 0.0),
    (wrap("\\frac{1}{2004!}"), "\\frac{1}{2006!}", 0.0),
    (wrap("1/2004!"), "1/2006!", 0.0),
    (wrap("4\\sqrt(2)"), "4", 0.0),
    (wrap("2^{-40}"), "2^{-41}", 0.0),  # ours
    (wrap("4\\sqrt(2)"), "4\\sqrt{2}", 1.0),  # ours: the malformed root read as the root it means
    (wrap("1/2^{99}"), "2^{-99}", 1.0),  # ours: tiny but equal
    # the last <answer> wins
    ("<answer>4</answer> hmm <answer>7</answer>", "7", 1.0),
    ("<answer>7</answer> hmm <answer>4</answer>", "7", 0.0),
    # colour names and other strings
    (wrap("red"), "red", 1.0),
    (wrap("Red."), "red", 1.0),
    (wrap(" light  blue "), "Light blue", 1.0),
    (wrap("\\text{green}"), "green", 1.0),
    (wrap("der"), "red", 0.0),
    (wrap("blue"), "red", 0.0),
    # missing answer tags: nothing committed
    ("red", "red", 0.0),
    ("5", "5", 0.0),
    ("<think>It is red.</think> I am not sure", "red", 0.0),
    ("<think>hmm</think>", "yes", 0.0),
    ("", "3", 0.0),
    (wrap(""), "3", 0.0),
    # a reference written in answer tags
    (wrap("8"), "<answer> 8 </answer>", 1.0),
]


@pytest.mark.parametrize(("completion", "gold", "expected"), ACCURACY_CASES)
def test_accuracy_reward_table(completion, gold, expected):
    assert accuracy_reward([completion], [gold]) == [expected]


def test_accuracy_reward_batch_and_conversational_completions():
    completions = [
        [{"role": "assistant", "content": wrap("0.5")}],
        [{"role": "assistant", "content": [{"type": "text", "text": wrap("(A)")}]}],
        [{"role": "assistant", "content": wrap("no")}],
        {"role": "assistant", "content": wrap("blue")},
        wrap("12"),
    ]
    solutions = ["\\frac{1}{2}", "A", "yes", "blue", "11"]
    rewards = accuracy_reward(completions, solutions, prompts=[None] * 5, id=list("abcde"), trainer_state=None)
    assert rewards == [1.0, 1.0, 0.0, 1.0, 0.0]
    assert all(type(r) is float for r in rewards)
    with pytest.raises(ValueError, match="2 completions but 1 solutions"):
        accuracy_reward(["1", "2"], ["1"])


def test_accuracy_reward_from_a_worker_thread():
    """math-verify's signal-based timeout only works in the main thread; the reward must not depend on it."""
    results: dict[str, object] = {}

    def work():
        try:
            results["rewards"] = accuracy_reward(
                [wrap("\\frac{1}{2}"), wrap("0.3"), wrap("B"), wrap("red")], ["0.5", "1/2", "B", "red"]
            )
        except BaseException as e:  # noqa: BLE001  (reported in the main thread)
            results["error"] = e

    thread = threading.Thread(target=work)
    thread.start()
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert "error" not in results, results.get("error")
    assert results["rewards"] == [1.0, 0.0, 1.0, 1.0]


FORMAT_CASES = [
    ("<think>a</think><answer>b</answer>", 1.0),
    ("  <think>\nline 1\nline 2\n</think>\n\n<answer> 42 </answer>\n", 1.0),
    ("<think></think><answer>x</answer>", 1.0),
    ("<answer>b</answer>", 0.0),  # missing think
    ("<think>a</think>", 0.0),  # missing answer
    ("<think>a</think><answer>b</answer> and more", 0.0),  # text after answer
    ("Sure! <think>a</think><answer>b</answer>", 0.0),  # text before think
    ("<think>a</think> so <answer>b</answer>", 0.0),  # text between
    ("<answer>b</answer><think>a</think>", 0.0),  # wrong order
    ("<think>a</think><answer>b</answer><answer>c</answer>", 0.0),  # duplicated answer
    ("<think>a</think><think>a2</think><answer>b</answer>", 0.0),  # duplicated think
    ("<think>a<think>b</think></think><answer>c</answer>", 0.0),  # nested think
    ("<think>a</think><answer>b<answer>c</answer></answer>", 0.0),  # nested answer
    ("<think>a</think><answer>b", 0.0),  # unclosed
    ("<think>a</think><answer></answer>", 0.0),  # empty answer
    ("<think>a</think><answer> \n </answer>", 0.0),  # ours: blank answer
    ("<THINK>a</THINK><ANSWER>b</ANSWER>", 0.0),
    ("", 0.0),
]


@pytest.mark.parametrize(("completion", "expected"), FORMAT_CASES)
def test_format_reward_table(completion, expected):
    assert format_reward([completion]) == [expected]
    assert format_reward([[{"role": "assistant", "content": completion}]], solution=["x"]) == [expected]


def test_registry():
    assert REWARD_FUNCTIONS == {"accuracy": accuracy_reward, "format": format_reward}
    assert accuracy_reward.__name__ == "accuracy_reward" and format_reward.__name__ == "format_reward"
    assert get_reward_functions(["format", "accuracy"]) == [format_reward, accuracy_reward]
    assert get_reward_functions("accuracy,format") == [accuracy_reward, format_reward]
    with pytest.raises(ValueError, match=r"'length'.*valid: accuracy, format"):
        get_reward_functions(["accuracy", "length"])
    with pytest.raises(ValueError, match="no reward functions"):
        get_reward_functions([])
