"""Go's conversions, as compose applies them: ``strconv`` parsing, ``%v`` printing, durations, byte sizes.

Compose is written in Go, so the text of a number or a duration in its output
is Go's.  These helpers reproduce exactly the cases compose meets.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from typing import Any

__all__ = [
    "GoConvError",
    "atoi",
    "parse_float",
    "parse_bool_loose",
    "format_value",
    "format_float",
    "parse_duration",
    "format_duration",
    "parse_bytes",
]


class GoConvError(ValueError):
    """The text is not valid for the Go conversion; the message is Go's."""


_DECIMAL = re.compile(r"^[+-]?[0-9]+$")


def atoi(text: str, func: str = "strconv.Atoi") -> int:
    """``strconv.Atoi`` / ``ParseInt(s, 10, 64)``."""
    if not _DECIMAL.match(text):
        raise GoConvError(f'{func}: parsing "{text}": invalid syntax')
    if len(text.lstrip("+-").lstrip("0")) > 19:  # past int64 (and past Python's own digit limit)
        raise GoConvError(f'{func}: parsing "{text}": value out of range')
    value = int(text)
    if not -(2**63) <= value < 2**63:
        raise GoConvError(f'{func}: parsing "{text}": value out of range')
    return value


_GO_FLOAT = re.compile(r"^[+-]?(([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?|inf|infinity|nan)$", re.I)


def parse_float(text: str) -> float:
    """``strconv.ParseFloat(s, 64)`` for decimal forms."""
    if not _GO_FLOAT.match(text):
        raise GoConvError(f'strconv.ParseFloat: parsing "{text}": invalid syntax')
    value = float(text)
    if math.isinf(value) and "inf" not in text.lower():
        raise GoConvError(f'strconv.ParseFloat: parsing "{text}": value out of range')
    return value


def parse_bool_loose(text: str) -> tuple[bool, bool]:
    """Compose's boolean cast: (value, is_yaml11_spelling).  Raises on anything else."""
    lower = text.lower()
    if lower == "true":
        return True, False
    if lower == "false":
        return False, False
    if lower in ("y", "yes", "on"):
        return True, True
    if lower in ("n", "no", "off"):
        return False, True
    raise GoConvError(f"invalid boolean: {text}")


