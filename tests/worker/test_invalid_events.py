"""Well-formed frames whose values break the specification are never written (and never stop ingest)."""

from __future__ import annotations

import signal

import pytest

from supervisor.atproto.capture_io import write_capture_frame
from supervisor.atproto.frames import encode_commit

from .support import cursor_of, read_records, wait_until

pytestmark = pytest.mark.postgres

DID = "did:plc:ewvi7nxzyoun6zhxrhs64oiz"
TIME = "2025-01-01T12:00:00.000Z"


def _post(text: str) -> dict:
    return {"$type": "app.bsky.feed.post", "text": text, "createdAt": TIME}


def test_invalid_events_are_skipped_and_valid_ones_written(database_url, start_relay, start_worker, workdir):
    frames = [
        encode_commit(
            1,
            DID,
            "3kabcaaaaaaa2",
            None,
            TIME,
            [("create", "app.bsky.feed.post/3kabcaaaaaab2", None, _post("good one"))],
        ),
        encode_commit(2, DID, "3kabcaaaaaaa3", None, TIME, [("create", "../../etc/passwd", None, _post("path"))]),
        encode_commit(
            3,
            DID,
            "3kabcaaaaaaa4",
            None,
            TIME,
            [("explode", "app.bsky.feed.post/3kabcaaaaaab4", None, _post("action"))],
        ),
        encode_commit(
            4,
            "not-a-did",
            "3kabcaaaaaaa5",
            None,
            TIME,
            [("create", "app.bsky.feed.post/3kabcaaaaaab5", None, _post("did"))],
        ),
        encode_commit(
            5, DID, "not-a-tid", None, TIME, [("create", "app.bsky.feed.post/3kabcaaaaaab7", None, _post("bad rev"))]
        ),
        encode_commit(
            6,
            DID,
            "3kabcaaaaaaa6",
            None,
            "yesterday",
            [("create", "app.bsky.feed.post/3kabcaaaaaab8", None, _post("bad time"))],
        ),
        encode_commit(
            7,
            DID,
            "3kabcaaaaaaa7",
            None,
            TIME,
            [("create", "app.bsky.feed.post/3kabcaaaaaab6", None, _post("good two"))],
        ),
    ]
    capture = workdir / "mixed.capture"
    with open(capture, "wb") as out:
        for frame in frames:
            write_capture_frame(out, frame)
    relay = start_relay("--capture", str(capture), "--retention-hours", "100000")
    # Field checks only: these hand-made commits are unsigned (verification has its own tests).
    worker = start_worker(
        {"DATABASE_URL": database_url, "RELAY_URL": relay.url, "VERIFY": "off"}, "--start-cursor", "0"
    )
    wait_until(lambda: cursor_of(database_url, "firehose") == "7", 60, what="the last event")
    worker.signal(signal.SIGTERM)
    assert worker.wait() == 0
    texts = sorted(record[1]["text"] for record in read_records(database_url).values())
    assert texts == ["good one", "good two"]
    log = worker.log
    assert "path '../../etc/passwd' is not collection/record-key" in log
    assert "action 'explode'" in log and "repo 'not-a-did' is not a DID" in log
