"""The one answer extractor (rewards and the rule judge): reading a response, a committed value, options, yes/no."""

from __future__ import annotations

import pytest

from dyco_repro.data.answers import (
    answers_match,
    choice_letter,
    committed_answer,
    final_answer,
    last_boxed,
    response_answer,
    value_count,
    yes_no,
)


def test_committed_answer_needs_a_closed_answer_tag():
    assert committed_answer("<answer> a </answer> <answer>\nb\n</answer>") == "b"
    assert committed_answer("<think>counting 1, 2, 3, 4, 5, 6, 7") is None
    assert committed_answer("<answer>7") is None
    assert committed_answer("<answer></answer>") == ""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<think>is it yes or no? no... yes</think> Yes", "Yes"),  # the issue: reasoning with both words removed
        ("<think>hmm</think><answer>B</answer>", "B"),
        ("<think>a long thought that was cut off", ""),  # ours: never closed, nothing answered
        ("plain answer", "plain answer"),
        ("<think>a</think>\n\n", ""),
    ],
)
def test_response_answer_removes_the_reasoning(text, expected):
    assert response_answer(text) == expected


def test_last_boxed_is_nested():
    assert last_boxed("\\boxed{\\frac{1}{2}} and \\boxed{x^{2}}") == "x^{2}"
    assert last_boxed("\\boxed{\\frac{\\sqrt{2}}{2}}") == "\\frac{\\sqrt{2}}{2}"
    assert last_boxed("\\boxed{unclosed") is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The answer is 3.5", "3.5"),  # the issue: a decimal, not 3
        ("The answer is 3.5.", "3.5"),
        ("so \\boxed{\\frac{\\sqrt{2}}{2}}", "\\frac{\\sqrt{2}}{2}"),
        ("**7**", "7"),
        ("Final answer: $12$", "12"),
        ("答案是 42", "42"),  # ours
    ],
)
def test_final_answer(text, expected):
    assert final_answer(text) == expected


def test_final_answer_last_number_fallback_refuses_trailing_alternatives():
    assert final_answer("first 3 then 4 so 9", last_number=True) == "9"
    assert final_answer("it costs 1,000 dollars", last_number=True) == "1000"
    assert final_answer("counting 1, 2, 3, 4, 5, 6, 7", last_number=True) != "7"
    assert final_answer("__import__('os').system('x') or 3", last_number=True) != "3"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The correct answer is B because the square is bigger than A.", "B"),  # the issue
        ("**B**", "B"),
        ("答案：C", "C"),  # the issue: a label in another language
        ("Antwort: D", "D"),
        ("Réponse : (A)", "A"),
        ("正确答案是B", "B"),  # ours
        ("B. the circle", "B"),
        ("(B)", "B"),
        ("b", "B"),
        ("A or B", None),
        ("C and D", None),
        ("the answer is A or B", None),
        ("A circle", None),  # an article, not an option
        ("no letter here", None),
    ],
)
def test_choice_letter(text, expected):
    assert choice_letter(text) == expected


@pytest.mark.parametrize(("text", "expected"), [("**Yes**", "yes"), ("Yes.", "yes"), ("No, it is not.", "no")])
def test_yes_no(text, expected):
    assert yes_no(text) == expected
    assert yes_no("yes or no") is None


@pytest.mark.parametrize(
    ("text", "count"),
    [("3 or 4", 2), ("3, 4, 5", 3), ("between 2 and 3", 2), ("(1, 2)", 1), ("1,000", 1), ("3.5", 1), ("7 apples", 1)],
)
def test_value_count(text, count):
    assert value_count(text) == count


@pytest.mark.parametrize(
    ("text", "gold", "options", "expected"),
    [
        ("0.5", "\\frac{1}{2}", None, True),
        ("1/2", "0.5", None, True),  # the issue: honest equivalents still score
        ("two", "B", ["one", "two"], True),  # the option's text
        ("The answer is 3.5", "3.5", None, True),
        ("The answer is 3.5", "3", None, False),
        ("\\boxed{\\frac{\\sqrt{2}}{2}}", "\\frac{\\sqrt{2}}{2}", None, True),
        ("1,000", "1000", None, True),
        ("3", "4", None, False),
        ("3 or 4", "4", None, False),
        ("two or one", "B", ["one", "two"], False),  # ours: hedged option texts
    ],
)
def test_answers_match(text, gold, options, expected):
    assert answers_match(text, gold, options) is expected
