"""Generated projects, resolved by our loader and by the real Docker Compose v2: same answer.

Each example is a random project folder (see ``strategies.py``).  Our side runs in-process
(``load_project``) or through our CLI; the reference is ``docker-compose config --format json``
with a clean environment (only the generated shell variables, PATH and HOME).  Compared exactly:
the whole document, every field of every service and every top-level section.  When compose
refuses a project we must raise :class:`ComposeError` (the CLI must exit 2), and the reverse.

``Project.config`` holds resolved values, while ``config`` output (compose's and our CLI's)
writes every ``$`` as ``$$`` so that it can be loaded again.  The in-process comparison applies
that same one-to-one escaping to our values; the CLI property compares the printed text as is.

Example counts add up to 510 per run.  Environment knobs:

- ``CI=true``: derandomized (the same examples on every run, no example database);
- ``DIFFERENTIAL_RANDOM=1``: random examples even under CI (nightly-style exploration);
- ``DIFFERENTIAL_SCALE=N``: multiply every example count by ``N`` (e.g. 10 for a long run);
- ``DIFFERENTIAL_SHRINK=0|1``: shrink failing examples (default: on, off under ``CI=true`` where
  a failing run would otherwise spend minutes shrinking; ``CI=true DIFFERENTIAL_SHRINK=1``
  replays the CI examples and shrinks them).

A failure names the differing field in its exception type (``Mismatch_environment``...), so
one run reports each kind of disagreement separately, each shrunk to a minimal project whose
files, environment and both outputs are printed.
"""

from __future__ import annotations

import atexit
import concurrent.futures
import contextlib
import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator, Optional

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, Phase, event, given, note, settings
from hypothesis import strategies as st

from supervisor.compose.loader import load_project
from supervisor.compose.model import ComposeError, LoadOptions

from .oracle import compose_binary, run_compose
from .strategies import ComposeCase, broken_cases, compose_cases

pytestmark = pytest.mark.differential

ABSENT = "<absent>"  # a key missing from the output (distinct from an explicit null)

_SCALE = float(os.environ.get("DIFFERENTIAL_SCALE", "1") or 1)
_RANDOM = os.environ.get("DIFFERENTIAL_RANDOM", "").lower() in ("1", "true", "yes")
_CI = os.environ.get("CI", "").lower() == "true"
_DERANDOMIZE = _CI and not _RANDOM
_SHRINK = os.environ.get("DIFFERENTIAL_SHRINK", "0" if _CI else "1").lower() in ("1", "true", "yes")


def _settings(examples: int) -> settings:
    extra: dict[str, Any] = {"database": None} if _DERANDOMIZE else {}
    phases = [Phase.explicit, Phase.reuse, Phase.generate] + ([Phase.shrink] if _SHRINK else [])
    return settings(
        max_examples=max(1, int(examples * _SCALE)),
        deadline=None,
        derandomize=_DERANDOMIZE,
        phases=phases,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.filter_too_much,
            HealthCheck.large_base_example,
        ],
        **extra,
    )


# ---------------------------------------------------------------------------------------------
# Running both sides
# ---------------------------------------------------------------------------------------------

# compose runs in a worker thread while our loader runs in this one: the two overlap.
_POOL = concurrent.futures.ThreadPoolExecutor(max_workers=1)
_HOME = tempfile.mkdtemp(prefix="compose-diff-home-")  # empty: no ~/.docker/config.json
atexit.register(shutil.rmtree, _HOME, True)


@pytest.fixture(scope="module", autouse=True)
def _reference_binary() -> None:
    compose_binary()  # fails loudly (not a skip) when the reference is missing


@contextlib.contextmanager
def _project_folder(case: ComposeCase) -> Iterator[Path]:
    parent = Path(tempfile.mkdtemp(prefix="compose-diff-"))
    try:
        yield case.write(parent)
    finally:
        shutil.rmtree(parent, ignore_errors=True)


def _environment(case: ComposeCase) -> dict[str, str]:
    env = case.environment()
    env["HOME"] = _HOME
    return env


class Outcome:
    """One side's answer: the comparable config, or the refusal message."""

    def __init__(self, config: Optional[dict[str, Any]], error: str = "", raw: str = ""):
        self.config = config
        self.error = error
        self.raw = raw

    @property
    def ok(self) -> bool:
        return self.config is not None

    def show(self) -> str:
        if not self.ok:
            return f"refused: {self.error}"
        return json.dumps(self.config, indent=2, sort_keys=True, ensure_ascii=False)


def comparable(config: dict[str, Any]) -> dict[str, Any]:
    """The compared part of a ``config --format json`` document: all of it, every field."""
    return config


