"""Relay faults: drops, stalls, malformed frames, ConsumerTooSlow, FutureCursor, OutdatedCursor."""

from __future__ import annotations

import signal
import time

import psycopg
import pytest

from .support import PausableProxy, cursor_of, diff_records, read_records, read_truth, seed_cursor, wait_until

pytestmark = pytest.mark.postgres


def _finish(worker, database_url, relay, timeout=90):
    wait_until(lambda: cursor_of(database_url, "firehose") == str(relay.final_seq), timeout, what="the last event")
    worker.signal(signal.SIGTERM)
    assert worker.wait() == 0


def test_drops_and_malformed_frames_converge_to_the_truth(database_url, start_relay, start_worker):
    relay = start_relay(
        "--seed",
        "5",
        "--accounts",
        "50",
        "--events",
        "1500",
        "--days",
        "1",
        "--live-events",
        "1500",
        "--drop-every",
        "450",
        "--malformed-every",
        "170",
    )
    seed_cursor(database_url, "firehose", "0")
    worker = start_worker({"DATABASE_URL": database_url, "RELAY_URL": relay.url})
    _finish(worker, database_url, relay)
    assert diff_records(read_truth(relay.truth), read_records(database_url)) == ""
    log = worker.log
    assert "skipped a malformed frame" in log
    assert log.count("reconnecting in") >= 3
    assert "Traceback" not in log


def test_stalls_are_detected_and_the_stream_reopened(database_url, start_relay, start_worker):
    relay = start_relay(
        "--seed",
        "8",
        "--accounts",
        "50",
        "--events",
        "1500",
        "--days",
        "1",
        "--live-events",
        "1000",
        "--stall-every",
        "1000",
        "--stall-seconds",
        "30",
    )
    seed_cursor(database_url, "firehose", "0")
    worker = start_worker({"DATABASE_URL": database_url, "RELAY_URL": relay.url, "FIREHOSE_RECEIVE_TIMEOUT": "1"})
    _finish(worker, database_url, relay)
    assert diff_records(read_truth(relay.truth), read_records(database_url)) == ""
    assert worker.log.count("the connection is stalled") >= 2


def test_consumer_too_slow_reconnects_from_the_cursor(database_url, start_relay, start_worker):
    # The relay's kernel send buffer and the proxy's receive buffer are small and fixed, so when the
    # proxy stops reading the relay's backlog grows past --buffer whatever the machine's TCP
    # autotuning would otherwise absorb.
    relay = start_relay(
        "--seed",
        "9",
        "--accounts",
        "40",
        "--events",
        "100",
        "--days",
        "1",
        "--live-events",
        "15000",
        "--rate",
        "3000",
        "--buffer",
        "30",
        "--send-buffer",
        "4096",
    )
    proxy = PausableProxy(relay.port)
    try:
        seed_cursor(database_url, "firehose", "0")
        worker = start_worker({"DATABASE_URL": database_url, "RELAY_URL": proxy.url_for(relay.url)})
        wait_until(lambda: "connected to" in worker.log, 30, interval=0.05, what="the worker to connect")
        proxy.pause()
        wait_until(lambda: "ConsumerTooSlow" in relay.stderr, 30, interval=0.05, what="the relay's ConsumerTooSlow")
        proxy.resume()
        wait_until(lambda: "ConsumerTooSlow" in worker.log, 30, what="the worker to read ConsumerTooSlow")
        _finish(worker, database_url, relay, timeout=120)
    finally:
        proxy.close()
    assert "reconnecting from cursor" in worker.log
    assert diff_records(read_truth(relay.truth), read_records(database_url)) == ""


def test_future_cursor_restarts_from_the_live_tip(database_url, start_relay, start_worker):
    relay = start_relay("--seed", "4", "--accounts", "20", "--events", "200", "--days", "1", "--live-events", "300")
    seed_cursor(database_url, "firehose", "999999")
    worker = start_worker({"DATABASE_URL": database_url, "RELAY_URL": relay.url})
    _finish(worker, database_url, relay)
    log = worker.log
    assert "FutureCursor" in log and "restarting from the live tip" in log
    # Only live events were seen: every stored record is one they touched, equal to the truth.
    truth = read_truth(relay.truth)
    records = read_records(database_url)
    assert records and all(truth.get(uri) == value for uri, value in records.items())


