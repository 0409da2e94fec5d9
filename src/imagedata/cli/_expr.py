"""A restricted expression language for ``imagedata calc``: parsed, checked, never ``eval``-ed.

The expression is parsed with :func:`ast.parse` in ``eval`` mode and the tree is
walked against an allow-list; evaluation walks the same tree and calls numpy
directly.  Nothing is ever compiled to code.

Allowed:

* numbers (``2``, ``0.5``, ``1e3``), and the constants ``pi``, ``e``, ``nan``, ``inf``;
* names bound to inputs (``a``, ``b``, ``t1``, ...);
* ``+ - * / // % **``, unary ``-`` and ``+``, comparisons (``< <= > >= == !=``,
  chained ones too), ``&``, ``|``, ``~`` on comparisons, and ``x if cond else y``
  (element-wise, as :func:`numpy.where`);
* calls of the functions in :data:`FUNCTIONS` with positional arguments.

Everything else (attribute access, subscripts, keyword arguments, strings,
lambdas, comprehensions, any other name) is refused with :class:`ExpressionError`.

Examples
--------
>>> import numpy as np
>>> expr = parse("where(a > 1, sqrt(a) * 2, 0)", names={"a"})
>>> evaluate(expr, {"a": np.array([1.0, 4.0])}).tolist()
[0.0, 4.0]
>>> parse("a.__class__", names={"a"})  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
imagedata.cli._expr.ExpressionError: attribute access ('a.__class__') is not allowed ...
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

from imagedata.errors import ImageDataError

#: Longest accepted expression, in characters.
MAX_LENGTH = 2000

#: Deepest accepted nesting of the parsed tree.
MAX_DEPTH = 60


class ExpressionError(ImageDataError, ValueError):
    """The ``calc`` expression is malformed or uses something that is not allowed."""


#: Functions an expression may call: name -> numpy callable.
FUNCTIONS: dict[str, Callable[..., Any]] = {
    "abs": np.abs,
    "sqrt": np.sqrt,
    "exp": np.exp,
    "log": np.log,
    "log2": np.log2,
    "log10": np.log10,
    "sin": np.sin,
    "cos": np.cos,
    "tan": np.tan,
    "arctan": np.arctan,
    "arctan2": np.arctan2,
    "floor": np.floor,
    "ceil": np.ceil,
    "round": np.round,
    "sign": np.sign,
    "minimum": np.minimum,
    "maximum": np.maximum,
    "where": np.where,
    "clip": np.clip,
    "isnan": np.isnan,
    "isfinite": np.isfinite,
    "nan_to_num": np.nan_to_num,
    "logical_and": np.logical_and,
    "logical_or": np.logical_or,
    "logical_not": np.logical_not,
    "mean": np.mean,
    "median": np.median,
    "std": np.std,
    "min": np.min,
    "max": np.max,
    "sum": np.sum,
    "percentile": np.percentile,
}

#: Named constants.
CONSTANTS: dict[str, float] = {
    "pi": float(np.pi),
    "e": float(np.e),
    "nan": float("nan"),
    "inf": float("inf"),
}

_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
    ast.BitAnd: np.logical_and,
    ast.BitOr: np.logical_or,
}

_UNARY: dict[type[ast.unaryop], Callable[[Any], Any]] = {
    ast.USub: operator.neg,
    ast.UAdd: operator.pos,
    ast.Invert: np.logical_not,
}

_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], Any]] = {
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
}

_DESCRIBE: dict[type[ast.AST], str] = {
    ast.Attribute: "attribute access",
    ast.Subscript: "indexing",
    ast.Lambda: "lambda",
    ast.ListComp: "comprehensions",
    ast.GeneratorExp: "comprehensions",
    ast.DictComp: "comprehensions",
    ast.SetComp: "comprehensions",
    ast.NamedExpr: "assignment (:=)",
    ast.List: "lists",
    ast.Tuple: "tuples",
    ast.Dict: "dictionaries",
    ast.Set: "sets",
    ast.Starred: "starred arguments",
    ast.JoinedStr: "strings",
    ast.BoolOp: "'and'/'or' (use & and | with parentheses)",
    ast.Await: "await",
}


def _where(node: ast.AST, text: str) -> str:
    seg = ast.get_source_segment(text, node) if hasattr(node, "lineno") else None
    return f" ({seg!r})" if seg else ""


class _Checker:
    """Walk a parsed expression and refuse anything outside the allow-list."""

    def __init__(self, text: str, names: Iterable[str]) -> None:
        self.text = text
        self.names = set(names)
        self.used: set[str] = set()

    def fail(self, what: str, node: ast.AST) -> ExpressionError:
        return ExpressionError(f"{what}{_where(node, self.text)} is not allowed in an expression")

    def check(self, node: ast.AST, depth: int = 0) -> None:
        if depth > MAX_DEPTH:
            raise ExpressionError(
                f"the expression is nested too deeply (more than {MAX_DEPTH} levels)"
            )
        if isinstance(node, ast.Expression):
            self.check(node.body, depth + 1)
        elif isinstance(node, ast.Constant):
            self._constant(node)
        elif isinstance(node, ast.Name):
            self._name(node)
        elif isinstance(node, ast.BinOp):
            if type(node.op) not in _BINARY:
                raise self.fail(f"the operator {type(node.op).__name__}", node)
            self.check(node.left, depth + 1)
            self.check(node.right, depth + 1)
        elif isinstance(node, ast.UnaryOp):
            if type(node.op) not in _UNARY:
                raise self.fail("'not' (use ~ with parentheses)", node)
            self.check(node.operand, depth + 1)
        elif isinstance(node, ast.Compare):
            if any(type(op) not in _COMPARE for op in node.ops):
                raise self.fail("'is'/'in' comparisons", node)
            for sub in [node.left, *node.comparators]:
                self.check(sub, depth + 1)
        elif isinstance(node, ast.IfExp):
            for sub in (node.test, node.body, node.orelse):
                self.check(sub, depth + 1)
        elif isinstance(node, ast.Call):
            self._call(node, depth)
        else:
            raise self.fail(_DESCRIBE.get(type(node), type(node).__name__), node)

    def _constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
            raise self.fail(f"the constant {node.value!r}", node)

    def _name(self, node: ast.Name) -> None:
        if node.id in self.names:
            self.used.add(node.id)
            return
        if node.id in CONSTANTS:
            return
        if node.id in FUNCTIONS:
            raise self.fail(f"the function name {node.id!r} without a call", node)
        known = ", ".join(sorted(self.names)) or "none"
        raise ExpressionError(
            f"unknown name {node.id!r} in the expression; inputs are: {known} "
            f"(bind one with {node.id}=PATH), constants: {', '.join(CONSTANTS)}"
        )

    def _call(self, node: ast.Call, depth: int) -> None:
        if isinstance(node.func, ast.Attribute):
            raise self.fail("attribute access", node.func)
        if not isinstance(node.func, ast.Name):
            raise self.fail("calling anything but a listed function", node)
        name = node.func.id
        if name not in FUNCTIONS:
            raise ExpressionError(
                f"the function {name!r} is not allowed in an expression; allowed: "
                f"{', '.join(sorted(FUNCTIONS))}"
            )
        if node.keywords:
            raise self.fail("keyword arguments", node)
        for arg in node.args:
            self.check(arg, depth + 1)


def parse(text: str, names: Iterable[str]) -> ast.Expression:
    """Parse and check `text`; return the tree for :func:`evaluate`.

    Parameters
    ----------
    text
        The expression, e.g. ``"(a - b) / (a + b)"``.
    names
        The input names the expression may use.

    Raises
    ------
    ExpressionError
        If the expression is malformed or uses anything outside the allow-list.
    """
    if not text.strip():
        raise ExpressionError("the expression is empty")
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"the expression is longer than {MAX_LENGTH} characters")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as err:
        col = f" at column {err.offset}" if err.offset else ""
        raise ExpressionError(f"malformed expression {text!r}: {err.msg}{col}") from err
    except (RecursionError, MemoryError, ValueError) as err:
        raise ExpressionError(f"the expression cannot be parsed: {type(err).__name__}") from err
    checker = _Checker(text.strip(), names)
    checker.check(tree)
    return tree


def used_names(tree: ast.Expression) -> set[str]:
    """The input names an expression refers to (not constants or functions)."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id not in CONSTANTS and node.id not in FUNCTIONS:
            out.add(node.id)
    return out


