"""Expressions over ntuple columns: ``log(pt)``, ``sqrt(px**2 + py**2)``, ``(Q1 * Q2 < 0) &
(pt1 > 20)``, ``sum(Jet_pt)``, evaluated on NumPy or awkward (jagged) arrays.

An expression is Python syntax restricted to names, numbers, ``True``/``False``,
arithmetic, comparisons (a string only as one side of ``==`` or ``!=``), ``& | ^ ~``
(bitwise, or element-wise on true/false values), ``and or not`` (logical: on true/false
values only) and the functions of :data:`FUNCTIONS`, each with its number of arguments. It
is parsed once with :mod:`ast` (never ``eval``), so the names it reads are known before any
file is opened, and everything the text alone decides is checked then: its size and
nesting, the functions and their arguments, the strings, the constant arithmetic (folded,
with integers bounded to 64 bits, so ``2**2**40`` is refused rather than computed). What
depends on the data (a reduction of a flat branch, ``not`` of numbers) is checked when the
first chunk is evaluated. Every error is an :class:`ExpressionError` naming the expression.
NumPy's functions dispatch to awkward for jagged arrays; the reductions (``sum``, ``count``,
``max``, ...) reduce a jagged collection to one value per event. No evaluation changes the
arrays it reads: every function is called with exactly its own arguments (never ``out``).
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import awkward as ak
import numpy as np

#: The longest expression text (characters): longer ones belong in aliases.
MAX_LENGTH = 2000
#: The deepest nesting of an expression's syntax tree.
MAX_DEPTH = 64
#: The most nodes (names, numbers, operators, calls) in an expression's syntax tree.
MAX_NODES = 500
#: The largest magnitude of an integer constant (NumPy's 64-bit integers).
MAX_INTEGER = 2**63 - 1


class ExpressionError(ValueError):
    """An expression that does not parse or does not evaluate; the message names it."""


def _unary(function: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``function`` called with exactly one argument (a ufunc never receives ``out``)."""
    return lambda x: function(x)


