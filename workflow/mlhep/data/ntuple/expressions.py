"""Expressions over ntuple columns: ``log(pt)``, ``sqrt(px**2 + py**2)``, ``(Q1 * Q2 < 0) &
(pt1 > 20)``, ``sum(Jet_pt)``, evaluated on NumPy or awkward (jagged) arrays.

An expression is Python syntax restricted to names, numbers, strings, arithmetic,
comparisons, ``& | ~`` (and ``and or not``, read as the element-wise operators) and the
functions of :data:`FUNCTIONS`. It is parsed once with :mod:`ast` (never ``eval``), so the
names it reads are known before any file is opened and every error names the expression.
NumPy's functions dispatch to awkward for jagged arrays; the reductions (``sum``, ``count``,
``max``, ...) reduce a jagged collection to one value per event.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import awkward as ak
import numpy as np


class ExpressionError(ValueError):
    """An expression that does not parse or does not evaluate; the message names it."""


def _reduce(function: Callable[..., Any]) -> Callable[[Any], Any]:
    """A per-event reduction of a jagged array (the innermost axis)."""
    return lambda array: function(array, axis=-1)


def _where(condition: Any, a: Any, b: Any) -> Any:
    """Element-wise choice; awkward's ``where`` also broadcasts jagged arrays."""
    return ak.where(condition, a, b)


#: The functions an expression may call.
FUNCTIONS: dict[str, Callable[..., Any]] = {
    **{
        name: getattr(np, name)
        for name in (
            "abs",
            "sqrt",
            "exp",
            "log",
            "log10",
            "log1p",
            "sin",
            "cos",
            "tan",
            "arcsin",
            "arccos",
            "arctan",
            "arctan2",
            "sinh",
            "cosh",
            "tanh",
            "arcsinh",
            "arccosh",
            "arctanh",
            "hypot",
            "minimum",
            "maximum",
            "sign",
            "floor",
            "ceil",
        )
    },
    "where": _where,
    "sum": _reduce(ak.sum),
    "count": _reduce(ak.num),
    "max": _reduce(ak.max),
    "min": _reduce(ak.min),
    "any": _reduce(ak.any),
    "all": _reduce(ak.all),
}

_BINARY: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
    ast.BitAnd: operator.and_,
    ast.BitOr: operator.or_,
    ast.BitXor: operator.xor,
}
_UNARY: dict[type, Callable[[Any], Any]] = {
    ast.USub: operator.neg,
    ast.UAdd: operator.pos,
    ast.Invert: operator.invert,
    ast.Not: operator.invert,
}
_COMPARE: dict[type, Callable[[Any, Any], Any]] = {
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
}


@dataclass(frozen=True)
class Expression:
    """A parsed expression: its text, its syntax tree and the column names it reads."""

    text: str
    tree: ast.expr
    names: frozenset[str]

    def evaluate(self, columns: Mapping[str, Any]) -> Any:
        """The expression's value on ``columns`` (name -> array); ``ExpressionError``
        naming the expression when a name is missing or the arithmetic fails."""
        missing = sorted(self.names - set(columns))
        if missing:
            raise ExpressionError(
                f"expression {self.text!r}: unknown name(s) {missing} "
                f"(available: {sorted(columns)})"
            )
        try:
            with np.errstate(all="ignore"):
                return _evaluate(self.tree, columns)
        except ExpressionError:
            raise
        except Exception as error:
            raise ExpressionError(
                f"expression {self.text!r} does not evaluate: {type(error).__name__}: {error}"
            ) from error


def parse(text: str) -> Expression:
    """Parse ``text``; ``ExpressionError`` naming it for bad syntax or a construct or
    function that is not allowed."""
    if not isinstance(text, str) or not text.strip():
        raise ExpressionError(f"expression {text!r}: empty")
    try:
        tree = ast.parse(text.strip(), mode="eval").body
    except SyntaxError as error:
        raise ExpressionError(f"expression {text!r}: invalid syntax ({error.msg})") from None
    names: set[str] = set()
    functions = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
                called = ast.unparse(node.func)
                raise ExpressionError(
                    f"expression {text!r}: unknown function {called!r} "
                    f"(allowed: {sorted(FUNCTIONS)})"
                )
            if node.keywords:
                raise ExpressionError(f"expression {text!r}: keyword arguments are not allowed")
        elif isinstance(node, ast.Name):
            if id(node) not in functions:
                names.add(node.id)
        elif not isinstance(node, _ALLOWED_NODES):
            raise ExpressionError(
                f"expression {text!r}: {type(node).__name__} is not allowed "
                "(names, numbers, strings, arithmetic, comparisons, & | ~ and functions)"
            )
    return Expression(text, tree, frozenset(names))


_ALLOWED_NODES = (
    ast.Constant,
    ast.BinOp,
    ast.UnaryOp,
    ast.BoolOp,
    ast.Compare,
    ast.Load,
    *_BINARY,
    *_UNARY,
    *_COMPARE,
    ast.And,
    ast.Or,
)


def _evaluate(node: ast.expr, columns: Mapping[str, Any]) -> Any:
    """Evaluate one (checked) syntax-tree node."""
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool | int | float | str):
            return node.value
        raise ExpressionError(f"constant {node.value!r} is not a number or a string")
    if isinstance(node, ast.Name):
        return columns[node.id]
    if isinstance(node, ast.BinOp):
        return _BINARY[type(node.op)](_evaluate(node.left, columns), _evaluate(node.right, columns))
    if isinstance(node, ast.UnaryOp):
        return _UNARY[type(node.op)](_evaluate(node.operand, columns))
    if isinstance(node, ast.BoolOp):
        combine = operator.and_ if isinstance(node.op, ast.And) else operator.or_
        values = [_evaluate(v, columns) for v in node.values]
        result = values[0]
        for value in values[1:]:
            result = combine(result, value)
        return result
    if isinstance(node, ast.Compare):
        left, result = _evaluate(node.left, columns), None
        for op, right_node in zip(node.ops, node.comparators, strict=True):
            right = _evaluate(right_node, columns)
            part = _COMPARE[type(op)](left, right)
            result = part if result is None else result & part
            left = right
        return result
    if isinstance(node, ast.Call):
        function = FUNCTIONS[node.func.id]  # type: ignore[attr-defined]
        return function(*(_evaluate(a, columns) for a in node.args))
    raise ExpressionError(f"{type(node).__name__} is not allowed")


def to_numpy(value: Any, n: int, what: str) -> np.ndarray:
    """A flat NumPy array of length ``n`` from an evaluated expression (a scalar is
    broadcast); ``ExpressionError`` naming ``what`` if the value is still jagged."""
    if np.isscalar(value):
        return np.full(n, value)
    if isinstance(value, ak.Array):
        if value.ndim != 1:
            raise ExpressionError(
                f"{what} gives a jagged (per-object) value; reduce it to one per event "
                "(sum, count, max, min, any, all) or flatten it with a collection rule"
            )
        value = ak.to_numpy(value)
    array = np.asarray(value)
    if array.shape != (n,):
        raise ExpressionError(f"{what} gives shape {array.shape}, expected ({n},)")
    return array