def _reference(case: ComposeCase, root: Path, env: dict[str, str]) -> "concurrent.futures.Future[Outcome]":
    def run() -> Outcome:
        proc = run_compose([*case.global_args(), "config", "--format", "json"], str(root), env)
        if proc.returncode != 0:
            lines = [ln for ln in proc.stderr.splitlines() if "level=warning" not in ln]
            return Outcome(None, "\n".join(lines).strip() or f"exit {proc.returncode}", proc.stderr)
        return Outcome(comparable(json.loads(proc.stdout)), raw=proc.stdout)

    return _POOL.submit(run)


def _ours(case: ComposeCase, root: Path, env: dict[str, str]) -> Outcome:
    options = LoadOptions(
        files=list(case.files),
        project_name=case.project_name,
        project_directory=case.project_directory,
        env_files=list(case.env_files),
        profiles=list(case.profiles),
        environ=dict(env),
        cwd=str(root),
    )
    try:
        project = load_project(options)
    except ComposeError as exc:
        return Outcome(None, str(exc) or "ComposeError with an empty message")
    # A JSON round trip, as the CLI prints it (tuples become lists and so on).
    return Outcome(comparable(escape_dollars(json.loads(json.dumps(project.config)))))


def escape_dollars(value: Any) -> Any:
    """Every ``$`` of every string (keys too) doubled, as ``config`` output writes resolved values."""
    if isinstance(value, str):
        return value.replace("$", "$$")
    if isinstance(value, dict):
        return {escape_dollars(k): escape_dollars(v) for k, v in value.items()}
    if isinstance(value, list):
        return [escape_dollars(v) for v in value]
    return value


@contextlib.contextmanager
def _process_state(env: dict[str, str], cwd: Path) -> Iterator[None]:
    """Run our CLI as a fresh process would: only ``env`` in os.environ, ``cwd`` as the folder."""
    saved_env, saved_cwd = dict(os.environ), os.getcwd()
    os.environ.clear()
    os.environ.update(env)
    os.chdir(cwd)
    try:
        yield
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)


def _ours_cli(case: ComposeCase, root: Path, env: dict[str, str]) -> Outcome:
    from supervisor.cli import main

    args = ["config", "--format", "json", "--no-mask", *case.global_args()]
    with _process_state(env, root):
        result = CliRunner().invoke(main, args, catch_exceptions=True)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    if result.exit_code == 0:
        return Outcome(comparable(json.loads(result.stdout)), raw=result.stdout)
    assert result.exit_code == 2, f"refusal must exit 2, got {result.exit_code}: {result.stderr}"
    return Outcome(None, result.stderr.strip() or "(no message)")


# ---------------------------------------------------------------------------------------------
# Comparing
# ---------------------------------------------------------------------------------------------


class Mismatch(AssertionError):
    """Our answer differs from Docker Compose's."""


_KINDS: dict[str, type[Mismatch]] = {}


def _mismatch(kind: str) -> type[Mismatch]:
    # One exception type per field: the test runner then reports each kind separately.
    if kind not in _KINDS:
        _KINDS[kind] = type("Mismatch_" + re.sub(r"\W", "_", kind), (Mismatch,), {})
    return _KINDS[kind]


def differences(expected: Any, actual: Any, path: str = "") -> list[tuple[str, Any, Any]]:
    """Paths where two JSON values differ, with both values."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        out = []
        for key in sorted(set(expected) | set(actual), key=str):
            out += differences(expected.get(key, ABSENT), actual.get(key, ABSENT), f"{path}.{key}" if path else key)
        return out
    if expected == actual and type(expected) is type(actual):
        return []
    return [(path, expected, actual)]


def _kind(path: str, reference: dict[str, Any]) -> str:
    parts = path.split(".")
    if parts[0] == "services" and len(parts) >= 3 and parts[1] in reference.get("services", {}):
        return parts[2]
    if parts[0] == "services" and len(parts) >= 2:
        return "service_set"
    return parts[0]


def check(case: ComposeCase, reference: Outcome, ours: Outcome) -> None:
    """Fail with a readable report unless both sides agree."""
    event("compose accepted" if reference.ok else "compose refused")
    if case.broken:
        event(f"broken: {case.broken.split(':')[0].split(' ')[0]}")
    if not reference.ok and not ours.ok:
        return
    if reference.ok and ours.ok:
        diffs = differences(reference.config, ours.config)
        if not diffs:
            return
        kind = _kind(diffs[0][0], reference.config or {})
        lines = [
            f"  {p}: compose {json.dumps(e, ensure_ascii=False)} / ours {json.dumps(a, ensure_ascii=False)}"
            for p, e, a in diffs
        ]
        summary = "\n".join(lines)
    elif reference.ok:
        kind, summary = "we_refuse", f"compose accepts; we refuse: {ours.error}"
    else:
        kind, summary = "we_accept", f"compose refuses ({reference.error}); we accept"
    note(f"{case.describe()}\n\nCompose printed:\n{reference.show()}\n\nWe produced:\n{ours.show()}")
    raise _mismatch(kind)(f"{kind}:\n{summary}")


# ---------------------------------------------------------------------------------------------
# The properties
# ---------------------------------------------------------------------------------------------


@_settings(330)
@given(compose_cases())
def test_generated_project_resolves_like_compose(case: ComposeCase) -> None:
    with _project_folder(case) as root:
        env = _environment(case)
        pending = _reference(case, root, env)
        ours = _ours(case, root, env)
        check(case, pending.result(), ours)


@_settings(120)
@given(broken_cases())
def test_broken_project_is_refused_like_compose(case: ComposeCase) -> None:
    with _project_folder(case) as root:
        env = _environment(case)
        pending = _reference(case, root, env)
        ours = _ours(case, root, env)
        check(case, pending.result(), ours)


@_settings(60)
@given(compose_cases())
def test_cli_config_json_matches_compose(case: ComposeCase) -> None:
    with _project_folder(case) as root:
        env = _environment(case)
        pending = _reference(case, root, env)
        ours = _ours_cli(case, root, env)
        check(case, pending.result(), ours)


def _text_outcomes(case: ComposeCase, root: Path, env: dict[str, str], extra: list[str]) -> tuple[Any, Any]:
    """compose's and our exact ``config`` text for ``extra`` (exit code, stdout)."""
    from supervisor.cli import main

    pending = _POOL.submit(run_compose, [*case.global_args(), "config", *extra], str(root), env)
    with _process_state(env, root):
        result = CliRunner().invoke(main, ["config", *extra, "--no-mask", *case.global_args()], catch_exceptions=True)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return pending.result(), result


