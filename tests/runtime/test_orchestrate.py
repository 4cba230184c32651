"""The one-call orchestration of ``up``/``down``/``restart``/attached mode (supervisor.runtime.orchestrate).

The time budget of ``--wait-timeout`` is checked in memory; the rest against a real Docker Engine.
"""

from __future__ import annotations

import io
import json
import os
import time

import pytest

from supervisor.runtime import orchestrate as O
from supervisor.runtime.errors import HealthFailed
from supervisor.runtime.launcher import UpOptions
from supervisor.runtime.lock import ProjectLock
from supervisor.runtime.progress import Progress

from .conftest import PYTHON_IMAGE, labelled
from .helpers import project_from


@pytest.mark.parametrize(
    ("total", "started", "now", "left"),
    [
        (None, 0.0, 500.0, None),  # no --wait-timeout: wait for ever
        (30.0, 100.0, 100.0, 30.0),  # nothing spent yet
        (30.0, 100.0, 112.5, 17.5),  # what the earlier steps used is gone
        (30.0, 100.0, 129.5, O.MIN_WAIT),  # almost nothing left: still one look
        (30.0, 100.0, 400.0, O.MIN_WAIT),  # overspent: still one look, never negative
    ],
)
def test_a_later_wait_gets_what_is_left_of_the_timeout(total, started, now, left):
    assert O.remaining(total, started, now) == left


@pytest.mark.parametrize(
    ("project", "container", "label"),
    [
        ("demo", "demo-web-1", "web-1"),
        ("demo", "demo-x-web-1", "x-web-1"),
        ("demo", "other-web-1", "other-web-1"),  # not the project's prefix: kept whole
        ("demo", "demoweb-1", "demoweb-1"),
    ],
)
def test_log_labels_drop_the_project_prefix(project, container, label):
    assert O.log_label(project, container) == label


def _json_events(out: io.StringIO) -> list[tuple[str, str]]:
    return [(doc["id"], doc["status"]) for doc in map(json.loads, out.getvalue().splitlines()) if "id" in doc]


SLEEPER = f"""
services:
  db:
    image: {PYTHON_IMAGE}
    command: ["sleep", "600"]
    stop_signal: SIGKILL
    healthcheck: {{test: ["CMD", "false"], interval: 1s, retries: 1000, start_period: 0s}}
  app:
    image: {PYTHON_IMAGE}
    command: ["sleep", "600"]
    stop_signal: SIGKILL
"""


@pytest.mark.docker
def test_up_wait_gives_up_after_the_time_already_spent(engine, project_name, tmp_path):
    project = project_from(tmp_path, SLEEPER, name=project_name)
    out = io.StringIO()
    # The command began 29.5 s ago: of --wait-timeout 30, one look is left, and the message names 30 s.
    with Progress(out, json_lines=True) as progress, pytest.raises(HealthFailed) as failed:
        O.up(
            engine,
            project,
            UpOptions(detach=True, wait=True, wait_timeout=30),
            progress,
            started=time.monotonic() - 29.5,
        )
    assert f"timed out after 30s waiting for {project_name}-db-1 to become healthy" in str(failed.value)
    assert f"--- {project_name}-db-1: state running" in failed.value.report  # health output for the user
    events = _json_events(out)
    assert (f"Container {project_name}-app-1", "Healthy") in events  # running without a check counts
    assert (f"Container {project_name}-db-1", "Healthy") not in events
    assert events[-1] != (f"Container {project_name}-db-1", "Healthy")


@pytest.mark.docker
def test_down_waits_for_the_project_lock(engine, project_name, tmp_path):
    project = project_from(tmp_path, SLEEPER, name=project_name)
    with Progress(io.StringIO(), quiet=True) as progress:
        O.up(engine, project, UpOptions(detach=True), progress)
    assert len(labelled(engine, project_name)["containers"]) == 2
    held = ProjectLock(project_name)
    held.acquire()
    told: list[str] = []

    def on_wait(message: str) -> None:  # called while down waits: only then let it go
        told.append(message)
        assert labelled(engine, project_name)["containers"], "down removed containers before it had the lock"
        held.release()

    with Progress(io.StringIO(), quiet=True) as progress:
        plan = O.down(engine, project_name, project, progress, on_lock_wait=on_wait)
    assert told == [f"waiting for another supervisor run on project {project_name} (pid {os.getpid()})"]
    assert sorted(c.name for c in plan.containers) == [f"{project_name}-app-1", f"{project_name}-db-1"]
    assert labelled(engine, project_name) == {"containers": [], "networks": [], "volumes": []}


@pytest.mark.docker
def test_down_warns_of_orphans_and_keeps_them(engine, project_name, tmp_path):
    project = project_from(tmp_path, SLEEPER, name=project_name)
    with Progress(io.StringIO(), quiet=True) as progress:
        O.up(engine, project, UpOptions(detach=True), progress)
    smaller = project_from(tmp_path, SLEEPER.split("  app:")[0], name=project_name)
    out = io.StringIO()
    with Progress(out, json_lines=True) as progress:
        O.down(engine, project_name, smaller, progress)
    warnings = [doc for doc in map(json.loads, out.getvalue().splitlines()) if doc.get("level") == "warning"]
    assert [w["msg"] for w in warnings] == ["found orphan containers (app); run with --remove-orphans to remove them"]
    # the network the orphan still uses stays, as compose leaves it (exit 0, a warning state)
    assert (f"Network {project_name}_default", "Resource is still in use") in _json_events(out)
    assert labelled(engine, project_name) == {
        "containers": [f"{project_name}-app-1"],
        "networks": [f"{project_name}_default"],
        "volumes": [],
    }


@pytest.mark.docker
def test_down_of_nothing_says_so_as_compose_does(engine, project_name):
    out = io.StringIO()
    with Progress(out, json_lines=True) as progress:
        plan = O.down(engine, project_name, None, progress)
    assert not (plan.containers or plan.networks or plan.volumes)
    (warning,) = map(json.loads, out.getvalue().splitlines())
    assert warning["level"] == "warning"
    assert warning["msg"] == f'Warning: No resource found to remove for project "{project_name}".'


@pytest.mark.docker
def test_attach_streams_until_the_containers_stop(engine, project_name, tmp_path):
    project = project_from(
        tmp_path,
        f"""
        services:
          job:
            image: {PYTHON_IMAGE}
            command: ["python", "-c", "print('one'); print('two')"]
    """,
        name=project_name,
    )
    with Progress(io.StringIO(), quiet=True) as progress:
        result = O.up(engine, project, UpOptions(detach=True), progress)
    lines: list[str] = []
    status: list[str] = []
    ended = O.attach(engine, result, on_line=lines.append, on_status=status.append, since=1)
    assert ended == O.Attached(interrupted=False)
    assert status == [f"Attaching to {project_name}-job-1"]
    assert lines == ["job-1 | one", "job-1 | two"]
