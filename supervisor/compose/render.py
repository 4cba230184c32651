"""YAML exactly as ``docker compose config`` prints it, in time linear in the output.

A pure core: :func:`compose_yaml` takes the config document (the ``--format json`` shape) and
returns the text.  Two steps, as compose does it:

1. order: the document is walked along compose-go's model (:mod:`supervisor.compose.gomodel`);
   a struct's fields come in declared order, its ``x-`` extensions after them (sorted); a map's
   keys are sorted as yaml.v3 sorts them (runs of digits compare as numbers); a struct that is
   empty is left out (yaml.v3's ``omitempty`` on a struct value, which JSON keeps as ``{}``).
2. emit: block style with sequences indented under their key; a string that would read as
   another type (``"1"``, ``"Y"``, ``"null"``) in double quotes; a string with a line break as a
   literal block (``|``) where it can be; otherwise plain, single-quoted or double-quoted by the
   rules of libyaml's emitter (the one PyYAML and yaml.v3 both port), with no line folding.

The emitter decides each scalar's style with regular expressions instead of a loop per
character, so a 10 MiB value renders in milliseconds.  Shapes it does not cover (a key over 128
bytes above a nested collection, a key with a line break, a block scalar that keeps trailing line
breaks, line breaks other than ``\\n``) go to PyYAML's emitter with the same rules.
"""

from __future__ import annotations

import functools
import math
import re
from typing import Any, Optional

import yaml

from supervisor.compose.gomodel import ALIASES, STRUCTS

__all__ = ["compose_yaml", "compose_json", "model_yaml", "model_json", "order_document", "go_key_less", "go_float"]


# -- 1. order -----------------------------------------------------------------------------


def go_key_less(a: str, b: str) -> bool:
    """yaml.v3's order of map keys: letters by code point, runs of digits by their number."""
    digits = False
    for i in range(min(len(a), len(b))):
        ca, cb = a[i], b[i]
        if ca == cb:
            digits = ca.isdigit()
            continue
        al, bl = ca.isalpha(), cb.isalpha()
        if al and bl:
            return ca < cb
        if al or bl:
            return al if digits else bl
        an = bn = 0
        if ca == "0" or cb == "0":
            j = i - 1
            while j >= 0 and a[j].isdigit():
                if a[j] != "0":
                    an = bn = 1
                    break
                j -= 1
        ai = i
        while ai < len(a) and a[ai].isdigit():
            an = an * 10 + int(a[ai])
            ai += 1
        bi = i
        while bi < len(b) and b[bi].isdigit():
            bn = bn * 10 + int(b[bi])
            bi += 1
        if an != bn:
            return an < bn
        if ai != bi:
            return ai < bi
        return ca < cb
    return len(a) < len(b)


def _compare(a: str, b: str) -> int:
    if go_key_less(a, b):
        return -1
    if go_key_less(b, a):
        return 1
    return 0


_KEY = functools.cmp_to_key(_compare)


def _sorted_keys(mapping: dict[str, Any], json: bool = False) -> list[str]:
    keys = list(mapping)
    if all(isinstance(k, str) for k in keys):
        # encoding/json sorts a map's keys by their bytes, yaml.v3 by its own order
        return sorted(keys, key=lambda k: k.encode("utf-8", "surrogatepass")) if json else sorted(keys, key=_KEY)
    return keys


def _resolve(go_type: str) -> str:
    seen = 0
    while go_type in ALIASES and seen < 10:
        go_type = ALIASES[go_type]
        seen += 1
    return go_type.lstrip("*")


def _order(value: Any, go_type: Optional[str], json: bool) -> Any:
    if isinstance(value, dict):
        kind = _resolve(go_type) if go_type else ""
        if kind in STRUCTS:
            return _order_struct(value, kind, json)
        item = kind[len("map[string]") :] if kind.startswith("map[string]") else None
        return {k: _order(value[k], item, json) for k in _sorted_keys(value, json)}
    if isinstance(value, list):
        kind = _resolve(go_type) if go_type else ""
        item = kind[2:] if kind.startswith("[]") else None
        return [_order(v, item, json) for v in value]
    return value


