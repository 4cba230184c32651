"""End to end: a synthetic network through the devrelay into the worker; the database equals the truth."""

from __future__ import annotations

import collections
import json
import signal
import urllib.request

import pytest

from supervisor.worker.health import check_health

from .support import cursor_of, diff_records, query, read_records, read_truth, wait_until

pytestmark = pytest.mark.postgres

TYPED = {
    "app.bsky.feed.post": "post",
    "app.bsky.feed.like": "like",
    "app.bsky.feed.repost": "repost",
    "app.bsky.graph.follow": "follow",
    "app.bsky.graph.block": "block",
}


def test_live_ingest_and_full_backfill_equal_the_truth(database_url, start_relay, start_worker):
    relay = start_relay("--seed", "7", "--accounts", "60", "--events", "2500", "--days", "2", "--live-events", "1500")
    worker = start_worker(
        {
            "DATABASE_URL": database_url,
            "RELAY_URL": relay.url,
            "BACKFILL_DAYS": "-1",
            "BACKFILL_BATCH_SIZE": "500",
            "BACKFILL_BATCH_DELAY_MS": "0",
        }
    )
    wait_until(
        lambda: cursor_of(database_url, "firehose") == str(relay.final_seq),
        90,
        what="live ingest to reach the last event",
    )
    wait_until(
        lambda: (
            query(database_url, "SELECT completed_at FROM backfill_state WHERE service = 'backfill'")
            and query(database_url, "SELECT completed_at FROM backfill_state")[0][0] is not None
        ),
        90,
        what="the backfill to complete",
    )

    health = check_health(worker.health_url())
    assert health.ok, health
    doc = health.document
    assert doc["status"] == "ok" and doc["database"] == "ok" and doc["firehose_connected"] is True
    assert doc["cursor"] == relay.final_seq
    assert doc["backfill"]["state"] == "complete" and doc["backfill"]["progress"] == 1.0
    assert isinstance(doc["lag_seconds"], float) and isinstance(doc["events_per_second"], float)
    metrics = urllib.request.urlopen(worker.health_url().replace("/health", "/metrics"), timeout=5).read().decode()
    assert 'worker_events_total{kind="commit",stream="live"}' in metrics
    assert "worker_backfill_progress_ratio 1.0" in metrics

    worker.signal(signal.SIGTERM)
    assert worker.wait() == 0

    truth = read_truth(relay.truth)
    records = read_records(database_url)
    assert diff_records(truth, records) == ""
    assert len(records) > 1000

    # Typed tables hold exactly the records of their collection.
    by_collection = collections.defaultdict(set)
    for uri in truth:
        by_collection[uri.split("/")[3]].add(uri)
    for collection, table in TYPED.items():
        rows = {uri for (uri,) in query(database_url, f'SELECT uri FROM "{table}"')}
        assert rows == by_collection[collection], table
    for uri, text in query(database_url, "SELECT uri, text FROM post"):
        assert text == truth[uri][1].get("text")
    for uri, subject in query(database_url, 'SELECT uri, subject_uri FROM "like"'):
        assert subject == truth[uri][1]["subject"]["uri"]

    # Accounts: handle, active and status from identity and account events.
    users = {
        did: (handle, active, status)
        for did, handle, active, status in query(database_url, "SELECT did, handle, active, status FROM users")
    }
    with open(relay.truth_accounts, encoding="utf-8") as fh:
        accounts = [json.loads(line) for line in fh]
    checked = 0
    for account in accounts:
        handle, active, status = users.get(account["did"], (None, None, None))
        if account["handle"] is not None:
            assert handle == account["handle"].lower(), account
            checked += 1
        if active is not None:
            assert (active, status) == (account["active"], account["status"]), account
    assert checked > 0

    # The backfill replayed up to where live ingest began and recorded it.
    ((end_seq, events, completed),) = query(database_url, "SELECT end_seq, events, completed_at FROM backfill_state")
    assert completed is not None and 0 < end_seq < relay.final_seq
    assert int(cursor_of(database_url, "backfill")) == end_seq
    log = worker.log
    assert "[BACKFILL] Starting all history on primary worker" in log
    assert "[BACKFILL] Complete" in log


