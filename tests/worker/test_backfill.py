"""Backfill: the time window, completion, resuming after a crash, and worker 1 never backfilling."""

from __future__ import annotations

import json
import re
import signal
import time
import urllib.request
from datetime import datetime, timedelta, timezone

import psycopg
import pytest

from supervisor.atproto import syntax

from .support import cursor_of, diff_records, query, read_records, read_truth, seed_cursor, wait_until

pytestmark = pytest.mark.postgres

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def made_at(uri: str, record: dict) -> datetime:
    """When a record was made: its TID record key, else its createdAt."""
    rkey = uri.rsplit("/", 1)[1]
    if syntax.is_valid("tid", rkey):
        return EPOCH + timedelta(microseconds=syntax.tid_time(rkey))
    return datetime.fromisoformat(record["createdAt"])


def backfill_state(dsn: str):
    if not query(dsn, "SELECT to_regclass('backfill_state')")[0][0]:
        return None
    rows = query(
        dsn, "SELECT days, end_seq, cutoff, completed_at, events FROM backfill_state WHERE service = 'backfill'"
    )
    return rows[0] if rows else None


def test_window_resume_after_kill_and_completion(database_url, start_relay, start_worker):
    relay = start_relay("--seed", "21", "--accounts", "60", "--events", "4000", "--days", "3")
    # Live ingest resumes at the end of the history: the backfill replays 0..end on its own row.
    seed_cursor(database_url, "firehose", str(relay.history))
    env = {
        "DATABASE_URL": database_url,
        "RELAY_URL": relay.url,
        "BACKFILL_DAYS": "2",
        "BACKFILL_BATCH_SIZE": "40",
        "BACKFILL_BATCH_DELAY_MS": "40",
    }
    first = start_worker(env, log_name="first")
    wait_until(
        lambda: int(cursor_of(database_url, "backfill") or 0) > 600,
        60,
        interval=0.05,
        what="the backfill to be under way",
    )
    first.signal(signal.SIGKILL)
    first.wait()
    stopped_at = int(cursor_of(database_url, "backfill"))
    days, end_seq, cutoff, completed, _ = backfill_state(database_url)
    assert (days, end_seq, completed) == (2, relay.history, None)
    assert stopped_at < end_seq

    second = start_worker(env, log_name="second")
    wait_until(lambda: (backfill_state(database_url) or [None] * 4)[3] is not None, 90, what="completion")
    second.signal(signal.SIGTERM)
    assert second.wait() == 0
    log = second.log
    resumed = re.search(r"\[BACKFILL\] Replaying .* from cursor (\d+) up to seq (\d+)", log)
    assert resumed and int(resumed.group(1)) == stopped_at and int(resumed.group(2)) == end_seq, log
    assert "[BACKFILL] Complete" in log
    assert int(cursor_of(database_url, "backfill")) == end_seq
    assert cursor_of(database_url, "firehose") == str(relay.history)

    # Exactly the records made within the window, as they are at the end.
    truth = read_truth(relay.truth)
    assert abs((datetime.now(timezone.utc) - cutoff) - timedelta(days=2)) < timedelta(minutes=5)
    expected = {uri: value for uri, value in truth.items() if made_at(uri, value[1]) >= cutoff}
    older = len(truth) - len(expected)
    assert older > 100 and len(expected) > 100
    assert diff_records(expected, read_records(database_url)) == ""

    # A third start finds it complete and leaves it alone.
    third = start_worker(env, log_name="third")
    wait_until(lambda: "[BACKFILL] Already complete" in third.log, 30, what="the completion notice")
    third.signal(signal.SIGTERM)
    assert third.wait() == 0


def test_worker_1_never_backfills(postgres_cluster, start_relay, start_worker):
    relay = start_relay("--seed", "22", "--accounts", "20", "--events", "500", "--days", "1")
    dsn = postgres_cluster.create_database(f"worker1_{int(time.time() * 1000) % 10**8}")
    seed_cursor(dsn, "firehose", str(relay.history))
    worker = start_worker(
        {
            "DATABASE_URL": dsn,
            "RELAY_URL": relay.url,
            "WORKER_ID": "1",
            "BACKFILL_DAYS": "-1",
            "BACKFILL_BATCH_DELAY_MS": "0",
        }
    )
    wait_until(lambda: "connected to" in worker.log, 30, what="live ingest to connect")
    # The decision is made and logged at start, before live ingest connects.
    worker.signal(signal.SIGTERM)
    assert worker.wait() == 0
    assert "[BACKFILL] Disabled (WORKER_ID=1 is not the primary worker)" in worker.log
    assert "[BACKFILL] Starting" not in worker.log
    assert query(dsn, "SELECT count(*) FROM backfill_state") == [(0,)]
    assert cursor_of(dsn, "backfill") is None
    assert query(dsn, "SELECT count(*) FROM record") == [(0,)]


