"""How each implementation turns an environment string into a number, reproduced exactly.

Three parsers, one per language:

- :func:`python_int`: Python's ``int(text)``: surrounding whitespace (any Unicode space),
  a sign, ``_`` between digits and any Unicode decimal digits are accepted; ``""``, ``"7d"``,
  ``"_1"``, ``"1__0"`` raise (the original worker crashes at start).
- :func:`js_parse_int`: JavaScript's ``parseInt(text)`` without a radix: leading whitespace and
  line terminators skipped, one sign, ``0x``/``0X`` switches to hexadecimal, then the longest run
  of digits; nothing parsed gives ``NaN``. ``"7d"`` is 7, ``"0x10"`` is 16, ``""`` is NaN.

And :func:`js_truthy`, the truth test of JavaScript's ``||`` on environment values.
"""

from __future__ import annotations

from typing import Optional, Union

__all__ = [
    "NaN",
    "JsNumber",
    "ParseFailure",
    "python_int",
    "js_parse_int",
    "js_truthy",
    "is_nan",
]


class _JsNaN:
    """JavaScript's NaN: never equal to anything, never greater or smaller, falsy."""

    _instance: Optional["_JsNaN"] = None

    def __new__(cls) -> "_JsNaN":
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "NaN"

    __str__ = __repr__

    def __bool__(self) -> bool:
        return False

    def __eq__(self, other: object) -> bool:
        return False

    def __ne__(self, other: object) -> bool:
        return True

    def __lt__(self, other: object) -> bool:
        return False

    __le__ = __gt__ = __ge__ = __lt__

    def __hash__(self) -> int:
        return 0x7FF8


NaN = _JsNaN()
"""The NaN sentinel returned by :func:`js_parse_int`."""

JsNumber = Union[int, _JsNaN]


class ParseFailure(ValueError):
    """A value an implementation cannot parse; ``reason`` says why in the implementation's terms."""

    def __init__(self, text: Optional[str], reason: str):
        super().__init__(f"{text!r}: {reason}")
        self.text = text
        self.reason = reason


def is_nan(value: object) -> bool:
    """True for the :data:`NaN` sentinel."""
    return value is NaN


def python_int(text: str) -> int:
    """``int(text)`` as Python evaluates it; raises :class:`ParseFailure` where Python raises."""
    if not isinstance(text, str):
        raise TypeError("python_int takes a string")
    try:
        # Python's own int() is the reference: delegating keeps Unicode digits, "_" rules
        # and whitespace handling exactly as the original worker sees them.
        return int(text)
    except ValueError:
        raise ParseFailure(text, "int() rejects it") from None


# ECMAScript WhiteSpace and LineTerminator code points (TrimString, StrWhiteSpaceChar).
_JS_SPACE = frozenset(
    "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000\ufeff"
)
_DEC = "0123456789"
_INFINITY = float("inf")
_HEX = "0123456789abcdefABCDEF"


def js_parse_int(text: Optional[str]) -> JsNumber:
    """``parseInt(text)`` (no radix) as JavaScript evaluates it; ``None`` stands for ``undefined``.

    Returns an ``int``, :data:`NaN`, or ``±inf`` beyond the largest double. (JavaScript rounds
    integers above 2**53 to a double; the comparisons the implementations make, ``> 0`` and
    ``=== 0``, are unaffected.)
    """
    s = "undefined" if text is None else text
    i = 0
    while i < len(s) and s[i] in _JS_SPACE:
        i += 1
    sign = 1
    if i < len(s) and s[i] in "+-":
        sign = -1 if s[i] == "-" else 1
        i += 1
    digits, radix = _DEC, 10
    if s[i : i + 2] in ("0x", "0X"):
        digits, radix = _HEX, 16
        i += 2
    start = i
    while i < len(s) and s[i] in digits:
        i += 1
    if i == start:
        return NaN
    significant = s[start:i].lstrip("0")
    if len(significant) > (256 if radix == 16 else 309):
        # beyond the largest double (about 1.8e308): JavaScript's parseInt gives Infinity
        return sign * _INFINITY  # type: ignore[return-value]
    return sign * int(significant or "0", radix)


def js_truthy(value: object) -> bool:
    """JavaScript truthiness of an environment value: ``undefined``, ``""``, 0 and NaN are falsy."""
    if value is None or value is NaN:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, str)):
        return bool(value)
    return True
