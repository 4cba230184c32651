"""``status`` lists the repositories out of sync: the worker's own ``repo_sync`` rows, read from a
real PostgreSQL with the real ``psql`` and the query ``status`` runs in the database container."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pytest
from click.testing import CliRunner

from supervisor.cli import runtime as cli_runtime
from supervisor.runtime import status as T
from supervisor.worker import schema, store

from ..conftest import _pg_bin
from .helpers import project_from
from .test_status import views_of

STACK = """
services:
  db:
    image: postgres:16
  worker:
    x-supervisor: {implementation: supervisor-worker}
    image: appview-supervisor-worker:latest
    command: ["supervisor", "worker"]
    environment:
      DATABASE_URL: postgresql://postgres:pw-unused@db:5432/%s
      WORKER_ID: "0"
      BACKFILL_DAYS: "0"
"""


class HostPsql:
    """Runs what ``status`` would run in the database container on this host instead, against the
    test cluster (the command line is the one ``status`` builds; only the port is added)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.commands: list[list[str]] = []

    def exec(self, container_id: str, cmd: list[str], timeout: float, env: dict[str, str]) -> tuple[int, str]:
        self.commands.append(cmd)
        assert cmd[0] == "psql"
        done = subprocess.run(
            [str(_pg_bin() / "psql"), *cmd[1:]],
            env={**os.environ, **env, "PGPORT": str(self.port)},
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        return done.returncode, done.stdout + done.stderr


@pytest.fixture()
def desync_db(database_url: str, tmp_path: Any) -> tuple[Any, HostPsql, str]:
    name = urlsplit(database_url).path.lstrip("/")
    project = project_from(tmp_path, STACK % name)
    return project, HostPsql(urlsplit(database_url).port or 5432), database_url


def _fill(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        schema.migrate(conn)
        store.mark_desynchronized(conn, "did:plc:aaaa", "chain_gap")
        store.mark_desynchronized(conn, "did:plc:bbbb", "proof_prev_data")
        store.mark_repaired(conn, "did:plc:bbbb", "desynchronized", None, 2, "getRepo: 502\tbad gateway\nretrying")
        store.mark_desynchronized(conn, "did:plc:cccc", "chain_unknown")
        store.mark_repaired(conn, "did:plc:cccc", "synchronized", "3kabc", 1, None)  # repaired: not listed
        conn.execute("UPDATE repo_sync SET desynchronized_at = '2026-12-01T10:00:00Z' WHERE did = 'did:plc:aaaa'")


def test_desynchronized_repositories_read_from_repo_sync(desync_db):
    project, engine, dsn = desync_db
    _fill(dsn)
    report = T.read_desync_rows(engine, project, views_of(project))
    assert report.error == ""
    assert report.total == 2
    assert [row.did for row in report.rows] == ["did:plc:aaaa", "did:plc:bbbb"]  # longest out of sync first
    first, second = report.rows
    assert (first.state, first.reason, first.since, first.attempts, first.last_error) == (
        "desynchronized",
        "chain_gap",
        "2026-12-01T10:00:00Z",
        0,
        None,
    )
    assert (second.reason, second.attempts) == ("proof_prev_data", 2)
    assert second.last_error == "getRepo: 502\tbad gateway\nretrying"  # tabs and newlines survive
    assert engine.commands[0][:2] == ["psql", "-h"] and engine.commands[0][-1] == T.DESYNC_QUERY


def test_no_table_is_no_rows_and_a_stopped_database_is_said(desync_db):
    project, engine, _dsn = desync_db
    report = T.read_desync_rows(engine, project, views_of(project))
    assert (report.rows, report.total, report.error) == ([], 0, "")
    stopped = [v if v.service != "db" else dataclasses.replace(v, state="exited") for v in views_of(project)]
    report = T.read_desync_rows(engine, project, stopped)
    assert report.rows is None and "database service db is not running" in report.error


def test_more_rows_than_listed_are_counted(desync_db):
    project, engine, dsn = desync_db
    with psycopg.connect(dsn, autocommit=True) as conn:
        schema.migrate(conn)
        for n in range(T.DESYNC_LIMIT + 3):
            store.mark_desynchronized(conn, f"did:plc:n{n:04d}", "chain_gap")
    report = T.read_desync_rows(engine, project, views_of(project))
    assert report.total == T.DESYNC_LIMIT + 3 and len(report.rows) == T.DESYNC_LIMIT


def test_status_text_and_json_show_them(desync_db, monkeypatch):
    project, engine, dsn = desync_db
    _fill(dsn)
    report = T.read_desync_rows(engine, project, views_of(project))
    runner = CliRunner()

    @cli_runtime.click.command()
    def show() -> None:
        cli_runtime._print_desync(report)

    out = runner.invoke(show).output
    assert "desynchronized repositories" in out
    assert "did:plc:aaaa: desynchronized (chain_gap) since 2026-12-01T10:00:00Z, 0 attempts" in out
    assert "did:plc:bbbb: desynchronized (proof_prev_data)" in out and "2 attempts" in out
    assert "last error: getRepo: 502 bad gateway retrying" in out  # one line per repository
    assert "did:plc:cccc" not in out
    doc = json.loads(json.dumps(report.to_json()))
    assert doc["total"] == 2 and doc["repositories"][1]["last_error"].startswith("getRepo")
    empty = T.DesyncReport([], 0)
    assert "  none" in runner.invoke(cli_runtime.click.command()(lambda: cli_runtime._print_desync(empty))).output