@_settings(60)
@given(
    compose_cases(),
    st.sampled_from([["--no-normalize"], ["--no-normalize", "--format", "json"], [], ["--format", "json"]]),
)
def test_cli_config_text_is_compose_byte_for_byte(case: ComposeCase, extra: list[str]) -> None:
    with _project_folder(case) as root:
        env = _environment(case)
        theirs, ours = _text_outcomes(case, root, env, extra)
        if theirs.returncode != 0:
            assert ours.exit_code == 2, f"compose refused ({theirs.stderr.strip()}), we printed:\n{ours.stdout}"
            return
        assert ours.exit_code == 0, f"compose printed, we refused: {ours.stderr}\n{case.describe()}"
        assert ours.stdout == theirs.stdout, case.describe()


# ---------------------------------------------------------------------------------------------
# The comparison itself must catch differences (a checker that passes everything proves nothing)
# ---------------------------------------------------------------------------------------------


def test_comparison_catches_a_changed_environment_value() -> None:
    base = {"name": "p", "services": {"a": {"image": "x", "environment": {"A": "1", "B": None}}}}
    changed = json.loads(json.dumps(base))
    changed["services"]["a"]["environment"]["B"] = ""
    assert differences(comparable(base), comparable(changed)) == [("services.a.environment.B", None, "")]


def test_comparison_tells_absent_from_null_and_compares_every_key() -> None:
    base = {"name": "p", "services": {"a": {"image": "x", "command": None, "ports": []}}, "x-top": 1}
    other = {"name": "p", "services": {"a": {"image": "x", "ports": [{"target": 80}]}}, "x-top": 2}
    assert differences(comparable(base), comparable(other)) == [
        ("services.a.command", None, ABSENT),
        ("services.a.ports", [], [{"target": 80}]),
        ("x-top", 1, 2),
    ]


def test_escaping_doubles_every_dollar_and_nothing_else() -> None:
    value = {"A$": ["$", "$$x", "${V}", 3, None, True], "b": "plain"}
    assert escape_dollars(value) == {"A$$": ["$$", "$$$$x", "$${V}", 3, None, True], "b": "plain"}


def test_comparison_tells_int_from_string() -> None:
    assert differences({"x": 2}, {"x": "2"}) == [("x", 2, "2")]


@_settings(60)
@given(
    compose_cases(),
    st.sampled_from(
        [
            ["--no-interpolate"],
            ["--no-interpolate", "--format", "json"],
            ["--no-interpolate", "--no-normalize"],
            ["--no-interpolate", "--no-normalize", "--format", "json"],
        ]
    ),
)
def test_cli_config_no_interpolate_is_compose_byte_for_byte(case: ComposeCase, extra: list[str]) -> None:
    """The uninterpolated model (templates as written, values untyped), the whole text."""
    with _project_folder(case) as root:
        env = _environment(case)
        theirs, ours = _text_outcomes(case, root, env, extra)
        if theirs.returncode != 0:
            assert ours.exit_code == 2, f"compose refused ({theirs.stderr.strip()}), we printed:\n{ours.stdout}"
            return
        assert ours.exit_code == 0, f"compose printed, we refused: {ours.stderr}\n{case.describe()}"
        assert ours.stdout == theirs.stdout, case.describe()
