"""The ``root`` kind's expressions cannot corrupt, hang or crash: each attack of issue 27 is
refused with an ``ExpressionError`` naming the expression, and random expressions over flat
and jagged branches (hypothesis) either give what plain NumPy and awkward give or are
refused, quickly, and never change the arrays they read."""

from __future__ import annotations

import copy
import math
import operator
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import awkward as ak
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlhep.data.ntuple.expressions import ARITY, MAX_DEPTH, ExpressionError, parse, to_numpy

# ---------------------------------------------------------------- the attacks


def _columns() -> dict[str, Any]:
    """Flat NumPy branches of two events."""
    return {
        "pt1": np.array([10.0, 20.0]),
        "eta1": np.array([0.5, -1.0]),
        "x": np.array([1.0, 4.0]),
        "y": np.array([2.0, 3.0]),
        "Q1": np.array([1, -1]),
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # 1. an extra argument of a ufunc was its `out`: the column eta1 was overwritten
        ("log(pt1, eta1)", "expression 'log(pt1, eta1)': log takes 1 argument, got 2"),
        ("sqrt(x, y)", "sqrt takes 1 argument, got 2"),
        ("abs(x, y)", "abs takes 1 argument, got 2"),
        ("hypot(x, x, y)", "hypot takes 2 arguments, got 3"),
        ("minimum(x, y, pt1)", "minimum takes 2 arguments, got 3"),
        ("where(Q1 < 0, x)", "where takes 3 arguments, got 2"),
        ("sum()", "sum takes 1 argument, got 0"),
        ("log(*x)", "log: keyword and starred arguments are not allowed"),
        # 2. constants that hang or exhaust memory, refused before anything is computed
        ("2**2**40", "the constant power '2 ** 2 ** 40' is beyond 64 bits (not computed)"),
        ("x * 10**10**9", "the constant power '10 ** 10 ** 9' is beyond 64 bits"),
        ("'a'*10**10", "the string 'a' may only be compared with == or !="),
        ("'%01000000000d' % 1", "the string '%01000000000d' may only be compared"),
        ("x * 10**19", "the constant power '10 ** 19' is beyond 64 bits"),
        ("x + 99999999999999999999", "the integer constant '99999999999999999999' is beyond"),
        ("x + 1 / 0", "the constant part '1 / 0' does not evaluate: ZeroDivisionError"),
        ("x * (-8) ** 0.5", "the constant part '(-8) ** 0.5' is complex"),
        # 3. nesting: RecursionError or MemoryError in the parser before
        ("+".join(["x"] * 3000), "(5999 characters): too long (at most 2000 characters)"),
        ("-" * 5000 + "x", "too long (at most 2000 characters); split it into aliases"),
        ("-" * 100000 + "x", "too long (at most 2000 characters)"),
        ("**".join(["x"] * 5000), "too long (at most 2000 characters)"),
        ("+".join(["x"] * 500), f"nested too deeply (500 levels, at most {MAX_DEPTH})"),
        ("-" * 1999 + "x", "nested too deeply (2000 levels"),
        ("(" * 300 + "x" + ")" * 300, "invalid syntax (too many nested parentheses)"),
        ("x\x00", "invalid syntax (source code string cannot contain null bytes)"),
        # 4. `not`, `and`, `or` were bitwise on numbers (`not 1` gave -2)
        ("not 1", "'not' needs true/false values (comparisons), not the number '1'"),
        ("1 and 2", "'and' needs true/false values (comparisons), not the number '1'"),
        ("(x > 1) or pt1 * 2", "'or' needs true/false values (comparisons), not the number"),
        ("where(pt1 - 1, x, y)", "where needs a true/false condition (a comparison), not the"),
        ("sum(count(j))", "sum reduces a jagged (per-object) branch to one value per event; "),
        ("max(2)", "'2' is already one value per event"),
        ("any(j + 1)", "any needs true/false values (a comparison), not numbers"),
        ("Type < 'GG'", "a string may only be compared with == or !="),
        ("'GG' == 'GT'", "compares two strings"),
        ("b'GG' == Type", "the constant b'GG' is not allowed"),
        ("1j * x", "the constant 1j is not allowed"),
    ],
)
def test_attacks_are_refused_when_parsed(text: str, message: str) -> None:
    with pytest.raises(ExpressionError) as info:
        parse(text)
    assert str(info.value).startswith("expression ")
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # reductions of a flat branch gave the chunk's total to every event
        ("sum(pt1)", "expression 'sum(pt1)': sum reduces a jagged (per-object) branch to one "),
        ("max(pt1)", "its argument is already one value per event (float64)"),
        ("not x", "expression 'not x': 'not' needs true/false values (comparisons), not float64"),
        ("Q1 and (x > 1)", "'and' needs true/false values (comparisons), not int64"),
        ("where(Q1, x, y)", "where needs a true/false condition (a comparison), not int64"),
        ("x == 'GG'", "compares float64 values with a string (in \"x == 'GG'\")"),
        ("any(j)", "any needs true/false values (a comparison), not float64"),
    ],
)
def test_what_the_data_decides_is_refused_when_evaluated(text: str, message: str) -> None:
    columns = {**_columns(), "j": ak.Array([[1.0], []])}
    with pytest.raises(ExpressionError, match=".*".join(map(_escape, message.split("(")))):
        parse(text).evaluate(columns)