def test_backfill_window_past_the_relay_window_is_announced(database_url, start_relay, start_worker):
    relay = start_relay("--seed", "23", "--accounts", "20", "--events", "300", "--days", "1")
    seed_cursor(database_url, "firehose", str(relay.history))
    worker = start_worker(
        {
            "DATABASE_URL": database_url,
            "RELAY_URL": relay.url,
            "BACKFILL_DAYS": "7",
            "BACKFILL_BATCH_SIZE": "1000",
            "BACKFILL_BATCH_DELAY_MS": "0",
        }
    )
    wait_until(lambda: (backfill_state(database_url) or [None] * 4)[3] is not None, 60, what="completion")
    worker.signal(signal.SIGTERM)
    assert worker.wait() == 0
    log = worker.log
    assert "[BACKFILL] Starting 7-day historical backfill on primary worker" in log
    assert "reaches past the relay's replay window (72 h)" in log
    assert "[BACKFILL] Resource throttling config: batch size 1000 events" in log
    assert "[BACKFILL] Estimate: about" in log and "unthrottled" in log
    assert diff_records(read_truth(relay.truth), read_records(database_url)) == ""


def _waiting_on_locks(dsn: str) -> int:
    return query(
        dsn,
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'supervisor-worker' "
        "AND wait_event_type = 'Lock'",
    )[0][0]


def test_a_kill_before_live_ingest_committed_leaves_no_gap(database_url, start_relay, start_worker):
    # No live cursor yet: live ingest starts at the tip, and the backfill replays up to there.  Live
    # commits are held back (cursor writes wait for a lock) and the worker is killed in that window;
    # the next start must neither skip the events between the two tips nor call the backfill complete
    # before they are in.
    from supervisor.worker.store import Database

    relay = start_relay(
        "--seed", "24", "--accounts", "40", "--events", "800", "--days", "1", "--live-events", "2000", "--rate", "200"
    )
    database = Database(database_url, 1)
    database.migrate()
    database.close()
    env = {
        "DATABASE_URL": database_url,
        "RELAY_URL": relay.url,
        "BACKFILL_DAYS": "-1",
        "BACKFILL_BATCH_SIZE": "1000",
        "BACKFILL_BATCH_DELAY_MS": "0",
    }
    with psycopg.connect(database_url) as blocker:
        # Reads go on; every write of a cursor row waits.
        blocker.execute("LOCK TABLE firehose_cursor IN EXCLUSIVE MODE")
        first = start_worker(env, log_name="first")
        wait_until(
            lambda: backfill_state(database_url) is not None or _waiting_on_locks(database_url) >= 2,
            60,
            interval=0.05,
            what="live ingest and the backfill to wait for the cursor table",
        )
        first.signal(signal.SIGKILL)
        first.wait()
        blocker.rollback()
    second = start_worker(env, log_name="second")
    wait_until(lambda: cursor_of(database_url, "firehose") == str(relay.final_seq), 90, what="the last event")
    wait_until(lambda: (backfill_state(database_url) or [None] * 4)[3] is not None, 90, what="completion")
    second.signal(signal.SIGTERM)
    assert second.wait() == 0
    assert diff_records(read_truth(relay.truth), read_records(database_url)) == ""


def _health(worker) -> dict:
    with urllib.request.urlopen(worker.health_url(), timeout=5) as response:
        return json.loads(response.read())


def _metric(worker, name: str) -> float:
    url = worker.health_url().rsplit("/", 1)[0] + "/metrics"
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()
    found = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
    assert found, text
    return float(found.group(1))


