"""The ``.env`` file formats of Docker Compose v2: the default one and ``raw``.

A pure core: :func:`parse_dotenv` and :func:`parse_raw_env` take text and a
lookup, and return every entry in file order with the line it starts on
(later duplicates win; callers fold).  :func:`read_dotenv` and
:func:`read_raw_env` add the file reading.

The default format (compose-go's ``dotenv`` package, as in compose v2.40):

- ``KEY=value``, ``KEY: value`` and ``export KEY=value``; blank lines and
  lines starting with ``#`` are skipped; a UTF-8 BOM is ignored.
- A key is made of letters, digits, ``_ . - [ ]``; spaces and tabs around it
  are dropped.  A space inside it, or any other character, is an error.
- ``KEY`` alone on its line takes KEY's value from the lookup, and is
  skipped when the lookup has none.
- Unquoted values run to the end of the line; `` #`` starts a comment,
  trailing white space goes, and templates are interpolated.
- ``'single'`` quotes keep their text literally (``\\'`` gives ``'``).
  ``"double"`` quotes may span lines, understand ``\\n \\t \\r \\a \\b \\f \\v
  \\" \\\\ \\$`` and octal ``\\0NNN``, and are interpolated.  Text after the
  closing quote starts a new statement on the same line, unless it is a
  comment.
- Interpolation resolves a name through the lookup first and then the
  entries read so far from the same file.

Oddities kept on purpose because compose has them: a line with neither
``=``/``:`` nor a line break at the end of the file (``FOO`` as the last
bytes) is read as the value of an empty key, as are ``=1`` and ``:1``.
"""

from __future__ import annotations

import bisect
import dataclasses
import re
import unicodedata
from typing import Any, Optional

from supervisor.compose.model import ComposeError, Location
from supervisor.compose.template import Lookup, Reference, TemplateError, quote_go
from supervisor.compose.template import interpolate as interpolate_template
from supervisor.files import InputRefused, InputTooLarge, read_input
from supervisor.secrets import MASK, is_secret_name

__all__ = [
    "DotenvError",
    "DotenvEntry",
    "parse_dotenv",
    "read_dotenv",
    "read_env_text",
    "parse_raw_env",
    "read_raw_env",
    "fold",
]

_BOM = "\ufeff"

# Go's unicode.IsSpace: the Latin-1 spaces plus the White_Space property.
_GO_SPACE = frozenset(
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)
# compose's own notion of a space inside a statement: no line break.
_LINE_SPACE = frozenset("\t\v\f\r \x85\xa0")
# Go's \s (ASCII only, no \v).
_EXPORT = re.compile(r"export[\t\n\f\r ]+")
_ESCAPE = re.compile(r'\\(?:[abcfnrtv$"\\]|0[0-9]{0,3})')
_SIMPLE_ESCAPES = {
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    '"': '"',
    "\\": "\\",
}


class DotenvError(ComposeError):
    """An env file compose would refuse; ``location`` is path:line:column.

    ``detail`` is the text compose-go gives for the problem and
    :meth:`compose_message` the full line compose prints.  When a value's
    template was at fault, ``template_error`` is the underlying
    :class:`~supervisor.compose.template.TemplateError`.
    """

    def __init__(
        self,
        message: str,
        location: Optional[Location] = None,
        *,
        detail: Optional[str] = None,
        raw_format: bool = False,
        template_error: Optional[TemplateError] = None,
    ):
        super().__init__(message, location)
        self.detail = detail if detail is not None else message
        self.raw_format = raw_format
        self.template_error = template_error

    def compose_message(self, path: Optional[str] = None) -> str:
        """What ``docker compose`` prints, naming ``path`` (default: the file in ``location``)."""
        name = path if path is not None else (self.location.file if self.location else "")
        if self.raw_format:
            return f"failed to parse env_file {name}: {self.detail}"
        return f"failed to read {name}: {self.detail}"


@dataclasses.dataclass(frozen=True)
class DotenvEntry:
    """One assignment read from an env file.

    ``raw`` is the value as written (quotes included; for ``KEY`` alone, "").
    ``inherited`` marks ``KEY`` alone, whose value came from the lookup.
    """

    name: str
    value: str
    line: int
    raw: str
    references: tuple[Any, ...] = ()
    inherited: bool = False


def fold(entries: list[DotenvEntry]) -> dict[str, DotenvEntry]:
    """The entry that wins for each name (the last one), in first-seen order."""
    out: dict[str, DotenvEntry] = {}
    for entry in entries:
        out[entry.name] = entry
    return out


def _no_lookup(_name: str) -> Optional[str]:
    return None