def _escape(text: str) -> str:
    """A message part as a regular expression."""
    import re

    return re.escape(text)


def test_no_expression_changes_its_inputs_and_logic_is_logical() -> None:
    columns = _columns()
    before = copy.deepcopy(columns)
    for text in ("hypot(x, y)", "minimum(x, y) + maximum(eta1, pt1)", "arctan2(y, x)"):
        parse(text).evaluate(columns)
    for name, values in before.items():
        np.testing.assert_array_equal(columns[name], values)
    assert parse("not True").evaluate({}) is np.False_  # was -2
    assert parse("not (x > 1)").evaluate(columns).tolist() == [True, False]
    assert parse("(x > 1) and (y > 2)").evaluate(columns).tolist() == [False, True]
    assert parse("(x > 1) or (y > 2)").evaluate(columns).tolist() == [False, True]
    strings = {"Type": ak.Array(["GG", "GT"])}
    assert parse("Type == 'GG'").evaluate(strings).tolist() == [True, False]


def test_one_value_per_event_refuses_missing_values_and_strings() -> None:
    jets = {"j": ak.Array([[1.0, 3.0], [], [2.0]])}
    value = parse("max(j)").evaluate(jets)
    with pytest.raises(ExpressionError, match=r"has no value for 1 event\(s\)"):
        to_numpy(value, 3, "expression 'max(j)'")
    guarded = parse("where(count(j) > 0, max(j), 0)").evaluate(jets)
    assert to_numpy(guarded, 3, "guarded").tolist() == [3.0, 0.0, 2.0]
    with pytest.raises(ExpressionError, match="gives strings, not numbers"):
        to_numpy(ak.Array(["GG", "GT"]), 2, "expression 'Type'")


# ---------------------------------------------------------------- property: random expressions

#: Flat and jagged branches of five events (an empty collection, NaN-free, zeros included).
BRANCHES: dict[str, Any] = {
    "a": np.array([1.5, -2.0, 0.0, 4.0, 0.25]),
    "b": np.array([2.0, 0.5, -1.0, 0.0, 3.0]),
    "q": np.array([1, -1, 0, 2, -3], dtype=np.int64),
    "j": ak.Array([[1.0, 2.5], [], [-1.0], [0.0, 3.0, 4.0], [2.0]]),
    "k": ak.Array([[3, 1], [], [2], [0, 5, 1], [7]]),
    "s": ak.Array(["GG", "GT", "TT", "GG", "TG"]),
}
FLAT, JAGGED = ("a", "b", "q"), ("j", "k")


class Refused(Exception):
    """The reference interpreter says the expression must be refused."""