def _order_struct(value: dict[str, Any], struct: str, json: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    fields = STRUCTS[struct]
    known = set()
    for key, go_type, omitempty in fields:
        known.add(key)
        if key not in value:
            continue
        shown = _order(value[key], go_type, json)
        if not json and omitempty and shown == {} and not go_type.startswith("*") and _resolve(go_type) in STRUCTS:
            continue  # yaml.v3 leaves out an empty struct; JSON prints it as {}
        out[key] = shown
    rest = {k: v for k, v in value.items() if k not in known}
    for key in _sorted_keys(rest, json):
        out[key] = _order(rest[key], None, json)
    return out


def order_document(document: dict[str, Any], *, json: bool = False) -> dict[str, Any]:
    """``document`` with its keys in the order compose's YAML (or, ``json=True``, JSON) output shows them.

    compose's JSON output is one map at the top (keys sorted by bytes: ``configs``, ``name``,
    ``networks``...); below it the same structs and maps as the YAML one.
    """
    if json:
        fields = dict((key, go_type) for key, go_type, _ in STRUCTS["Project"])
        return {k: _order(document[k], fields.get(k), True) for k in _sorted_keys(document, True)}
    return _order_struct(document, "Project", False)


# encoding/json's escapes that Python's json module does not make (HTML characters, JS line ends)
_GO_JSON_ESCAPES = str.maketrans(
    {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
)


def compose_json(document: dict[str, Any]) -> str:
    """The text of ``docker compose config --format json``: Go's key order and escapes, no final newline."""
    import json

    text = json.dumps(_json_floats(order_document(document, json=True)), indent=2, ensure_ascii=False)
    text = text.translate(_GO_JSON_ESCAPES)
    return _FLOAT_MARK.sub(lambda m: m.group(1), text) if _MARK in text else text


def _go_json_text(value: Any) -> str:
    import json

    text = json.dumps(_json_floats(value), indent=2, ensure_ascii=False)
    text = text.translate(_GO_JSON_ESCAPES)
    return _FLOAT_MARK.sub(lambda m: m.group(1), text) if _MARK in text else text


def _nil_lists(value: Any) -> Any:
    from supervisor.compose.rawmodel import NilList

    if isinstance(value, NilList):
        return None
    if isinstance(value, dict):
        return {k: _nil_lists(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_nil_lists(v) for v in value]
    return value


def model_json(model: dict[str, Any]) -> str:
    """``config --no-interpolate --format json``: compose's map, every key sorted by its bytes,
    an empty list compose holds as nil printed ``null``; no final newline."""
    return _go_json_text(_order(_nil_lists(model), None, True))


def model_yaml(model: dict[str, Any]) -> str:
    """``config --no-interpolate``: compose's map as yaml.v3 writes it, every key in its order."""
    return emit(_order(model, None, False))


_MARK = "\ufdd0"  # a Unicode noncharacter: stands for a float while the JSON text is written
_FLOAT_MARK = re.compile('"' + _MARK + "([^" + _MARK + "]*)" + _MARK + '"')


def _json_floats(value: Any) -> Any:
    if isinstance(value, float):
        return _MARK + go_float(value, json=True) + _MARK
    if isinstance(value, dict):
        return {k: _json_floats(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_floats(v) for v in value]
    return value


# -- 2. emit ------------------------------------------------------------------------------


class _Fallback(Exception):
    """A shape the fast emitter leaves to PyYAML's."""


_BREAKS = "\n\x85\u2028\u2029"
_WS = "\0 \t\r" + _BREAKS
# characters PyYAML (allow_unicode) writes as they are; anything else needs double quotes
_SPECIAL = "[^\n\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufefe\uff00-\ufffd\U00010000-\U0010fffe]"
_FIRST_INDICATOR = re.compile(r"[#,\[\]{}&*!|>'\"%@`]|[?:\-](?:[\0 \t\r\n\x85\u2028\u2029]|\Z)|---|\.\.\.")
_COLON_INDICATOR = re.compile(r":(?:[\0 \t\r\n\x85\u2028\u2029]|\Z)")
_HASH_INDICATOR = re.compile(r"[\0 \t\r\n\x85\u2028\u2029]#")
_LINE_BREAK = re.compile("[\n\x85\u2028\u2029]")
_OTHER_BREAK = re.compile("[\x85\u2028\u2029]")
_DOUBLE_ESCAPE = '["\\\\\x85\u2028\u2029\ufeff]|[^\x20-\x7e\xa0-\ud7ff\ue000-\ufffd]'


@functools.cache
def _pattern(source: str) -> re.Pattern[str]:
    """Patterns with large character classes, compiled on first use (about 10 ms: not at start-up)."""
    return re.compile(source)


_ESCAPES = {
    "\0": "0",
    "\x07": "a",
    "\x08": "b",
    "\x09": "t",
    "\x0a": "n",
    "\x0b": "v",
    "\x0c": "f",
    "\x0d": "r",
    "\x1b": "e",
    '"': '"',
    "\\": "\\",
    "\x85": "N",
    "\xa0": "_",
    "\u2028": "L",
    "\u2029": "P",
}
# yaml.v3's resolver, as its encoder consults it to decide whether a string may go unquoted
_RESOLVE_MAP = frozenset(
    (
        "true",
        "True",
        "TRUE",
        "false",
        "False",
        "FALSE",
        "",
        "~",
        "null",
        "Null",
        "NULL",
        ".nan",
        ".NaN",
        ".NAN",
        ".inf",
        ".Inf",
        ".INF",
        "+.inf",
        "+.Inf",
        "+.INF",
        "-.inf",
        "-.Inf",
        "-.INF",
    )
)
_OLD_BOOL = frozenset(
    ("y", "Y", "yes", "Yes", "YES", "on", "On", "ON", "n", "N", "no", "No", "NO", "off", "Off", "OFF")
)
_YAML_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?\Z")
_DOT_FLOAT = re.compile(r"\.[0-9]+(?:[eE][-+]?[0-9]+)?\Z")
_GO_INT = re.compile(r"([-+]?)(0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|0[0-7]*|[1-9][0-9]*)\Z")
_BASE60_FLOAT = re.compile(r"[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?\Z")
_TIMESTAMP = re.compile(
    r"([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})"
    r"(?:(?:([Tt])| )([0-9]{1,2}):([0-9]{1,2}):([0-9]{1,2})(\.[0-9]+)?"
    r"(Z|[+-][0-9]{2}:[0-9]{2})?)?\Z"
)


def _go_int(text: str) -> bool:
    """``strconv.ParseInt(text, 0, 64)`` or ``ParseUint`` succeeds."""
    match = _GO_INT.match(text)
    if match is None:
        return False
    sign, digits = match.groups()
    body = digits[2:] if len(digits) > 1 and digits[1] in "xXoObB" else digits
    if len(body.lstrip("0")) > 64:  # more digits than 64 bits take in any base (and no 5,000-digit int())
        return False
    if len(digits) > 1 and digits[1] in "xXoObB":
        value = int(digits[2:], {"x": 16, "o": 8, "b": 2}[digits[1].lower()])
    else:
        value = int(digits, 8) if digits[0] == "0" else int(digits)  # a leading 0: octal
    if sign == "-":
        return value <= 2**63
    return value < 2**63 or (not sign and value < 2**64)


def _go_float(text: str, pattern: re.Pattern[str]) -> bool:
    """yaml.v3 reads ``text`` as a float: the pattern, and ``strconv.ParseFloat`` without a range
    error (a value past the largest float64 stays a string, so it is written plain)."""
    return pattern.match(text) is not None and math.isfinite(float(text))


def _go_timestamp(text: str) -> bool:
    """``time.Parse`` with one of yaml.v3's four timestamp layouts."""
    match = _TIMESTAMP.match(text)
    if match is None:
        return False
    year, month, day, t_sep, hour, minute, second, _fraction, zone = match.groups()
    if hour is not None and (t_sep is None) != (zone is None):
        return False  # the T layouts need a zone, the space layout has none
    if not 1 <= int(month) <= 12:
        return False
    days = [
        31,
        29 if int(year) % 4 == 0 and (int(year) % 100 != 0 or int(year) % 400 == 0) else 28,
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ][int(month) - 1]
    if not 1 <= int(day) <= days:
        return False
    if hour is not None and not (int(hour) < 24 and int(minute) < 60 and int(second) < 60):
        return False
    if zone not in (None, "Z") and not (int(zone[1:3]) < 24 and int(zone[4:6]) < 60):
        return False
    return True


class GoTime(str):
    """A plain YAML timestamp as go-yaml decodes it (a ``time.Time``), in Go's RFC 3339 form: the
    text compose prints for it (plain in YAML, a string in JSON)."""


def go_time(text: str) -> Optional[GoTime]:
    """The ``time.Time`` yaml.v3 reads from the plain scalar ``text`` (None: it stays a string)."""
    if not _go_timestamp(text):
        return None
    match = _TIMESTAMP.match(text)
    assert match is not None
    year, month, day, _sep, hour, minute, second, fraction, zone = match.groups()
    out = f"{int(year):04d}-{int(month):02d}-{int(day):02d}T"
    out += f"{int(hour or 0):02d}:{int(minute or 0):02d}:{int(second or 0):02d}"
    digits = (fraction or ".")[1:10].rstrip("0")
    if digits:
        out += "." + digits
    if zone in (None, "Z") or zone[1:] == "00:00":
        return GoTime(out + "Z")
    return GoTime(out + zone)


def _reads_as_other_type(text: str) -> bool:
    """yaml.v3 would read ``text`` unquoted as something else than this string (so it quotes it)."""
    if text in _OLD_BOOL:
        return True
    first = text[:1]
    if first == "" or first in "yYnNtTfFoO~":
        return text in _RESOLVE_MAP
    if first == ".":
        return text in _RESOLVE_MAP or _go_float(text, _DOT_FLOAT)
    if first in "+-0123456789":
        if text in _RESOLVE_MAP or _go_timestamp(text):
            return True
        plain = text.replace("_", "")
        if _go_int(plain) or _go_float(plain, _YAML_FLOAT):
            return True
        return ":" in text and _BASE60_FLOAT.match(text) is not None
    return False


def _escape_char(ch: str) -> str:
    if ch in _ESCAPES:
        return "\\" + _ESCAPES[ch]
    code = ord(ch)
    if code <= 0xFF:
        return f"\\x{code:02X}"
    if code <= 0xFFFF:
        return f"\\u{code:04X}"
    return f"\\U{code:08X}"


def _escape(match: re.Match[str]) -> str:
    return _escape_char(match.group(0))


_ASCII_ESCAPES = {code: _escape_char(chr(code)) for code in [*range(0x20), 0x22, 0x5C, 0x7F]}


def _double(text: str) -> str:
    if text.isascii():
        return '"' + text.translate(_ASCII_ESCAPES) + '"'
    return '"' + _pattern(_DOUBLE_ESCAPE).sub(_escape, text) + '"'


def _has_special(text: str) -> bool:
    """A character that only double quotes can hold (a tab, a control character, a BOM...)."""
    if text.isascii():  # the common case, without a regular expression over the whole text
        return not text.isprintable() and not text.replace("\n", "").isprintable()
    return _pattern(_SPECIAL).search(text) is not None


def _has_block_indicator(text: str) -> bool:
    """libyaml's block indicators: what a plain scalar may not start with or contain."""
    if _FIRST_INDICATOR.match(text):
        return True
    if text.find(":", 1) >= 0 and _COLON_INDICATOR.search(text, 1):
        return True
    return text.find("#", 1) >= 0 and _HASH_INDICATOR.search(text) is not None


def _style(text: str) -> str:
    """libyaml's choice for a block-context value: "plain", "single", "double" or "literal"."""
    if not text.isascii() and _OTHER_BREAK.search(text) is not None:
        raise _Fallback("a line break other than \\n")
    special = _has_special(text)
    if "\n" in text:  # asked for as a literal block, before any type check
        if special or text[-1] == " " or " \n" in text:
            return "double"
        return "literal"
    if not text or _reads_as_other_type(text):
        return "double"
    if special:
        return "double"
    if text[0] == " " or text[-1] == " " or _has_block_indicator(text):
        return "single"
    return "plain"


def _shortest(value: float) -> tuple[str, int]:
    """The shortest digits that read back as ``value`` (no sign) and the decimal exponent of the first."""
    mantissa, _, exponent = f"{abs(value)!r}".partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = (whole + fraction).lstrip("0")
    point = len(whole) + int(exponent or 0) - (len(whole + fraction) - len((whole + fraction).lstrip("0")))
    digits = digits.rstrip("0") or "0"
    return digits, point - 1 if digits != "0" else 0


def go_float(value: float, *, json: bool = False) -> str:
    """A float as Go prints it: yaml.v3's ``FormatFloat(f, 'g', -1)`` or encoding/json's form."""
    if value != value:
        return ".nan"
    if value in (float("inf"), float("-inf")):
        return ".inf" if value > 0 else "-.inf"
    digits, exp = _shortest(value)
    sign = "-" if value < 0 or (value == 0 and str(value).startswith("-")) else ""
    if json:
        scientific = value != 0 and (abs(value) < 1e-6 or abs(value) >= 1e21)
    else:
        scientific = exp < -4 or exp >= 6  # Go's %g with the shortest digits decides at precision 6
    if scientific:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        power = f"{abs(exp):02d}" if not json else str(abs(exp)) if exp < 0 else f"{exp:02d}"
        return f"{sign}{mantissa}e{'-' if exp < 0 else '+'}{power}"
    if exp < 0:
        return f"{sign}0.{'0' * (-exp - 1)}{digits}"
    if len(digits) <= exp + 1:
        return f"{sign}{digits}{'0' * (exp + 1 - len(digits))}"
    return f"{sign}{digits[: exp + 1]}.{digits[exp + 1 :]}"


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return go_float(value)
    raise _Fallback(type(value).__name__)


def _is_simple_key(key: Any) -> bool:
    """libyaml's rule: a key up to 128 bytes on one line is written ``key: value``."""
    return not isinstance(key, str) or (len(key.encode("utf-8")) <= 128 and not _LINE_BREAK.search(key))


def _key(key: Any) -> str:
    if not isinstance(key, str):
        return _scalar(key)
    if _LINE_BREAK.search(key):
        raise _Fallback("key with a line break")
    style = _style(key)
    if style == "plain":
        return key
    if style == "single":
        return "'" + key.replace("'", "''") + "'"
    return _double(key)


def _literal(text: str, indent: int, out: list[str]) -> None:
    hints = ""
    if text[0] in " " + _BREAKS:
        hints += "2"
    if text[-1] not in _BREAKS:
        hints += "-"
    elif len(text) == 1 or text[-2] in _BREAKS:
        raise _Fallback("kept trailing breaks")
    out.append("|" + hints + "\n")
    pad = " " * indent
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    for line in lines:
        out.append(pad + line + "\n" if line else "\n")


def _value_inline(value: Any, indent: int, out: list[str]) -> None:
    """The value after ``key: `` or ``- `` (the caller wrote that much), ending its line(s)."""
    if isinstance(value, str):
        style = "plain" if isinstance(value, GoTime) else _style(value)
        if style == "plain":
            out.append(value + "\n")
        elif style == "single":
            out.append("'" + value.replace("'", "''") + "'\n")
        elif style == "double":
            out.append(_double(value) + "\n")
        else:
            _literal(value, indent, out)
        return
    out.append(_scalar(value) + "\n")


def _mapping(mapping: dict[Any, Any], indent: int, out: list[str], first_inline: bool = False) -> None:
    pad = " " * indent
    for index, (key, value) in enumerate(mapping.items()):
        lead = "" if first_inline and index == 0 else pad
        if _is_simple_key(key):
            out.append(lead + _key(key) + ":")
        elif isinstance(value, (dict, list)) and value:
            raise _Fallback("long key over a collection")
        else:
            out.append(lead + "? " + _key(key) + "\n" + pad + ":")  # libyaml's complex key
        _node_after_key(value, indent, out)


def _node_after_key(value: Any, indent: int, out: list[str]) -> None:
    if isinstance(value, dict):
        if not value:
            out.append(" {}\n")
        else:
            out.append("\n")
            _mapping(value, indent + 2, out)
    elif isinstance(value, list):
        if not value:
            out.append(" []\n")
        else:
            out.append("\n")
            _sequence(value, indent + 2, out)
    else:
        out.append(" ")
        _value_inline(value, indent + 2, out)


def _sequence(items: list[Any], indent: int, out: list[str], first_inline: bool = False) -> None:
    pad = " " * indent
    for index, item in enumerate(items):
        out.append(("" if first_inline and index == 0 else pad) + "- ")
        if isinstance(item, dict) and item:
            _mapping(item, indent + 2, out, first_inline=True)
        elif isinstance(item, list) and item:
            _sequence(item, indent + 2, out, first_inline=True)
        elif isinstance(item, dict):
            out.append("{}\n")
        elif isinstance(item, list):
            out.append("[]\n")
        else:
            _value_inline(item, indent + 2, out)


class _PyYAMLDumper(yaml.SafeDumper):
    """PyYAML's emitter with the same rules, for the shapes the fast one leaves out."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        # yaml.v3's idea of a plain string, not PyYAML's ("=" and "<<" are strings there)
        if kind is yaml.ScalarNode and implicit[0] and isinstance(value, str) and not _reads_as_other_type(value):
            return "tag:yaml.org,2002:str"
        return super().resolve(kind, value, implicit)  # type: ignore[no-untyped-call]


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = None
    if "\n" in value:
        style = "|"
    elif _reads_as_other_type(value):
        style = '"'
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


def _represent_float(dumper: yaml.SafeDumper, value: float) -> yaml.Node:
    text = go_float(value)  # tagged as PyYAML reads the text back, so that it is written plain
    tag = dumper.resolve(yaml.ScalarNode, text, (True, False))  # type: ignore[no-untyped-call]
    return dumper.represent_scalar(tag, text)


_PyYAMLDumper.add_representer(str, _represent_str)
_PyYAMLDumper.add_representer(float, _represent_float)


def emit(document: dict[str, Any]) -> str:
    """``document`` (already ordered) as block YAML."""
    out: list[str] = []
    try:
        if not document:
            return "{}\n"
        _mapping(document, 0, out)
        return "".join(out)
    except _Fallback:
        return yaml.dump(
            document, Dumper=_PyYAMLDumper, sort_keys=False, default_flow_style=False, allow_unicode=True, width=2**62
        )


def compose_yaml(document: dict[str, Any]) -> str:
    """The YAML text of ``docker compose config`` for a config document."""
    return emit(order_document(document))
