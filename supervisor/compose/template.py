"""Variable interpolation in compose values, exactly as Docker Compose v2 does it.

This is a pure core: it never reads the process environment.  The caller
passes a *lookup* (``name -> value or None``) and gets the substituted text
back together with a record of every variable it consulted.

Supported forms (compose-go's ``template`` package, as shipped in compose
v2.40):

========================  ====================================================
``$V`` / ``${V}``         value of V; unset gives "" and a warning
``${V:-d}`` / ``${V-d}``  d when V is unset or empty / only when unset
``${V:+a}`` / ``${V+a}``  a when V is set and non-empty / whenever set, else V
``${V:?e}`` / ``${V?e}``  error when V is unset or empty / only when unset
``$$``                    a literal ``$``
========================  ====================================================

Rules worth knowing, all observed on the real binary:

- A name is ``[_A-Za-z][_A-Za-z0-9]*``; because compose matches it
  case-insensitively, the two letters that fold onto ASCII (``ſ`` U+017F and
  the Kelvin sign U+212A) count as well.
- ``$`` not followed by ``$``, a name or ``{`` stays a literal ``$``
  (``$1``, ``$-``, a trailing ``$``).
- ``${`` followed by anything but a valid braced form (``${}``, ``${1}``,
  ``${A:x}``, an unclosed ``${A``) is an error.
- The default, alternate or error text may itself hold templates; it is
  always evaluated, even when it is not used, so variables in it are
  consulted (and warned about) either way.
- Braced forms with an operator extend to the *last* ``}`` on the line and
  are then cut back at the matching brace; what follows is interpolated
  afresh.  This decides which text an error message quotes.
- Processing continues after the first error (more warnings may be logged)
  but only the first error is reported.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Callable, Optional, cast

from supervisor.compose.model import ComposeError, Location

__all__ = [
    "Lookup",
    "MAX_RESULT_CHARS",
    "OPERATORS",
    "TemplateError",
    "Reference",
    "interpolate",
    "is_variable_name",
    "unset_warning",
    "unset_warning_message",
    "quote_go",
]

#: The longest text one interpolation may produce.  Values that interpolate other large values
#: grow geometrically (``B=$A$A$A``, ``C=$B$B$B``): past this the input is refused, not expanded.
MAX_RESULT_CHARS = 16 * 1024 * 1024

Lookup = Callable[[str], Optional[str]]
"""Returns a variable's value, or None when it is unset."""

#: The operators of braced templates, in the order compose tries them.
OPERATORS = (":?", "?", ":-", "-", ":+", "+")

# compose-go compiles its pattern with (?i); the explicit folds below are what
# that flag adds to [a-z] under Go's simple case folding.
_FIRST = "_A-Za-z\u017f\u212a"
_NAME = f"[{_FIRST}][{_FIRST}0-9]*"
_PATTERN = re.compile(
    r"\$(?:"
    r"(?P<escaped>\$)"
    rf"|(?P<named>{_NAME})"
    rf"|\{{(?:(?P<braced>{_NAME}(?::?[-+?](?:.*))?)\}}|(?P<invalid>))"
    r")"
)
_NAME_RE = re.compile(_NAME)

_WARNING = "The {} variable is not set. Defaulting to a blank string."


@dataclasses.dataclass(frozen=True)
class Reference:
    """One variable consulted while interpolating.

    ``used_default`` is True when the template's own text replaced the
    variable: the default of ``${V:-d}``/``${V-d}``, or the alternate of
    ``${V:+a}``/``${V+a}``.  ``operator`` is the braced operator (one of
    :data:`OPERATORS`) or ``""`` for ``$V`` and ``${V}``.
    """

    name: str
    value: Optional[str]
    used_default: bool
    operator: str = ""

    @property
    def defaulted_to_blank(self) -> bool:
        """True when compose substituted "" for an unset variable and warned about it."""
        return self.operator == "" and self.value is None


