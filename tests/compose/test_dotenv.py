"""The .env formats, one table per rule.

Expected values come from Docker Compose v2.40.3 (the env file given to a
service through ``env_file:``); ``test_template_differential.py`` re-checks
them against the binary.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import pytest

from supervisor.compose.dotenv import (
    DotenvEntry,
    DotenvError,
    fold,
    parse_dotenv,
    parse_raw_env,
    read_dotenv,
    read_raw_env,
)
from supervisor.compose.model import ComposeError, Location
from supervisor.compose.template import Reference

SHELL = {"A": "shell-a", "EMPTY": ""}


def values(text: str, env: Optional[dict[str, str]] = None, **kwargs) -> dict[str, str]:
    entries = parse_dotenv(text, path="x.env", lookup=(SHELL if env is None else env).get, **kwargs)
    return {name: entry.value for name, entry in fold(entries).items()}


def refused(text: str, env: Optional[dict[str, str]] = None) -> DotenvError:
    with pytest.raises(DotenvError) as caught:
        parse_dotenv(text, path="x.env", lookup=(SHELL if env is None else env).get)
    return caught.value


@pytest.mark.parametrize(
    "text, want",
    [
        ("K=1\nL=2\n", {"K": "1", "L": "2"}),
        ("K=1\nK=2\n", {"K": "2"}),
        ("export K=1\nexport  L = 2\nexport\tM=3\n", {"K": "1", "L": "2", "M": "3"}),
        ("exportN=4\nexport=5\n", {"exportN": "4", "export": "5"}),
        ("K: 1\nL :2\nM=: 3\nN=a=b\n", {"K": "1", "L": "2", "M": ": 3", "N": "a=b"}),
        ("K.L=1\nM-N=2\nO[0]=3\né=4\n", {"K.L": "1", "M-N": "2", "O[0]": "3", "é": "4"}),
        ("  K=1\n\tL = 2\n", {"K": "1", "L": "2"}),
        ("K=\nL=", {"K": "", "L": ""}),
        ("\ufeffK=1\n", {"K": "1"}),
        ('K=x\r\nL="y"\r\n', {"K": "x", "L": "y"}),
        # an empty key: compose keeps it
        ("=1\n", {"": "1"}),
        (":1\n", {"": "1"}),
        ("K", {"": "K"}),  # last line without "=" nor line break
        ("export", {"": "export"}),
        ("export\n", {}),
    ],
)
def test_assignments(text: str, want: dict[str, str]) -> None:
    assert values(text) == want


@pytest.mark.parametrize(
    "text, want",
    [
        ("# c\nK=1\n  # indented\n\n", {"K": "1"}),
        ("K=1 #c\n", {"K": "1"}),
        ("K=x#y\n", {"K": "x#y"}),  # only " #" starts a comment
        ("K= #c\n", {"K": "#c"}),  # the space before "#" went with the "="
        ("K=1\t#c\n", {"K": "1\t#c"}),
        ("K='s' #c\n", {"K": "s"}),
        ('K="q" #c\n', {"K": "q"}),
        ("K='a #b'\n", {"K": "a #b"}),
    ],
)
def test_comments(text: str, want: dict[str, str]) -> None:
    assert values(text) == want


@pytest.mark.parametrize(
    "text, want",
    [
        ("K=  v  \n", {"K": "v"}),
        ("K=a b\n", {"K": "a b"}),
        ('K=x "y"\n', {"K": 'x "y"'}),
        ("K=  'x'\n", {"K": "x"}),
        ("K=1\nL=2", {"K": "1", "L": "2"}),
    ],
)
def test_unquoted(text: str, want: dict[str, str]) -> None:
    assert values(text) == want


@pytest.mark.parametrize(
    "text, want",
    [
        ("K='$A'\n", {"K": "$A"}),
        ("K='a\\nb'\n", {"K": "a\\nb"}),
        ("K='it\\'s'\n", {"K": "it's"}),
        ("K='a\\\\'\n", {"K": "a\\\\"}),
        ("K='two\nlines'\n", {"K": "two\nlines"}),
        ("K='' \n", {"K": ""}),
    ],
)
def test_single_quotes(text: str, want: dict[str, str]) -> None:
    assert values(text) == want


@pytest.mark.parametrize(
    "text, want",
    [
        ('K="a\\nb\\tc"\n', {"K": "a\nb\tc"}),
        ('K="\\"q\\""\n', {"K": '"q"'}),
        ('K="a\\\\"\n', {"K": "a\\"}),
        ('K="\\$A"\n', {"K": "$A"}),
        ('K="\\a\\b\\f\\v\\r"\n', {"K": "\a\b\f\v\r"}),
        ('K="\\0123"\n', {"K": "S"}),
        ('K="\\0"\n', {"K": "\\"}),
        ('K="\\01"\n', {"K": "\\1"}),
        ('K="\\0777"\n', {"K": "\\777"}),
        ('K="\\q\\x41\\u0041"\n', {"K": "\\q\\x41\\u0041"}),
        ('K="\\\'"\n', {"K": "\\'"}),
        ('K="multi\nline\n  value"\nL=after\n', {"K": "multi\nline\n  value", "L": "after"}),
        ('K="x" L=2\n', {"K": "x", "L": "2"}),  # a new statement may follow the quote
        ('K="x"L=2\n', {"K": "x", "L": "2"}),
    ],
)
def test_double_quotes(text: str, want: dict[str, str]) -> None:
    assert values(text) == want


@pytest.mark.parametrize(
    "text, env, want",
    [
        ("K=$A\n", SHELL, {"K": "shell-a"}),
        ('K="${A}"\n', SHELL, {"K": "shell-a"}),
        ("K=$NOPE\n", SHELL, {"K": ""}),
        ("K=${NOPE:-d}\nL=${EMPTY-d}\nM=${A:+alt}\n", SHELL, {"K": "d", "L": "", "M": "alt"}),
        ("K=$$A\nL=\\$A\n", SHELL, {"K": "$A", "L": "\\shell-a"}),
        # earlier entries of the file are used...
        ("K=1\nL=$K\n", SHELL, {"K": "1", "L": "1"}),
        # ...but the lookup comes first
        ("A=file\nB=$A\n", SHELL, {"A": "file", "B": "shell-a"}),
        ("A=file\nB=$A\n", {}, {"A": "file", "B": "file"}),
        # a value is interpolated once, when it is read
        ("K=$L\nL=2\n", {}, {"K": "", "L": "2"}),
    ],
)
def test_interpolation(text: str, env: dict[str, str], want: dict[str, str]) -> None:
    assert values(text, env) == want


def test_interpolation_can_be_turned_off() -> None:
    assert values("K=$A\nL=\"${A}\\n\"\nM='$A'\n", interpolate=False) == {"K": "$A", "L": "${A}\n", "M": "$A"}


@pytest.mark.parametrize(
    "text, want",
    [
        ("A\n", {"A": "shell-a"}),
        ("EMPTY\n", {"EMPTY": ""}),
        ("NOPE\n", {}),
        ("K=1\nK\n", {"K": "1"}),  # absent from the lookup: the file's value stays
        ("A=1\nA\n", {"A": "shell-a"}),
        ("A\r\n", {"A": "shell-a"}),
    ],
)
def test_key_alone_is_looked_up(text: str, want: dict[str, str]) -> None:
    assert values(text) == want


@pytest.mark.parametrize(
    "text, detail, where",
    [
        ("K L=1\n", "line 1: key cannot contain a space", (1, 1)),
        ('K"=1\n', 'line 1: unexpected character "\\"" in variable name "K\\"=1"', (1, 2)),
        ("K!=1\n", 'line 1: unexpected character "!" in variable name "K!=1"', (1, 2)),
        ('K="unterminated\nL=2\n', 'line 3: unterminated quoted value "unterminated', (1, 3)),
        ("K='open", "line 1: unterminated quoted value 'open", (1, 3)),
        ("K=${NOPE:?missing}\n", "required variable NOPE is missing a value: missing", (1, 3)),
        ("K=${}\n", 'Invalid template: "${}"', (1, 3)),
        ("K=${K.L:-d}\n", 'Invalid template: "${K.L:-d}"', (1, 3)),
        ("export ", "zero length string", (1, 8)),
        # compose's own line counter, which its messages quote
        ("A\nB C=1\n", "line 2: key cannot contain a space", (2, 1)),
        ('# c\nK=1\nL="x\ny"\nM N=1\n', "line 5: key cannot contain a space", (5, 1)),
        ('K="x" junk junk2=1\n', "line 1: key cannot contain a space", (1, 7)),
        ('K=1\n\n  L" =2\n', 'line 3: unexpected character "\\"" in variable name "L\\" =2"', (3, 4)),
    ],
)
def test_refused(text: str, detail: str, where: tuple[int, int]) -> None:
    err = refused(text)
    assert err.detail == detail
    assert err.compose_message("/abs/x.env") == f"failed to read /abs/x.env: {detail}"
    assert err.location == Location("x.env", *where)
    assert isinstance(err, ComposeError)
    assert str(err).startswith(f"x.env:{where[0]}:{where[1]}: ")


def test_entries_keep_lines_raw_text_and_references() -> None:
    text = "# header\nK=1\nL='x'\nM=\"multi\nline $K\"\nA\nN=${NOPE:-d} # c\n"
    entries = parse_dotenv(text, path="x.env", lookup=SHELL.get)
    assert entries == [
        DotenvEntry("K", "1", 2, "1"),
        DotenvEntry("L", "x", 3, "'x'"),
        DotenvEntry("M", "multi\nline 1", 4, '"multi\nline $K"', (Reference("K", "1", False),)),
        DotenvEntry("A", "shell-a", 6, "", (), True),
        DotenvEntry("N", "d", 7, "${NOPE:-d}", (Reference("NOPE", None, True, ":-"),)),
    ]


def test_duplicates_are_all_returned_and_the_last_wins() -> None:
    entries = parse_dotenv("K=1\nK=2\n", path="x.env")
    assert [(e.name, e.value, e.line) for e in entries] == [("K", "1", 1), ("K", "2", 2)]
    assert fold(entries)["K"].value == "2"


def test_read_dotenv(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_bytes("\ufeffK=é\r\nL=$K\r\n".encode("utf-8"))
    entries = read_dotenv(str(path))
    assert [(e.name, e.value) for e in entries] == [("K", "é"), ("L", "é")]


def test_read_dotenv_errors_name_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "missing.env"
    with pytest.raises(DotenvError) as caught:
        read_dotenv(str(missing))
    assert caught.value.location == Location(str(missing))
    assert str(missing) in str(caught.value)


def test_bytes_that_are_not_utf8_are_kept_as_replacement_characters(tmp_path: Path) -> None:
    # compose reads such a file (Latin-1, say) and keeps the bytes; we keep each as U+FFFD
    undecodable = tmp_path / "latin1.env"
    undecodable.write_bytes(b"K=1\nL=\xe9\n")
    assert [(e.name, e.value) for e in read_dotenv(str(undecodable))] == [("K", "1"), ("L", "\ufffd")]

    syntax = tmp_path / "bad.env"
    syntax.write_text("K L=1\n", encoding="utf-8")
    with pytest.raises(DotenvError) as caught:
        read_dotenv(str(syntax))
    assert caught.value.location == Location(str(syntax), 1, 1)


# -- raw format ----------------------------------------------------------------


def raw_values(text: str, env: Optional[dict[str, str]] = None) -> dict[str, str]:
    entries = parse_raw_env(text, path="x.env", lookup=(SHELL if env is None else env).get)
    return {name: entry.value for name, entry in fold(entries).items()}


@pytest.mark.parametrize(
    "text, want",
    [
        ('K="x" #c\n#c\nL=$A\n', {"K": '"x" #c', "L": "$A"}),
        ("\ufeffK=1\n \ufeffL=2\n", {"K": "1", "\ufeffL": "2"}),  # only a leading BOM goes
        ("K=1\r\nL=2\r\n", {"K": "1", "L": "2"}),
        ("K=1\n\x0bL=2\n\x85M=3\n", {"K": "1", "L": "2", "M": "3"}),
        ("K= spaced  \n", {"K": " spaced  "}),
        ("A\nK=1\nA\nNOPE\n", {"A": "shell-a", "K": "1"}),
        ("", {}),
    ],
)
def test_raw_format(text: str, want: dict[str, str]) -> None:
    assert raw_values(text) == want


@pytest.mark.parametrize(
    "text, detail, line",
    [
        ("  B = y \n", "variable 'B ' contains whitespaces", 1),
        ("K L=1\n", "variable 'K L' contains whitespaces", 1),
        ("export E=1\n", "variable 'export E' contains whitespaces", 1),
        ("K=1\nK\tL=1\n", "variable 'K\tL' contains whitespaces", 2),
        ("=1\n", "no variable name on line '=1'", 1),
    ],
)
def test_raw_format_refused(text: str, detail: str, line: int) -> None:
    with pytest.raises(DotenvError) as caught:
        parse_raw_env(text, path="x.env", lookup=SHELL.get)
    assert caught.value.detail == detail
    assert caught.value.compose_message("/abs/x.env") == f"failed to parse env_file /abs/x.env: {detail}"
    assert caught.value.location is not None and caught.value.location.line == line


def test_read_raw_env(tmp_path: Path) -> None:
    path = tmp_path / "raw.env"
    path.write_text("K=$A 'q'\n", encoding="utf-8")
    assert [(e.name, e.value) for e in read_raw_env(str(path))] == [("K", "$A 'q'")]
    with pytest.raises(DotenvError):
        read_raw_env(os.path.join(str(tmp_path), "missing.env"))
