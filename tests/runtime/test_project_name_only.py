"""``-p NAME`` without ``-f``: as compose, the compose files of the folder are left aside.

compose's ``down``, ``ps``, ``logs`` and ``restart`` then work from the containers' labels: a file
that changed (or broke) since ``up`` neither narrows nor refuses what they do.
"""

from __future__ import annotations

import json

import pytest

from .conftest import _purge, labelled, supervisor
from .test_progress_json import _compose, _events, _write

pytestmark = pytest.mark.docker

CHANGED = {
    "other-services": "services:\n  other:\n    image: appview-local/python:3.11\n",
    "broken": "services:\n  db: [\n",
}


@pytest.mark.parametrize("changed", sorted(CHANGED))
def test_ps_and_down_work_from_labels_whatever_the_folder_holds(engine, project_name, tmp_path, changed):
    _write(tmp_path)
    theirs_name = project_name + "c"
    try:
        for tool, name in ((supervisor, project_name), (_compose, theirs_name)):
            assert tool("-p", name, "up", "-d", cwd=tmp_path).returncode == 0
        (tmp_path / "compose.yaml").write_text(CHANGED[changed])

        for args in (("ps", "--format", "json"), ("ps", "db", "--format", "json")):
            ours = supervisor("-p", project_name, *args, cwd=tmp_path)
            theirs = _compose("-p", theirs_name, *args, cwd=tmp_path)
            assert (ours.returncode, theirs.returncode) == (0, 0), ours.stderr
            mine = sorted(json.loads(line)["Service"] for line in ours.stdout.splitlines())
            reference = sorted(json.loads(line)["Service"] for line in theirs.stdout.splitlines())
            assert mine == reference == (["db"] if "db" in args else ["app", "db", "web"])

        ours = supervisor("-p", project_name, "--progress", "json", "down", cwd=tmp_path)
        theirs = _compose("-p", theirs_name, "--progress", "json", "down", cwd=tmp_path)
        assert (ours.returncode, theirs.returncode) == (0, 0), ours.stderr
        mine, reference = _events(ours.stderr, project_name), _events(theirs.stderr, theirs_name)
        assert (
            set(mine)
            == set(reference)
            == {"Container P-db-1", "Container P-app-1", "Container P-web-1", "Network P_default"}
        )
        assert mine["Network P_default"][-1]["status"] == reference["Network P_default"][-1]["status"] == "Removed"
        assert (
            labelled(engine, project_name)
            == labelled(engine, theirs_name)
            == {"containers": [], "networks": [], "volumes": []}
        )
    finally:
        _purge(engine, theirs_name)


@pytest.mark.parametrize("command", [["up", "-d"], ["down"], ["ps"], ["restart"]])
def test_a_load_error_is_a_json_line_with_progress_json(engine, project_name, tmp_path, command):
    """With --progress json every line on stderr is JSON, a compose file error too (exit 2; compose's is 1)."""
    (tmp_path / "compose.yaml").write_text("services:\n  db: [\n")
    args = ["-f", str(tmp_path / "compose.yaml"), "--progress", "json", *command]
    ours = supervisor("-p", project_name, *args, cwd=tmp_path)
    theirs = _compose("-p", project_name + "c", *args, cwd=tmp_path)
    assert theirs.returncode == 1 and set(json.loads(theirs.stderr)) == {"error", "message"}
    assert ours.returncode == 2, ours.stderr
    error = json.loads(ours.stderr)  # one JSON object, nothing else
    assert error["error"] is True and "compose.yaml:3:1" in error["message"]


def test_a_load_warning_is_a_json_line_with_progress_json(engine, project_name, tmp_path):
    (tmp_path / "compose.yaml").write_text("version: '3'\nservices:\n  db:\n    image: appview-local/python:3.11\n")
    args = ["-f", str(tmp_path / "compose.yaml"), "--progress", "json", "down"]
    ours = supervisor("-p", project_name, *args, cwd=tmp_path)
    theirs = _compose("-p", project_name + "c", *args, cwd=tmp_path)
    assert (ours.returncode, theirs.returncode) == (0, 0), ours.stderr
    levels = [(doc["level"], doc["msg"]) for doc in map(json.loads, ours.stderr.splitlines()) if "level" in doc]
    reference = [(doc["level"], doc["msg"]) for doc in map(json.loads, theirs.stderr.splitlines()) if "level" in doc]
    assert levels == [(level, msg.replace(project_name + "c", project_name)) for level, msg in reference]
