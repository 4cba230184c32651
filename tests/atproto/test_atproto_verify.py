"""Whole-event verification: signed inductive #commit and #sync frames, and forgeries of each."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from supervisor.atproto import car, crypto, dagcbor, mst, proof, verify
from supervisor.atproto.cid import CID
from supervisor.atproto.crypto import PrivateKey
from supervisor.atproto.frames import CommitOp, decode_frame, encode_commit, encode_frame, encode_sync
from supervisor.atproto.verify import verify_commit_event, verify_sync_event

DID = "did:plc:ewvi7nxzyoun6zhxrhs64oiz"
TIME = "2026-12-01T23:00:00.000Z"
REV = "3lon5dzeaihj2"
SINCE = "3lon5cqsbwrj2"
KEY = PrivateKey.from_bytes("k256", bytes.fromhex("9085d2bef69286a6cbb51623c8fa258629945cd55ca705cc4e66700396894e0c"))
POST = {"$type": "app.bsky.feed.post", "text": "old", "createdAt": TIME}
NEW = {"$type": "app.bsky.feed.post", "text": "new", "createdAt": TIME}
POST_CID = CID.for_block(dagcbor.encode(POST))
TREE_BEFORE = {f"app.bsky.feed.post/3l{n:011d}": POST_CID for n in range(40)}


def _commit_frame(key=KEY, **overrides):
    tree = dict(TREE_BEFORE)
    new_cid = CID.for_block(dagcbor.encode(NEW))
    tree["app.bsky.feed.post/3lzzzzzzzzzzz"] = new_cid
    tree["app.bsky.feed.post/3l00000000005"] = new_cid
    del tree["app.bsky.feed.post/3l00000000007"]
    ops = [
        ("create", "app.bsky.feed.post/3lzzzzzzzzzzz", None, NEW),
        ("update", "app.bsky.feed.post/3l00000000005", None, NEW, POST_CID),
        ("delete", "app.bsky.feed.post/3l00000000007", None, None, POST_CID),
    ]
    args = {"sign": key.sign, "inductive": True, "tree": tree, **overrides}
    return encode_commit(7, DID, REV, SINCE, TIME, ops, **args)


def _rewrite(data: bytes, **changes) -> bytes:
    header, body = dagcbor.decode_multi(data, 2)
    body.update(changes)
    return encode_frame(header, body)


def test_a_signed_inductive_commit_verifies():
    frame = decode_frame(_commit_frame())
    checked = verify_commit_event(frame, KEY.public_key)
    assert checked.ok, checked.verdict
    assert checked.commit is not None and checked.commit.rev == REV
    assert frame.prev_data == mst.build(TREE_BEFORE)[0]
    assert verify_commit_event(frame, None).ok  # signatures not asked for


def test_a_commit_signed_by_another_key_fails():
    frame = decode_frame(_commit_frame(key=PrivateKey.generate()))
    assert verify_commit_event(frame, KEY.public_key).verdict.reason == crypto.SIGNATURE_INVALID
    assert verify_commit_event(frame, KEY.public_key, proof=False).verdict.reason == crypto.SIGNATURE_INVALID


def test_an_unsigned_commit_fails():
    frame = decode_frame(_commit_frame(sign=None))  # a 64-byte placeholder signature
    assert not verify_commit_event(frame, KEY.public_key).ok


def test_wrong_prev_data_fails_the_proof():
    frame = decode_frame(_commit_frame(prev_data=CID.for_block(b"x")))
    assert verify_commit_event(frame, KEY.public_key).verdict.reason == proof.PROOF_PREV_DATA
    assert verify_commit_event(frame, KEY.public_key, proof=False).ok


def test_missing_blocks_fail_the_proof():
    data = _commit_frame()
    frame = decode_frame(data)
    roots, blocks = car.read_car(frame.blocks)
    commit = dagcbor.decode(blocks[frame.commit])
    records = {op.cid for op in frame.ops if op.cid}
    nodes = [cid for cid in blocks if cid != frame.commit and cid not in records]
    assert nodes
    reasons = set()
    for missing in nodes:
        kept = [(cid, block) for cid, block in blocks.items() if cid != missing]
        broken = decode_frame(_rewrite(data, blocks=car.write_car(roots, kept)))
        reasons.add(verify_commit_event(broken, KEY.public_key).verdict.reason)
    assert commit["data"] in nodes
    # some nodes are sent for consumers that apply ops forward; inverting does not read them
    assert proof.PROOF_MISSING_BLOCK in reasons and reasons <= {proof.PROOF_MISSING_BLOCK, None}
    for record in records:
        kept = [(cid, block) for cid, block in blocks.items() if cid != record]
        broken = decode_frame(_rewrite(data, blocks=car.write_car(roots, kept)))
        assert verify_commit_event(broken, KEY.public_key).verdict.reason == proof.PROOF_MISSING_RECORD


def _read_spans(frame) -> list[tuple[int, int]]:
    """Byte ranges of the CAR header and of the sections that verification has to read."""
    roots, blocks = car.read_car(frame.blocks)
    recording = proof._Recording(blocks)
    proof.invert_ops(recording, dagcbor.decode(blocks[frame.commit])["data"], frame.ops)
    read = recording.read | {frame.commit} | {op.cid for op in frame.ops if op.cid}
    _roots, index = car.index_car(frame.blocks)
    spans = [(0, min(start for start, _stop in index.values()) - 36)]
    spans += [(start - 37, stop) for cid, (start, stop) in index.items() if cid in read]
    return spans


def test_flipped_bytes_are_typed_failures():
    data = _commit_frame()
    frame = decode_frame(data)
    spans = _read_spans(frame)
    failures = 0
    for position in range(len(frame.blocks)):
        blocks = bytearray(frame.blocks)
        blocks[position] ^= 0x40
        try:
            broken = decode_frame(_rewrite(data, blocks=bytes(blocks)), records=False)
        except Exception:  # noqa: BLE001 - a frame that no longer decodes is not this test's concern
            continue
        checked = verify_commit_event(broken, KEY.public_key)
        if checked.ok:  # only a block that verification does not need may change unnoticed
            assert not any(start <= position < stop for start, stop in spans), position
            continue
        failures += 1
        assert checked.verdict.reason in {
            verify.EVENT_BAD_CAR,
            verify.EVENT_NO_COMMIT,
            verify.EVENT_BAD_COMMIT,
            verify.EVENT_MISMATCH,
            proof.PROOF_BAD_BLOCK,
            crypto.SIGNATURE_INVALID,
            proof.PROOF_MISSING_BLOCK,
            proof.PROOF_MISSING_RECORD,
            crypto.COMMIT_MALFORMED,
        }, checked.verdict
    assert failures > len(frame.blocks) // 2


def test_frame_and_commit_must_agree():
    data = _commit_frame()
    assert (
        verify_commit_event(decode_frame(_rewrite(data, repo="did:plc:other")), None).verdict.reason
        == verify.EVENT_MISMATCH
    )
    assert (
        verify_commit_event(decode_frame(_rewrite(data, rev="3lon5dzeaihj3")), None).verdict.reason
        == verify.EVENT_MISMATCH
    )
    assert (
        verify_commit_event(decode_frame(_rewrite(data, commit=CID.for_block(b"x"))), None).verdict.reason
        == verify.EVENT_NO_COMMIT
    )
    assert verify_commit_event(decode_frame(_rewrite(data, tooBig=True)), None).verdict.reason == verify.EVENT_TOO_BIG
    assert (
        verify_commit_event(decode_frame(_rewrite(data, blocks=b"\x01"), records=False), None).verdict.reason
        == verify.EVENT_BAD_CAR
    )


@pytest.mark.parametrize("curve", ["k256", "p256"])
def test_sync_events(curve):
    key = PrivateKey.generate(curve)
    data = CID.for_block(dagcbor.encode({"l": None, "e": []}))
    frame = decode_frame(encode_sync(3, DID, REV, TIME, data=data, sign=key.sign))
    checked = verify_sync_event(frame, key.public_key)
    assert checked.ok and checked.commit.data == data
    assert verify_sync_event(frame, PrivateKey.generate(curve).public_key).verdict.reason == crypto.SIGNATURE_INVALID
    other = decode_frame(encode_sync(3, DID, "3lon5dzeaihj3", TIME, data=data, sign=key.sign))
    other.rev = REV
    assert verify_sync_event(other, key.public_key).verdict.reason == verify.EVENT_MISMATCH


FRAME = decode_frame(_commit_frame())
CIDS = st.sampled_from([None, POST_CID, CID.for_block(dagcbor.encode(NEW)), CID.for_block(b"x")])


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["create", "update", "delete", "x"]),
            st.sampled_from([op.path for op in FRAME.ops] + ["app.bsky.feed.post/3l00000000001", ""]),
            CIDS,
            CIDS,
        ),
        max_size=5,
    ),
    st.one_of(st.none(), CIDS),
)
def test_tampered_ops_are_typed_failures(ops, prev_data):
    frame = decode_frame(_commit_frame())
    original = [(op.action, op.path, op.cid, op.prev) for op in frame.ops]
    frame.ops = [CommitOp(action, path, cid, None, prev) for action, path, cid, prev in ops]
    if prev_data is not None:
        frame.prev_data = prev_data
    checked = verify_commit_event(frame, KEY.public_key)
    if set(ops) != set(original) or (prev_data is not None and prev_data != FRAME.prev_data):
        assert not checked.ok
        assert checked.verdict.reason.startswith("proof_")
