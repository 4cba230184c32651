"""The storage layer against a real PostgreSQL: migrations, the batch transaction, ordering guards."""

from __future__ import annotations

import asyncio
import json
import threading
from datetime import datetime, timedelta, timezone

import psycopg
import pytest

from supervisor.atproto import syntax
from supervisor.worker import store
from supervisor.worker.batch import AccountUpdate, Batch, IdentityUpdate, RecordWrite
from supervisor.worker.metrics import WorkerMetrics
from supervisor.worker.schema import MIGRATIONS, schema_version

pytestmark = pytest.mark.postgres

DID = "did:plc:abcdefghijklmnopqrstuvwx"
T0 = datetime(2024, 6, 1, tzinfo=timezone.utc)


def rev(n: int) -> str:
    return syntax.tid_from_time(int((T0 + timedelta(seconds=n)).timestamp() * 1e6))


def write(action: str, rkey: str, n: int, text: str = "", collection: str = "app.bsky.feed.post") -> RecordWrite:
    doc = None
    if action != "delete":
        doc = json.dumps(
            {
                "$type": collection,
                "text": text,
                "langs": ["en"],
                "createdAt": "2024-06-01T00:00:00Z",
                "reply": {"parent": {"uri": "at://p", "cid": "c"}, "root": {"uri": "at://r", "cid": "c"}},
            }
        )
    return RecordWrite(
        f"at://{DID}/{collection}/{rkey}",
        DID,
        collection,
        rkey,
        action,
        None if action == "delete" else f"bafy{n}",
        rev(n),
        doc,
        T0 if doc else None,
        n,
    )


def batch_of(*writes: RecordWrite, seq: int = 1) -> Batch:
    batch = Batch(events=1, first_seq=seq, last_seq=seq, last_time=T0)
    for w in writes:
        batch.writes[w.uri] = w
    return batch


@pytest.fixture()
def database(database_url):
    db = store.Database(database_url, 2)
    db.migrate()
    yield db
    db.close()


def apply(db, batch, **kwargs):
    with db.connection() as conn:
        return store.apply_batch(conn, batch, service=kwargs.pop("service", "firehose"), **kwargs)


def rows(database_url, sql):
    with psycopg.connect(database_url) as conn:
        return conn.execute(sql).fetchall()


def test_migrations_are_idempotent_and_safe_in_parallel(database_url):
    db = store.Database(database_url, 1)
    results, errors = [], []

    def run():
        try:
            results.append(db.migrate())
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(map(len, results)) == [0, 0, 0, len(MIGRATIONS)]
    assert db.migrate() == []
    with db.connect() as conn:
        assert schema_version(conn) == MIGRATIONS[-1][0]


def test_firehose_cursor_keeps_the_shared_shape(database):
    columns = rows(
        database.url,
        "SELECT column_name, data_type, is_nullable, column_default FROM "
        "information_schema.columns WHERE table_name = 'firehose_cursor' ORDER BY ordinal_position",
    )
    assert [(c[0], c[1], c[2]) for c in columns] == [
        ("id", "integer", "NO"),
        ("service", "character varying", "NO"),
        ("cursor", "text", "YES"),
        ("last_event_time", "timestamp without time zone", "YES"),
        ("updated_at", "timestamp without time zone", "NO"),
    ]
    assert columns[0][3].startswith("nextval(") and columns[4][3] == "now()"


def test_batch_writes_records_typed_rows_and_cursor_together(database):
    result = apply(database, batch_of(write("create", "3kaaaaaaaaaaa", 1, "hello"), seq=1))
    assert result.records == 1
    assert rows(database.url, "SELECT text, langs, reply_parent, reply_root FROM post") == [
        ("hello", ["en"], "at://p", "at://r")
    ]
    assert rows(database.url, "SELECT cursor FROM firehose_cursor WHERE service = 'firehose'") == [("1",)]
    apply(database, batch_of(write("update", "3kaaaaaaaaaaa", 2, "edited"), seq=2))
    assert rows(database.url, "SELECT text FROM post") == [("edited",)]
    assert rows(database.url, "SELECT cid FROM record") == [("bafy2",)]
    apply(database, batch_of(write("delete", "3kaaaaaaaaaaa", 3), seq=3))
    assert rows(database.url, "SELECT count(*) FROM post") == [(0,)]
    assert rows(database.url, "SELECT count(*) FROM record") == [(0,)]
    assert rows(database.url, "SELECT cursor FROM firehose_cursor WHERE service = 'firehose'") == [("3",)]


