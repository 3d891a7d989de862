"""The one answer extractor and matcher: training rewards and the rule-based judge both use it.

Model text is only ever read here, never executed: numbers and LaTeX go to math-verify (a parser
into sympy, no ``eval``), everything else is compared as text.

Reading a response (``response_answer``): the last closed ``<answer>...</answer>``; else what follows
the last ``</think>``; a ``<think>`` never closed is reasoning only, so nothing was answered.
Reading the committed value inside it (``final_answer``): the last ``\\boxed{...}`` (nested braces),
else an "answer is X" label (several languages), else the text; wrappers (``**``, ``$``, ``\\text{}``)
and trailing punctuation are dropped.

Matching (``answers_match``) pays only for a single committed answer: several values or options
("3 or 4", "3, 4, 5", "between 2 and 3", "A or B") never match a single reference. math-verify 0.9.0
has false equalities that we close: two different values that both round to 0 at its 6-digit
precision (``1/2^{99}`` vs ``1/2^{98}``) fail our relative-tolerance check on the exact sympy values,
and ``\\sqrt(2)`` (which it parses as nothing, so ``4\\sqrt(2)`` == 4) is read as ``\\sqrt{2}``.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence

from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse, verify
from math_verify.errors import TimeoutException

MATH_TIMEOUT_S = 5
MAX_MATH_CHARS = 1000  # math-verify sees at most the last this many characters of an answer
# Two values math-verify calls equal must also agree to this relative tolerance (exact sympy values,
# 50 digits): math-verify rounds to 6 decimals, so every pair of values below 5e-7 was "equal".
REL_TOL = 1e-6
LETTERS = "ABCDEFGH"

ANSWER_RE = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)
_THINK_CLOSE = "</think>"
_BOXED_RE = re.compile(r"\\(?:boxed|fbox)\s*\{")
_TEXT_RE = re.compile(r"\\(?:text|textbf|mathrm|mathbf|textit)\s*\{([^{}]*)\}")
_SQRT_PAREN_RE = re.compile(r"\\sqrt\s*\(([^()]*)\)")
_THOUSANDS_RE = re.compile(r"(?<![\d.])\d{1,3}(?:(?:,|\{,\})\d{3})+(?![\d])")
_NUMBER_RE = re.compile(r"-?\d+(?:\.\d+)?")
_MATH_HINT_RE = re.compile(r"[0-9\\$^π√∞]")
_LATEX_DELIMS = ("$", "\\(", "\\[", "\\boxed")
_STRIP_CHARS = " \t\n.,;:!?\"'`*"
# "answer is X" labels, several languages (CoT models switch language mid-answer).
_LABEL = (
    r"(?:final\s+answer|correct\s+answer|correct\s+option|answer|option|choice|"
    r"答案|正确答案|正確答案|选项|選項|回答|答え|정답|"
    r"antwort|respuesta|réponse|reponse|risposta|resposta|ответ|opción)"
)
_LABEL_VALUE_RE = re.compile(
    _LABEL + r"\s*(?:is|es|est|ist|è|é|é\s+a|是|为|為|は|:|：|-|=)?\s*(?:[:：])?\s*(.+?)\s*(?:\.(?=\s|$)|\n|$)",
    re.IGNORECASE,
)
_LABEL_LETTER_RE = re.compile(
    _LABEL + r"\s*(?:is|es|est|ist|è|é|是|为|為|は)?\s*(?:option|choice)?\s*[:：]?\s*[(\[*]*([A-H])(?![A-Za-z])",
    re.IGNORECASE,
)
_LEADING_LETTER_RE = re.compile(r"\A[(\[]([A-H])[)\]]|\A([A-H])(?=\Z|[.:)\]]|,\s)")
_LOWER_LETTER_RE = re.compile(r"\A\(?([a-h])\)?\.?\Z")
_PAREN_LETTER_RE = re.compile(r"\(([A-H])\)")
_STANDALONE_LETTER_RE = re.compile(r"(?<![A-Za-z])[(\[]?([A-H])[)\]]?(?![A-Za-z])")
# Text between two option letters that makes them one hedged answer ("A or B", "C and D", "A, B").
_LETTER_JOIN_RE = re.compile(r"\A\s*(?:,|/|&|、|or|and|nor|und|oder|ou|et|y|o|或|或者|和|与|與)?\s*(?:or\s*)?\Z", re.I)
# Separators of several values at the top level ("3 or 4", "3, 4, 5", "between 2 and 3").
_VALUE_SPLIT_RE = re.compile(r",|;|\bor\b|\band\b|\bnor\b|\bto\b|\bvs\.?|或|和", re.IGNORECASE)
_HEDGE_WORDS_RE = re.compile(r"\b(?:between|either|neither|both|from|maybe|perhaps)\b", re.IGNORECASE)
_TRAILING_ALTERNATIVE_RE = re.compile(r"(?:,|;|\bor\b|\band\b|\bto\b)\s*-?\d+(?:\.\d+)?\s*[.!]?\s*\Z", re.IGNORECASE)
_MATH_CONFIG = (LatexExtractionConfig(), ExprExtractionConfig())


# --- reading ------------------------------------------------------------------------------------


def committed_answer(text: str) -> str | None:
    """The content of the last closed ``<answer>...</answer>``, or None (no answer was committed)."""
    answers = ANSWER_RE.findall(text)
    return answers[-1].strip() if answers else None


def response_answer(text: str) -> str:
    """What a response answers, reasoning removed: the last ``<answer>`` content, else the text after
    the last ``</think>``, else "" when a ``<think>`` is never closed, else the whole text."""
    text = str(text)
    answer = committed_answer(text)
    if answer is not None:
        return answer
    if _THINK_CLOSE in text:
        return text.rsplit(_THINK_CLOSE, 1)[1].strip()
    if "<think>" in text:
        return ""
    return text.strip()


def last_boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{...}`` (balanced, nested braces), or None."""
    for start in reversed([m.end() for m in _BOXED_RE.finditer(text)]):
        depth = 1
        for i in range(start, len(text)):
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            if depth == 0:
                return text[start:i]
    return None


