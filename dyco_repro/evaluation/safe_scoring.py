"""VLMEvalKit's scoring without executing model or dataset text.

Checked against ms-vlmeval 0.0.20 (and latex2sympy2-extended 1.11.0, math-verify 0.9.0). What our seven
benchmarks reach that runs text as Python, and what replaces it (`install`, called by
`dyco_repro.compat.import_vlmeval_datasets`, the one place VLMEvalKit is imported):

* ``vlmeval.dataset.utils.mathv.is_equal`` (MathVision, and Synth_Math, which uses the MathVision class):
  ``eval(prediction)`` and ``eval(str(latex2sympy(prediction)))`` before any judge is asked (the
  "prefetch"), so ``__import__('os').system(...) or 3`` ran a command and scored as 3. Replaced by
  `is_equal`: the same three steps (lower-cased string equality; plain arithmetic, now read by an AST
  walker that allows only numbers and + - * / ** %; latex2sympy, now compared as sympy values, never as
  ``eval(str(...))``) with VLMEvalKit's absolute tolerance 1e-6 and 30 s timeout.
* ``mathv.post_check``: ``eval(line['choices'])`` on the TSV's option list: `post_check` reads it with
  ``ast.literal_eval``; everything else as upstream (``can_infer`` for options, `is_equal` otherwise).
* ``vlmeval.smp.misc.istype`` / ``toliststr`` (every dataset: ``index`` and ``image_path`` TSV cells):
  ``eval(cell)``; replaced by literal readers with the same results for literals.

Functions are replaced wherever VLMEvalKit's modules hold a reference to them (``from ..smp import *``
copies them into many modules), so no module keeps the executing version.
"""

from __future__ import annotations

import ast
import math
import operator
import sys
from typing import Any

MAX_TEXT = 2000  # longer "numbers" are not numbers: never handed to the parsers
MAX_EXPONENT = 1000
_BINARY = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Pow: operator.pow,
    ast.Mod: operator.mod,
    ast.FloorDiv: operator.floordiv,
}
_UNARY = {ast.UAdd: operator.pos, ast.USub: operator.neg}


def arithmetic(text: str) -> float | None:
    """The value of a plain arithmetic expression ("1/2", "-3.5", "2**3"), or None for anything else.

    Only number literals and + - * / ** % // are read (an AST walk, nothing is executed); huge powers
    and non-finite results give None."""
    if not isinstance(text, str) or len(text) > MAX_TEXT:
        return None
    try:
        tree = ast.parse(text.strip(), mode="eval")
        value = _arith(tree.body)
    except (SyntaxError, ValueError, TypeError, ArithmeticError, RecursionError, MemoryError):
        return None
    if isinstance(value, complex) or not math.isfinite(value):
        return None
    return float(value)


def _arith(node: ast.AST) -> float:
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return node.value
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_arith(node.operand))
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _arith(node.left), _arith(node.right)
        if isinstance(node.op, ast.Pow) and (abs(right) > MAX_EXPONENT or abs(left) > 10**MAX_EXPONENT):
            raise ValueError("power too large")
        return _BINARY[type(node.op)](left, right)
    raise ValueError(f"not arithmetic: {type(node).__name__}")


def _latex_value(text: str):
    from latex2sympy2_extended import latex2sympy

    return latex2sympy(text)


def _is_equal(asw: str, gt_asw: str) -> bool:
    asw = str(asw).lower().strip()
    gt_asw = str(gt_asw).lower().strip()
    if gt_asw == asw:
        return True
    a, b = arithmetic(gt_asw), arithmetic(asw)
    if a is not None and b is not None and abs(a - b) < 1e-6:
        return True
    if len(asw) > MAX_TEXT or len(gt_asw) > MAX_TEXT:
        return False
    try:
        import sympy

        a, b = _latex_value(gt_asw), _latex_value(asw)
        difference = sympy.N(a - b)
        return bool(difference.is_number and abs(difference) < 1e-6)
    except Exception:  # noqa: BLE001 - unparsable LaTeX is "not equal", as upstream
        return False


def _with_timeout(fn):
    """VLMEvalKit's own guard on is_equal: 30 s, in a child process (no signals: any thread)."""
    import timeout_decorator

    return timeout_decorator.timeout(30, use_signals=False)(fn)


is_equal = _with_timeout(_is_equal)


def literal(text: Any) -> Any:
    """A Python literal from a TSV cell (``ast.literal_eval``); raises ValueError for anything else."""
    try:
        return ast.literal_eval(text if isinstance(text, str) else str(text))
    except (SyntaxError, TypeError, MemoryError, RecursionError) as err:
        raise ValueError(f"not a literal: {str(text)[:80]!r}") from err


def post_check(line, prefetch: bool = False):
    """VLMEvalKit 0.0.20's ``mathv.post_check`` with the option list read as a literal and `is_equal`."""
    from vlmeval.dataset.utils import mathv

    res = None
    ans = line["answer"]
    response = line["prediction"] if prefetch else line["res"]
    try:
        choices = literal(line["choices"])
        if len(choices) > 0:
            res = mathv.can_infer(response, mathv.list_to_dict(choices))
            if prefetch:
                return res
        else:
            res, ans = str(response), str(ans)
    except ValueError:
        pass
    try:
        if mathv.is_equal(res, ans):
            return res if prefetch else True
        return False
    except Exception as err:  # noqa: BLE001 - a timeout or parser failure is "not equal", as upstream
        mathv.logger.warning(f"{type(err)}: {err}")
        return False


def istype(s: Any, kind: type) -> bool:
    """``vlmeval.smp.misc.istype`` reading the string as a literal, never executing it."""
    if isinstance(s, kind):
        return True
    try:
        return isinstance(literal(s), kind)
    except ValueError:
        return False


def toliststr(s: Any) -> list[str]:
    """``vlmeval.smp.misc.toliststr`` reading "[...]" as a literal, never executing it."""
    if isinstance(s, str) and s[:1] == "[" and s[-1:] == "]":
        return [str(x) for x in literal(s)]
    if isinstance(s, str):
        return [s]
    if isinstance(s, list):
        return [str(x) for x in s]
    raise NotImplementedError(f"toliststr: {type(s).__name__}")


def _replace_everywhere(original: Any, replacement: Any) -> int:
    """Point every `vlmeval` module attribute holding `original` at `replacement`; returns how many."""
    count = 0
    for name, module in list(sys.modules.items()):
        if not (name == "vlmeval" or name.startswith("vlmeval.")) or module is None:
            continue
        for attr, value in list(vars(module).items()):
            if value is original:
                setattr(module, attr, replacement)
                count += 1
    return count


def install() -> None:
    """Replace VLMEvalKit's executing functions (see the module docstring). Idempotent."""
    import vlmeval.smp.misc as misc
    from vlmeval.dataset.utils import mathv

    for module, name, replacement in (
        (mathv, "is_equal", is_equal),
        (mathv, "post_check", post_check),
        (misc, "istype", istype),
        (misc, "toliststr", toliststr),
    ):
        original = getattr(module, name)
        if original is not replacement:
            _replace_everywhere(original, replacement)
