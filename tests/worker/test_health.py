"""Health: the pure status rules, the HTTP server, and ``supervisor worker healthcheck`` exit codes."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import threading
import urllib.request
from datetime import datetime, timedelta, timezone

import pytest
from click.testing import CliRunner

import supervisor.cli.worker  # noqa: F401  (registers the command)
from supervisor.cli import main
from supervisor.worker.backfill import BackfillStatus
from supervisor.worker.health import HealthInputs, HealthServer, check_health, health_document
from supervisor.worker.stream import StreamStatus

from .support import wait_until

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=timezone.utc)


def inputs(**kw) -> HealthInputs:
    live = kw.pop("live", None) or StreamStatus("live", connected=True)
    base = dict(
        now=1000.0,
        wall=NOW,
        started_at=900.0,
        database_ok=True,
        live=live,
        backfill=BackfillStatus(state="running", end_seq=100, start_seq=0, cursor=25),
        grace=60.0,
    )
    base.update(kw)
    return HealthInputs(**base)


@pytest.mark.parametrize(
    "kw, code, status",
    [
        ({}, 200, "ok"),
        ({"database_ok": False}, 503, "unhealthy"),
        ({"database_ok": None, "started_at": 990.0, "live": StreamStatus("live")}, 503, "starting"),
        ({"live": StreamStatus("live", disconnected_since=980.0)}, 200, "ok"),
        ({"live": StreamStatus("live", disconnected_since=900.0)}, 503, "unhealthy"),
        ({"live": StreamStatus("live")}, 503, "unhealthy"),
        ({"stopping": True}, 503, "unhealthy"),
    ],
)
def test_health_rules(kw, code, status):
    got_code, doc = health_document(inputs(**kw))
    assert (got_code, doc["status"]) == (code, status), doc
    assert (code == 200) == (not doc["reasons"])


def test_health_document_fields():
    live = StreamStatus("live", connected=True, committed_seq=42, committed_time=NOW - timedelta(seconds=3))
    live.rate.add(50, 995.0)
    code, doc = health_document(inputs(live=live))
    assert code == 200
    assert doc["cursor"] == 42 and doc["lag_seconds"] == 3.0 and doc["events_per_second"] == 5.0
    assert doc["backfill"]["state"] == "running" and doc["backfill"]["progress"] == 0.25
    assert doc["firehose_connected"] is True and doc["database"] == "ok"


class _ServerThread:
    def __init__(self, health):
        self.loop = asyncio.new_event_loop()
        self.server = HealthServer("127.0.0.1", 0, health, lambda: b"m 1\n", "text/plain")
        self.loop.run_until_complete(self.server.start())
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server.port}"

    def close(self):
        asyncio.run_coroutine_threadsafe(self.server.close(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.fixture()
def served():
    state = {"doc": (200, {"status": "ok"})}
    server = _ServerThread(lambda: state["doc"])
    yield server, state
    server.close()


def test_http_server_and_client(served):
    server, state = served
    assert check_health(server.url + "/health").ok
    state["doc"] = (503, {"status": "unhealthy", "reasons": ["database unreachable"]})
    result = check_health(server.url + "/health")
    assert not result.ok and result.status_code == 503 and "database unreachable" in result.summary()
    assert urllib.request.urlopen(server.url + "/metrics", timeout=5).read() == b"m 1\n"
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(server.url + "/nope", timeout=5)
    assert info.value.code == 404


def test_healthcheck_command_exit_codes(served):
    server, state = served
    runner = CliRunner()
    ok = runner.invoke(main, ["worker", "healthcheck", "--url", server.url + "/health", "--json"])
    assert ok.exit_code == 0 and json.loads(ok.output)["status"] == "ok"
    state["doc"] = (503, {"status": "unhealthy", "reasons": ["relay disconnected for 90 s"]})
    bad = runner.invoke(main, ["worker", "healthcheck", "--url", server.url + "/health"])
    assert bad.exit_code == 1 and "relay disconnected" in bad.output


def test_healthcheck_command_unreachable_exits_1():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = CliRunner().invoke(main, ["worker", "healthcheck"], env={"HEALTH_PORT": str(port)})
    assert result.exit_code == 1 and "cannot reach" in result.output


def test_worker_without_database_reports_unhealthy_then_stops_cleanly(start_worker):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    worker = start_worker(
        {"DATABASE_URL": f"postgresql://u:hunter2@127.0.0.1:{port}/x", "RELAY_URL": "ws://127.0.0.1:1"}
    )
    url = worker.health_url()
    wait_until(lambda: "database not reachable" in worker.log, 20, what="the database warning")
    result = check_health(url)
    assert not result.ok and result.status_code == 503 and result.document["database"] == "down"
    worker.signal(signal.SIGTERM)
    assert worker.wait() == 0
    assert "hunter2" not in worker.log and "Traceback" not in worker.log