def unwrap(text: str) -> str:
    """Drop ``\\boxed{}``/``\\text{}``/``**``/``$`` wrappers (keeping their content) and outer punctuation."""
    boxed = last_boxed(text)
    if boxed is not None:
        text = boxed
    text = _TEXT_RE.sub(r"\1", text).strip()
    for _ in range(3):  # nested wrappers: **$7$**
        stripped = text.strip(_STRIP_CHARS)
        if stripped.startswith("$") and stripped.endswith("$") and len(stripped) > 1:
            stripped = stripped.strip("$").strip()
        if stripped == text:
            break
        text = stripped
    return text


def final_answer(text: str, last_number: bool = False) -> str:
    """The value a piece of text commits to: the last ``\\boxed{}``, else the last "answer is X" label,
    else the text itself (or, with ``last_number``, its last number: the rule judge's fallback for free
    text). Wrappers and outer punctuation removed."""
    text = str(text).strip()
    boxed = last_boxed(text)
    if boxed is not None:
        return unwrap(boxed)
    labelled = [m.group(1) for m in _LABEL_VALUE_RE.finditer(text) if m.group(1).strip()]
    if labelled:
        return unwrap(labelled[-1])
    if last_number and not _NUMBER_RE.fullmatch(unwrap(text)):
        plain = _THOUSANDS_RE.sub(lambda m: re.sub(r"\{?,\}?", "", m.group()), text)
        numbers = _NUMBER_RE.findall(plain)
        # A text that ends in a list or alternatives ("1, 2, 3", "... or 3") commits to no single value.
        if numbers and not _TRAILING_ALTERNATIVE_RE.search(plain):
            return numbers[-1]
    return unwrap(text)


def choice_letter(text: str) -> str | None:
    """The one option letter (A-H) the text commits to; None if there is none or several are hedged
    ("A or B", "C and D", "the answer is A or B")."""
    text = unwrap(str(text))
    labelled = list(_LABEL_LETTER_RE.finditer(text))
    if labelled:  # "The correct answer is B because A is wrong": the labelled letter, hedged only after it
        last = labelled[-1]
        return None if _hedged_letters(text[last.start(1) :]) else last.group(1).upper()
    if _hedged_letters(text):
        return None
    m = _LEADING_LETTER_RE.match(text)
    if m:
        return m.group(1) or m.group(2)
    m = _LOWER_LETTER_RE.match(text)
    if m:
        return m.group(1).upper()
    found = _PAREN_LETTER_RE.findall(text)
    return found[-1] if found else None


def _hedged_letters(text: str) -> bool:
    """Two different option letters joined by a conjunction or a list separator."""
    letters = list(_STANDALONE_LETTER_RE.finditer(text))
    return any(
        a.group(1) != b.group(1) and _LETTER_JOIN_RE.match(text[a.end() : b.start()])
        for a, b in zip(letters, letters[1:], strict=False)
    )


def yes_no(text: str) -> str | None:
    """ "yes" or "no" when exactly one of the two words occurs ("No, it is not." -> no; "yes or no" -> None)."""
    found = {w for w in re.findall(r"[a-z]+", unwrap(str(text)).lower()) if w in ("yes", "no")}
    return found.pop() if len(found) == 1 else None


def normalize_text(text: str) -> str:
    """Case-insensitive, whitespace-free, without wrappers and outer punctuation: for non-math answers."""
    return re.sub(r"\s+", "", unwrap(text).lower()).strip(_STRIP_CHARS + "$")


def value_count(text: str) -> int:
    """How many values the text gives at its top level (commas inside brackets, thousands separators
    and decimal points do not split): "3 or 4" -> 2, "between 2 and 3" -> 2, "(1, 2)" -> 1, "1,000" -> 1."""
    text = _THOUSANDS_RE.sub(lambda m: re.sub(r"\{?,\}?", "", m.group()), text)
    text = _HEDGE_WORDS_RE.sub(" ", text)
    parts, depth, start = [], 0, 0
    for m in re.finditer(r"[()\[\]{}]|" + _VALUE_SPLIT_RE.pattern, text, re.IGNORECASE):
        token = m.group()
        if token in "([{":
            depth += 1
        elif token in ")]}":
            depth = max(0, depth - 1)
        elif depth == 0:
            parts.append(text[start : m.start()])
            start = m.end()
    parts.append(text[start:])
    return sum(1 for p in parts if p.strip(_STRIP_CHARS + "$"))


