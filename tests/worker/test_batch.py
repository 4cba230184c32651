"""Decoded events -> batches (pure): ordering, de-duplication, identifier checks, the backfill window."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from supervisor.atproto import frames, syntax
from supervisor.worker.batch import BatchBuilder, parse_time, record_time

DID = "did:plc:abcdefghijklmnopqrstuvwx"
NOW = datetime(2024, 6, 1, 12, 0, tzinfo=timezone.utc)


def tid(when: datetime, clock: int = 0) -> str:
    return syntax.tid_from_time(int(when.timestamp() * 1_000_000), clock)


def commit(seq, ops, *, did=DID, rev=None, time=NOW):
    data = frames.encode_commit(
        seq, did, rev or tid(time + timedelta(seconds=seq)), None, time.isoformat().replace("+00:00", "Z"), ops
    )
    return frames.decode_frame(data)


def post(text, when=NOW):
    return {"$type": "app.bsky.feed.post", "text": text, "createdAt": when.isoformat().replace("+00:00", "Z")}


def test_a_later_op_on_the_same_uri_wins_within_a_batch():
    builder = BatchBuilder()
    key = tid(NOW)
    builder.add(commit(1, [("create", f"app.bsky.feed.post/{key}", None, post("one"))]))
    builder.add(commit(2, [("update", f"app.bsky.feed.post/{key}", None, post("two"))]))
    builder.add(commit(3, [("create", f"app.bsky.feed.post/{tid(NOW, 1)}", None, post("other"))]))
    batch = builder.take()
    assert batch.events == 3 and (batch.first_seq, batch.last_seq) == (1, 3)
    uri = f"at://{DID}/app.bsky.feed.post/{key}"
    assert list(batch.writes)[-1] != uri and len(batch.writes) == 2
    write = batch.writes[uri]
    assert write.action == "update" and json.loads(write.json)["text"] == "two" and write.seq == 2
    builder.add(commit(4, [("delete", f"app.bsky.feed.post/{key}", None, None)]))
    later = builder.take()
    assert later.writes[uri].action == "delete" and later.writes[uri].json is None


def test_replayed_seqs_are_skipped_as_duplicates():
    builder = BatchBuilder(after_seq=5)
    assert not builder.add(
        commit(
            5,
            [
                (
                    "create",
                    f"app.bsky.feed.like/{tid(NOW)}",
                    None,
                    {"$type": "app.bsky.feed.like", "createdAt": "2024-06-01T12:00:00Z"},
                )
            ],
        )
    )
    assert builder.add(commit(6, []))
    batch = builder.take()
    assert batch.skipped["duplicate"] == 1 and batch.last_seq == 6 and not batch.writes


def test_bad_identifiers_are_counted_and_skipped():
    builder = BatchBuilder()
    builder.add(commit(1, [("create", f"app.bsky.feed.post/{tid(NOW)}", None, post("x"))], did="not-a-did"))
    builder.add(
        commit(
            2,
            [
                ("create", "not a nsid/abc", None, post("x")),
                ("create", "app.bsky.feed.post/..", None, post("x")),
                ("create", f"app.bsky.feed.post/{tid(NOW)}", None, post("fine")),
            ],
        )
    )
    builder.add(commit(3, [("create", f"app.bsky.feed.post/{tid(NOW, 2)}", None, post("x"))], rev="notatid"))
    batch = builder.take()
    assert batch.skipped["bad did"] == 1 and batch.skipped["bad path"] == 2 and batch.skipped["bad rev"] == 1
    assert len(batch.writes) == 1 and batch.events == 3


def test_records_postgresql_cannot_store_are_skipped():
    builder = BatchBuilder()
    builder.add(commit(1, [("create", f"app.bsky.feed.post/{tid(NOW)}", None, post("nul \x00 inside"))]))
    batch = builder.take()
    assert batch.skipped["unstorable record"] == 1 and not batch.writes


def test_backfill_window_uses_the_tid_then_created_at():
    cutoff = NOW - timedelta(days=1)
    builder = BatchBuilder(cutoff=cutoff)
    old, new = NOW - timedelta(days=2), NOW - timedelta(hours=1)
    builder.add(
        commit(
            1,
            [
                ("create", f"app.bsky.feed.post/{tid(old)}", None, post("old", new)),
                ("create", f"app.bsky.feed.post/{tid(new)}", None, post("new", old)),
                (
                    "create",
                    "app.bsky.actor.profile/self",
                    None,
                    {"$type": "app.bsky.actor.profile", "createdAt": old.isoformat()},
                ),
                ("delete", f"app.bsky.feed.post/{tid(old, 3)}", None, None),
            ],
        )
    )
    batch = builder.take()
    kept = {w.rkey: w.action for w in batch.writes.values()}
    assert kept == {tid(new): "create", tid(old, 3): "delete"}
    assert batch.skipped["outside window"] == 2


def test_end_seq_marks_the_final_batch_and_ignores_later_events():
    builder = BatchBuilder(end_seq=3)
    for seq in (1, 2, 3):
        builder.add(commit(seq, []))
    assert builder.finished and builder.batch.final and builder.batch.last_seq == 3
    builder2 = BatchBuilder(end_seq=3)
    builder2.add(commit(2, []))
    assert not builder2.add(commit(7, []))
    assert builder2.finished and builder2.batch.last_seq == 2


def test_identity_and_account_events():
    builder = BatchBuilder()
    time = "2024-06-01T12:00:00Z"
    builder.add(frames.decode_frame(frames.encode_identity(1, DID, time, "Alice.Example.com")))
    builder.add(frames.decode_frame(frames.encode_identity(2, DID, time, None)))
    builder.add(frames.decode_frame(frames.encode_account(3, DID, time, False, "takendown")))
    builder.add(frames.decode_frame(frames.encode_identity(4, "did:bad", time, "x.example")))
    batch = builder.take()
    assert batch.identities[DID].handle == "alice.example.com"
    assert (batch.accounts[DID].active, batch.accounts[DID].status) == (False, "takendown")
    assert batch.skipped["bad identity"] == 1


def test_time_helpers():
    assert parse_time("2024-06-01T12:00:00.123456789Z") == datetime(2024, 6, 1, 12, 0, 0, 123456, tzinfo=timezone.utc)
    assert parse_time("2024-06-01T12:00:00") is None  # no zone
    assert parse_time("yesterday") is None and parse_time(17) is None
    key = tid(NOW)
    assert record_time(key, None, syntax) == NOW
    assert record_time("self", {"createdAt": "2024-01-01T00:00:00Z"}, syntax).year == 2024
    assert record_time("self", {}, syntax) is None


def test_record_json_matches_the_atproto_json_form():
    import os

    from supervisor.atproto import jsonfmt
    from supervisor.atproto.cid import CID
    from supervisor.worker.batch import cid_text, record_json_text

    for size in range(70):  # CIDs of 4 to 73 bytes: both ways of cid_text (up to 40 bytes, and longer)
        v1 = CID(1, 0x71, os.urandom(size))
        assert cid_text(v1) == str(v1)
    v0 = CID(0, 0x70, os.urandom(32))
    assert cid_text(v0) == str(v0) and str(v0).startswith("Qm")
    link = CID(1, 0x55, os.urandom(32))
    record = {
        "$type": "x.y.z",
        "blob": {"$type": "blob", "ref": link, "mimeType": "image/png", "size": 3},
        "raw": b"\x00\xff\x10",
        "list": [1, -2, True, None, "é \u2028"],
        "nested": {"a": [{"b": link}]},
    }
    assert json.loads(record_json_text(record)) == jsonfmt.to_json(record)


def test_a_literal_backslash_u0000_is_kept_but_a_nul_is_not():
    from supervisor.worker.batch import record_json_text

    # The text \u0000 (a backslash, then "u0000") is ordinary: jsonb stores it.
    assert json.loads(record_json_text({"text": "C:\\u0000"}))["text"] == "C:\\u0000"
    assert json.loads(record_json_text({"text": "\\\\u0000"}))["text"] == "\\\\u0000"
    assert record_json_text({"text": "a\\\x00"}) is None  # a backslash, then a NUL
    assert record_json_text({"k\x00": 1}) is None
    assert record_json_text({"text": "\ud800"}) is None  # a lone surrogate
    builder = BatchBuilder()
    builder.add(commit(1, [("create", f"app.bsky.feed.post/{tid(NOW)}", None, post("see C:\\u0000 here"))]))
    batch = builder.take()
    assert not batch.skipped and json.loads(next(iter(batch.writes.values())).json)["text"] == "see C:\\u0000 here"


def test_last_time_is_the_time_of_the_last_event_that_has_a_valid_one():
    builder = BatchBuilder()
    builder.add(frames.decode_frame(frames.encode_identity(1, DID, "2024-06-01T12:00:00Z")))
    builder.add(commit(2, [], time=NOW + timedelta(minutes=5)))
    builder.add(frames.decode_frame(frames.encode_account(3, DID, "not a time", True)))
    batch = builder.take()
    assert batch.last_time == NOW + timedelta(minutes=5) and batch.skipped["bad account"] == 1
    builder.add(frames.decode_frame(frames.encode_account(4, DID, "still not a time", True)))
    assert builder.take().last_time is None


def test_the_backfill_limit_counts_only_events_that_write_records():
    builder = BatchBuilder(cutoff=NOW - timedelta(days=1))
    stamp = NOW.isoformat().replace("+00:00", "Z")
    builder.add(commit(1, [("create", f"app.bsky.feed.post/{tid(NOW)}", None, post("kept"))]))
    builder.add(commit(2, [("delete", f"app.bsky.feed.post/{tid(NOW, 1)}", None, None)]))
    builder.add(frames.decode_frame(frames.encode_identity(3, DID, stamp, "alice.example.com")))
    builder.add(frames.decode_frame(frames.encode_account(4, DID, stamp, True)))
    old = NOW - timedelta(days=3)
    builder.add(commit(5, [("create", f"app.bsky.feed.post/{tid(old)}", None, post("old", old))]))
    builder.add(
        commit(
            6,
            [
                ("update", f"app.bsky.feed.post/{tid(NOW)}", None, post("again")),
                ("create", f"app.bsky.feed.post/{tid(NOW, 2)}", None, post("more")),
            ],
        )
    )
    batch = builder.take()
    assert batch.events == 6 and batch.skipped["outside window"] == 1
    # Seqs 1 and 6 write records; the delete, identity, account and out-of-window events cost nothing.
    assert batch.contributing == 2