def test_an_older_op_never_resurrects_or_overwrites(database):
    # Live deletes (rev 5); then the backfill replays the older create (rev 1): it stays deleted.
    apply(database, batch_of(write("delete", "3kbbbbbbbbbbb", 5), seq=50))
    result = apply(database, batch_of(write("create", "3kbbbbbbbbbbb", 1, "old"), seq=10), service="backfill")
    assert result.records == 0
    assert rows(database.url, "SELECT count(*) FROM record") == [(0,)]
    # Live updates (rev 7); a replayed older update (rev 6) does not overwrite it.
    apply(database, batch_of(write("create", "3kccccccccccc", 7, "new"), seq=60))
    apply(database, batch_of(write("update", "3kccccccccccc", 6, "stale"), seq=11), service="backfill")
    assert rows(database.url, "SELECT text FROM post") == [("new",)]
    # Replaying the same op is harmless.
    apply(database, batch_of(write("create", "3kccccccccccc", 7, "new"), seq=60))
    assert rows(database.url, "SELECT count(*), min(text) FROM post") == [(1, "new")]


def test_account_and_identity_updates_keep_the_newest(database):
    batch = Batch(events=2, first_seq=1, last_seq=2, last_time=T0)
    batch.identities[DID] = IdentityUpdate(DID, "alice.example.com", T0 + timedelta(hours=1), 1)
    batch.accounts[DID] = AccountUpdate(DID, False, "deactivated", T0 + timedelta(hours=1), 2)
    assert apply(database, batch).users == 2
    older = Batch(events=2, first_seq=3, last_seq=4, last_time=T0)
    older.identities[DID] = IdentityUpdate(DID, "old.example.com", T0, 3)
    older.accounts[DID] = AccountUpdate(DID, True, None, T0, 4)
    apply(database, older, service="backfill")
    assert rows(database.url, "SELECT handle, active, status FROM users") == [
        ("alice.example.com", False, "deactivated")
    ]


def test_backfill_progress_and_completion_in_the_same_transaction(database):
    with database.connection() as conn:
        store.begin_backfill_state(conn, "backfill", days=2, end_seq=10, cutoff=T0, live_service="firehose")
    batch = batch_of(write("create", "3kddddddddddd", 1, "x"), seq=10)
    batch.final = True
    apply(database, batch, service="backfill", backfill_service="backfill")
    with database.connection() as conn:
        state = store.read_backfill_state(conn, "backfill")
        cursor = store.read_cursor(conn, "backfill")
    assert state.complete and state.events == 1 and state.records == 1 and cursor.seq == 10


def test_the_backfill_end_point_is_also_where_live_ingest_resumes(database):
    with database.connection() as conn:
        store.begin_backfill_state(conn, "backfill", days=2, end_seq=10, cutoff=T0, live_service="firehose")
        assert store.read_cursor(conn, "firehose").seq == 10
        conn.execute("UPDATE firehose_cursor SET cursor = '25' WHERE service = 'firehose'")
        conn.execute("DELETE FROM backfill_state")
        store.begin_backfill_state(conn, "backfill", days=2, end_seq=30, cutoff=T0, live_service="firehose")
        # A live cursor that exists is never moved back.
        assert store.read_cursor(conn, "firehose").seq == 25


def test_a_row_the_database_rejects_is_isolated_and_skipped(database):
    from supervisor.worker.batch import BatchBuilder
    from supervisor.worker.stream import Stream, StreamPolicy

    good = write("create", "3keeeeeeeeeee", 1, "good")
    bad = write("create", "3kfffffffffff", 2, "bad")
    bad.json = '{"not": json'
    batch = batch_of(good, bad, seq=9)

    async def run():
        stream = Stream(
            "ws://127.0.0.1:1", database, StreamPolicy(name="live", service="firehose"), BatchBuilder(), WorkerMetrics()
        )
        return await asyncio.to_thread(stream._apply_isolating, batch)

    result = asyncio.run(run())
    assert result.records == 1
    assert rows(database.url, "SELECT text FROM post") == [("good",)]
    assert rows(database.url, "SELECT cursor FROM firehose_cursor") == [("9",)]
    assert batch.skipped["rejected by database"] == 1


