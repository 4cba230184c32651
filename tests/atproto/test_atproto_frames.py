"""Event-stream frames: encode/decode round trips and malformed frames."""

from __future__ import annotations

import cbor2
import pytest

from supervisor.atproto import dagcbor
from supervisor.atproto.car import read_car
from supervisor.atproto.cid import CID
from supervisor.atproto.errors import FrameError
from supervisor.atproto.frames import (
    Account,
    Commit,
    ErrorFrame,
    Identity,
    Info,
    Sync,
    Unknown,
    decode_frame,
    encode_account,
    encode_commit,
    encode_error,
    encode_frame,
    encode_identity,
    encode_info,
    encode_sync,
)
from supervisor.atproto.mst import walk
from supervisor.atproto.repo import parse_commit

DID = "did:plc:ewvi7nxzyoun6zhxrhs64oiz"
TIME = "2024-05-01T12:00:00.000Z"
POST = {"$type": "app.bsky.feed.post", "text": "hello", "createdAt": TIME, "langs": ["en"]}
LIKE = {
    "$type": "app.bsky.feed.like",
    "createdAt": TIME,
    "subject": {
        "uri": f"at://{DID}/app.bsky.feed.post/3k",
        "cid": "bafyreie5cvv4h45feadgeuwhbcutmh6t2ceseocckahdoe6uat64zmz454",
    },
}


def test_header_then_body_and_plain_cbor_sees_only_the_header():
    frame = encode_identity(1, DID, TIME, "alice.test")
    assert cbor2.loads(frame) == {"op": 1, "t": "#identity"}
    assert dagcbor.decode_multi(frame, 2)[1] == {"seq": 1, "did": DID, "time": TIME, "handle": "alice.test"}


def test_commit_round_trip_with_records():
    prev = CID.for_block(b"old")
    frame = encode_commit(
        42,
        DID,
        "3kabc",
        "3kaaa",
        TIME,
        [
            ("create", "app.bsky.feed.post/3k1", None, POST),
            ("create", "app.bsky.feed.like/3k2", None, LIKE),
            ("update", "app.bsky.actor.profile/self", None, {"$type": "app.bsky.actor.profile"}, prev),
            ("delete", "app.bsky.graph.follow/3k3", None, None, prev),
        ],
        prev_data=prev,
    )
    commit = decode_frame(frame)
    assert isinstance(commit, Commit)
    assert (commit.seq, commit.did, commit.rev, commit.since, commit.time, commit.too_big) == (
        42,
        DID,
        "3kabc",
        "3kaaa",
        TIME,
        False,
    )
    assert commit.prev_data == prev
    assert [(op.action, op.path) for op in commit.ops] == [
        ("create", "app.bsky.feed.post/3k1"),
        ("create", "app.bsky.feed.like/3k2"),
        ("update", "app.bsky.actor.profile/self"),
        ("delete", "app.bsky.graph.follow/3k3"),
    ]
    assert commit.ops[0].record == POST and commit.ops[1].record == LIKE
    assert commit.ops[0].cid == CID.for_block(dagcbor.encode(POST))
    assert commit.ops[2].prev == prev and commit.ops[3].cid is None and commit.ops[3].record is None
    assert commit.ops[0].collection == "app.bsky.feed.post" and commit.ops[0].rkey == "3k1"
    # The CAR slice is a real partial repo: commit root, MST path, records.
    roots, blocks = read_car(commit.blocks, verify=True)
    assert roots == [commit.commit]
    data = parse_commit(roots[0], blocks[roots[0]])
    assert data.rev == "3kabc" and data.did == DID
    assert dict(walk(blocks, data.data))["app.bsky.feed.post/3k1"] == commit.ops[0].cid


def test_commit_without_records_option():
    frame = encode_commit(1, DID, "3kabc", None, TIME, [("create", "app.bsky.feed.post/3k1", None, POST)])
    assert decode_frame(frame, records=False).ops[0].record is None


def test_commit_with_a_full_tree_carries_only_the_path():
    tree = {f"app.bsky.feed.like/3k{i:011d}": CID.for_block(str(i).encode()) for i in range(300)}
    cid = CID.for_block(dagcbor.encode(POST))
    tree["app.bsky.feed.post/3k1"] = cid
    frame = encode_commit(1, DID, "3kabc", None, TIME, [("create", "app.bsky.feed.post/3k1", None, POST)], tree=tree)
    commit = decode_frame(frame)
    assert commit.ops[0].record == POST
    _roots, blocks = read_car(commit.blocks)
    assert 2 < len(blocks) < 40