def format_float(value: float) -> str:
    """``fmt.Sprint(float64)``: shortest repr, exponent form below 1e-4 or from 1e21."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "-0" if math.copysign(1, value) < 0 else "0"
    sign_bit, digit_tuple, exponent = Decimal(repr(value)).normalize().as_tuple()
    digits = "".join(map(str, digit_tuple))
    magnitude = len(digits) - 1 + int(exponent)
    sign = "-" if sign_bit else ""
    if magnitude < -4 or magnitude >= 21:
        body = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{body}e{'-' if magnitude < 0 else '+'}{abs(magnitude):02d}"
    if magnitude >= len(digits) - 1:
        return sign + digits + "0" * (magnitude - len(digits) + 1)
    if magnitude >= 0:
        return sign + digits[: magnitude + 1] + "." + digits[magnitude + 1 :]
    return sign + "0." + "0" * (-magnitude - 1) + digits


def format_value(value: Any) -> str:
    """``fmt.Sprint`` of a decoded YAML scalar, as compose turns values into strings."""
    if value is None:
        return ""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, float):
        return format_float(value)
    return str(value)


_UNITS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,
    "μs": 1_000,
    "ms": 1_000_000,
    "s": 10**9,
    "m": 60 * 10**9,
    "h": 3600 * 10**9,
    "d": 24 * 3600 * 10**9,
    "w": 7 * 24 * 3600 * 10**9,
}
# compose reads durations with go-str2duration: Go's units, and days and weeks
_DURATION_PART = re.compile(r"([0-9]*(?:\.[0-9]*)?)(ns|us|µs|μs|ms|s|m|h|d|w)")


def parse_duration(text: str) -> int:
    """``str2duration.ParseDuration`` (``time.ParseDuration`` with ``d`` and ``w``): nanoseconds."""
    original = text
    sign = 1
    if text[:1] in ("+", "-"):  # a tuple: "" is a substring of any string
        sign = -1 if text[0] == "-" else 1
        text = text[1:]
    if text == "0":
        return 0
    if not text:
        raise GoConvError(f'time: invalid duration "{original}"')
    total = 0
    pos = 0
    while pos < len(text):
        match = _DURATION_PART.match(text, pos)
        if not match or match.group(1) in ("", "."):
            if match is None and re.match(r"[0-9.]+$", text[pos:]):
                raise GoConvError(f'time: missing unit in duration "{original}"')
            if match is None and re.match(r"[0-9.]+", text[pos:]):
                unit = re.sub(r"^[0-9.]+", "", text[pos:])
                raise GoConvError(
                    f'time: unknown unit "{unit[:1] if not unit[:2].isalpha() else unit}" in duration "{original}"'
                )
            raise GoConvError(f'time: invalid duration "{original}"')
        number = float(match.group(1))
        total += round(number * _UNITS[match.group(2)])
        if total > 2**63 - 1:  # past Go's Duration (int64 nanoseconds)
            raise GoConvError(f'time: invalid duration "{original}"')
        pos = match.end()
    return sign * total


def format_duration(ns: int) -> str:
    """``time.Duration.String``."""
    if ns == 0:
        return "0s"
    sign = "-" if ns < 0 else ""
    ns = abs(ns)
    if ns < 10**9:
        for unit, size in (("ms", 10**6), ("µs", 10**3), ("ns", 1)):
            if ns >= size:
                return sign + _frac(ns, size) + unit
    hours, rest = divmod(ns, 3600 * 10**9)
    minutes, rest = divmod(rest, 60 * 10**9)
    seconds = _frac(rest, 10**9) + "s"
    if hours:
        return f"{sign}{hours}h{minutes}m{seconds}"
    if minutes:
        return f"{sign}{minutes}m{seconds}"
    return sign + seconds


def _frac(value: int, unit: int) -> str:
    whole, rest = divmod(value, unit)
    if not rest:
        return str(whole)
    digits = str(rest).rjust(len(str(unit)) - 1, "0").rstrip("0")
    return f"{whole}.{digits}"


_BYTE_UNITS = {"k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4, "p": 1024**5}


def _int64(value: float) -> int:
    # Go's int64(float64) on amd64: out of range (and NaN) gives the smallest int64
    if not math.isfinite(value) or not -(2.0**63) <= value < 2.0**63:
        return -(2**63)
    return int(value)


def parse_bytes(value: Any) -> int:
    """``units.RAMInBytes`` (binary multiples) after ``ParseInt``, as compose reads memory sizes.

    The number before the suffix is read by ``strconv.ParseFloat``, so ``1e3m`` and ``1.5g`` are
    sizes; a space may separate it from the suffix (``1 m``); ``b``, ``i`` and ``ib`` may follow it.
    """
    if isinstance(value, bool):
        raise GoConvError(f"invalid size: '{value}'")
    if isinstance(value, int) and -(2**63) <= value < 2**63:
        return value
    if isinstance(value, float):
        return _int64(value)
    text = str(value)  # an integer past int64 is read as text, as compose reads it
    if _DECIMAL.match(text) and len(text.lstrip("+-").lstrip("0")) <= 19 and -(2**63) <= int(text) < 2**63:
        return int(text)
    sep = max(text.rfind(ch) for ch in "0123456789. ")
    if sep == -1:
        raise GoConvError(f"invalid size: '{text}'")
    number, suffix = (text[: sep + 1], text[sep + 1 :]) if text[sep] != " " else (text[:sep], text[sep + 1 :])
    try:
        size = parse_float(number)
    except GoConvError:
        # compose quotes the number part alone; the whole value is quoted here, so that a secret
        # given as a size is masked whole, not shown in part
        raise GoConvError(f"invalid size: '{text}'") from None
    if size < 0:
        raise GoConvError(f"invalid size: '{text}'")
    if not suffix:
        return _int64(size)
    lower = suffix.lower()
    if len(lower) > 3 or (lower[0] == "b" and len(lower) > 1):
        raise GoConvError(f"invalid suffix: '{lower}'")
    if lower[0] == "b":
        return _int64(size)
    if (
        lower[0] not in _BYTE_UNITS
        or (len(lower) == 2 and lower[1] not in "ib")
        or (len(lower) == 3 and lower[1:] != "ib")
    ):
        raise GoConvError(f"invalid suffix: '{lower}'")
    return _int64(size * _BYTE_UNITS[lower[0]])
