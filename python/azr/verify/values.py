"""Plain data: the only form in which model answers and reported results reach a verdict.

A grader never evaluates model text as code. An answer (a predicted output, the arguments of a
predicted input) and every value a sandboxed program reports (the ``repr`` of what it returned) are
read here, on the host, as **plain data**: numbers, strings, bytes, ``True``/``False``/``None``, and
tuples, lists, dicts, sets and frozensets of those, written as literals the way ``repr`` writes them
(``set()``, ``frozenset({...})`` included). Reading is two steps:

1. ``azr._core.check_literal`` / ``check_arguments`` (Rust, linear-time lexer first) bound the
   text's size (64 KiB) and nesting (100) and reject anything that is not literal syntax;
2. CPython's own parser (``ast.parse``) builds the tree, and a small evaluator here turns it into
   values, running Python's real operators for signs and complex numbers, so a value means exactly
   what it would mean in Python. Nothing else is ever evaluated, so no text can run code.

Equality comes in two kinds:

- ``typed`` (the default for rewards): equal only if types match recursively: ``1``, ``True``,
  ``1.0`` and ``(1+0j)`` are four different answers; a list is not a tuple, a set not a frozenset;
  dict keys and set elements are matched with their types. Floats compare by ``==``, so ``-0.0``
  equals ``0.0`` (the sign of a zero is a rounding artefact, not a prediction), and NaN and
  infinities never occur: they are not plain data (``repr`` writes them as names).
- ``value``: Python's ``==`` on plain values (CRUXEval's rule; ``1 == True == 1.0``).
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from azr import _core

__all__ = [
    "Arguments",
    "Data",
    "Equality",
    "NotData",
    "argument_key",
    "equal",
    "parse_arguments",
    "parse_value",
    "source",
    "typed_equal",
]

Equality = Literal["typed", "value"]
"""How values are compared: ``typed`` (types must match recursively) or ``value`` (``==``)."""

MAX_CHARS = 65_536
"""Longest text read as data (``_core.check_literal``'s bound: the sandbox's default output cap)."""

_SCALARS = (int, float, complex, str, bytes, bool, type(None))


@dataclass(frozen=True, slots=True)
class Data:
    """A value read from text. ``canonical`` is True when the text is exactly what ``repr`` writes for
    it (in the text's own order of set elements), so no comment, spacing or spelling (``0x10``,
    ``1_0``, ``'a' 'b'``) was chosen by whoever wrote it."""

    value: object
    canonical: bool = True


@dataclass(frozen=True, slots=True)
class Arguments:
    """An argument list of plain data: ``f(*args, **kwargs)``."""

    args: tuple[object, ...]
    kwargs: dict[str, object]

    def call(self, function: str) -> str:
        """Source of the call, written by azr from the values (never the model's text)."""
        parts = [source(v) for v in self.args] + [f"{k}={source(v)}" for k, v in self.kwargs.items()]
        return f"{function}({', '.join(parts)})"


@dataclass(frozen=True, slots=True)
class NotData:
    """Why text is not plain data."""

    reason: str


class _Reject(Exception):
    pass


def argument_key(text: str) -> str:
    """The key under which argument texts that mean the same values are one (``7``, ``(7)``, ``0x7``,
    ``+7``, ``7 # seven``): the call azr would write from the values, or the text itself when it is not
    plain data. Typed, like the values: ``7``, ``7.0`` and ``True`` stay three."""
    parsed = parse_arguments(text)
    return parsed.call("") if isinstance(parsed, Arguments) else text


def parse_value(text: object) -> Data | NotData:
    """Read ``text`` as one plain data value. Any input is accepted; nothing is executed."""
    tree = _checked_parse(text, _core.check_literal, "{}")
    if isinstance(tree, NotData):
        return tree
    assert isinstance(text, str)
    try:
        value, spelled = _read(tree.body, 0)
    except _Reject as exc:
        return NotData(str(exc))
    except (ValueError, MemoryError, RecursionError) as exc:  # e.g. an int too long for repr
        return NotData(f"{type(exc).__name__}: {exc}")
    return Data(value, canonical=spelled == text)


def parse_arguments(text: object) -> Arguments | NotData:
    """Read ``text`` as the argument list of a call (``1, [2], k='v'``), every argument plain data."""
    tree = _checked_parse(text, _core.check_arguments, "__azr_args({}\n)")
    if isinstance(tree, NotData):
        return tree
    call = tree.body
    if not isinstance(call, ast.Call) or any(k.arg is None for k in call.keywords):
        return NotData("not an argument list")
    try:
        args = tuple(_read(node, 1)[0] for node in call.args)
        kwargs: dict[str, object] = {}
        for keyword in call.keywords:
            assert keyword.arg is not None
            if keyword.arg in kwargs:
                raise _Reject(f"keyword {keyword.arg!r} given twice")
            kwargs[keyword.arg] = _read(keyword.value, 1)[0]
    except _Reject as exc:
        return NotData(str(exc))
    except (ValueError, MemoryError, RecursionError) as exc:
        return NotData(f"{type(exc).__name__}: {exc}")
    return Arguments(args, kwargs)


def _checked_parse(
    text: object, check: Callable[[str], tuple[str, str] | None], template: str
) -> ast.Expression | NotData:
    """``check`` (Rust: size, nesting, literal syntax) on ``text``, then CPython's parser on
    ``template.format(text)``, which ``check`` has bounded."""
    if not isinstance(text, str):
        return NotData(f"not text ({type(text).__name__})")
    problem = check(text)
    if problem is not None:
        return NotData(problem[1])
    try:
        return ast.parse(template.format(text), mode="eval")
    except (SyntaxError, ValueError, MemoryError, RecursionError, UnicodeError) as exc:
        return NotData(f"does not parse: {type(exc).__name__}")


def _finite(value: object) -> object:
    if isinstance(value, float) and not math.isfinite(value):
        raise _Reject("infinite or NaN floats are not plain data")
    if isinstance(value, complex) and not (math.isfinite(value.real) and math.isfinite(value.imag)):
        raise _Reject("infinite or NaN complex numbers are not plain data")
    return value


def _number(node: ast.expr) -> int | float | complex:
    """A number, possibly signed once: ``5``, ``-2.5``, ``+1j``."""
    if isinstance(node, ast.Constant) and type(node.value) in (int, float, complex):
        number = node.value
        assert isinstance(number, int | float | complex)
        return number
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        inner = _number(node.operand)
        return -inner if isinstance(node.op, ast.USub) else +inner
    raise _Reject("a sign on something that is not a number")


def _read(node: ast.expr, depth: int) -> tuple[object, str]:
    """The value of a literal node and the text ``repr`` would write for it (elements in node order)."""
    if depth > 100:
        raise _Reject("nested deeper than 100")
    if isinstance(node, ast.Constant):
        if node.value is Ellipsis:
            raise _Reject("... is not plain data")
        value = _finite(node.value)
        return value, repr(value)
    if isinstance(node, ast.UnaryOp | ast.BinOp):
        if isinstance(node, ast.BinOp):
            right = node.right
            if not (isinstance(right, ast.Constant) and type(right.value) is complex):
                raise _Reject("arithmetic is not plain data")
            if not isinstance(node.op, ast.Add | ast.Sub):
                raise _Reject("arithmetic is not plain data")
            left = _number(node.left)
            value = left + right.value if isinstance(node.op, ast.Add) else left - right.value
        else:
            value = _number(node)
        return _finite(value), repr(value)
    if isinstance(node, ast.Tuple | ast.List):
        items = [_element(e, depth) for e in node.elts]
        texts = ", ".join(t for _, t in items)
        if isinstance(node, ast.List):
            return [v for v, _ in items], f"[{texts}]"
        return tuple(v for v, _ in items), f"({texts},)" if len(items) == 1 else f"({texts})"
    if isinstance(node, ast.Set):
        items = [_element(e, depth) for e in node.elts]
        built = _hashed(set, [v for v, _ in items])
        text = "{" + ", ".join(t for _, t in items) + "}"
        return built, text if len(built) == len(items) else text + " (repeated elements)"
    if isinstance(node, ast.Dict):
        if any(k is None for k in node.keys):
            raise _Reject("dict unpacking is not plain data")
        keys = [_read(k, depth + 1) for k in node.keys if k is not None]
        values = [_read(v, depth + 1) for v in node.values]
        try:
            mapping = dict(zip((k for k, _ in keys), (v for v, _ in values), strict=True))
        except TypeError as exc:
            raise _Reject(f"unhashable dict key: {exc}") from None
        text = "{" + ", ".join(f"{k}: {v}" for (_, k), (_, v) in zip(keys, values, strict=True)) + "}"
        return mapping, text if len(mapping) == len(keys) else text + " (repeated keys)"
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords:
        name, args = node.func.id, node.args
        if name in ("set", "frozenset") and not args:
            return (set() if name == "set" else frozenset()), f"{name}()"
        if name == "frozenset" and len(args) == 1 and isinstance(args[0], ast.Set):
            inner, text = _read(args[0], depth + 1)
            assert isinstance(inner, set)
            return frozenset(inner), f"frozenset({text})"
    raise _Reject(f"{type(node).__name__} is not plain data")


def _element(node: ast.expr, depth: int) -> tuple[object, str]:
    if isinstance(node, ast.Starred):
        raise _Reject("unpacking is not plain data")
    return _read(node, depth + 1)


def _hashed(kind: type[set[object]], items: list[object]) -> set[object]:
    try:
        return kind(items)
    except TypeError as exc:
        raise _Reject(f"unhashable set element: {exc}") from None


def source(value: object) -> str:
    """Source that evaluates to ``value`` (plain data only) in a grading instance, written by azr.

    ``repr`` for scalars and containers, except where ``repr`` names a builtin a task's program could
    shadow (``def frozenset(x): ...``): the empty set is ``{*()}``, and frozensets and complex numbers
    are built through ``__builtins__`` (the builtins module in a grading instance's namespace, which
    programs cannot rebind: the name is banned). Complex numbers are written as ``complex(re, im)``
    because ``repr(complex(-0.0, -1.0))`` does not evaluate back to it.
    """
    kind = type(value)
    if kind is complex:
        assert isinstance(value, complex)
        return f"__builtins__.complex({value.real!r}, {value.imag!r})"
    if kind in _SCALARS:
        return repr(value)
    if kind is list:
        assert isinstance(value, list)
        return "[" + ", ".join(source(v) for v in value) + "]"
    if kind is tuple:
        assert isinstance(value, tuple)
        inner = ", ".join(source(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if kind is dict:
        assert isinstance(value, dict)
        return "{" + ", ".join(f"{source(k)}: {source(v)}" for k, v in value.items()) + "}"
    if kind in (set, frozenset):
        assert isinstance(value, set | frozenset)
        body = "{" + ", ".join(source(v) for v in value) + "}" if value else "{*()}"
        return f"__builtins__.frozenset({body})" if kind is frozenset else body
    raise TypeError(f"{kind.__name__} is not plain data")


def typed_equal(a: object, b: object) -> bool:
    """Equal values of equal types, recursively (see the module docstring)."""
    kind = type(a)
    if kind is not type(b):
        return False
    if kind is list or kind is tuple:
        assert isinstance(a, list | tuple) and isinstance(b, list | tuple)
        return len(a) == len(b) and all(typed_equal(x, y) for x, y in zip(a, b, strict=True))
    if kind is dict:
        assert isinstance(a, dict) and isinstance(b, dict)
        if len(a) != len(b):
            return False
        keys = {k: k for k in b}  # finds b's own key object equal (by ==) to each key of a
        return all(k in keys and typed_equal(k, keys[k]) and typed_equal(v, b[keys[k]]) for k, v in a.items())
    if kind is set or kind is frozenset:
        assert isinstance(a, set | frozenset) and isinstance(b, set | frozenset)
        if len(a) != len(b):
            return False
        elements = {x: x for x in b}
        return all(x in elements and typed_equal(x, elements[x]) for x in a)
    return bool(a == b)


def equal(a: object, b: object, equality: Equality = "typed") -> bool:
    """``typed_equal`` or plain ``==`` on plain values (no user ``__eq__`` can exist in them)."""
    if equality == "typed":
        return typed_equal(a, b)
    return bool(a == b)
