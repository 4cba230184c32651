"""The small expression language of implementation profiles, and its evaluator.

A profile states how an implementation reads its environment as JSON expressions, so the
knowledge of each implementation stays data. Expressions:

- JSON strings, numbers, ``true``/``false``/``null``: literals;
- ``{"env": "NAME"}``: the container's value, ``null`` when unset;
- ``{"getenv": ["NAME", "default"]}``: Python's ``os.getenv(NAME, default)``;
- ``{"or": [a, b, ...]}``: JavaScript's ``a || b || ...`` (first truthy operand, else the last);
- ``{"python_int": e}``, ``{"js_parse_int": e}``: the parsers of :mod:`supervisor.policy.parsing`;
  ``python_int`` fails with ``on_error`` (``crash``: the program dies at start; ``refuse``: it
  exits with a message), naming ``variable``, ``reason`` and ``advice``;
- ``{"require": e, "pattern": "regex", ...}``: ``e`` must match, else fail as above;
- ``{"check": e, "variable": ..., "value": v, ...}``: ``e`` must be true, else fail as above
  (showing ``v``, by default the variable's value);
- ``{"eq"|"ne"|"gt"|"ge"|"lt"|"le": [a, b]}``: comparisons (``eq`` is JavaScript's ``===``:
  type and value; NaN equals nothing);
- ``{"all": [...]}``, ``{"any": [...]}``, ``{"not": e}``: booleans;
- ``{"matches": [e, "regex"]}``: whether ``e`` is a string the regular expression matches whole;
- ``{"ref": "name"}``: a value the profile computed earlier.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Callable, Mapping, Optional

from supervisor.policy.errors import ProfileError
from supervisor.policy.parsing import NaN, ParseFailure, js_parse_int, js_truthy, python_int

__all__ = ["StartFailure", "Context", "evaluate", "format_value", "referenced_variables"]


@dataclasses.dataclass
class StartFailure(Exception):
    """A value that stops the program at start (``kind`` is ``crash`` or ``refuse``)."""

    variable: str
    text: Optional[str]
    reason: str
    kind: str
    advice: str = ""

    def __str__(self) -> str:
        return f"{self.variable}={self.text!r}: {self.reason}"


@dataclasses.dataclass
class Context:
    """What an expression sees: the container environment and the values computed so far."""

    env: Mapping[str, Optional[str]]
    values: dict[str, Any] = dataclasses.field(default_factory=dict)
    reads: list[str] = dataclasses.field(default_factory=list)  # variables read, in order
    value_reads: dict[str, list[str]] = dataclasses.field(default_factory=dict)  # per named value

    def read(self, name: str) -> Optional[str]:
        if name not in self.reads:
            self.reads.append(name)
        return self.env.get(name)

    def compute(self, name: str, expr: Any) -> Any:
        """Evaluate a named value, remembering the variables it (and what it refers to) read."""
        outer, self.reads = self.reads, []
        try:
            result = evaluate(expr, self)
        finally:
            self.value_reads[name] = list(self.reads)
            self.reads = outer + [r for r in self.reads if r not in outer]
        self.values[name] = result
        return result


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "eq": lambda a, b: _strict_equal(a, b),
    "ne": lambda a, b: not _strict_equal(a, b),
    "gt": lambda a, b: _ordered(a, b) and a > b,
    "ge": lambda a, b: _ordered(a, b) and a >= b,
    "lt": lambda a, b: _ordered(a, b) and a < b,
    "le": lambda a, b: _ordered(a, b) and a <= b,
}


def _strict_equal(a: Any, b: Any) -> bool:
    if a is NaN or b is NaN:
        return False
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, int) and isinstance(b, int):
        return a == b
    return type(a) is type(b) and a == b


def _ordered(a: Any, b: Any) -> bool:
    # Only numbers are compared by order here; NaN compares false both ways.
    return all(isinstance(x, int) and not isinstance(x, bool) for x in (a, b))


def _failure(expr: Mapping[str, Any], text: Optional[str], reason: str) -> StartFailure:
    return StartFailure(
        variable=str(expr.get("variable", "?")),
        text=text,
        reason=str(expr.get("reason", reason)),
        kind=str(expr.get("on_error", "crash")),
        advice=str(expr.get("advice", "")),
    )


def evaluate(expr: Any, ctx: Context) -> Any:
    """Evaluate one expression; raises :class:`StartFailure` or :class:`ProfileError`."""
    if expr is None or isinstance(expr, (str, int, float, bool)):
        return expr
    if not isinstance(expr, Mapping):
        raise ProfileError(f"not an expression: {expr!r}")
    if "env" in expr:
        return ctx.read(str(expr["env"]))
    if "getenv" in expr:
        name, default = expr["getenv"]
        value = ctx.read(str(name))
        return default if value is None else value
    if "or" in expr:
        result: Any = None
        for operand in expr["or"]:
            result = evaluate(operand, ctx)
            if js_truthy(result):
                return result
        return result
    if "python_int" in expr:
        text = evaluate(expr["python_int"], ctx)
        if not isinstance(text, str):
            raise _failure(expr, None, "unset")
        try:
            return python_int(text)
        except ParseFailure as exc:
            raise _failure(expr, text, exc.reason) from None
    if "check" in expr:
        if evaluate(expr["check"], ctx) is True:
            return True
        shown = evaluate(expr["value"], ctx) if "value" in expr else ctx.env.get(str(expr.get("variable", "")))
        raise _failure(expr, shown if isinstance(shown, str) else None, "not accepted")
    if "js_parse_int" in expr:
        text = evaluate(expr["js_parse_int"], ctx)
        return js_parse_int(None if text is None else str(text))
    if "require" in expr:
        text = evaluate(expr["require"], ctx)
        if not isinstance(text, str) or not re.fullmatch(str(expr["pattern"]), text):
            raise _failure(expr, text, "not accepted")
        return text
    for op, compare in _COMPARE.items():
        if op in expr:
            left, right = (evaluate(x, ctx) for x in expr[op])
            return compare(left, right)
    if "all" in expr:
        return all(bool(evaluate(x, ctx)) for x in expr["all"])
    if "any" in expr:
        return any(bool(evaluate(x, ctx)) for x in expr["any"])
    if "not" in expr:
        return not bool(evaluate(expr["not"], ctx))
    if "matches" in expr:
        operand, pattern = expr["matches"]
        text = evaluate(operand, ctx)
        return isinstance(text, str) and re.fullmatch(str(pattern), text) is not None
    if "ref" in expr:
        name = str(expr["ref"])
        if name not in ctx.values:
            raise ProfileError(f"reference to an unknown value {name!r}")
        for read in ctx.value_reads.get(name, []):
            if read not in ctx.reads:
                ctx.reads.append(read)
        return ctx.values[name]
    raise ProfileError(f"unknown expression operator in {dict(expr)!r}")


def referenced_variables(expr: Any) -> list[str]:
    """Every environment variable an expression reads, in order of appearance."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, Mapping):
            if "env" in node:
                found.append(str(node["env"]))
            if "getenv" in node:
                found.append(str(node["getenv"][0]))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(expr)
    return list(dict.fromkeys(found))


def format_value(value: Any) -> str:
    """A result as the implementation's language would show it."""
    if value is None:
        return "unset"
    if value is NaN:
        return "NaN"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return str(value)