def test_sigterm_commits_and_exits_zero_and_restart_resumes(database_url, start_relay, start_worker):
    relay = start_relay(
        "--seed", "3", "--accounts", "30", "--events", "400", "--days", "1", "--live-events", "12000", "--rate", "1500"
    )
    env = {"DATABASE_URL": database_url, "RELAY_URL": relay.url}
    first = start_worker(env, log_name="first")
    wait_until(lambda: (cursor_of(database_url, "firehose") or "0") > "0", 30, what="a first commit")
    first.signal(signal.SIGTERM)
    assert first.wait() == 0
    stopped_at = int(cursor_of(database_url, "firehose"))
    assert "stopping: committing the current batch" in first.log
    assert stopped_at < relay.final_seq  # stopped mid-stream, so that the second start has something to resume
    second = start_worker(env, log_name="second")
    wait_until(lambda: cursor_of(database_url, "firehose") == str(relay.final_seq), 60, what="the last event")
    wait_until(lambda: "live: resuming after seq" in second.log, 30, what="the resume line")
    assert f"live: resuming after seq {stopped_at}" in second.log
    second.signal(signal.SIGINT)
    assert second.wait() == 0
    # Live ingest started at the tip: only records touched after it are present, and since both
    # workers together saw every later event, each of them equals the truth exactly.
    truth = read_truth(relay.truth)
    records = read_records(database_url)
    assert records
    assert all(truth.get(uri) == value for uri, value in records.items())


def test_events_arriving_one_by_one_share_transactions(database_url, start_relay, start_worker):
    # 600 live events at 300 per second: the database keeps up, yet each batch gathers the events of
    # about 50 ms instead of one transaction per event; the data still equals the truth.
    relay = start_relay(
        "--seed", "12", "--accounts", "30", "--events", "10", "--days", "1", "--live-events", "600", "--rate", "300"
    )
    worker = start_worker({"DATABASE_URL": database_url, "RELAY_URL": relay.url})
    wait_until(
        lambda: cursor_of(database_url, "firehose") == str(relay.final_seq),
        60,
        what="live ingest to reach the last event",
    )
    metrics = urllib.request.urlopen(worker.health_url().replace("/health", "/metrics"), timeout=5).read().decode()
    batches = sum(
        float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines() if line.startswith("worker_batches_total{")
    )
    worker.signal(signal.SIGTERM)
    assert worker.wait() == 0
    assert 1 <= batches <= 80, batches  # one transaction per event would be about 600
    truth = read_truth(relay.truth)
    records = read_records(database_url)
    assert records and all(truth.get(uri) == value for uri, value in records.items())


def test_a_capture_is_replayed_with_start_cursor_and_no_seeded_row(database_url, start_relay, start_worker, workdir):
    capture = workdir / "net.capture"
    writer = start_relay(
        "--seed", "13", "--accounts", "20", "--events", "300", "--days", "1", "--write-capture", str(capture)
    )
    writer.stop()
    truth = read_truth(writer.truth)
    relay = start_relay("--capture", str(capture), "--retention-hours", "100000")
    # The ready line counts the events, whatever their sequence numbers.
    assert "300 events sequenced (latest seq 300)" in relay.stderr
    # A capture relay publishes no keys (it has no seed): the replayed commits cannot be verified.
    worker = start_worker(
        {
            "DATABASE_URL": database_url,
            "RELAY_URL": relay.url,
            "BACKFILL_DAYS": "-1",
            "BACKFILL_BATCH_DELAY_MS": "0",
            "VERIFY": "off",
        },
        "--start-cursor",
        "0",
    )
    wait_until(lambda: cursor_of(database_url, "firehose") == str(relay.final_seq), 60, what="the last event")
    wait_until(lambda: "[BACKFILL] Complete" in worker.log, 30, what="the backfill to finish")
    worker.signal(signal.SIGTERM)
    assert worker.wait() == 0
    assert "starting after seq 0 (FIREHOSE_START_CURSOR)" in worker.log
    assert diff_records(truth, read_records(database_url)) == ""