@dataclass(frozen=True)
class Node:
    """A generated expression: its text and its reference value (plain NumPy and awkward
    applied directly; ``Refused`` where the expression must be refused)."""

    text: str
    value: Callable[[dict[str, Any]], Any]


def _leaf_dtype(value: Any) -> np.dtype:
    """The element type of a value (scalar, NumPy or awkward array)."""
    if isinstance(value, ak.Array):
        return np.asarray(ak.flatten(value, axis=None)).dtype
    return np.asarray(value).dtype


def _boolean(value: Any) -> Any:
    """``value`` if true/false, else ``Refused`` (logic of numbers is not logic)."""
    if isinstance(value, str) or _leaf_dtype(value) != np.bool_:
        raise Refused
    return value


def _number(value: Any) -> Any:
    """``value`` unless a string (strings only in comparisons)."""
    if isinstance(value, str):
        raise Refused
    return value


def _jagged(value: Any) -> Any:
    """``value`` if a jagged array, else ``Refused`` (a reduction of a flat value)."""
    if not (isinstance(value, ak.Array) and value.ndim >= 2):
        raise Refused
    return value


def _arithmetic(op: Callable[[Any, Any], Any], left: Any, right: Any, power: bool) -> Any:
    """``op`` on two values; integer constants stay within 64 bits (Python's integers would
    grow without bound: ``2**2**40``)."""
    left, right = _number(left), _number(right)
    python = type(left) is int and type(right) is int
    if python and power and right > 0 and abs(left) > 1 and right * math.log2(abs(left)) > 63:
        raise Refused
    result = op(left, right)
    if type(result) is int and abs(result) > 2**63 - 1:
        raise Refused
    if isinstance(result, complex):
        raise Refused
    return result


BINARY = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
    "//": operator.floordiv,
    "%": operator.mod,
    "**": operator.pow,
    "&": operator.and_,
    "|": operator.or_,
    "^": operator.xor,
}
COMPARE = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}
NUMPY_FUNCTIONS = [
    f for f, n in ARITY.items() if f not in ("where", "sum", "count", "max", "min", "any", "all")
]
REDUCE = {
    "sum": ak.sum,
    "count": ak.num,
    "max": ak.max,
    "min": ak.min,
    "any": ak.any,
    "all": ak.all,
}


def _constant(value: Any) -> Node:
    """A number or truth constant."""
    text = f"({value!r})" if isinstance(value, int | float) and value < 0 else repr(value)
    return Node(text, lambda _c: np.bool_(value) if isinstance(value, bool) else value)


leaves = st.one_of(
    st.sampled_from([*FLAT, *JAGGED]).map(lambda n: Node(n, lambda c, n=n: c[n])),
    st.integers(-3, 9).map(_constant),
    st.sampled_from([0.0, 0.5, 2.0, -1.5, 1e300]).map(_constant),
    st.booleans().map(_constant),
)
strings = st.sampled_from(["GG", "a"]).map(lambda s: Node(repr(s), lambda _c, s=s: s))


def _binary(op: str, left: Node, right: Node) -> Node:
    """``left op right``."""
    return Node(
        f"({left.text} {op} {right.text})",
        lambda c: _arithmetic(BINARY[op], left.value(c), right.value(c), op == "**"),
    )


def _unary(op: str, operand: Node) -> Node:
    """``op operand`` (``not`` logical, the others NumPy's)."""
    if op == "not":
        return Node(f"(not {operand.text})", lambda c: np.logical_not(_boolean(operand.value(c))))
    function = {"-": operator.neg, "+": operator.pos, "~": operator.invert}[op]
    return Node(f"({op}{operand.text})", lambda c: function(_number(operand.value(c))))


def _logic(word: str, values: list[Node]) -> Node:
    """``a and b and ...`` (logical, on true/false values only)."""
    combine = np.logical_and if word == "and" else np.logical_or

    def value(c: dict[str, Any]) -> Any:
        result = _boolean(values[0].value(c))
        for node in values[1:]:
            result = combine(result, _boolean(node.value(c)))
        return result

    return Node("(" + f" {word} ".join(v.text for v in values) + ")", value)


