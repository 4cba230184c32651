"""Errors name things as users know them: container names, the port that is taken, no reprs."""

from __future__ import annotations

import socket
import textwrap

import pytest
import requests

from supervisor.runtime.engine import _root_cause, explain_start_failure

from .conftest import PYTHON_IMAGE, supervisor


def test_a_connection_error_becomes_its_reason() -> None:
    inner = FileNotFoundError(2, "No such file or directory")
    wrapped = requests.exceptions.ConnectionError(("Connection aborted.", inner))
    assert _root_cause(wrapped) == "No such file or directory"


def test_a_taken_port_is_named() -> None:
    message = (
        "driver failed programming external connectivity on endpoint p-app-1 (abc): "
        "Bind for 0.0.0.0:8080 failed: port is already allocated"
    )
    text = explain_start_failure("p-app-1", message)
    assert text.startswith("start p-app-1: host port 8080 (0.0.0.0) is already taken")
    assert explain_start_failure("p-app-1", "no such image") == "start p-app-1: no such image"


@pytest.mark.docker
def test_up_names_the_container_and_the_port_that_is_taken(engine, project_name, tmp_path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        (tmp_path / "compose.yaml").write_text(
            textwrap.dedent(f"""\
            services:
              app:
                image: {PYTHON_IMAGE}
                command: ["python3", "-c", "import time; time.sleep(60)"]
                ports: ["127.0.0.1:{port}:8000"]
            """)
        )
        result = supervisor("-p", project_name, "up", "-d", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert f"start {project_name}-app-1: host port {port}" in result.stderr, result.stderr
    assert not any(
        len(word) == 64 and all(c in "0123456789abcdef" for c in word)
        for word in result.stderr.replace(":", " ").split()
    ), result.stderr


def test_no_engine_message_has_no_exception_repr(tmp_path) -> None:
    (tmp_path / "compose.yaml").write_text("services:\n  a: {image: x}\n")
    result = supervisor("ps", cwd=tmp_path, env={"DOCKER_HOST": "unix:///nonexistent/docker.sock"})
    assert result.returncode == 2
    assert "(No such file or directory)" in result.stderr
    assert "Connection aborted" not in result.stderr and "FileNotFoundError" not in result.stderr


@pytest.mark.docker
def test_a_wait_timeout_on_a_dependency_shows_its_state_and_last_log_lines(engine, project_name, tmp_path) -> None:
    (tmp_path / "compose.yaml").write_text(
        textwrap.dedent(f"""\
        services:
          db:
            image: {PYTHON_IMAGE}
            command: ["python3", "-u", "-c", "print('db says hello'); import time; time.sleep(60)"]
            stop_signal: SIGKILL
            healthcheck: {{test: ["CMD", "true"], interval: 1h, start_period: 1h}}
          web:
            image: {PYTHON_IMAGE}
            command: ["python3", "-c", "import time; time.sleep(60)"]
            depends_on: {{db: {{condition: service_healthy}}}}
        """)
    )
    result = supervisor("-p", project_name, "up", "-d", "--wait-timeout", "3", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert "timed out waiting for db (service_healthy) before starting web" in result.stderr
    assert f"--- {project_name}-db-1: state running" in result.stderr
    assert "db says hello" in result.stderr
