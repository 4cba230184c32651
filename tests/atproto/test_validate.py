"""Field checks of decoded frames: each bad value is named; a good frame has no problem."""

from __future__ import annotations

import dataclasses

import pytest

from supervisor.atproto.cid import CID
from supervisor.atproto.frames import Account, Commit, CommitOp, Identity, Sync, Unknown
from supervisor.atproto.validate import frame_problems

DID = "did:plc:ewvi7nxzyoun6zhxrhs64oiz"
TIME = "2024-05-01T12:00:00.000Z"
REV = "3kabcaaaaaaaa"
CID_ = CID.for_block(b"x")
POST = {"$type": "app.bsky.feed.post", "text": "hi", "createdAt": TIME}


def _commit(**changes) -> Commit:
    op = CommitOp("create", "app.bsky.feed.post/3kabcaaaaaaab", CID_, POST)
    frame = Commit(7, DID, REV, TIME, None, [op])
    return dataclasses.replace(frame, **changes)


def _op(**changes) -> Commit:
    op = dataclasses.replace(CommitOp("create", "app.bsky.feed.post/3kabcaaaaaaab", CID_, POST), **changes)
    return _commit(ops=[op])


GOOD = [
    _commit(),
    _op(action="delete", cid=None, record=None),
    Identity(1, DID, TIME, "alice.test"),
    Identity(1, DID, TIME, None),
    Account(2, DID, TIME, False, "takendown"),
    Sync(3, DID, REV, TIME),
]


@pytest.mark.parametrize("frame", GOOD, ids=lambda f: f.type)
def test_good_frames_have_no_problem(frame) -> None:
    assert frame_problems(frame) == []


@pytest.mark.parametrize(
    "frame, problem",
    [
        (Unknown("#commit", op=2), "header op 2"),
        (_commit(seq=-5), "seq -5"),
        (_commit(seq=0), "seq 0"),
        (_commit(did="not-a-did"), "repo 'not-a-did' is not a DID"),
        (_commit(time="yesterday"), "time 'yesterday'"),
        (_commit(rev="3kabc"), "rev '3kabc' is not a TID"),
        (_commit(since="x"), "since 'x'"),
        (_op(action="explode"), "action 'explode'"),
        (_op(path="../../etc/passwd"), "path '../../etc/passwd'"),
        (_op(path="app.bsky.feed.post/.."), "path 'app.bsky.feed.post/..'"),
        (_op(path="app.bsky.feed.post"), "is not collection/record-key"),
        (_op(cid=None), "a create needs a cid"),
        (_op(action="delete", record=None), "a delete has no cid"),
        (_op(record=1), "not a map with a string $type"),
        (_op(record={"text": "no type"}), "not a map with a string $type"),
        (Identity(1, DID, TIME, "not a handle"), "handle 'not a handle'"),
        (Sync(3, DID, "nope", TIME), "rev 'nope'"),
    ],
)
def test_each_bad_value_is_named(frame, problem: str) -> None:
    problems = frame_problems(frame)
    assert any(problem in p for p in problems), problems
