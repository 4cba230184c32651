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
    relay = start_relay(
        "--seed", "11", "--accounts", "80", "--events", "2000", "--days", "1", "--live-events", "3000", "--rate", "250"
    )
    # Cursor 0: live ingest replays the whole history, then follows the live events.
    seed_cursor(database_url, "firehose", "0")
    env = {"DATABASE_URL": database_url, "RELAY_URL": relay.url, "FIREHOSE_BATCH_SIZE": "50"}
    rng = random.Random(20240601)
    # Each kill lands after the stored cursor has passed a random point of the stream, plus a random
    # delay within a batch or two: mid-ingest on a fast machine and on a slow one alike.
    targets = sorted(rng.sample(range(1, relay.final_seq - 200), KILLS))
    positions = []
    for attempt, target in enumerate(targets):
        worker = start_worker(env, log_name=f"run{attempt}")
        wait_until(
            lambda: int(cursor_of(database_url, "firehose") or 0) >= target,
            90,
            interval=0.02,
            what=f"the cursor to pass {target}",
        )
        time.sleep(rng.uniform(0.0, 0.3))
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
    for table, collection in (
        ("post", "app.bsky.feed.post"),
        ("like", "app.bsky.feed.like"),
        ("follow", "app.bsky.graph.follow"),
    ):
        typed = query(database_url, f'SELECT count(*), count(DISTINCT uri) FROM "{table}"')[0]
        records = query(database_url, "SELECT count(*) FROM record WHERE collection = %s", (collection,))[0][0]
        assert typed == (records, records), table
    assert query(database_url, "SELECT count(*) FROM firehose_cursor WHERE service = 'firehose'") == [(1,)]