def evaluate(tree: ast.Expression, values: Mapping[str, Any]) -> Any:
    """Evaluate a tree from :func:`parse` with numpy, `values` binding the input names.

    Numbers are float64, so ``2 ** 1000`` overflows to ``inf`` instead of building a huge
    integer; division by zero gives ``inf``/``nan`` as in numpy.
    """
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        try:
            return _eval(tree.body, values)
        except (ValueError, TypeError, OverflowError) as err:
            raise ExpressionError(f"the expression cannot be computed: {err}") from err


def _eval(node: ast.AST, values: Mapping[str, Any]) -> Any:
    if isinstance(node, ast.Constant):
        return np.float64(node.value)  # type: ignore[arg-type]  # parse() allows int/float only
    if isinstance(node, ast.Name):
        if node.id in values:
            return values[node.id]
        if node.id in CONSTANTS:
            return np.float64(CONSTANTS[node.id])
        raise ExpressionError(f"no input is bound to the name {node.id!r}")
    if isinstance(node, ast.BinOp):
        return _BINARY[type(node.op)](_eval(node.left, values), _eval(node.right, values))
    if isinstance(node, ast.UnaryOp):
        return _UNARY[type(node.op)](_eval(node.operand, values))
    if isinstance(node, ast.Compare):
        left = _eval(node.left, values)
        result: Any = None
        for op, sub in zip(node.ops, node.comparators):
            right = _eval(sub, values)
            part = _COMPARE[type(op)](left, right)
            result = part if result is None else np.logical_and(result, part)
            left = right
        return result
    if isinstance(node, ast.IfExp):
        return np.where(
            _eval(node.test, values), _eval(node.body, values), _eval(node.orelse, values)
        )
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        args = [_eval(a, values) for a in node.args]
        return FUNCTIONS[node.func.id](*args)
    raise ExpressionError(f"cannot evaluate {type(node).__name__}")  # parse() refuses these
