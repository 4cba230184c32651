"""Interpolation and the .env formats, compared with the real Docker Compose v2 binary.

Templates go into ``services.s.environment`` of a throw-away compose file
(one key per template, batched; a failing batch is re-run one template at a
time); env files go in through ``env_file:``, which compose parses with the
same reader as the project ``.env``.  Values, warnings and refusals must all
agree, error texts included.
"""

from __future__ import annotations

import os
import tempfile
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from supervisor.compose.dotenv import DotenvError, fold, parse_dotenv, parse_raw_env
from supervisor.compose.template import TemplateError, interpolate, unset_warning_message

from .oracle import compose_config, unescape_config_string, yaml_quote

pytestmark = pytest.mark.differential


@dataclass(frozen=True)
class Outcome:
    """A value (or an error text) and the warnings logged on the way."""

    value: Optional[str]
    error: Optional[str]
    warnings: tuple[str, ...] = ()


def _key(index: int) -> str:
    return f"V{index}"


def _write_templates(directory: Path, templates: dict[str, str]) -> None:
    lines = ["services:", "  s:", "    image: x", "    environment:"]
    lines += [f"      {key}: {yaml_quote(text)}" for key, text in templates.items()]
    (directory / "compose.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")


def _compose_batch(templates: dict[str, str], env: dict[str, str]):
    with tempfile.TemporaryDirectory(prefix="compose-template-") as tmp:
        _write_templates(Path(tmp), templates)
        return compose_config(tmp, env)


def _compose_single(key: str, text: str, env: dict[str, str]) -> Outcome:
    result = _compose_batch({key: text}, env)
    if not result.ok:
        return Outcome(None, result.error)
    value = unescape_config_string(result.config["services"]["s"]["environment"][key])
    return Outcome(value, None, tuple(result.warnings))


def compose_interpolate(
    templates: list[str], env: dict[str, str], *, alone: frozenset[int] = frozenset()
) -> tuple[list[Outcome], Counter]:
    """What compose makes of each template, and the warnings of the batch.

    Compose stops at the first error, so the templates listed in ``alone``
    (those expected to fail) get a run each; the others share one run, and
    are re-run one by one should it fail after all.  Compose walks the
    environment mapping in Go's random map order, so the warnings of a batch
    are only comparable as a multiset.
    """
    outcomes: dict[int, Outcome] = {}
    batch = {i: t for i, t in enumerate(templates) if i not in alone}
    warnings: Counter = Counter()
    singles = [i for i in range(len(templates)) if i in alone]
    if batch:
        result = _compose_batch({_key(i): t for i, t in batch.items()}, env)
        if result.ok:
            environment = result.config["services"]["s"]["environment"]
            for i in batch:
                outcomes[i] = Outcome(unescape_config_string(environment[_key(i)]), None)
            warnings.update(result.warnings)
        else:
            singles += list(batch)
    with ThreadPoolExecutor(max_workers=4) as pool:
        done = pool.map(lambda i: (i, _compose_single(_key(i), templates[i], env)), singles)
        for i, outcome in done:
            outcomes[i] = outcome
            warnings.update(outcome.warnings)
    return [outcomes[i] for i in range(len(templates))], warnings


def ours(templates: list[str], env: dict[str, str]) -> tuple[list[Outcome], Counter]:
    outcomes = []
    everything: Counter = Counter()
    for i, text in enumerate(templates):
        try:
            value, refs = interpolate(text, env.get)
        except TemplateError as err:
            outcomes.append(Outcome(None, err.compose_message(f"services.s.environment.{_key(i)}")))
            continue
        warnings = tuple(unset_warning_message(r.name) for r in refs if r.defaulted_to_blank)
        everything.update(warnings)
        outcomes.append(Outcome(value, None, warnings))
    return outcomes, everything


def assert_templates_agree(templates: list[str], env: dict[str, str]) -> None:
    mine, my_warnings = ours(templates, env)
    failing = frozenset(i for i, outcome in enumerate(mine) if outcome.error is not None)
    theirs, their_warnings = compose_interpolate(templates, env, alone=failing)
    for text, want, got in zip(templates, theirs, mine):
        assert (got.value, got.error) == (want.value, want.error), f"template {text!r} with {env!r}"
    assert my_warnings == their_warnings, f"warnings for {templates!r} with {env!r}"


