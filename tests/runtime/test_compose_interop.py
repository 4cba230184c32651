"""Switching between ``docker compose up`` and ``supervisor up`` recreates nothing.

Both tools label a container with compose's config hash; the same hash (and the same image
digest label) means each one takes the other's containers as up to date.  Run against the real
Docker Compose v2 binary, talking to the same Engine.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import textwrap
from pathlib import Path

import pytest

from tests.compose.oracle import compose_binary

from .conftest import PYTHON_IMAGE, supervisor

pytestmark = pytest.mark.docker

STACK = textwrap.dedent(f"""\
    services:
      web:
        image: {PYTHON_IMAGE}
        command: ["python3", "-c", "import time; time.sleep(3600)"]
        init: true
        environment:
          GREETING: "a <b> & c"
          FROM_SHELL:
        env_file: [app.env]
        labels: {{com.example.role: web}}
        ports: ["8000"]
        volumes: ["data:/data", "./conf:/conf:ro"]
        healthcheck:
          test: ["CMD", "true"]
          interval: 2s
        stop_grace_period: 2s
        deploy: {{replicas: 2, resources: {{limits: {{memory: 64M}}}}}}
        depends_on: [db]
      db:
        image: {PYTHON_IMAGE}
        command: python3 -c "import time; time.sleep(3600)"
        stop_signal: SIGKILL
        tmpfs: [/run/db]
      sidecar:
        # compose hashes this reference as db's container id
        image: {PYTHON_IMAGE}
        command: ["python3", "-c", "import time; time.sleep(3600)"]
        network_mode: "service:db"
        stop_signal: SIGKILL
    volumes:
      data: {{}}
    """)


def _write(tmp_path: Path) -> Path:
    (tmp_path / "compose.yaml").write_text(STACK)
    (tmp_path / "app.env").write_text("MODE=test\n")
    (tmp_path / "conf").mkdir()
    return tmp_path


def _compose(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": tempfile.mkdtemp(prefix="compose-home-"),
        "FROM_SHELL": "yes",
        "DOCKER_HOST": os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock"),
    }
    return subprocess.run([compose_binary(), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def _containers(engine, project: str) -> dict[str, tuple[str, str]]:
    label = {"label": [f"com.docker.compose.project={project}"]}
    return {
        c["Names"][0].lstrip("/"): (c["Id"], c["Labels"].get("com.docker.compose.config-hash", ""))
        for c in engine.api.containers(all=True, filters=label)
    }


def test_compose_then_supervisor_recreates_nothing(engine, project_name, tmp_path):
    root = _write(tmp_path)
    started = _compose("-p", project_name, "up", "-d", cwd=root)
    assert started.returncode == 0, started.stderr
    before = _containers(engine, project_name)
    assert len(before) == 4
    status = supervisor(
        "-p", project_name, "status", "--format", "json", "--no-worker", cwd=root, env={"FROM_SHELL": "yes"}
    )
    assert status.stdout.startswith("{"), status.stderr
    assert "RT002" not in status.stdout  # status sees compose's containers as up to date too
    result = supervisor("-p", project_name, "up", "-d", cwd=root, env={"FROM_SHELL": "yes"})
    assert result.returncode == 0, result.stderr
    assert "Recreate" not in result.stderr
    assert _containers(engine, project_name) == before


def test_supervisor_then_compose_recreates_nothing(engine, project_name, tmp_path):
    root = _write(tmp_path)
    result = supervisor("-p", project_name, "up", "-d", cwd=root, env={"FROM_SHELL": "yes"})
    assert result.returncode == 0, result.stderr
    before = _containers(engine, project_name)
    assert len(before) == 4
    again = _compose("-p", project_name, "up", "-d", cwd=root)
    assert again.returncode == 0, again.stderr
    assert "Recreate" not in again.stderr, again.stderr
    assert _containers(engine, project_name) == before


def test_a_changed_setting_is_a_recreate_for_both(engine, project_name, tmp_path):
    root = _write(tmp_path)
    assert _compose("-p", project_name, "up", "-d", cwd=root).returncode == 0
    before = _containers(engine, project_name)
    (root / "app.env").write_text("MODE=changed\n")
    result = supervisor("-p", project_name, "up", "-d", cwd=root, env={"FROM_SHELL": "yes"})
    assert result.returncode == 0, result.stderr
    after = _containers(engine, project_name)
    web = [n for n in after if "-web-" in n]
    assert len(web) == 2
    assert all(after[n][0] != before[n][0] for n in web)
    assert all(after[n] == before[n] for n in after if n not in web)
    # compose agrees with the new labels: nothing more to do
    again = _compose("-p", project_name, "up", "-d", cwd=root)
    assert again.returncode == 0, again.stderr
    assert _containers(engine, project_name) == after