class _Parser:
    """compose-go's dotenv parser over one text, keeping true positions.

    ``compose_line`` mirrors compose's own line counter, which its error
    messages quote; ``_position`` gives the real line and column.
    """

    def __init__(self, text: str, path: str, lookup: Lookup, interpolate: bool, out: Optional[dict[str, str]] = None):
        self.text = text
        self.path = path
        self.lookup = lookup
        self.interpolate = interpolate
        self.compose_line = 1
        self.out: dict[str, str] = {} if out is None else out
        self.entries: list[DotenvEntry] = []
        self._breaks = [i for i, ch in enumerate(text) if ch == "\n"]

    # positions ---------------------------------------------------------

    def _position(self, pos: int) -> tuple[int, int]:
        line_index = bisect.bisect_left(self._breaks, pos)
        line_start = self._breaks[line_index - 1] + 1 if line_index else 0
        return line_index + 1, pos - line_start + 1

    def _error(self, pos: int, message: str, *, numbered: bool = True) -> DotenvError:
        line, column = self._position(pos)
        detail = f"line {self.compose_line}: {message}" if numbered else message
        return DotenvError(message, Location(self.path, line, column), detail=detail)

    # statements ----------------------------------------------------------

    def parse(self) -> list[DotenvEntry]:
        pos = 0
        while True:
            pos = self._statement_start(pos)
            if pos < 0:
                return self.entries
            pos = self._statement(pos)

    def _skip_space(self, pos: int) -> int:
        """Index of the next non-space character (-1 at the end), counting line breaks."""
        text = self.text
        while pos < len(text):
            ch = text[pos]
            if ch not in _GO_SPACE:
                return pos
            if ch == "\n":
                self.compose_line += 1
            pos += 1
        return -1

    def _statement_start(self, pos: int) -> int:
        while True:
            pos = self._skip_space(pos)
            if pos < 0 or self.text[pos] != "#":
                return pos
            pos = self.text.find("\n", pos)
            if pos < 0:
                return -1

    def _statement(self, start: int) -> int:
        text = self.text
        pos = start
        if _EXPORT.match(text, pos):
            pos += len("export")
            while pos < len(text) and text[pos] in _LINE_SPACE:
                pos += 1
        key_start = pos
        key, after, inherited = self._key(pos)
        if pos >= len(text):
            raise self._error(key_start, "zero length string", numbered=False)
        if inherited and " " not in key:
            self.compose_line += 1
        key = key.rstrip("".join(_GO_SPACE))
        while after < len(text) and text[after] in _LINE_SPACE:
            after += 1
        if " " in key:
            raise self._error(key_start, "key cannot contain a space")

        line, _ = self._position(key_start)
        if inherited:
            value = self.lookup(key)
            if value is not None:
                self.out[key] = value
                self.entries.append(DotenvEntry(key, value, line, "", (), True))
            return after

        value, raw, refs, rest = self._value(after, key)
        self.out[key] = value
        self.entries.append(DotenvEntry(key, value, line, raw, tuple(refs)))
        return rest

    def _key(self, pos: int) -> tuple[str, int, bool]:
        """The raw key, the index after its terminator, and whether it stands alone."""
        text = self.text
        for i in range(pos, len(text)):
            ch = text[i]
            if ch in _LINE_SPACE:
                continue
            if ch in "=:\n":
                return text[pos:i], i + 1, ch == "\n"
            if ch in "_.-[]" or unicodedata.category(ch)[0] in "LN":
                continue
            first_line = text[pos:].split("\n", 1)[0]
            raise self._error(i, f"unexpected character {quote_go(ch)} in variable name {quote_go(first_line)}")
        # No terminator before the end: compose reads what is left as the
        # value of an empty key.
        return "", pos, False

    # values --------------------------------------------------------------

    def _value(self, pos: int, key: str = "") -> tuple[str, str, list[Reference], int]:
        text = self.text
        quote = text[pos] if pos < len(text) and text[pos] in "\"'" else ""
        if not quote:
            end = text.find("\n", pos)
            rest = len(text) if end < 0 else end + 1
            line_text = text[pos : len(text) if end < 0 else end]
            self.compose_line += 1
            raw = line_text.split(" #", 1)[0].rstrip("".join(_GO_SPACE))
            value, refs = self._expand(raw, pos)
            return value, raw, refs, rest

        value, close = self._quoted(pos, quote)
        if close < 0:
            end = text.find("\n", pos)
            shown = text[pos : len(text) if end < 0 else end]
            if is_secret_name(key):
                shown = shown[0] + MASK  # the quote, not the secret
            raise self._error(pos, f"unterminated quoted value {shown}")
        raw = text[pos : close + 1]
        refs = []
        if quote == '"':
            value, refs = self._expand(_expand_escapes(value), pos)
        return value, raw, refs, close + 1

    def _quoted(self, pos: int, quote: str) -> tuple[str, int]:
        """The quoted text with escaped quotes unescaped, and the closing quote's index (-1: none)."""
        text = self.text
        chars: list[str] = []
        escaped = False
        for i in range(pos + 1, len(text)):
            ch = text[i]
            if ch == "\n":
                self.compose_line += 1
            if escaped:
                escaped = False
                if ch != quote:
                    chars.append("\\")
                chars.append(ch)
                continue
            if ch == "\\":
                escaped = True
            elif ch == quote:
                return "".join(chars), i
            else:
                chars.append(ch)
        return "", -1

    def _expand(self, value: str, pos: int) -> tuple[str, list[Reference]]:
        if not self.interpolate:
            return value, []

        def resolve(name: str) -> Optional[str]:
            found = self.lookup(name)
            if found is not None:
                return found
            return self.out.get(name)

        try:
            return interpolate_template(value, resolve)
        except TemplateError as err:
            line, column = self._position(pos)
            where = Location(self.path, line, column)
            raise DotenvError(err.message, where, detail=err.go_error(), template_error=err) from err


