"""Interpolation rules, one table per rule.

Every expected value below was produced by Docker Compose v2.40.3
(``docker compose config``); ``test_template_differential.py`` re-checks
them against the binary.
"""

from __future__ import annotations

from typing import Optional

import pytest

from supervisor.compose.model import ComposeError, Location
from supervisor.compose.template import (
    Reference,
    TemplateError,
    interpolate,
    is_variable_name,
    quote_go,
    unset_warning,
    unset_warning_message,
)

ENV = {"A": "va", "E": "", "S": "with $dollar", "ſ": "long s", "\u212a": "kelvin"}


def run(text: str, env: Optional[dict[str, str]] = None) -> str:
    return interpolate(text, (ENV if env is None else env).get)[0]


def refs(text: str, env: Optional[dict[str, str]] = None) -> list[Reference]:
    return interpolate(text, (ENV if env is None else env).get)[1]


@pytest.mark.parametrize(
    "text, want",
    [
        ("$A", "va"),
        ("${A}", "va"),
        ("x$A-y", "xva-y"),
        ("$A_", ""),  # the name is A_
        ("${A}_", "va_"),
        ("$Aé", "vaé"),  # é ends the name
        ("$U", ""),
        ("${U}", ""),
        ("$E", ""),
        ("$S", "with $dollar"),  # values are not interpolated again
        ("$ſ", "long s"),  # folds onto s, so compose takes it as a name
        ("$\u212a", "kelvin"),  # the Kelvin sign folds onto k
        ("$ı", "$ı"),  # dotless i does not
        ("no templates", "no templates"),
        ("", ""),
    ],
)
def test_references(text: str, want: str) -> None:
    assert run(text) == want


@pytest.mark.parametrize(
    "text, want",
    [
        ("$$", "$"),
        ("$$A", "$A"),
        ("$$$A", "$va"),
        ("$${A}", "${A}"),
        ("$", "$"),
        ("a$", "a$"),
        ("$1", "$1"),
        ("$-", "$-"),
        ("$ ", "$ "),
        ("$é", "$é"),
        ("$.A", "$.A"),
    ],
)
def test_literal_dollars(text: str, want: str) -> None:
    assert run(text) == want


@pytest.mark.parametrize(
    "text, want",
    [
        ("${A:-d}", "va"),
        ("${A-d}", "va"),
        ("${E:-d}", "d"),
        ("${E-d}", ""),
        ("${U:-d}", "d"),
        ("${U-d}", "d"),
        ("${U:-}", ""),
        ("${U:-a b}", "a b"),
        ("${U:-:-}", ":-"),
        ("${U-$}", "$"),
        ("${U:-$$}", "$"),
    ],
)
def test_defaults(text: str, want: str) -> None:
    assert run(text) == want


@pytest.mark.parametrize(
    "text, want",
    [
        ("${A:+a}", "a"),
        ("${A+a}", "a"),
        ("${E:+a}", ""),
        ("${E+a}", "a"),
        ("${U:+a}", ""),
        ("${U+a}", ""),
        ("${A:+$$A}", "$A"),
    ],
)
def test_alternates(text: str, want: str) -> None:
    assert run(text) == want


@pytest.mark.parametrize(
    "text, want",
    [
        ("${A:?e}", "va"),
        ("${A?e}", "va"),
        ("${E?e}", ""),
    ],
)
def test_required_present(text: str, want: str) -> None:
    assert run(text) == want


@pytest.mark.parametrize(
    "text, message",
    [
        ("${E:?e}", "required variable E is missing a value: e"),
        ("${U:?e}", "required variable U is missing a value: e"),
        ("${U?e}", "required variable U is missing a value: e"),
        ("${U:?}", "required variable U is missing a value"),
        ("${U?}", "required variable U is missing a value"),
        ("${U:?$A and ${U:-x}}", "required variable U is missing a value: va and x"),
        ("${A?a${B?}}", "required variable B is missing a value"),  # the message is evaluated first
        ("x ${U:?boom} ${}", "required variable U is missing a value: boom"),  # the first error wins
        ("${A:-x} ${U:?boom}", "required variable U is missing a value: boom"),
    ],
)
def test_required_missing(text: str, message: str) -> None:
    with pytest.raises(TemplateError) as caught:
        run(text)
    err = caught.value
    assert err.kind == "required"
    assert err.message == message
    assert err.compose_message("services.s.environment.V") == (
        f"error while interpolating services.s.environment.V: {message}"
    )
    assert err.go_error() == message


@pytest.mark.parametrize(
    "text, want",
    [
        ("${U:-${A}}", "va"),
        ("${U:-${U:-${A}}}", "va"),
        ("${A:-${U}}", "va"),
        ("${U:-${U}}", ""),
        ("${U-${E:-${A}x}y}z", "vaxyz"),
        ("${A:+${U:-$A}}", "va"),
        ("${U:-${A}y}z", "vayz"),
        ("${A:-x}${U:-y}", "vay"),
        ("${A:-x} ${U}", "va "),
        ("${U-${V-${W}}}", ""),
    ],
)
def test_nesting(text: str, want: str) -> None:
    assert run(text) == want


@pytest.mark.parametrize(
    "text, want",
    [
        ("${A}}", "va}"),
        ("{${A}", "{va"),
        ("${A:-x}}", "va}"),
        ("${U:-a}b}c", "ab}c"),
        ("${U:-{x}}", "{x}"),
        # compose skips the character after each "{", so this "}" closes nothing
        ("${U:-{}x}", "{}x"),
        ("${U:-{}x}}", "{}x}"),
        ("${U:-${V:-a}b}c}d", "abc}d"),  # cut at the brace closing the outer ${
    ],
)
def test_braces(text: str, want: str) -> None:
    assert run(text) == want


