"""PostgreSQL crashes under a running worker: kill -9 of the server mid-ingest, then a restart.

The worker runs throughout.  Whatever the crash took away (commits acknowledged but not yet on
disk), the worker must notice the lost connection, re-read its stored cursor and replay from it,
so that the result still equals the relay's truth.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from supervisor.worker.health import check_health

from ..conftest import PostgresCluster, _free_port, _pg_bin
from .support import cursor_of, diff_records, query, read_records, read_truth, seed_cursor, wait_until

pytestmark = pytest.mark.postgres

CRASHES = 4


class CrashableCluster(PostgresCluster):
    """A cluster of its own, whose server processes can all be killed with SIGKILL."""

    def processes(self) -> list[int]:
        pid = int((self.datadir / "postmaster.pid").read_text().splitlines()[0])
        return [pid, *(int(p) for p in os.listdir("/proc") if p.isdigit() and _parent_of(int(p)) == pid)]

    def send(self, signum: int) -> list[int]:
        victims = self.processes()
        for victim in victims:
            try:
                os.kill(victim, signum)
            except ProcessLookupError:
                pass
        return victims

    def crash(self) -> None:
        pid, *children = self.send(signal.SIGKILL)
        wait_until(
            lambda: not any(Path(f"/proc/{p}").exists() for p in [pid, *children]),
            30,
            interval=0.05,
            what="the server processes to die",
        )
        (self.datadir / "postmaster.pid").unlink(missing_ok=True)


def _parent_of(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return -1


@pytest.fixture()
def crashable_cluster():
    root = Path(tempfile.mkdtemp(prefix="supervisor-pg-crash-"))
    cluster = CrashableCluster(root, _free_port(), _pg_bin())
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


def test_postgres_kill_9_mid_ingest_loses_and_duplicates_nothing(crashable_cluster, start_relay, start_worker):
    cluster = crashable_cluster
    dsn = cluster.create_database("crash")
    relay = start_relay(
        "--seed", "31", "--accounts", "80", "--events", "3000", "--days", "1", "--live-events", "6000", "--rate", "400"
    )
    seed_cursor(dsn, "firehose", "0")
    worker = start_worker({"DATABASE_URL": dsn, "RELAY_URL": relay.url, "FIREHOSE_BATCH_SIZE": "100"})
    wait_until(lambda: "connected to" in worker.log, 30, interval=0.05, what="the worker to connect")
    positions = []
    for _ in range(CRASHES):
        before = int(cursor_of(dsn, "firehose") or 0)
        wait_until(
            lambda: int(cursor_of(dsn, "firehose") or 0) >= before + 300,
            60,
            interval=0.02,
            what="ingest to be under way",
        )
        errors = worker.log.count("database error")
        cluster.crash()
        # The worker meets the dead server before it comes back, as it would in production.
        wait_until(
            lambda: worker.log.count("database error") > errors,
            30,
            interval=0.02,
            what="the worker to meet the dead server",
        )
        cluster.restart()
        positions.append(int(cursor_of(dsn, "firehose") or 0))
        assert worker.proc.poll() is None, worker.log
    assert all(0 < p < relay.final_seq for p in positions), positions

    wait_until(lambda: cursor_of(dsn, "firehose") == str(relay.final_seq), 120, what="the last event")
    worker.signal(signal.SIGTERM)
    assert worker.wait() == 0
    assert diff_records(read_truth(relay.truth), read_records(dsn)) == ""
    for table, collection in (
        ("post", "app.bsky.feed.post"),
        ("like", "app.bsky.feed.like"),
        ("follow", "app.bsky.graph.follow"),
    ):
        typed = query(dsn, f'SELECT count(*), count(DISTINCT uri) FROM "{table}"')[0]
        records = query(dsn, "SELECT count(*) FROM record WHERE collection = %s", (collection,))[0][0]
        assert typed == (records, records), table
    assert "stored cursor" in worker.log


def _metric(url: str, name: str) -> float:
    with urllib.request.urlopen(url.rsplit("/", 1)[0] + "/metrics", timeout=5) as response:
        found = re.search(rf"^{re.escape(name)} (\S+)$", response.read().decode(), re.M)
    return float(found.group(1)) if found else float("nan")


def test_a_hung_database_shows_in_health_within_the_receive_timeout(crashable_cluster, start_relay, start_worker):
    cluster = crashable_cluster
    dsn = cluster.create_database("hang")
    relay = start_relay(
        "--seed", "32", "--accounts", "20", "--events", "200", "--days", "1", "--live-events", "3000", "--rate", "100"
    )
    seed_cursor(dsn, "firehose", "0")
    worker = start_worker({"DATABASE_URL": dsn, "RELAY_URL": relay.url, "FIREHOSE_RECEIVE_TIMEOUT": "4"})
    url = worker.health_url()
    wait_until(lambda: "connected to" in worker.log, 30, interval=0.05, what="the worker to connect")
    # Up from the start, not only after the first periodic check.
    assert _metric(url, "worker_database_up") == 1
    wait_until(lambda: check_health(url).ok, 30, what="a healthy worker")
    stopped = cluster.send(signal.SIGSTOP)
    try:
        hung_at = time.monotonic()
        result = wait_until(
            lambda: (lambda r: r if r.document and r.document["database"] == "down" else None)(
                check_health(url, timeout=10)
            ),
            30,
            interval=0.1,
            what="/health to show the hung database",
        )
        noticed = time.monotonic() - hung_at
        assert not result.ok and _metric(url, "worker_database_up") == 0
    finally:
        for pid in stopped:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
    # Within the receive timeout (4 s), with a margin for a loaded machine.
    assert noticed < 4 + 3, noticed
    wait_until(lambda: check_health(url).ok, 30, what="/health to recover")
    wait_until(lambda: cursor_of(dsn, "firehose") == str(relay.final_seq), 120, what="the last event")
    worker.signal(signal.SIGTERM)
    assert worker.wait() == 0
    assert diff_records(read_truth(relay.truth), read_records(dsn)) == ""