def _expand_escapes(text: str) -> str:
    """compose's escape handling for double-quoted values (before interpolation)."""

    def replace(match: re.Match[str]) -> str:
        seq = match.group(0)
        if seq == "\\$":
            # Left for the interpolation step, which reads $$ as a literal $.
            return "$$"
        if seq.startswith("\\0"):
            digits = seq[2:]
            # Go reads exactly three octal digits up to \377; anything else
            # stays as written, minus the 0.
            if len(digits) == 3 and all(d in "01234567" for d in digits) and int(digits, 8) <= 0o377:
                return chr(int(digits, 8))
            return "\\" + digits
        return _SIMPLE_ESCAPES[seq[1]]

    return _ESCAPE.sub(replace, text)


def parse_dotenv(
    text: str,
    *,
    path: str,
    lookup: Optional[Lookup] = None,
    interpolate: bool = True,
    out: Optional[dict[str, str]] = None,
) -> list[DotenvEntry]:
    """Parse compose's ``.env`` format; see the module docstring for the rules.

    ``lookup`` answers ``KEY`` alone and is consulted before the file's own
    earlier entries when interpolating.  With ``interpolate=False`` values
    are unquoted and unescaped but templates are left as written.
    ``out``, when given, receives every assignment as it is read (compose's
    shared map: a lookup that reads it sees this file's earlier lines too).
    Raises :class:`DotenvError`.
    """
    if text.startswith(_BOM):
        text = text[len(_BOM) :]
    return _Parser(text, path, lookup or _no_lookup, interpolate, out).parse()


_MAX_ENV_FILE_BYTES = 10 * 1024 * 1024


def read_env_text(path: str, *, raw_format: bool = False) -> str:
    """The text of an env file (UTF-8, bounded, never a device; errors are :class:`DotenvError`)."""
    try:
        data = read_input(path, _MAX_ENV_FILE_BYTES)
    except InputTooLarge:
        raise DotenvError(
            f"env file is larger than {_MAX_ENV_FILE_BYTES // (1024 * 1024)} MiB; refusing to load it",
            Location(path),
            raw_format=raw_format,
        ) from None
    except InputRefused as err:
        raise DotenvError(f"env file {err.strerror}", Location(path), raw_format=raw_format) from None
    except OSError as err:
        reason = err.strerror or str(err)
        raise DotenvError(f"cannot read env file: {reason}", Location(path), raw_format=raw_format) from err
    # compose keeps the bytes of a value that is not UTF-8 (Latin-1, say); we keep each such byte as
    # U+FFFD, as compose's JSON output shows it
    return data.decode("utf-8", errors="replace")


def read_dotenv(
    path: str,
    *,
    lookup: Optional[Lookup] = None,
    interpolate: bool = True,
    out: Optional[dict[str, str]] = None,
) -> list[DotenvEntry]:
    """Read ``path`` (UTF-8, BOM allowed) and parse it with :func:`parse_dotenv`."""
    return parse_dotenv(read_env_text(path), path=path, lookup=lookup, interpolate=interpolate, out=out)


def parse_raw_env(text: str, *, path: str, lookup: Optional[Lookup] = None) -> list[DotenvEntry]:
    """Parse ``env_file: {format: raw}`` (``docker run --env-file``): no quotes, no interpolation.

    Each line is ``KEY=value`` taken literally (leading white space dropped,
    trailing kept, a final ``\\r`` removed), or ``KEY`` alone looked up
    through ``lookup`` (skipped when unset).  Lines starting with ``#`` and
    blank lines are skipped.  A key may not contain spaces or tabs.
    """
    entries: list[DotenvEntry] = []
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for number, line in enumerate(lines, start=1):
        if line.endswith("\r"):
            line = line[:-1]
        if number == 1 and line.startswith(_BOM):
            line = line[len(_BOM) :]
        stripped = line.lstrip("".join(_GO_SPACE))
        if not stripped or stripped[0] == "#":
            continue
        column = len(line) - len(stripped) + 1
        key, sep, value = stripped.partition("=")
        if not key:
            message = f"no variable name on line '{stripped}'"
            raise DotenvError(message, Location(path, number, column), raw_format=True)
        if " " in key or "\t" in key:
            message = f"variable '{key}' contains whitespaces"
            raise DotenvError(message, Location(path, number, column), raw_format=True)
        if sep:
            entries.append(DotenvEntry(key, value, number, value))
            continue
        found = lookup(key) if lookup is not None else None
        if found is not None:
            entries.append(DotenvEntry(key, found, number, "", (), True))
    return entries


def read_raw_env(path: str, *, lookup: Optional[Lookup] = None) -> list[DotenvEntry]:
    """Read ``path`` and parse it with :func:`parse_raw_env`."""
    return parse_raw_env(read_env_text(path, raw_format=True), path=path, lookup=lookup)
