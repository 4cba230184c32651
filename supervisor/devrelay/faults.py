"""Fault injection: what a connection does after its n-th event, and which commits it tampers with.

Counts are per connection and count sequenced events only (not info, error or malformed
frames), so a consumer that reconnects with its cursor keeps making progress.

Tampering is by sequence number, the same on every connection: the ``#commit`` whose seq is a
multiple of ``forge_every`` is sent signed by another key (with one more record, a post whose text is
``forged`` and whose key starts with ``forged``), of ``bad_prev_data_every`` with a
wrong ``prevData``, of ``missing_block_every`` without its MST root node, and of
``skip_every`` not at all (the repository's next commit then breaks its chain); the one of
``sync_every`` is replaced by a ``#sync`` of the same signed commit (a reset to its state). The events
themselves (and the truth) are unchanged: a consumer that fetches the repository again
ends equal to the truth.
"""

from __future__ import annotations

import dataclasses

from supervisor.atproto import dagcbor, frames
from supervisor.devrelay.errors import ConfigError

__all__ = ["Faults", "FaultActions", "malformed_frame", "tamper", "MALFORMED_KINDS", "TAMPER_KINDS"]

#: What :func:`tamper` can do to a commit frame.
TAMPER_KINDS = ("forge", "bad-prev-data", "missing-block", "skip", "sync")

#: The malformed frames sent in turn: each is rejected by a conforming frame decoder.
MALFORMED_KINDS = ("truncated-body", "header-only", "trailing-bytes")


@dataclasses.dataclass(frozen=True)
class FaultActions:
    """What to do after one event: send a malformed frame, stall, then maybe drop."""

    malformed: bool = False
    stall_seconds: float = 0.0
    drop: bool = False

    def __bool__(self) -> bool:
        return self.malformed or self.stall_seconds > 0 or self.drop


@dataclasses.dataclass(frozen=True)
class Faults:
    """Fault settings; 0 disables each kind."""

    drop_every: int = 0
    stall_every: int = 0
    stall_seconds: float = 0.0
    malformed_every: int = 0
    forge_every: int = 0
    bad_prev_data_every: int = 0
    missing_block_every: int = 0
    skip_every: int = 0
    sync_every: int = 0

    def validate(self) -> None:
        """Raise :class:`ConfigError` for negative settings."""
        for name in (
            "drop_every",
            "stall_every",
            "malformed_every",
            "forge_every",
            "bad_prev_data_every",
            "missing_block_every",
            "skip_every",
            "sync_every",
        ):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name.replace('_', '-')} cannot be negative")
        if not 0 <= self.stall_seconds < float("inf"):
            raise ConfigError(f"stall-seconds must be a finite number of seconds, not {self.stall_seconds}")
        if self.stall_every and not self.stall_seconds:
            raise ConfigError("stall-every needs a positive stall-seconds")

    @property
    def enabled(self) -> bool:
        """Whether any per-connection fault is configured."""
        return bool(self.drop_every or self.stall_every or self.malformed_every)

    @property
    def tampering(self) -> bool:
        """Whether any commit is tampered with."""
        return bool(
            self.forge_every
            or self.bad_prev_data_every
            or self.missing_block_every
            or self.skip_every
            or self.sync_every
        )

    def tamper_kind(self, seq: int) -> str | None:
        """What to do to the commit of sequence number ``seq`` (None: send it as it is)."""
        for every, kind in (
            (self.skip_every, "skip"),
            (self.forge_every, "forge"),
            (self.bad_prev_data_every, "bad-prev-data"),
            (self.missing_block_every, "missing-block"),
            (self.sync_every, "sync"),
        ):
            if every and seq % every == 0:
                return kind
        return None

    def after(self, sent: int) -> FaultActions:
        """The faults due after a connection has sent its ``sent``-th event (1-based)."""
        return FaultActions(
            malformed=bool(self.malformed_every) and sent % self.malformed_every == 0,
            stall_seconds=self.stall_seconds if self.stall_every and sent % self.stall_every == 0 else 0.0,
            drop=bool(self.drop_every) and sent % self.drop_every == 0,
        )


def malformed_frame(number: int) -> bytes:
    """The ``number``-th malformed frame (0-based), cycling through :data:`MALFORMED_KINDS`."""
    kind = MALFORMED_KINDS[number % len(MALFORMED_KINDS)]
    header = dagcbor.encode({"op": 1, "t": "#commit"})
    if kind == "truncated-body":
        # A map announcing eleven entries, then nothing: the body ends mid-value.
        return header + b"\xab\x63seq"
    if kind == "header-only":
        return header
    return frames.encode_info("Malformed", "this frame has trailing bytes") + b"\x00"


def tamper(frame: bytes, kind: str) -> bytes | None:
    """``frame`` (a signed sync 1.1 ``#commit``) changed as ``kind`` says; None for ``skip``
    (and for a frame that is not a commit with blocks: sent as it is by the caller)."""
    from supervisor.atproto import car
    from supervisor.atproto.cid import CID
    from supervisor.atproto.crypto import unsigned_commit
    from supervisor.devrelay.identity import forger

    if kind == "skip":
        return None
    header, body = dagcbor.decode_multi(frame, 2)
    if header.get("t") != "#commit" or not body.get("blocks"):
        return frame
    roots, blocks = car.read_car(body["blocks"])
    commit_cid = roots[0]
    commit = dagcbor.decode(blocks[commit_cid])
    if kind == "sync":
        sync = {
            "seq": body["seq"],
            "did": body["repo"],
            "rev": body["rev"],
            "time": body["time"],
            "blocks": car.write_car([commit_cid], [(commit_cid, blocks[commit_cid])]),
        }
        return frames.encode_frame({"op": 1, "t": "#sync"}, sync)
    if kind == "forge":
        # What a forger would send: a record the account never wrote, signed by another key.
        record = {"$type": "app.bsky.feed.post", "text": "forged", "createdAt": body["time"]}
        record_block = dagcbor.encode(record)
        record_cid = CID.for_block(record_block)
        blocks[record_cid] = record_block
        body["ops"] = [
            *body["ops"],
            {"action": "create", "path": f"app.bsky.feed.post/forged{body['seq']}", "cid": record_cid},
        ]
        signed = dict(commit)
        signed["sig"] = forger("devrelay", body["repo"]).sign(unsigned_commit(commit))
        block = dagcbor.encode(signed)
        new_cid = CID.for_block(block)
        rest = [(cid, data) for cid, data in blocks.items() if cid != commit_cid]
        body["blocks"] = car.write_car([new_cid], [(new_cid, block), *rest])
        body["commit"] = new_cid
    elif kind == "bad-prev-data":
        body["prevData"] = CID.for_block(dagcbor.encode({"not": "the previous root"}))
    elif kind == "missing-block":
        records = {op["cid"] for op in body.get("ops", []) if op.get("cid") is not None}
        nodes = [cid for cid in blocks if cid != commit_cid and cid not in records]
        if not nodes:
            return frame
        dropped = commit["data"] if commit.get("data") in blocks else nodes[-1]  # the root: always needed
        body["blocks"] = car.write_car([commit_cid], [(cid, data) for cid, data in blocks.items() if cid != dropped])
    else:
        raise ValueError(f"unknown tamper kind {kind!r}")
    return frames.encode_frame(header, body)
