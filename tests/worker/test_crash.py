"""Crash consistency: kill -9 at random moments during ingest; the result still equals the truth."""

from __future__ import annotations

import random
import signal
import time

import pytest

from .support import cursor_of, diff_records, query, read_records, read_truth, seed_cursor, wait_until

pytestmark = pytest.mark.postgres

KILLS = 12


def test_kill_9_at_random_moments_loses_and_duplicates_nothing(database_url, start_relay, start_worker):
    relay = start_relay("--seed", "11", "--accounts", "80", "--events", "2000", "--days", "1",
                        "--live-events", "3000", "--rate", "250")
    # Cursor 0: live ingest replays the whole history, then follows the live events.
    seed_cursor(database_url, "firehose", "0")
    env = {"DATABASE_URL": database_url, "RELAY_URL": relay.url, "FIREHOSE_BATCH_SIZE": "50"}
    rng = random.Random(20240601)
    positions = []
    for attempt in range(KILLS):
        worker = start_worker(env, log_name=f"run{attempt}")
        wait_until(lambda: "connected to" in worker.log, 30, interval=0.05, what="the worker to connect")
        time.sleep(rng.uniform(0.02, 0.6))
        worker.signal(signal.SIGKILL)
        assert worker.wait() == -signal.SIGKILL
        positions.append(int(cursor_of(database_url, "firehose") or 0))
    # The kills landed during ingest, not after it.
    assert sum(1 for p in positions if 0 < p < relay.final_seq) >= KILLS // 2, positions
    assert positions == sorted(positions)

    final = start_worker(env, log_name="final")
    wait_until(lambda: cursor_of(database_url, "firehose") == str(relay.final_seq), 90, what="the last event")
    final.signal(signal.SIGTERM)
    assert final.wait() == 0

    truth = read_truth(relay.truth)
    assert diff_records(truth, read_records(database_url)) == ""
    # Typed tables agree with the record table: nothing duplicated or left behind by a crash.
    for table, collection in (("post", "app.bsky.feed.post"), ("like", "app.bsky.feed.like"),
                              ("follow", "app.bsky.graph.follow")):
        typed = query(database_url, f'SELECT count(*), count(DISTINCT uri) FROM "{table}"')[0]
        records = query(database_url, "SELECT count(*) FROM record WHERE collection = %s", (collection,))[0][0]
        assert typed == (records, records), table
    assert query(database_url, "SELECT count(*) FROM firehose_cursor WHERE service = 'firehose'") == [(1,)]