def test_outdated_cursor_is_logged_as_a_gap_with_its_size(database_url, start_relay, start_worker):
    relay = start_relay(
        "--seed",
        "6",
        "--accounts",
        "20",
        "--events",
        "1000",
        "--days",
        "2",
        "--retention-hours",
        "24",
        "--live-events",
        "10",
    )
    seed_cursor(database_url, "firehose", "5")
    worker = start_worker({"DATABASE_URL": database_url, "RELAY_URL": relay.url})
    _finish(worker, database_url, relay)
    log = worker.log
    assert "OutdatedCursor" in log
    gap = [line for line in log.splitlines() if "gap:" in line]
    assert gap, log
    # About half the history (the older day) fell out of the relay's window.
    missed = int(gap[0].split(" events missed")[0].rsplit(" ", 1)[1])
    assert 300 < missed < 700, gap[0]


def test_a_slow_database_is_not_taken_for_a_stalled_relay(database_url, start_relay, start_worker):
    # The writer waits for a lock; the queues fill and the reader waits for the decoder longer than
    # the receive timeout.  That wait is backpressure, not silence from the relay: no reconnect.
    from supervisor.worker.store import Database

    relay = start_relay("--seed", "10", "--accounts", "40", "--events", "4000", "--days", "1")
    seed_cursor(database_url, "firehose", "0")
    database = Database(database_url, 1)
    database.migrate()
    database.close()
    with psycopg.connect(database_url) as blocker:
        blocker.execute("LOCK TABLE record IN ACCESS EXCLUSIVE MODE")
        worker = start_worker(
            {
                "DATABASE_URL": database_url,
                "RELAY_URL": relay.url,
                "FIREHOSE_RECEIVE_TIMEOUT": "2",
                "FIREHOSE_BATCH_SIZE": "100",
            }
        )
        wait_until(lambda: "connected to" in worker.log, 30, interval=0.05, what="the worker to connect")
        time.sleep(5)
        during = worker.log
        blocker.rollback()
    _finish(worker, database_url, relay)
    assert "the connection is stalled" not in during, during
    assert during.count("connected to") == 1
    assert diff_records(read_truth(relay.truth), read_records(database_url)) == ""


def test_a_quiet_relay_is_not_taken_for_a_stall(database_url, start_relay, start_worker):
    # Everything replayed, nothing live: the relay sends nothing but answers pings.
    relay = start_relay("--seed", "14", "--accounts", "20", "--events", "100", "--days", "1")
    seed_cursor(database_url, "firehose", "0")
    worker = start_worker(
        {"DATABASE_URL": database_url, "RELAY_URL": relay.url, "FIREHOSE_RECEIVE_TIMEOUT": "1", "LOG_LEVEL": "debug"}
    )
    wait_until(lambda: cursor_of(database_url, "firehose") == str(relay.final_seq), 60, what="the last event")
    wait_until(lambda: worker.log.count("it is quiet, not stalled") >= 3, 30, what="three quiet receive timeouts")
    worker.signal(signal.SIGTERM)
    assert worker.wait() == 0
    log = worker.log
    assert "stalled" not in log.replace("not stalled", "") and "reconnecting" not in log
    assert log.count("connected to") == 1


def test_close_causes_are_named_as_they_are():
    from websockets.exceptions import ConnectionClosedError
    from websockets.frames import Close

    from supervisor.worker.stream import close_cause

    keepalive = close_cause(ConnectionClosedError(None, Close(1011, "keepalive ping timeout")))
    assert keepalive[0] == "keepalive" and "closed by the worker: code 1011: keepalive ping timeout" in keepalive[1]
    assert close_cause(ConnectionClosedError(None, None)) == ("dropped", "no close frame: the connection dropped")
    by_relay = close_cause(ConnectionClosedError(Close(1008, "ConsumerTooSlow"), None))
    assert by_relay == ("closed", "closed by the relay: code 1008: ConsumerTooSlow")