class TemplateError(ComposeError):
    """A malformed template, or a ``${V:?e}``/``${V?e}`` whose variable is missing.

    ``kind`` is ``"invalid"`` (``template`` holds the text compose quotes) or
    ``"required"`` (``variable`` and ``reason`` are set).  ``references``
    lists the variables consulted before and after the failure, as for a
    successful call.
    """

    def __init__(
        self,
        message: str,
        location: Optional[Location] = None,
        *,
        kind: str,
        template: Optional[str] = None,
        variable: Optional[str] = None,
        reason: Optional[str] = None,
        references: tuple[Reference, ...] = (),
    ):
        super().__init__(message, location)
        self.kind = kind
        self.template = template
        self.variable = variable
        self.reason = reason
        self.references = references

    @classmethod
    def invalid(cls, template: str) -> "TemplateError":
        return cls(
            f"invalid interpolation format {quote_go(template)}. You may need to escape any $ with another $.",
            kind="invalid",
            template=template,
        )

    @classmethod
    def required(cls, variable: str, reason: str) -> "TemplateError":
        return cls(_required_text(variable, reason), kind="required", variable=variable, reason=reason)

    def compose_message(self, path: str) -> str:
        """The text ``docker compose`` prints for this error at ``path`` (``services.s.environment.V``)."""
        if self.kind == "invalid":
            return (
                f"invalid interpolation format for {path}.\n"
                f"You may need to escape any $ with another $.\n{self.template}"
            )
        return f"error while interpolating {path}: {self.message}"

    def go_error(self) -> str:
        """The error text compose-go's template package produces (as embedded in ``.env`` errors)."""
        if self.kind == "invalid":
            return f"Invalid template: {quote_go(self.template or '')}"
        return self.message


def _required_text(variable: str, reason: str) -> str:
    if reason:
        return f"required variable {variable} is missing a value: {reason}"
    return f"required variable {variable} is missing a value"


def is_variable_name(name: str) -> bool:
    """True when ``$name`` would be read as a reference to ``name`` in full."""
    return _NAME_RE.fullmatch(name) is not None


def unset_warning_message(name: str) -> str:
    """The message compose logs for an unset variable without a default."""
    return _WARNING.format(quote_go(name))


def unset_warning(name: str) -> str:
    """The warning line compose prints on a terminal for an unset variable without a default.

    Without a terminal compose logs the same message in logfmt instead
    (``time="..." level=warning msg="..."``).
    """
    return f"WARN[0000] {unset_warning_message(name)}"


def interpolate(text: str, lookup: Lookup, *, location: Optional[Location] = None) -> tuple[str, list[Reference]]:
    """Substitute variables in ``text`` the way compose-go's ``template.Substitute`` does.

    Returns the result and the references in the order compose evaluated
    them (those inside a default come before the variable that owns the
    default).  Raises :class:`TemplateError` carrying ``location``.
    """
    state = _State(lookup)
    try:
        result = state.substitute(text)
    except TemplateError as err:
        err.location = location
        err.references = tuple(state.references)
        raise
    except _TooLarge:
        raise TemplateError(
            f"interpolation produces more than {MAX_RESULT_CHARS // (1024 * 1024)} MiB of text (variables that "
            "repeat other large variables?); shorten the values",
            location,
            kind="invalid",
            template=text[:80],
            references=tuple(state.references),
        ) from None
    except RecursionError:
        # Only absurdly deep nesting gets here; compose itself has no limit.
        raise TemplateError(
            "template nested too deeply to interpolate", location, kind="invalid", template=text
        ) from None
    return result, state.references


class _TooLarge(Exception):
    """Internal: the result passed :data:`MAX_RESULT_CHARS`."""