ENV = {"A": "va", "E": "", "S": "with $dollar and }brace", "ſ": "long s"}

TEMPLATE_CASES = [
    # plain references and names
    "$A",
    "${A}",
    "$U",
    "${U}",
    "$E",
    "x$A-y",
    "$A_",
    "${A}_",
    "$Aé",
    "$ſ",
    "$ı",
    "$S",
    # stray dollars
    "$",
    "a$",
    "$1",
    "$-",
    "$ ",
    "$é",
    "$.A",
    "$$",
    "$$A",
    "$$$A",
    "$${A}",
    # defaults
    "${A:-d}",
    "${A-d}",
    "${E:-d}",
    "${E-d}",
    "${U:-d}",
    "${U-d}",
    "${U:-}",
    "${U-}",
    "${U:-a b}",
    "${U:-:-}",
    "${U-$}",
    "${U:-$$}",
    # alternates
    "${A:+a}",
    "${A+a}",
    "${E:+a}",
    "${E+a}",
    "${U:+a}",
    "${U+a}",
    "${A:+$$A}",
    # required
    "${A:?e}",
    "${A?e}",
    "${E?e}",
    "${E:?e}",
    "${U:?e}",
    "${U?e}",
    "${U:?}",
    "${U?}",
    "${U:?$A and ${U:-x}}",
    # nesting
    "${U:-${A}}",
    "${U:-${U:-${A}}}",
    "${A:-${U}}",
    "${U:-${U}}",
    "${U-${E:-${A}x}y}z",
    "${A:+${U:-$A}}",
    "${U:-{x}}",
    "${U:-{}x}",
    "${U:-{}x}}",
    "${U:-a}b}c",
    "${U:-${V:-a}b}c}d",
    "${A:-x}${U:-y}",
    "${A:-x} ${U}",
    "${A}}",
    "{${A}",
    "${A:-x}}",
    # malformed
    "${}",
    "${ }",
    "${1}",
    "${A:x}",
    "${A",
    "${A-${B}",
    "${A:-${}}",
    "${} ${U:?boom}",
    "x ${U:?boom} ${}",
    "${A:-x} ${U:-${}}",
    "${A:-\n}",
    "${U:-a\nb}",
    "${A[x]}",
    "${A:-${B[x]}}",
    "${A.B}",
    "${-A}",
]


def test_templates_agree_with_compose() -> None:
    assert_templates_agree(TEMPLATE_CASES, ENV)


def test_templates_with_an_empty_environment() -> None:
    assert_templates_agree(["$A", "${A-}", "${A:+x}", "${A?}"], {})


# -- generated templates -------------------------------------------------------

NAMES = ["A", "E", "U", "a_1", "S"]
LITERALS = st.text(alphabet="abc _-:?+{}#'\"\\é", max_size=4)


def _template(depth: int) -> st.SearchStrategy[str]:
    name = st.sampled_from(NAMES)
    leaves = [
        LITERALS,
        name.map(lambda n: "$" + n),
        name.map(lambda n: "${" + n + "}"),
        st.sampled_from(["$$", "$", "${", "}", "{", "${}", "$1", "\n"]),
    ]
    if depth > 0:
        inner = _template(depth - 1)
        leaves.append(
            st.builds(
                lambda n, op, body, close: "${" + n + op + body + close,
                name,
                st.sampled_from([":-", "-", ":+", "+", ":?", "?"]),
                inner,
                st.sampled_from(["}", "}", "}", ""]),
            )
        )
    return st.lists(st.one_of(leaves), max_size=4).map("".join)