def _binary(function: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    """``function`` called with exactly two arguments (a ufunc never receives ``out``)."""
    return lambda x, y: function(x, y)


def _is_boolean(value: Any) -> bool:
    """Whether ``value`` holds true/false values (a bool, or a NumPy or awkward array of
    them)."""
    if isinstance(value, bool | np.bool_):
        return True
    if isinstance(value, np.ndarray):
        return value.dtype == np.bool_
    if isinstance(value, ak.Array):
        return _leaf_dtype(value) == np.bool_
    return False


def _leaf_dtype(array: ak.Array) -> np.dtype | None:
    """The element type of an awkward array, through its lists and missing values
    (``None`` for strings and records)."""
    if _is_strings(array):
        return None
    return getattr(ak.flatten(array, axis=None).layout, "dtype", None)


def _is_jagged(value: Any) -> bool:
    """Whether ``value`` is a jagged array (a list of objects per event)."""
    return isinstance(value, ak.Array) and value.ndim >= 2


def _is_strings(value: Any) -> bool:
    """Whether ``value`` is a string or an awkward array of strings."""
    if isinstance(value, str):
        return True
    return isinstance(value, ak.Array) and value.layout.purelist_parameter("__array__") in (
        "string",
        "bytestring",
    )


def _type_name(value: Any) -> str:
    """A short name of ``value``'s element type, for messages."""
    if isinstance(value, ak.Array):
        dtype = _leaf_dtype(value)
        return str(dtype) if dtype is not None else str(ak.type(value)).split(" * ")[-1]
    return str(np.asarray(value).dtype)


def _where(condition: Any, a: Any, b: Any) -> Any:
    """Element-wise choice on a true/false condition; awkward's ``where`` also broadcasts
    jagged arrays."""
    if not _is_boolean(condition):
        raise ExpressionError(
            f"where needs a true/false condition (a comparison), not {_type_name(condition)}"
        )
    return ak.where(condition, a, b)


def _reduce(name: str, function: Callable[..., Any], boolean: bool = False) -> Callable[[Any], Any]:
    """A per-event reduction of a jagged array (the innermost axis); a flat (one per
    event) value is refused: reducing it would mix events (a chunk's total)."""

    def reduce(array: Any) -> Any:
        if not _is_jagged(array):
            raise ExpressionError(
                f"{name} reduces a jagged (per-object) branch to one value per event; "
                f"its argument is already one value per event ({_type_name(array)})"
            )
        if boolean and not _is_boolean(array):
            raise ExpressionError(
                f"{name} needs true/false values (a comparison), not {_type_name(array)}"
            )
        return function(array, axis=-1)

    return reduce


_UNARY_FUNCTIONS = (
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
    "sinh",
    "cosh",
    "tanh",
    "arcsinh",
    "arccosh",
    "arctanh",
    "sign",
    "floor",
    "ceil",
)
_BINARY_FUNCTIONS = ("arctan2", "hypot", "minimum", "maximum")
#: The per-event reductions of a jagged branch (refused on flat values).
REDUCTIONS = ("sum", "count", "max", "min", "any", "all")

#: The functions an expression may call.
FUNCTIONS: dict[str, Callable[..., Any]] = {
    **{name: _unary(getattr(np, name)) for name in _UNARY_FUNCTIONS},
    **{name: _binary(getattr(np, name)) for name in _BINARY_FUNCTIONS},
    "where": _where,
    "sum": _reduce("sum", ak.sum),
    "count": _reduce("count", ak.num),
    "max": _reduce("max", ak.max),
    "min": _reduce("min", ak.min),
    "any": _reduce("any", ak.any, boolean=True),
    "all": _reduce("all", ak.all, boolean=True),
}
#: How many arguments each function takes (checked when the expression is parsed).
ARITY: dict[str, int] = {
    **dict.fromkeys(_UNARY_FUNCTIONS, 1),
    **dict.fromkeys(_BINARY_FUNCTIONS, 2),
    "where": 3,
    **dict.fromkeys(REDUCTIONS, 1),
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
_BITWISE = (ast.BitAnd, ast.BitOr, ast.BitXor)
_UNARY: dict[type, Callable[[Any], Any]] = {
    ast.USub: operator.neg,
    ast.UAdd: operator.pos,
    ast.Invert: operator.invert,
}
_COMPARE: dict[type, Callable[[Any, Any], Any]] = {
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
}

_NUMBER, _BOOL, _STRING, _ANY = "number", "bool", "string", "any"


def _part(node: ast.AST) -> str:
    """A part of an expression as messages quote it (a long one shortened)."""
    return _shown(ast.unparse(node))


def _shown(text: str) -> str:
    """The expression as messages quote it (a long one shortened)."""
    if len(text) <= 80:
        return repr(text)
    return f"{text[:60]!r}... ({len(text)} characters)"


@dataclass(frozen=True)
class Expression:
    """A parsed expression: its text, its checked syntax tree (constant arithmetic folded)
    and the column names it reads."""

    text: str
    tree: ast.expr
    names: frozenset[str]

    def evaluate(self, columns: Mapping[str, Any]) -> Any:
        """The expression's value on ``columns`` (name -> array); ``ExpressionError``
        naming the expression when a name is missing or the arithmetic fails."""
        missing = sorted(self.names - set(columns))
        if missing:
            raise ExpressionError(
                f"expression {_shown(self.text)}: unknown name(s) {missing} "
                f"(available: {sorted(columns)})"
            )
        try:
            with np.errstate(all="ignore"):
                return _evaluate(self.tree, columns)
        except ExpressionError as error:
            raise ExpressionError(f"expression {_shown(self.text)}: {error}") from None
        except Exception as error:
            raise ExpressionError(
                f"expression {_shown(self.text)} does not evaluate: {type(error).__name__}: {error}"
            ) from error


def parse(text: str) -> Expression:
    """Parse and check ``text``; ``ExpressionError`` naming it for bad syntax, a size or
    nesting beyond the limits, or a construct, function, argument count, string or
    constant that is not allowed."""
    if not isinstance(text, str) or not text.strip():
        raise ExpressionError(f"expression {text!r}: empty")
    shown = _shown(text)
    if len(text) > MAX_LENGTH:
        raise ExpressionError(
            f"expression {shown}: too long (at most {MAX_LENGTH} characters); split it into aliases"
        )
    try:
        tree = ast.parse(text.strip(), mode="eval").body
    except SyntaxError as error:
        raise ExpressionError(f"expression {shown}: invalid syntax ({error.msg})") from None
    except (RecursionError, MemoryError):
        raise ExpressionError(
            f"expression {shown}: nested too deeply to parse (at most {MAX_DEPTH} levels); "
            "split it into aliases"
        ) from None
    except ValueError as error:  # null bytes, an integer literal of thousands of digits
        raise ExpressionError(f"expression {shown}: invalid syntax ({error})") from None
    depth, size = _measure(tree)
    if depth > MAX_DEPTH:
        raise ExpressionError(
            f"expression {shown}: nested too deeply ({depth} levels, at most {MAX_DEPTH}); "
            "split it into aliases"
        )
    if size > MAX_NODES:
        raise ExpressionError(
            f"expression {shown}: too large ({size} names, numbers and operations, at most "
            f"{MAX_NODES}); split it into aliases"
        )
    names: set[str] = set()
    try:
        checked, _ = _check(tree, names)
    except ExpressionError as error:
        raise ExpressionError(f"expression {shown}: {error}") from None
    return Expression(text, checked, frozenset(names))


def _measure(tree: ast.AST) -> tuple[int, int]:
    """The depth and the number of nodes of a syntax tree (iteratively: no recursion)."""
    depth, size, stack = 0, 0, [(tree, 1)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, ast.expr_context | ast.operator | ast.unaryop | ast.cmpop):
            continue
        if isinstance(node, ast.boolop):
            continue
        depth, size = max(depth, level), size + 1
        stack.extend((child, level + 1) for child in ast.iter_child_nodes(node))
    return depth, size


def _check(node: ast.expr, names: set[str]) -> tuple[ast.expr, str]:
    """A checked node (constant arithmetic folded) and what it gives: a number, true/false,
    a string, or unknown until evaluated (a column, a bitwise operation on columns)."""
    if isinstance(node, ast.Constant):
        value = node.value
        if isinstance(value, bool):
            return node, _BOOL
        if isinstance(value, int | float):
            _bounded(value, node)
            return node, _NUMBER
        if isinstance(value, str):
            return node, _STRING
        raise ExpressionError(
            f"the constant {ast.unparse(node)[:60]} is not allowed "
            "(numbers, True, False, and strings compared with == or !=)"
        )
    if isinstance(node, ast.Name):
        names.add(node.id)
        return node, _ANY
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        (left, lkind), (right, rkind) = _check(node.left, names), _check(node.right, names)
        _no_string(node, left, lkind)
        _no_string(node, right, rkind)
        out = ast.BinOp(left, node.op, right)
        if isinstance(left, ast.Constant) and isinstance(right, ast.Constant):
            folded = _fold(node, out)
            return folded, _kind_of_constant(folded)
        if isinstance(node.op, _BITWISE):
            return out, _BOOL if lkind == rkind == _BOOL else _ANY
        if isinstance(node.op, ast.Div) or _NUMBER in (lkind, rkind):
            return out, _NUMBER
        return out, _ANY  # NumPy's arithmetic of true/false values can be true/false
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        operand, kind = _check(node.operand, names)
        _logical(node, "not", node.operand, kind)
        return ast.UnaryOp(node.op, operand), _BOOL
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        operand, kind = _check(node.operand, names)
        _no_string(node, operand, kind)
        out = ast.UnaryOp(node.op, operand)
        if isinstance(operand, ast.Constant) and not isinstance(operand.value, bool):
            folded = _fold(node, out)
            return folded, _kind_of_constant(folded)
        return out, (kind if isinstance(node.op, ast.Invert) else _NUMBER)
    if isinstance(node, ast.BoolOp):
        word = "and" if isinstance(node.op, ast.And) else "or"
        values = []
        for value in node.values:
            checked, kind = _check(value, names)
            _logical(node, word, value, kind)
            values.append(checked)
        return ast.BoolOp(node.op, values), _BOOL
    if isinstance(node, ast.Compare) and all(type(op) in _COMPARE for op in node.ops):
        operands = [_check(n, names) for n in (node.left, *node.comparators)]
        for i, op in enumerate(node.ops):
            (left, lkind), (right, rkind) = operands[i], operands[i + 1]
            if _STRING in (lkind, rkind) and not isinstance(op, ast.Eq | ast.NotEq):
                raise ExpressionError(
                    f"a string may only be compared with == or != (in {_part(node)})"
                )
            if lkind == rkind == _STRING:
                raise ExpressionError(
                    f"compares two strings ({_part(node)}): compare a column with one"
                )
        return ast.Compare(operands[0][0], node.ops, [n for n, _ in operands[1:]]), _BOOL
    if isinstance(node, ast.Call):
        return _check_call(node, names)
    raise ExpressionError(
        f"{type(node).__name__} is not allowed "
        "(names, numbers, strings, arithmetic, comparisons, & | ~, and or not, and functions)"
    )


def _check_call(node: ast.Call, names: set[str]) -> tuple[ast.expr, str]:
    """A checked function call: a known function, no keywords, its number of arguments,
    and arguments it can take."""
    if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
        raise ExpressionError(f"unknown function {_part(node.func)} (allowed: {sorted(FUNCTIONS)})")
    name = node.func.id
    if node.keywords or any(isinstance(a, ast.Starred) for a in node.args):
        raise ExpressionError(f"{name}: keyword and starred arguments are not allowed")
    if len(node.args) != ARITY[name]:
        wanted = ARITY[name]
        raise ExpressionError(
            f"{name} takes {wanted} argument{'s' if wanted > 1 else ''}, "
            f"got {len(node.args)} (in {_part(node)})"
        )
    args = [_check(a, names) for a in node.args]
    for arg, kind in args:
        _no_string(node, arg, kind)
    if name == "where" and args[0][1] == _NUMBER:
        raise ExpressionError(
            f"where needs a true/false condition (a comparison), not the number {_part(args[0][0])}"
        )
    if name in REDUCTIONS:
        arg = args[0][0]
        if _is_flat(arg):
            raise ExpressionError(
                f"{name} reduces a jagged (per-object) branch to one value per event; "
                f"{_part(node.args[0])} is already one value per event"
            )
        if name in ("any", "all") and args[0][1] == _NUMBER:
            raise ExpressionError(f"{name} needs true/false values (a comparison), not numbers")
    call = ast.Call(node.func, [a for a, _ in args], [])
    if name in ("any", "all"):
        return call, _BOOL
    if name == "where":
        kinds = {args[1][1], args[2][1]}
        return call, kinds.pop() if len(kinds) == 1 else _ANY
    return call, _NUMBER


def _is_flat(node: ast.expr) -> bool:
    """Whether the text alone says ``node`` is one value per event (a constant, a
    reduction, or arithmetic of those)."""
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        if node.func.id in REDUCTIONS:
            return True
        return all(_is_flat(a) for a in node.args)
    if isinstance(node, ast.BinOp):
        return _is_flat(node.left) and _is_flat(node.right)
    if isinstance(node, ast.UnaryOp):
        return _is_flat(node.operand)
    if isinstance(node, ast.BoolOp):
        return all(_is_flat(v) for v in node.values)
    if isinstance(node, ast.Compare):
        return all(_is_flat(n) for n in (node.left, *node.comparators))
    return False


def _no_string(node: ast.expr, operand: ast.expr, kind: str) -> None:
    """Refuse a string anywhere but in a comparison (``'a' * 10**10`` builds 10 GB)."""
    if kind == _STRING:
        string = _shown(getattr(operand, "value", ""))
        raise ExpressionError(
            f"the string {string} may only be compared with == or != "
            f'(e.g. Type == "GG"), not used in {_part(node)}'
        )


def _logical(node: ast.expr, word: str, operand: ast.expr, kind: str) -> None:
    """Refuse ``not``, ``and``, ``or`` on what the text says is a number or a string."""
    if kind in (_NUMBER, _STRING):
        raise ExpressionError(
            f"'{word}' needs true/false values (comparisons), not the {kind} {_part(operand)}"
        )


def _bounded(value: Any, node: ast.expr) -> None:
    """Refuse an integer constant beyond 64 bits (NumPy cannot hold it)."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INTEGER:
        raise ExpressionError(
            f"the integer constant {_part(node)} is beyond 64 bits "
            f"(|value| > 2**63 - 1); write it as a float (e.g. 1e30)"
        )


def _kind_of_constant(node: ast.expr) -> str:
    """What a folded constant gives."""
    value = node.value if isinstance(node, ast.Constant) else None
    return _BOOL if isinstance(value, bool | np.bool_) else _NUMBER


def _fold(original: ast.expr, node: ast.BinOp | ast.UnaryOp) -> ast.Constant:
    """The value of arithmetic on constants, computed once as evaluation would and bounded:
    a power is refused before it is computed when its integer result would pass 64 bits
    (``2**2**40``)."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
        left, right = node.left.value, node.right.value  # type: ignore[attr-defined]
        if (
            isinstance(left, int)
            and isinstance(right, int)
            and right > 0
            and abs(left) > 1
            and right * math.log2(abs(left)) > 63
        ):
            raise ExpressionError(
                f"the constant power {_part(original)} is beyond 64 bits "
                "(not computed); write it as a float (e.g. 1e30)"
            )
    try:
        with np.errstate(all="ignore"):
            value = _evaluate(node, {})
    except Exception as error:
        raise ExpressionError(
            f"the constant part {_part(original)} does not evaluate: "
            f"{type(error).__name__}: {error}"
        ) from None
    if isinstance(value, complex):
        raise ExpressionError(f"the constant part {_part(original)} is complex")
    _bounded(value, original)
    return ast.Constant(value)


def _evaluate(node: ast.expr, columns: Mapping[str, Any]) -> Any:
    """Evaluate one checked syntax-tree node."""
    if isinstance(node, ast.Constant):
        return np.bool_(node.value) if isinstance(node.value, bool) else node.value
    if isinstance(node, ast.Name):
        return columns[node.id]
    if isinstance(node, ast.BinOp):
        return _BINARY[type(node.op)](_evaluate(node.left, columns), _evaluate(node.right, columns))
    if isinstance(node, ast.UnaryOp):
        value = _evaluate(node.operand, columns)
        if isinstance(node.op, ast.Not):
            return np.logical_not(_truth(value, "not"))
        return _UNARY[type(node.op)](value)
    if isinstance(node, ast.BoolOp):
        word = "and" if isinstance(node.op, ast.And) else "or"
        combine = np.logical_and if word == "and" else np.logical_or
        result = _truth(_evaluate(node.values[0], columns), word)
        for value in node.values[1:]:
            result = combine(result, _truth(_evaluate(value, columns), word))
        return result
    if isinstance(node, ast.Compare):
        left, result = _evaluate(node.left, columns), None
        for op, right_node in zip(node.ops, node.comparators, strict=True):
            right = _evaluate(right_node, columns)
            if _is_strings(left) != _is_strings(right):
                other = left if _is_strings(right) else right
                raise ExpressionError(
                    f"compares {_type_name(other)} values with a string (in {_part(node)})"
                )
            part = _COMPARE[type(op)](left, right)
            result = part if result is None else np.logical_and(result, part)
            left = right
        return result
    if isinstance(node, ast.Call):
        function = FUNCTIONS[node.func.id]  # type: ignore[attr-defined]
        return function(*(_evaluate(a, columns) for a in node.args))
    raise ExpressionError(f"{type(node).__name__} is not allowed")


def _truth(value: Any, word: str) -> Any:
    """``value`` if it holds true/false values; ``not``, ``and`` and ``or`` of numbers
    would be bitwise (``not 1`` is -2), so they are refused."""
    if not _is_boolean(value):
        raise ExpressionError(
            f"'{word}' needs true/false values (comparisons), not {_type_name(value)}"
        )
    return value


def to_numpy(value: Any, n: int, what: str) -> np.ndarray:
    """A flat NumPy array of length ``n`` from an evaluated expression (a scalar is
    broadcast); ``ExpressionError`` naming ``what`` if the value is still jagged, has
    missing values or is not numbers."""
    if isinstance(value, str):
        raise ExpressionError(f"{what} gives a string, not numbers")
    if np.isscalar(value):
        return np.full(n, value)
    if isinstance(value, ak.Array):
        if value.ndim != 1:
            raise ExpressionError(
                f"{what} gives a jagged (per-object) value; reduce it to one per event "
                "(sum, count, max, min, any, all) or flatten it with a collection rule"
            )
        if _is_strings(value):
            raise ExpressionError(f"{what} gives strings, not numbers")
        missing = int(ak.sum(ak.is_none(value)))
        if missing:
            raise ExpressionError(
                f"{what} has no value for {missing} event(s) (max or min of an empty "
                "collection?); guard it, e.g. where(count(x) > 0, max(x), 0)"
            )
        try:
            value = ak.to_numpy(value, allow_missing=False)
        except Exception as error:
            raise ExpressionError(
                f"{what} gives {_type_name(value)} values, not numbers ({error})"
            ) from None
    array = np.asarray(value)
    if array.shape != (n,):
        raise ExpressionError(f"{what} gives shape {array.shape}, expected ({n},)")
    if array.dtype.kind not in "biuf":
        raise ExpressionError(f"{what} gives {array.dtype} values, not numbers")
    return array