class _State:
    """One top-level interpolation: the lookup and every variable consulted so far."""

    def __init__(self, lookup: Lookup):
        self.lookup = lookup
        self.references: list[Reference] = []
        self.produced = 0  # characters substituted so far, against MAX_RESULT_CHARS

    def substitute(self, template: str) -> str:
        """One call of compose-go's Substitute; returns "" for the parts that failed."""
        first_error: Optional[TemplateError] = None

        def replace(match: re.Match[str]) -> str:
            nonlocal first_error
            try:
                value = self._replacement(match.group(0))
            except TemplateError as err:
                # Only the first error is reported: later ones are not even formatted (quoting
                # the template for each of them would be quadratic in its length).
                if first_error is None:
                    # An invalid template with no text of its own names the template being
                    # scanned at this level.
                    if err.kind == "invalid" and err.template is None:
                        err = TemplateError.invalid(template)
                    first_error = err
                return ""
            self.produced += len(value)
            if self.produced > MAX_RESULT_CHARS:
                raise _TooLarge
            return value

        if len(template) > MAX_RESULT_CHARS:
            raise _TooLarge
        result = _PATTERN.sub(replace, template)
        if first_error is not None:
            raise first_error
        return result

    def _replacement(self, substring: str) -> str:
        operator = _first_operator(substring)
        closing = _first_brace_closing_index(substring)
        rest = ""
        if closing > -1:
            rest = substring[closing + 1 :]
            substring = substring[: closing + 1]

        # A match cut back at its closing brace is still a match of the same kind.
        match = _PATTERN.match(substring)
        if match is not None and match.group("escaped"):
            return "$"
        named = match.group("named") if match is not None else None
        braced = match.group("braced") if match is not None else None
        if not named and not braced:
            # The caller names the template being scanned.
            raise TemplateError("invalid interpolation format", kind="invalid")

        if braced and operator and operator in braced:
            value = self._apply(operator, braced)
            return value + self.substitute(rest)

        # One of the two is set, checked above.
        name = cast(str, named or braced)
        found = self.lookup(name)
        self.references.append(Reference(name, found, False))
        return found if found is not None else ""

    def _apply(self, operator: str, substitution: str) -> str:
        name, _, text = substitution.partition(operator)
        text = self.substitute(text)
        value = self.lookup(name)
        if operator in (":-", "-"):
            missing = value is None or (operator == ":-" and value == "")
            self.references.append(Reference(name, value, missing, operator))
            return text if missing else value  # type: ignore[return-value]
        if operator in (":+", "+"):
            present = value is not None and (operator == "+" or value != "")
            self.references.append(Reference(name, value, present, operator))
            if present:
                return text
            return value or ""
        # ":?" and "?"
        self.references.append(Reference(name, value, False, operator))
        if value is None or (operator == ":?" and value == ""):
            raise TemplateError.required(name, text)
        return value


def _first_operator(substring: str) -> str:
    """The operator compose applies: the one occurring earliest in the matched text."""
    best, best_at = "", -1
    for op in OPERATORS:
        at = substring.find(op)
        if at >= 0 and (best_at < 0 or at < best_at):
            best, best_at = op, at
    return best


def _first_brace_closing_index(text: str) -> int:
    """Index of the ``}`` closing the first ``{``, counting braces as compose does.

    compose skips the character after every ``{``, so ``{}`` nested in a
    default does not close anything; reproduced because it decides where a
    braced template ends.
    """
    depth = 0
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "}":
            depth -= 1
            if depth == 0:
                return i
        if ch == "{":
            depth += 1
            i += 1
        i += 1
    return -1


_GO_ESCAPES = {"\a": r"\a", "\b": r"\b", "\f": r"\f", "\n": r"\n", "\r": r"\r", "\t": r"\t", "\v": r"\v"}


def quote_go(text: str) -> str:
    """Quote ``text`` like Go's ``%q`` (``strconv.Quote``), which compose uses in messages."""
    out = ['"']
    for ch in text:
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ch.isprintable():
            out.append(ch)
        elif ch in _GO_ESCAPES:
            out.append(_GO_ESCAPES[ch])
        else:
            code = ord(ch)
            if code < 0x20 or code == 0x7F:
                out.append(f"\\x{code:02x}")
            elif code < 0x10000:
                out.append(f"\\u{code:04x}")
            else:
                out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)