# --- matching -----------------------------------------------------------------------------------


def _gold_letter(gold: str) -> tuple[str, str | None] | None:
    """A reference that is an option letter: ("B", option text or None) for "B", "(B)", "B.", "(B) 12", "B. 12"."""
    m = re.match(r"\A\(?([A-H])\)?[.:]?\Z|\A\(([A-H])\)[.:]?\s+(.+)\Z|\A([A-H])[.):]\s*(.+)\Z", gold, re.DOTALL)
    if m is None:
        return None
    if m.group(1):
        return m.group(1), None
    if m.group(2):
        return m.group(2), m.group(3)
    return m.group(4), m.group(5)


def _math_candidates(text: str) -> list[str]:
    text = _SQRT_PAREN_RE.sub(r"\\sqrt{\1}", text[-MAX_MATH_CHARS:])
    if any(d in text for d in _LATEX_DELIMS):
        return [text]
    if any(c in text for c in "\\^_{"):
        return [f"${text}$", text]  # bare LaTeX (\frac{1}{2}, 2^{99}) is read correctly only between delimiters
    return [text, f"${text}$"]


def math_parse(text: str, timeout: int | None = None) -> list:
    """math-verify's parse of an answer (LaTeX or plain), [] when nothing parses or on any error."""
    for candidate in _math_candidates(text):
        try:
            parsed = parse(candidate, extraction_config=_MATH_CONFIG, parsing_timeout=timeout)
        except (Exception, TimeoutException):
            parsed = []
        if parsed:
            return parsed
    return []


def _values_close(gold: list, pred: list) -> bool:
    """Our veto on math-verify: two numeric values must agree to REL_TOL relative (exact sympy values)."""
    import sympy

    a, b = gold[0], pred[0]
    if not (isinstance(a, sympy.Basic) and isinstance(b, sympy.Basic) and a.is_number and b.is_number):
        return True  # sets, equations, symbols: math-verify's structural comparison stands
    try:
        x, y = sympy.N(a, 50), sympy.N(b, 50)
        if not (x.is_real and y.is_real):
            return True
        return bool(abs(x - y) <= REL_TOL * max(abs(x), abs(y)))
    except (TypeError, ValueError, ArithmeticError):
        return True


def math_equal(gold: str, pred: str) -> bool:
    """math-verify equivalence of two answer strings, with our tiny-value check; False when either
    does not parse or on any error."""
    timeout = MATH_TIMEOUT_S if threading.current_thread() is threading.main_thread() else None
    gold_parsed = math_parse(gold, timeout)
    pred_parsed = math_parse(pred, timeout) if gold_parsed else []
    if not pred_parsed:
        return False
    try:
        return bool(verify(gold_parsed, pred_parsed, timeout_seconds=timeout)) and _values_close(
            gold_parsed, pred_parsed
        )
    except (Exception, TimeoutException):
        return False


def answers_match(text: str, gold: str, options: Sequence[str] | None = None, last_number: bool = False) -> bool:
    """Whether the answer in `text` matches the reference `gold`: an option letter (or that option's
    text), yes/no, math (math-verify plus our checks), else normalised text. A hedged answer never
    matches. `text` is read with `final_answer` (`last_number`: the rule judge's fallback for free text);
    `options` are the option texts in letter order, when the benchmark has them."""
    answers = ANSWER_RE.findall(str(gold))
    gold = (answers[-1] if answers else str(gold)).strip()
    text = str(text).strip()
    if not gold or not text:
        return False
    letter = _gold_letter(gold)
    if letter is not None:
        gold_letter, option_text = letter
        if option_text is None and options and LETTERS.index(gold_letter) < len(options):
            option_text = str(options[LETTERS.index(gold_letter)])
        pred_letter = choice_letter(text)
        if pred_letter is not None:
            return pred_letter == gold_letter
        pred = final_answer(text)
        if option_text is None or _hedged_letters(unwrap(text)) or value_count(pred) > value_count(option_text):
            return False
        return normalize_text(pred) == normalize_text(option_text) or (
            bool(_MATH_HINT_RE.search(option_text)) and math_equal(option_text, pred)
        )
    gold_norm = normalize_text(gold)
    if gold_norm in ("yes", "no"):
        return yes_no(final_answer(text)) == gold_norm
    pred = final_answer(text, last_number=last_number)
    if not pred or value_count(pred) > max(1, value_count(unwrap(gold))):
        return False
    if _MATH_HINT_RE.search(gold) and math_equal(unwrap(gold), pred):
        return True
    return bool(gold_norm) and normalize_text(pred) == gold_norm