def test_other_message_types():
    assert decode_frame(encode_identity(2, DID, TIME)) == Identity(2, DID, TIME, None)
    assert decode_frame(encode_account(3, DID, TIME, False, "takendown")) == Account(3, DID, TIME, False, "takendown")
    sync = decode_frame(encode_sync(4, DID, "3kabc", TIME))
    assert isinstance(sync, Sync) and (sync.seq, sync.rev) == (4, "3kabc")
    roots, blocks = read_car(sync.blocks)
    assert parse_commit(roots[0], blocks[roots[0]]).rev == "3kabc"
    assert decode_frame(encode_info("OutdatedCursor", "too old")) == Info("OutdatedCursor", "too old")
    assert decode_frame(encode_error("FutureCursor")) == ErrorFrame("FutureCursor", None)


def test_unknown_types_and_ops_are_skippable():
    assert decode_frame(encode_frame({"op": 1, "t": "#tombstone"}, {"seq": 1})) == Unknown("#tombstone")
    assert decode_frame(encode_frame({"op": 2, "t": "#x"}, {})) == Unknown("#x", op=2)


@pytest.mark.parametrize(
    "frame, reason",
    [
        (b"", "empty"),
        (dagcbor.encode({"op": 1, "t": "#commit"}), "no body"),
        (encode_identity(1, DID, TIME) + b"\x00", "trailing"),
        (encode_frame({"t": "#identity"}, {}), "op"),
        (encode_frame({"op": 1}, {}), "'t'"),
        (dagcbor.encode({"op": 1, "t": "#info"}) + dagcbor.encode([1]), "not a map"),
        (encode_frame({"op": 1, "t": "#identity"}, {"seq": "1", "did": DID, "time": TIME}), "seq"),
        (encode_frame({"op": 1, "t": "#commit"}, {"seq": 1}), "missing"),
        (encode_frame({"op": -1}, {"message": "x"}), "error"),
        (dagcbor.encode({"op": 1, "t": "#info"}) + bytes.fromhex("a1646e616d65fb3ff0000000000000"), "floating"),
    ],
)
def test_malformed_frames_raise_frame_error(frame, reason):
    with pytest.raises(FrameError, match=reason):
        decode_frame(frame)


def _commit_with_record_block(block: bytes, cid: CID | None = None) -> bytes:
    """A #commit frame whose one create carries ``block`` as its record (named by ``cid``, by
    default the block's own CID)."""
    from supervisor.atproto.car import write_car

    cid = cid or CID.for_block(block)
    frame = encode_commit(1, DID, "3kabc", None, TIME, [("create", "app.bsky.feed.post/3k1", cid, None)])
    body = dagcbor.decode_multi(frame, 2)[1]
    roots, blocks = read_car(body["blocks"])
    body["blocks"] = write_car(roots, [*blocks.items(), (cid, block)])
    return encode_frame({"op": 1, "t": "#commit"}, body)


def test_corrupt_record_in_the_car_slice_is_reported():
    block = dagcbor.encode(POST).replace(b"\x65hello", b"\xfa\x3f\x80\x00\x00")  # the text -> 1.0, a float
    with pytest.raises(FrameError, match="app.bsky.feed.post/3k1: invalid DAG-CBOR: floating-point"):
        decode_frame(_commit_with_record_block(block))


def test_a_record_block_that_does_not_hash_to_its_cid_is_refused():
    good = dagcbor.encode(POST)
    assert decode_frame(_commit_with_record_block(good)).ops[0].record == POST
    tampered = good.replace(b"hello", b"jello")
    with pytest.raises(FrameError, match="app.bsky.feed.post/3k1: its block does not hash to the op's CID"):
        decode_frame(_commit_with_record_block(tampered, CID.for_block(good)))


@pytest.mark.parametrize(
    "spoil",
    [
        lambda block: cbor2.dumps(dict(reversed(list(dagcbor.decode(block).items())))),  # keys out of order
        lambda block: block.replace(b"\x65hello", b"\x78\x05hello"),  # a long-form length
    ],
)
def test_a_non_canonical_record_is_refused_even_with_a_matching_cid(spoil):
    block = spoil(dagcbor.encode(POST))
    with pytest.raises(FrameError, match="app.bsky.feed.post/3k1: .*(not canonical|canonical order)"):
        decode_frame(_commit_with_record_block(block))


def test_a_non_canonical_frame_body_is_refused():
    frame = encode_identity(7, DID, TIME)
    header_size = len(dagcbor.encode({"op": 1, "t": "#identity"}))
    body = frame[header_size:]
    assert body.startswith(b"\xa3cdid")
    long_seq = frame[:header_size] + body.replace(b"cseq\x07", b"cseq\x18\x07")
    with pytest.raises(FrameError, match="not canonical"):
        decode_frame(long_seq)
    unsorted = frame[:header_size] + cbor2.dumps({"seq": 7, "did": DID, "time": TIME})
    with pytest.raises(FrameError, match="canonical order"):
        decode_frame(unsorted)
