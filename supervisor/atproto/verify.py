"""Verify one firehose event on its own (sync 1.1): its blocks, its signed commit, its proof.

:func:`verify_commit_event` checks a decoded ``#commit`` frame: every block hashes to its
CID, the CAR's root is the commit the frame names, the commit (v3) is for the frame's
repository and revision, its signature is the account's key's, and its operations invert on
the carried MST to ``prevData``. :func:`verify_sync_event` checks a ``#sync`` frame's commit.
Chain checks against the state a consumer holds are in :mod:`supervisor.atproto.chain`.
"""

from __future__ import annotations

from dataclasses import dataclass
from hashlib import sha256
from typing import Mapping, cast

from supervisor.atproto import car, dagcbor
from supervisor.atproto.cid import CID
from supervisor.atproto.crypto import PublicKey, verify_commit_signature
from supervisor.atproto.errors import DecodeError, ProofError
from supervisor.atproto.frames import Commit as CommitFrame
from supervisor.atproto.frames import Sync as SyncFrame
from supervisor.atproto.proof import PROOF_BAD_BLOCK, check_commit_proof
from supervisor.atproto.repo import Commit, commit_from_object
from supervisor.atproto.verdict import VALID, Verdict, failed, from_error

__all__ = [
    "Checked",
    "verify_commit_event",
    "verify_sync_event",
    "EVENT_TOO_BIG",
    "EVENT_BAD_CAR",
    "EVENT_NO_COMMIT",
    "EVENT_BAD_COMMIT",
    "EVENT_MISMATCH",
]

#: Reason codes of failed event checks (besides those of crypto and proof).
EVENT_TOO_BIG = "event_too_big"  # a tooBig commit carries no blocks to verify
EVENT_BAD_CAR = "event_bad_car"  # the blocks are not a readable CAR
EVENT_NO_COMMIT = "event_no_commit"  # the CAR's root is not the commit named, or is absent
EVENT_BAD_COMMIT = "event_bad_commit"  # the commit block is malformed, or not version 3
EVENT_MISMATCH = "event_mismatch"  # the commit's did or rev differs from the frame's


@dataclass(frozen=True, slots=True)
class Checked:
    """A verdict, and the commit object when the event got as far as having one."""

    verdict: Verdict
    commit: Commit | None = None

    @property
    def ok(self) -> bool:
        """Whether the event passed every check asked for."""
        return self.verdict.ok

    def __bool__(self) -> bool:
        return self.verdict.ok


def _blocks(data: bytes) -> tuple[list[CID], dict[bytes, bytes]] | Verdict:
    """The CAR's roots and blocks (keyed by binary CID), each block checked against its CID."""
    try:
        roots, index = car.index_car(data)
    except DecodeError as exc:
        return failed(EVENT_BAD_CAR, str(exc))
    blocks: dict[bytes, bytes] = {}
    for raw, (start, stop) in index.items():
        block = data[start:stop]
        if len(raw) == 36 and raw[0] == 1 and raw[1] < 0x80 and raw[2:4] == b"\x12\x20":
            good = sha256(block).digest() == raw[4:]
        else:
            try:
                good = CID.from_bytes(raw).verify(block)
            except DecodeError:
                good = False
        if not good:
            return failed(PROOF_BAD_BLOCK, f"a block does not hash to its CID {raw.hex()}")
        blocks[raw] = block
    return roots, blocks


def _commit(
    data: bytes,
    named: CID | None,
    did: str,
    rev: str,
    key: PublicKey | None,
) -> tuple[Checked, dict[bytes, bytes]]:
    read = _blocks(data)
    if isinstance(read, Verdict):
        return Checked(read), {}
    roots, blocks = read
    if not roots or (named is not None and roots[0] != named):
        return Checked(failed(EVENT_NO_COMMIT, f"the CAR's root is not the commit {named}")), blocks
    cid = roots[0]
    block = blocks.get(cid)
    if block is None:
        return Checked(failed(EVENT_NO_COMMIT, f"commit block {cid} is not among the blocks")), blocks
    try:
        obj = dagcbor.decode(block)
        commit = commit_from_object(cid, obj)
    except DecodeError as exc:
        return Checked(failed(EVENT_BAD_COMMIT, str(exc))), blocks
    if commit.version != 3:
        return Checked(failed(EVENT_BAD_COMMIT, f"commit {cid} is version {commit.version}, not 3"), commit), blocks
    if commit.did != did or commit.rev != rev:
        return Checked(
            failed(EVENT_MISMATCH, f"commit is {commit.did} at {commit.rev}, the event says {did} at {rev}"), commit
        ), blocks
    if key is not None:
        verdict = verify_commit_signature(obj, key)
        if not verdict:
            return Checked(verdict, commit), blocks
    return Checked(VALID, commit), blocks


def verify_commit_event(frame: CommitFrame, key: PublicKey | None, *, proof: bool = True) -> Checked:
    """Check a ``#commit`` frame: blocks, commit, signature (when ``key`` is given) and, with
    ``proof``, the MST inversion to ``prevData``. The first failure is the verdict."""
    if frame.too_big:
        return Checked(failed(EVENT_TOO_BIG, "a tooBig commit cannot be verified from its blocks"))
    checked, blocks = _commit(frame.blocks, frame.commit, frame.did, frame.rev, key)
    if not checked or not proof:
        return checked
    assert checked.commit is not None
    try:
        # keyed by binary CID: a CID is bytes and hashes and compares as its binary form;
        # _blocks has hashed every block already
        check_commit_proof(
            cast(Mapping[CID, bytes], blocks), checked.commit.data, frame.prev_data, frame.ops, verified=True
        )
    except ProofError as exc:
        return Checked(from_error(exc), checked.commit)
    return checked


def verify_sync_event(frame: SyncFrame, key: PublicKey | None) -> Checked:
    """Check a ``#sync`` frame: its CAR holds the signed commit for the frame's did and rev.

    The commit's ``data`` is the repository's root from then on.
    """
    checked, _blocks = _commit(frame.blocks, None, frame.did, frame.rev, key)
    return checked
