"""``down`` and ``restart`` next to the compose binary on the same project: output and exit codes.

Exit codes differ by design where compose exits 1 for unusable input (an unknown service): ours
is 2, as for every usage error; the messages start as compose's.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import _purge, supervisor
from .test_progress_json import _compose, _events, _write

pytestmark = pytest.mark.docker


def _both(tmp_path: Path, name: str, *args: str, cwd: Path | None = None):
    where = cwd or tmp_path
    return (
        supervisor("-p", name, "--progress", "json", *args, cwd=where),
        _compose("-p", name + "c", "--progress", "json", *args, cwd=where),
    )


def _levels(stderr: str) -> list[tuple[str, str]]:
    return [(doc["level"], doc["msg"]) for doc in map(json.loads, stderr.splitlines()) if "level" in doc]


@pytest.mark.parametrize("with_files", [True, False])
def test_down_of_one_service_as_compose_does(engine, project_name, tmp_path, with_files):
    """With -f only the named service goes; with -p alone also what depends on it (labels)."""
    files = tmp_path / "project"
    files.mkdir()
    _write(files)
    elsewhere = tmp_path / "empty"  # not below the project folder: compose files are looked for upwards
    elsewhere.mkdir()
    try:
        for tool, name in ((supervisor, project_name), (_compose, project_name + "c")):
            assert tool("-p", name, "up", "-d", cwd=files).returncode == 0
        if with_files:
            ours, theirs = _both(files, project_name, "-f", str(files / "compose.yaml"), "down", "db")
        else:
            ours, theirs = _both(tmp_path, project_name, "down", "db", cwd=elsewhere)
        assert (ours.returncode, theirs.returncode) == (0, 0), ours.stderr
        mine, reference = _events(ours.stderr, project_name), _events(theirs.stderr, project_name + "c")
        assert mine == reference
        removed = {"Container P-db-1"} if with_files else {"Container P-db-1", "Container P-app-1", "Container P-web-1"}
        assert set(mine) == removed | {"Network P_default"}
        network = mine["Network P_default"][-1]["status"]
        assert network == ("Resource is still in use" if with_files else "Removed")  # app, web still use it
    finally:
        _purge(engine, project_name + "c")


def test_down_of_a_service_without_containers_and_files_says_so(engine, project_name, tmp_path):
    elsewhere = tmp_path / "empty"
    elsewhere.mkdir()
    ours, theirs = _both(tmp_path, project_name, "down", "nosuch", "other", cwd=elsewhere)
    assert (ours.returncode, theirs.returncode) == (0, 0)
    reference = [(level, msg.replace(project_name + "c", project_name)) for level, msg in _levels(theirs.stderr)]
    assert reference == [("info", f'Any of the services [nosuch other] not running in project "{project_name}"')]
    assert _levels(ours.stderr) == reference


def test_down_of_a_project_without_resources_warns_as_compose_does(engine, project_name, tmp_path):
    elsewhere = tmp_path / "empty"
    elsewhere.mkdir()
    ours, theirs = _both(tmp_path, project_name, "down", cwd=elsewhere)
    assert (ours.returncode, theirs.returncode) == (0, 0)
    ((level, msg),) = _levels(theirs.stderr)
    assert (level, msg) == ("warning", f'Warning: No resource found to remove for project "{project_name}c".')
    assert _levels(ours.stderr) == [("warning", f'Warning: No resource found to remove for project "{project_name}".')]


@pytest.mark.parametrize("command", ["down", "restart"])
def test_an_unknown_service_is_refused_like_compose(engine, project_name, tmp_path, command):
    _write(tmp_path)
    ours, theirs = _both(tmp_path, project_name, "-f", str(tmp_path / "compose.yaml"), command, "nosuch")
    assert theirs.returncode == 1 and json.loads(theirs.stderr) == {"error": True, "message": "no such service: nosuch"}
    assert ours.returncode == 2
    error = json.loads(ours.stderr)
    assert error["error"] is True and error["message"].startswith("no such service: nosuch; services: db, app, web")


def test_restart_of_an_unknown_service_without_files_is_refused(engine, project_name, tmp_path):
    elsewhere = tmp_path / "empty"
    elsewhere.mkdir()
    ours, theirs = _both(tmp_path, project_name, "restart", "nosuch", cwd=elsewhere)
    assert theirs.returncode == 1 and json.loads(theirs.stderr)["message"] == "no such service: nosuch"
    assert ours.returncode == 2
    assert json.loads(ours.stderr)["message"].startswith("no such service: nosuch (project")
    # and a project without containers, restarted as a whole, is nothing to do for both
    ours, theirs = _both(tmp_path, project_name, "restart", cwd=elsewhere)
    assert (ours.returncode, ours.stderr, theirs.returncode, theirs.stderr) == (0, "", 0, "")