TEMPLATES = _template(2)
ENVIRONMENTS = st.dictionaries(
    st.sampled_from(NAMES), st.sampled_from(["", "v", "two words", "$A", "}", "x:-y"]), max_size=len(NAMES)
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(templates=st.lists(TEMPLATES, min_size=1, max_size=6), env=ENVIRONMENTS)
def test_generated_templates_agree_with_compose(templates: list[str], env: dict[str, str]) -> None:
    assert_templates_agree(templates, env)


# -- env files -----------------------------------------------------------------


def compose_env_file(content: str, env: dict[str, str], *, raw: bool = False) -> Outcome:
    """The service environment compose reads from ``content`` as an env_file (values as JSON text)."""
    with tempfile.TemporaryDirectory(prefix="compose-dotenv-") as tmp:
        env_path = os.path.join(tmp, "x.env")
        with open(env_path, "w", encoding="utf-8", newline="") as handle:
            handle.write(content)
        entry = "      - path: x.env\n        format: raw\n" if raw else "      - x.env\n"
        Path(tmp, "compose.yaml").write_text("services:\n  s:\n    image: x\n    env_file:\n" + entry, encoding="utf-8")
        result = compose_config(tmp, env)
        if not result.ok:
            return Outcome(None, result.error.replace(env_path, "<path>"))
        environment = result.config["services"]["s"].get("environment") or {}
        # compose escapes $ in the keys it prints as well as in the values.
        values = dict(sorted((unescape_config_string(k), unescape_config_string(v)) for k, v in environment.items()))
        return Outcome(repr(values), None, tuple(sorted(result.warnings)))


def our_env_file(content: str, env: dict[str, str], *, raw: bool = False) -> Outcome:
    try:
        if raw:
            entries = parse_raw_env(content, path="x.env", lookup=env.get)
        else:
            entries = parse_dotenv(content, path="x.env", lookup=env.get)
    except DotenvError as err:
        return Outcome(None, err.compose_message("<path>"))
    values = {k: e.value for k, e in sorted(fold(entries).items())}
    warnings = [unset_warning_message(r.name) for e in entries for r in e.references if r.defaulted_to_blank]
    return Outcome(repr(values), None, tuple(sorted(warnings)))


def assert_env_file_agrees(content: str, env: dict[str, str], *, raw: bool = False) -> None:
    want = compose_env_file(content, env, raw=raw)
    got = our_env_file(content, env, raw=raw)
    assert got == want, f"env file {content!r} with {env!r}"


SHELL = {"A": "shell-a", "EMPTY": ""}

DOTENV_CASES = [
    "A=1\nB=2\n",
    "A=1 #c\nB=x#y\nC= #c\nD=  v  \nE='s' #c\n",
    'E="q" F=2\n',
    "export K=1\nexport  L = 2\nexport\tM=3\nexportN=4\nexport=5\n",
    "K: 1\nL :2\nM=: 3\nN=a=b\n",
    "K.L=1\nM-N=2\nO[0]=3\né=4\n",
    "A\nEMPTY\nNOPE\n",
    "K=1\nK\n",
    "A=file\nB=$A\nC=${K:-$A}\nK=k\nD=$K\n",
    "K=$NOPE\nL=\"$NOPE\"\nM='$NOPE'\n",
    'K="a\\nb\\tc\\"d\\\\e\\$f\\0123g\\qh"\n',
    "K='a\\nb\\'c'\n",
    'K=\'a\\\\\'\nL="a\\\\"\nM="\\\'"\n',
    'K="\\0"\nL="\\01"\nM="\\0777"\nN="\\a\\b\\f\\v\\r"\nO="\\x41\\u0041"\n',
    'K="multi\nline\n  value"\nL=after\n',
    'K=x\r\nL="y"\r\nA\r\n',
    "\ufeffK=1\n",
    "K=1",
    "K",
    "=1\n",
    "# only a comment",
    "\n\n   \n",
    'K=  "x"\nL=x "y"\n',
    'K=$$A\nL=\\$A\nM="\\$A"\n',
    "K=${EMPTY:-d}\nL=${EMPTY-d}\nM=${A:+alt}\n",
    # refused
    "K L=1\n",
    'K"=1\n',
    'K="unterminated\nL=2\n',
    "K='unterminated",
    "K=${NOPE:?missing}\n",
    "K=${}\n",
    "K=${K.L:-d}\n",
    "export ",
    "A\nB C=1\n",
    '# c\nK=1\nL="x\ny"\nM N=1\n',
    'K="x" junk junk2=1\n',
    'K="x"junk=1\nL M=2\n',
]


@pytest.mark.parametrize("content", DOTENV_CASES)
def test_env_file_agrees_with_compose(content: str) -> None:
    assert_env_file_agrees(content, SHELL)


RAW_CASES = [
    'A="x" #c\n#c\nK=$A\nexport E=1\n\ufeffF=1\n',
    "\ufeffK=1\n \ufeffL=2\n",
    "K=1\r\nL=2\r\n",
    "K=1\n\x0bL=2\n\x85M=3\n",
    "A\nK=1\nA\nNOPE\n",
    "K= spaced  \n",
    "  B = y \n",
    "K L=1\n",
    "=1\n",
    "K\tL=1\n",
]


@pytest.mark.parametrize("content", RAW_CASES)
def test_raw_env_file_agrees_with_compose(content: str) -> None:
    assert_env_file_agrees(content, SHELL, raw=True)


def test_project_dotenv_feeds_interpolation() -> None:
    """The project ``.env`` is read with the same rules: the shell wins, also inside the file."""
    content = "A=file\nB=$A\nC=\"${NOPE:-d}\"\nD='$A'\n"
    env = {"A": "shell"}
    with tempfile.TemporaryDirectory(prefix="compose-dotenv-") as tmp:
        Path(tmp, ".env").write_text(content, encoding="utf-8")
        _write_templates(Path(tmp), {"V0": "$A", "V1": "$B", "V2": "$C", "V3": "$D"})
        result = compose_config(tmp, env)
    assert result.ok, result.stderr
    theirs = [unescape_config_string(result.config["services"]["s"]["environment"][f"V{i}"]) for i in range(4)]

    entries = fold(parse_dotenv(content, path=".env", lookup=env.get))
    project = {k: e.value for k, e in entries.items()}
    project.update(env)  # the shell wins over .env
    mine = [interpolate(t, project.get)[0] for t in ["$A", "$B", "$C", "$D"]]
    assert mine == theirs == ["shell", "shell", "d", "$A"]


# -- generated env files -------------------------------------------------------

KEYS = st.sampled_from(["A", "K", "L", "k.l", "m-n", "o[0]", "EMPTY", "NOPE"])
PLAIN = st.text(alphabet="ab #=:$-{}'\"\\\t", max_size=6)
TEMPLATE_BITS = st.sampled_from(["$A", "${K}", "${NOPE:-d}", "${EMPTY:+x}", "$$", "${L-$K}", "$NOPE", "${}"])
DQ_BITS = st.sampled_from(["\\n", "\\t", '\\"', "\\\\", "\\$", "\\0101", "\\q", "\n", "'"])
SQ_BITS = st.sampled_from(["\\'", "\\n", "\n", '"', "$A"])


def _chunks(*parts: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.lists(st.one_of(*parts), max_size=4).map("".join)


VALUES = st.one_of(
    _chunks(PLAIN, TEMPLATE_BITS),
    _chunks(PLAIN.filter(lambda s: '"' not in s and "\\" not in s), TEMPLATE_BITS, DQ_BITS).map(
        lambda s: '"' + s + '"'
    ),
    _chunks(PLAIN.filter(lambda s: "'" not in s and "\\" not in s), SQ_BITS).map(lambda s: "'" + s + "'"),
)
ASSIGNMENTS = st.builds(
    lambda prefix, key, sep, value, tail: prefix + key + sep + value + tail,
    st.sampled_from(["", "", "export ", "  ", "\t"]),
    KEYS,
    st.sampled_from(["=", "=", "= ", " = ", ": ", ":"]),
    VALUES,
    st.sampled_from(["", "", " # note", "  ", " junk"]),
)
LINES = st.one_of(
    ASSIGNMENTS,
    ASSIGNMENTS,
    ASSIGNMENTS,
    st.sampled_from(["", "# comment", "  # indented", "A", "NOPE", "K L=1", "bad!=1", "export"]),
)
ENV_FILES = st.builds(
    lambda lines, newline, last: newline.join(lines) + last,
    st.lists(LINES, max_size=6),
    st.sampled_from(["\n", "\n", "\r\n"]),
    st.sampled_from(["\n", ""]),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(content=ENV_FILES)
def test_generated_env_files_agree_with_compose(content: str) -> None:
    assert_env_file_agrees(content, SHELL)