def _compare(op: str, left: Node, right: Node) -> Node:
    """``left op right``; a string only against a string column with == or !=."""

    def value(c: dict[str, Any]) -> Any:
        x, y = left.value(c), right.value(c)
        strings = [isinstance(v, str) for v in (x, y)]
        if any(strings):
            other = y if strings[0] else x
            if all(strings) or op not in ("==", "!=") or not isinstance(other, ak.Array):
                raise Refused
            if other.layout.purelist_parameter("__array__") != "string":
                raise Refused
        elif any(
            isinstance(v, ak.Array) and v.layout.purelist_parameter("__array__") == "string"
            for v in (x, y)
        ):
            raise Refused
        return COMPARE[op](x, y)

    return Node(f"({left.text} {op} {right.text})", value)


def _call(name: str, args: list[Node]) -> Node:
    """``name(args)``: the wrong number of arguments is refused."""
    text = f"{name}({', '.join(a.text for a in args)})"

    def value(c: dict[str, Any]) -> Any:
        if len(args) != ARITY[name]:
            raise Refused
        values = [_number(a.value(c)) for a in args]
        if name == "where":
            return ak.where(_boolean(values[0]), values[1], values[2])
        if name in REDUCE:
            array = _jagged(values[0])
            if name in ("any", "all"):
                _boolean(array)
            return REDUCE[name](array, axis=-1)
        return getattr(np, name)(*values)

    return Node(text, value)


VALID = (
    "arithmetic",
    "sign",
    "compare",
    "numpy",
    "logic",
    "not",
    "where",
    "reduce",
    "anyall",
    "string",
)
INVALID = ("unary", "string misuse", "logic of anything", "any call", "power", "string compare")
ARITHMETIC = ("+", "-", "*", "/", "**", "//", "%")
JAGGED_NODES = [Node(n, lambda c, n=n: c[n]) for n in JAGGED]
S = Node("s", lambda c: c["s"])


@st.composite
def expressions(draw: st.DrawFn, depth: int = 3, invalid: bool = False) -> Node:
    """A random expression: mostly what should evaluate (arithmetic, comparisons, logic of
    comparisons, functions with their arguments, reductions of jagged values) and, with
    ``invalid``, also what must be refused (wrong argument counts, strings outside
    comparisons, ``not`` of numbers, reductions of flat values, constants beyond 64 bits) or
    what NumPy cannot do (bitwise operations on floats)."""
    if depth == 0 or draw(st.integers(0, 3)) == 0:
        return draw(leaves)

    def child() -> Node:
        return draw(expressions(depth - 1, invalid))

    def comparison() -> Node:
        return _compare(draw(st.sampled_from(sorted(COMPARE))), child(), child())

    def boolean() -> Node:
        if draw(st.booleans()):
            return comparison()
        return _binary(draw(st.sampled_from(["&", "|", "^", "*", "+"])), comparison(), comparison())

    form = draw(st.sampled_from(VALID + (INVALID if invalid else ())))
    if form == "arithmetic":
        return _binary(draw(st.sampled_from(ARITHMETIC)), child(), child())
    if form == "sign":
        return _unary(draw(st.sampled_from(["-", "+"])), child())
    if form == "compare":
        return comparison()
    if form == "numpy":
        name = draw(st.sampled_from(NUMPY_FUNCTIONS))
        return _call(name, [child() for _ in range(ARITY[name])])
    if form == "logic":
        word = draw(st.sampled_from(["and", "or"]))
        return _logic(word, [boolean() for _ in range(draw(st.integers(2, 3)))])
    if form == "not":
        return _unary(draw(st.sampled_from(["not", "~"])), boolean())
    if form == "where":
        return _call("where", [boolean(), child(), child()])
    if form == "reduce":
        jagged = draw(st.sampled_from(JAGGED_NODES))
        if draw(st.booleans()):
            jagged = _binary(draw(st.sampled_from(ARITHMETIC)), jagged, child())
        return _call(draw(st.sampled_from(["sum", "count", "max", "min"])), [jagged])
    if form == "anyall":
        compared = _compare(
            draw(st.sampled_from(sorted(COMPARE))), draw(st.sampled_from(JAGGED_NODES)), child()
        )
        return _call(draw(st.sampled_from(["any", "all"])), [compared])
    if form == "string":
        return _compare(draw(st.sampled_from(["==", "!="])), S, draw(strings))
    if form == "unary":
        return _unary(draw(st.sampled_from(["-", "+", "~", "not"])), child())
    if form == "string misuse":
        return _binary(
            draw(st.sampled_from(["&", "|", "^", "+", "*", "%"])), child(), draw(strings)
        )
    if form == "logic of anything":
        return _logic(draw(st.sampled_from(["and", "or"])), [child(), child()])
    if form == "any call":
        name = draw(st.sampled_from([*NUMPY_FUNCTIONS, "where", *REDUCE]))
        return _call(name, [child() for _ in range(draw(st.integers(0, 4)))])
    if form == "power":
        return draw(
            st.sampled_from(
                [
                    Node("(2 ** 2 ** 40)", lambda _c: _arithmetic(operator.pow, 2, 2**40, True)),
                    Node("(10 ** 19)", lambda _c: _arithmetic(operator.pow, 10, 19, True)),
                    Node("(10 ** 18)", lambda _c: _arithmetic(operator.pow, 10, 18, True)),
                ]
            )
        )
    op = draw(st.sampled_from(["==", "<"]))
    return _compare(op, S, draw(st.one_of(strings, st.just(child()))))