@pytest.mark.parametrize("end", ["history", "inside the lost part"])
def test_a_backfill_that_fell_out_of_the_relay_window_is_never_complete(database_url, start_relay, start_worker, end):
    # A backfill stopped at cursor 5 resumes after the relay dropped the older half of its history.
    from supervisor.worker.store import Database

    relay = start_relay(
        "--seed", "25", "--accounts", "20", "--events", "1000", "--days", "2", "--retention-hours", "24"
    )
    end_seq = relay.history if end == "history" else 200
    database = Database(database_url, 1)
    database.migrate()
    database.close()
    seed_cursor(database_url, "firehose", str(relay.history))
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("INSERT INTO firehose_cursor (service, cursor) VALUES ('backfill', '5')")
        conn.execute(
            "INSERT INTO backfill_state (service, days, end_seq, start_seq) VALUES ('backfill', -1, %s, 1)", (end_seq,)
        )
    worker = start_worker(
        {
            "DATABASE_URL": database_url,
            "RELAY_URL": relay.url,
            "BACKFILL_DAYS": "-1",
            "BACKFILL_BATCH_SIZE": "1000",
            "BACKFILL_BATCH_DELAY_MS": "0",
        }
    )
    wait_until(lambda: (backfill_state(database_url) or [None] * 4)[3] is not None, 60, what="the end of the replay")
    wait_until(
        lambda: "[BACKFILL] Incomplete" in worker.log or "[BACKFILL] Complete" in worker.log,
        30,
        what="the backfill's closing line",
    )
    log = worker.log
    assert "[BACKFILL] Complete" not in log, log
    gap = re.search(r"\[BACKFILL\] backfill: gap: .* (\d+) events missed \(seq (\d+)\.\.(\d+)\)", log)
    assert gap, log
    missed, first, last = map(int, gap.groups())
    assert first == 6 and last == first + missed - 1
    if end == "history":
        assert 300 < missed < 700 and last < end_seq
    else:
        # Nothing after the end point counts as missed.
        assert last == end_seq and missed == end_seq - 5
    assert f"{missed} events (seq 6..{last}) had fallen out of the relay's window" in log
    backfill = _health(worker)["backfill"]
    assert backfill["state"] == "incomplete", backfill
    assert backfill["missed"]["events"] == missed and backfill["missed"]["from_seq"] == 6
    assert backfill["missed"]["to_seq"] == last and backfill["progress"] < 1
    assert backfill["estimate"]["fits_relay_window"] is True
    assert _metric(worker, "worker_backfill_missed_events") == missed
    assert _metric(worker, 'worker_gap_events_total{stream="backfill"}') == missed
    assert query(database_url, "SELECT missed_events, missed_from, missed_to FROM backfill_state") == [
        (missed, 6, last)
    ]
    worker.signal(signal.SIGTERM)
    assert worker.wait() == 0

    # The next start says the same, and does not call it complete either.
    again = start_worker(
        {"DATABASE_URL": database_url, "RELAY_URL": relay.url, "BACKFILL_DAYS": "-1"}, log_name="again"
    )
    wait_until(lambda: "[BACKFILL] Already finished but incomplete" in again.log, 30, what="the notice")
    assert _health(again)["backfill"]["state"] == "incomplete"
    again.signal(signal.SIGTERM)
    assert again.wait() == 0


def test_sigterm_during_a_throttled_backfill_commits_only_the_batch_under_way(database_url, start_relay, start_worker):
    relay = start_relay("--seed", "26", "--accounts", "40", "--events", "3000", "--days", "1")
    seed_cursor(database_url, "firehose", str(relay.history))
    worker = start_worker(
        {
            "DATABASE_URL": database_url,
            "RELAY_URL": relay.url,
            "BACKFILL_DAYS": "-1",
            "BACKFILL_BATCH_SIZE": "5",
            "BACKFILL_BATCH_DELAY_MS": "300",
        }
    )
    # A few throttled batches are in, with (far) more frames read ahead than committed.
    wait_until(
        lambda: (backfill_state(database_url) or [0] * 5)[4] >= 15, 60, interval=0.05, what="a few backfill batches"
    )
    before = backfill_state(database_url)[4]
    worker.signal(signal.SIGTERM)
    assert worker.wait() == 0
    after = backfill_state(database_url)[4]
    # At most the batch under way and one more that started meanwhile: not the whole read-ahead.
    assert after - before <= 60, (before, after)
    assert int(cursor_of(database_url, "backfill")) < relay.history // 2
    assert "[BACKFILL] Stopped at seq" in worker.log
