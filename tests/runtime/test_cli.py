"""Command-line contract of the runtime commands that holds without a Docker Engine."""

from __future__ import annotations

import textwrap

from .conftest import supervisor

NOWHERE = {"DOCKER_HOST": "unix:///nonexistent/docker.sock"}

TWO_BACKFILLS = """
services:
  worker:
    x-supervisor: {implementation: supervisor-worker}
    image: appview-supervisor-worker:latest
    command: ["supervisor", "worker"]
    environment: {WORKER_ID: "0", BACKFILL_DAYS: "3"}
  app:
    x-supervisor: {implementation: publicappview-typescript}
    image: appview-app:latest
    command: ["pm2-runtime", "start", "dist/index.js", "-i", "2"]
    environment: {BACKFILL_DAYS: "7"}
"""


def write(tmp_path, text):
    (tmp_path / "compose.yml").write_text(textwrap.dedent(text))


def test_refusal_happens_before_the_engine_is_contacted(tmp_path):
    write(tmp_path, TWO_BACKFILLS)
    up = supervisor("up", "-d", cwd=tmp_path, env=NOWHERE)
    assert up.returncode == 1
    assert "error SV001" in up.stderr and 'firehose_cursor row "backfill"' in up.stderr
    assert "no Docker Engine" not in up.stderr


def test_malformed_extension_is_unusable_input(tmp_path):
    write(
        tmp_path,
        """
        services:
          worker:
            x-supervisor: {implementation: supervisor-worker, colour: blue}
            image: x
    """,
    )
    up = supervisor("up", "-d", cwd=tmp_path, env=NOWHERE)
    assert up.returncode == 2 and "SV010" in up.stderr


def test_clean_project_without_engine_is_exit_2(tmp_path):
    write(tmp_path, "services:\n  a: {image: x}\n")
    up = supervisor("up", "-d", cwd=tmp_path, env=NOWHERE)
    assert up.returncode == 2 and "no Docker Engine answers" in up.stderr


def test_conflicting_options_are_usage_errors(tmp_path):
    write(tmp_path, "services:\n  a: {image: x}\n")
    assert supervisor("up", "--build", "--no-build", cwd=tmp_path, env=NOWHERE).returncode == 2
    assert supervisor("up", "--force-recreate", "--no-recreate", cwd=tmp_path, env=NOWHERE).returncode == 2
    assert supervisor("logs", "--tail", "many", cwd=tmp_path, env=NOWHERE).returncode == 2


def test_unknown_service_is_a_usage_error(tmp_path):
    write(tmp_path, "services:\n  a: {image: x}\n")
    logs = supervisor("logs", "nope", cwd=tmp_path, env=NOWHERE)
    assert logs.returncode == 2 and "no such service: nope" in logs.stderr