def _any_expression() -> st.SearchStrategy[Node]:
    """Expressions that should mostly evaluate, and expressions with an error anywhere."""
    return st.one_of(expressions(3, invalid=False), expressions(3, invalid=True))


def _plain(value: Any) -> Any:
    """A value as nested Python lists and scalars (arrays of either library alike)."""
    if isinstance(value, ak.Array):
        return ak.to_list(value)
    if isinstance(value, np.ndarray | np.generic):
        return value.tolist()
    return value


def _same(x: Any, y: Any) -> bool:
    """Equal values of the same kind (true/false apart from numbers); NaN equals NaN."""
    if isinstance(x, list) or isinstance(y, list):
        return (
            isinstance(x, list)
            and isinstance(y, list)
            and len(x) == len(y)
            and all(_same(a, b) for a, b in zip(x, y, strict=True))
        )
    if isinstance(x, bool) or isinstance(y, bool):
        return type(x) is type(y) and x == y
    if x is None or y is None:
        return x is y
    if isinstance(x, float) or isinstance(y, float):
        return (math.isnan(x) and math.isnan(y)) or x == y or math.isclose(x, y, rel_tol=1e-12)
    return x == y


FOUND: dict[str, int] = {"agreed": 0, "refused": 0}


@settings(
    max_examples=300,
    deadline=1000,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(node=_any_expression())
def test_random_expressions_agree_with_numpy_and_awkward_or_are_refused(node: Node) -> None:
    columns = {k: copy.deepcopy(v) for k, v in BRANCHES.items()}
    try:
        with np.errstate(all="ignore"):
            expected: Any = node.value(columns)
        refused = False
    except Refused:
        refused = True
    except Exception:  # NumPy or awkward cannot do it (e.g. ~ of a float): refused too
        refused = True
    start = time.perf_counter()
    try:
        got = parse(node.text).evaluate(columns)
    except ExpressionError:
        assert refused, f"{node.text!r} refused, but NumPy gives {_plain(expected)!r}"
        FOUND["refused"] += 1
    else:
        assert not refused, f"{node.text!r} must be refused, gave {_plain(got)!r}"
        assert _same(_plain(got), _plain(expected)), (node.text, _plain(got), _plain(expected))
        FOUND["agreed"] += 1
    assert time.perf_counter() - start < 1.0, node.text
    for name, original in BRANCHES.items():  # the inputs unchanged
        assert ak.to_list(columns[name]) == ak.to_list(original), (node.text, name)
        assert type(columns[name]) is type(original)