@pytest.mark.parametrize(
    "text, quoted",
    [
        ("${}", "${}"),
        ("${ }", "${ }"),
        ("${1}", "${1}"),
        ("${A:x}", "${A:x}"),
        ("${A", "${A"),
        ("${A.B}", "${A.B}"),
        ("${-A}", "${-A}"),
        ("${A[x]}", "${A[x]}"),
        ("${A:-\n}", "${A:-\n}"),  # a default does not span lines
        # errors inside a default quote the default; after a brace, the rest
        ("${A-${B}", "${B"),
        ("${A:-${}}", "${}"),
        ("${A:-${B[x]}}", "${B[x]}"),
        ("${A:-x} ${U:-${}}", "${}"),
        ("${A:-x} ${}", " ${}"),
        ("${} ${U:?boom}", "${} ${U:?boom}"),
    ],
)
def test_malformed(text: str, quoted: str) -> None:
    with pytest.raises(TemplateError) as caught:
        run(text)
    err = caught.value
    assert err.kind == "invalid"
    assert err.template == quoted
    assert err.compose_message("services.s.environment.V") == (
        "invalid interpolation format for services.s.environment.V.\n"
        f"You may need to escape any $ with another $.\n{quoted}"
    )
    assert err.go_error() == f"Invalid template: {quote_go(quoted)}"


def test_error_carries_location_and_is_a_compose_error() -> None:
    where = Location("compose.yaml", 7, 12)
    with pytest.raises(ComposeError) as caught:
        interpolate("${}", ENV.get, location=where)
    assert isinstance(caught.value, TemplateError)
    assert caught.value.location == where
    assert str(caught.value).startswith("compose.yaml:7:12: invalid interpolation format")


@pytest.mark.parametrize(
    "text, want",
    [
        ("$A", [Reference("A", "va", False)]),
        ("$U", [Reference("U", None, False)]),
        ("${A:-d}", [Reference("A", "va", False, ":-")]),
        ("${E:-d}", [Reference("E", "", True, ":-")]),
        ("${E-d}", [Reference("E", "", False, "-")]),
        ("${U-d}", [Reference("U", None, True, "-")]),
        ("${A:+a}", [Reference("A", "va", True, ":+")]),
        ("${E:+a}", [Reference("E", "", False, ":+")]),
        ("${E+a}", [Reference("E", "", True, "+")]),
        ("${A?e}", [Reference("A", "va", False, "?")]),
        # a default is evaluated even when unused, before its own variable
        ("${A:-$U}", [Reference("U", None, False), Reference("A", "va", False, ":-")]),
        (
            "${U:-${V:-x}}$A",
            [Reference("V", None, True, ":-"), Reference("U", None, True, ":-"), Reference("A", "va", False)],
        ),
        ("$$A", []),
    ],
)
def test_reference_records(text: str, want: list[Reference]) -> None:
    assert refs(text) == want


@pytest.mark.parametrize(
    "text, blanks",
    [
        ("$U $U ${V}", ["U", "U", "V"]),  # one warning per occurrence
        ("${U:-d} ${U-d} ${U:+a} ${U+a}", []),
        ("${A:-$U}", ["U"]),  # even inside an unused default
        ("${A:+$X}", ["X"]),
        ("${U-${V-${W}}}", ["W"]),
    ],
)
def test_unset_without_default_is_warned(text: str, blanks: list[str]) -> None:
    assert [r.name for r in refs(text) if r.defaulted_to_blank] == blanks


def test_references_survive_an_error() -> None:
    with pytest.raises(TemplateError) as caught:
        run("$A ${U:?no} $B")
    assert [r.name for r in caught.value.references] == ["A", "U", "B"]


def test_warning_text() -> None:
    assert unset_warning_message("X") == 'The "X" variable is not set. Defaulting to a blank string.'
    assert unset_warning("X") == 'WARN[0000] The "X" variable is not set. Defaulting to a blank string.'


@pytest.mark.parametrize(
    "name, ok",
    [("A", True), ("_a1", True), ("ſ", True), ("1A", False), ("A-B", False), ("A.B", False), ("", False)],
)
def test_variable_names(name: str, ok: bool) -> None:
    assert is_variable_name(name) is ok


@pytest.mark.parametrize(
    "text, want",
    [
        ("a", '"a"'),
        ('say "hi"', '"say \\"hi\\""'),
        ("back\\slash", '"back\\\\slash"'),
        ("tab\tnl\n", '"tab\\tnl\\n"'),
        ("\x00\x7f", '"\\x00\\x7f"'),
        ("\x85\xa0é", '"\\u0085\\u00a0é"'),
        ("\U000e0001", '"\\U000e0001"'),
    ],
)
def test_go_quoting(text: str, want: str) -> None:
    assert quote_go(text) == want


def test_nesting_of_2000_defaults_resolves_as_in_compose() -> None:
    assert interpolate("${U:-" * 2000 + "x" + "}" * 2000, {}.get)[0] == "x"


def test_absurd_nesting_is_a_template_error() -> None:
    deep = "${U:-" * 5000 + "x" + "}" * 5000
    with pytest.raises(TemplateError) as caught:
        interpolate(deep, {}.get)
    assert caught.value.kind == "invalid"


def test_moderate_nesting_works() -> None:
    assert run("${U:-" * 50 + "x" + "}" * 50) == "x"