def test_copy_escapes_tabs_newlines_and_backslashes(database):
    # COPY text format gives these characters a meaning: every one must arrive as it was.
    text = 'tab\there\nnew line\r\\N back\\slash \\t not a tab "quoted" é'
    w = write("create", "3kggggggggggg", 1, text)
    w.json = json.dumps(json.loads(w.json) | {"text": text}, ensure_ascii=False)
    odd = RecordWrite(
        f"at://{DID}/app.bsky.feed.like/a\tb",
        DID,
        "app.bsky.feed.like",
        "a\tb",
        "create",
        "bafy\\x",
        rev(2),
        json.dumps({"$type": "app.bsky.feed.like", "note": "\\u0000 kept"}),
        None,
        2,
    )
    batch = batch_of(w, odd, seq=4)
    batch.identities[DID] = IdentityUpdate(DID, "back\\slash.example", T0, 3)
    batch.accounts[DID] = AccountUpdate(DID, False, "multi\nline\tstatus", T0, 4)
    assert apply(database, batch).records == 2
    assert rows(database.url, "SELECT text FROM post") == [(text,)]
    assert rows(database.url, "SELECT json->>'text' FROM record WHERE collection = 'app.bsky.feed.post'") == [(text,)]
    assert rows(
        database.url, "SELECT rkey, cid, json->>'note' FROM record WHERE collection = 'app.bsky.feed.like'"
    ) == [("a\tb", "bafy\\x", "\\u0000 kept")]
    assert rows(database.url, "SELECT handle, status FROM users") == [("back\\slash.example", "multi\nline\tstatus")]
    assert rows(database.url, "SELECT created_at FROM record WHERE collection = 'app.bsky.feed.post'") == [(T0,)]


def test_an_event_time_past_year_9999_in_utc_does_not_stop_the_writer(database):
    # Valid RFC 3339 whose UTC form is in year 10000: Python cannot convert it; the cursor still moves.
    from supervisor.worker.batch import BatchBuilder, parse_time

    late = parse_time("9999-12-31T23:00:00-05:00")
    assert late is not None
    apply(database, Batch(events=1, first_seq=1, last_seq=1, last_time=T0))
    batch = batch_of(write("create", "3khhhhhhhhhhh", 1, "x"), seq=2)
    batch.last_time = late
    assert apply(database, batch).records == 1
    assert rows(database.url, "SELECT cursor, last_event_time FROM firehose_cursor") == [("2", T0.replace(tzinfo=None))]
    builder = BatchBuilder()
    assert builder.add(type("Event", (), {"seq": 3, "time": "9999-12-31T23:00:00-05:00"})())
    apply(database, builder.take())
    assert rows(database.url, "SELECT cursor FROM firehose_cursor") == [("3",)]


def snapshot_record(text: str, created: str = "2024-06-01T00:00:00Z") -> dict:
    return {"$type": "app.bsky.feed.post", "text": text, "langs": ["en"], "createdAt": created}


def test_a_repository_snapshot_keeps_newer_writes_and_removes_what_it_lacks(database):
    from supervisor.atproto.cid import CID

    cid = CID.parse("bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm")
    newer, deleted, kept, absent = (f"app.bsky.feed.post/3k{c * 11}" for c in "bcde")
    old = "app.bsky.feed.post/old"  # not a TID: its createdAt says when it was made
    # Live ingest is ahead of the snapshot (rev 5) for two records: one updated at rev 9, one deleted
    # at rev 9. A record the snapshot no longer holds was written at rev 2.
    apply(database, batch_of(write("create", newer.split("/")[1], 9, "live")))
    apply(database, batch_of(write("delete", deleted.split("/")[1], 9)))
    apply(database, batch_of(write("create", absent.split("/")[1], 2, "gone")))
    records = [
        (newer, cid, snapshot_record("snapshot")),
        (deleted, cid, snapshot_record("resurrected")),
        (kept, cid, snapshot_record("tab\there \\ and\nline")),
        (old, cid, snapshot_record("too old", "2020-01-01T00:00:00Z")),
        ("not a path", cid, snapshot_record("bad path")),
    ]
    cutoff = datetime(2021, 1, 1, tzinfo=timezone.utc)
    for _ in range(2):  # applied twice (a restart): the same result
        with database.connection() as conn:
            result = store.apply_repo_records(conn, DID, rev(5), records, "firehose", cutoff=cutoff)
            store.delete_absent_records(conn, DID, rev(5), {path for path, _, _ in records}, "firehose")
        assert result.records == 1
        assert rows(database.url, "SELECT rkey, text, langs FROM post ORDER BY rkey") == [
            ("3kbbbbbbbbbbb", "live", ["en"]),
            ("3kddddddddddd", "tab\there \\ and\nline", ["en"]),
        ]
        assert rows(database.url, "SELECT rkey, cid, rev FROM record ORDER BY rkey") == [
            ("3kbbbbbbbbbbb", "bafy9", rev(9)),
            ("3kddddddddddd", str(cid), rev(5)),
        ]
        assert rows(database.url, "SELECT count(*) FROM record_tombstone WHERE uri LIKE '%3kccccccccccc'") == [(1,)]
