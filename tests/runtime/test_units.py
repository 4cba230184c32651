"""Small pure pieces: the project lock, log line splitting, the worker's health report."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

import pytest

from supervisor.runtime.errors import LockBusy
from supervisor.runtime.health import is_worker_service, parse_worker_health, summarise_docker_health
from supervisor.runtime.lock import ProjectLock
from supervisor.runtime.logs import LineSplitter

# The shape `supervisor worker healthcheck --json` prints.
WORKER_DOC = {
    "status": "ok",
    "reasons": [],
    "database": "ok",
    "firehose_connected": True,
    "cursor": 1234,
    "lag_seconds": 0.8,
    "events_per_second": 19.5,
    "backfill": {"state": "running", "cursor": "abc"},
    "firehose": {
        "connected": True,
        "cursor": 1234,
        "last_event_time": None,
        "events_per_second": 19.5,
        "events": 600,
        "last_error": None,
        "url": "ws://relay:2470",
    },
    "worker_id": 0,
}


def test_lock_excludes_a_second_holder(tmp_path):
    with ProjectLock("demo", directory=tmp_path):
        with pytest.raises(LockBusy, match="project demo is locked"):
            ProjectLock("demo", directory=tmp_path, timeout=0).acquire()
        ProjectLock("other", directory=tmp_path, timeout=0).acquire()  # another project is independent
    with ProjectLock("demo", directory=tmp_path, timeout=0):
        pass


def test_lock_waits_for_another_process(tmp_path):
    # The holder keeps the lock until told to let go: the waiter is known to wait, on any machine.
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            (
                "import sys; from pathlib import Path; from supervisor.runtime.lock import ProjectLock\n"
                f"l = ProjectLock('demo', directory=Path({str(tmp_path)!r})); l.acquire(); print('held', flush=True);"
                " sys.stdin.readline(); l.release(); print('released', flush=True)"
            ),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "held"
    told: list[str] = []
    entered = threading.Event()

    def wait_for_lock() -> None:
        with ProjectLock("demo", directory=tmp_path, timeout=30, on_wait=told.append):
            entered.set()

    waiter = threading.Thread(target=wait_for_lock)
    waiter.start()
    deadline = time.monotonic() + 30
    while not told and time.monotonic() < deadline:
        time.sleep(0.02)
    assert told and "waiting for another supervisor run on project demo (pid" in told[0]
    assert not entered.is_set()
    holder.stdin.write("go\n")
    holder.stdin.flush()
    assert holder.stdout.readline().strip() == "released"
    waiter.join(30)
    holder.wait(5)
    assert entered.is_set()


def test_lock_threads_serialise(tmp_path):
    order: list[str] = []

    def run(tag: str) -> None:
        with ProjectLock("demo", directory=tmp_path):
            order.append(f"{tag}-in")
            time.sleep(0.1)
            order.append(f"{tag}-out")

    threads = [threading.Thread(target=run, args=(t,)) for t in "ab"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert order[0][0] == order[1][0] and order[2][0] == order[3][0]


def test_line_splitter_joins_chunks():
    splitter = LineSplitter()
    assert splitter.feed(b"hel") == []
    assert splitter.feed(b"lo\nwor") == ["hello"]
    assert splitter.feed(b"ld\r\n\n") == ["world", ""]
    assert splitter.feed(b"tail") == [] and splitter.flush() == ["tail"]
    assert splitter.feed("é\n".encode()[:1]) == [] and splitter.feed("é\n".encode()[1:]) == ["é"]


def test_worker_report_is_read_and_judged():
    report = parse_worker_health(json.dumps(WORKER_DOC))
    assert report.healthy and report.ingesting
    assert report.summary() == (
        "status ok, database ok, firehose connected, cursor 1234, lag 0.8s, 19.5 events/s, 600 events, backfill running"
    )


def test_worker_without_progress_is_not_ingesting():
    doc = dict(WORKER_DOC, cursor=None, firehose={"connected": True, "cursor": None, "events": 0})
    assert not parse_worker_health(json.dumps(doc)).ingesting
    doc = dict(WORKER_DOC, firehose={"connected": False, "cursor": 5, "events": 5})
    assert not parse_worker_health(json.dumps(doc)).ingesting


def test_worker_report_must_be_an_object():
    with pytest.raises(ValueError):
        parse_worker_health("[1]")
    with pytest.raises(ValueError):
        parse_worker_health("not json")


def test_docker_health_summary_shows_last_outputs():
    state = {
        "Health": {
            "Status": "unhealthy",
            "FailingStreak": 3,
            "Log": [{"ExitCode": 1, "Output": "first"}, {"ExitCode": 1, "Output": "connection\nrefused"}],
        }
    }
    text = summarise_docker_health(state, lines=1)
    assert text.splitlines() == ["health: unhealthy, failing streak 3", "  check exit 1: connection refused"]


def test_worker_service_detection():
    assert is_worker_service("w", {}, {"x-supervisor": {"implementation": "supervisor-worker"}})
    assert not is_worker_service("a", {}, {"x-supervisor": {"implementation": "publicappview-typescript"}})
    assert is_worker_service("w", {"command": ["supervisor", "worker", "--x"]})
    assert not is_worker_service("r", {"command": ["supervisor", "devrelay"]})
