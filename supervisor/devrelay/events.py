"""Repository events as plain data, their timestamps, and their wire frames.

An :class:`Event` is what the relay sequences: a ``#commit`` (record operations on one
repository), an ``#identity`` (a handle change) or an ``#account`` (activation status).
Events are cheap Python records; the DAG-CBOR frame is only built when a consumer needs it.
"""

from __future__ import annotations

import dataclasses
import datetime
import time
from typing import Any, Optional, cast

from supervisor.atproto import frames
from supervisor.atproto.cid import CID

__all__ = [
    "COMMIT",
    "IDENTITY",
    "ACCOUNT",
    "Op",
    "Event",
    "format_time",
    "parse_time",
    "encode_event",
    "collect_blobs",
]

COMMIT = "commit"
IDENTITY = "identity"
ACCOUNT = "account"

#: One record operation: ``(action, "collection/rkey", cid or None, record or None)``.
Op = tuple[str, str, Optional[CID], Optional[dict[str, Any]]]

_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


@dataclasses.dataclass(slots=True)
class Event:
    """One sequenced event of the network.

    ``time_us`` is the event time in microseconds since the Unix epoch (the frame's ``time``).
    Commit events carry ``rev``, ``since`` and ``ops``; identity events ``handle``; account
    events ``active`` and ``status``. ``frame`` holds the encoded frame once built (or the
    original bytes of a capture file).
    """

    kind: str
    seq: int
    time_us: int
    did: str
    rev: Optional[str] = None
    since: Optional[str] = None
    ops: tuple[Op, ...] = ()
    handle: Optional[str] = None
    active: Optional[bool] = None
    status: Optional[str] = None
    frame: Optional[bytes] = None
    #: Identity events of a key rotation: the account's new signing key generation.
    key_gen: Optional[int] = None

    def encoded(self) -> bytes:
        """The frame bytes of this event (built once, then kept)."""
        if self.frame is None:
            self.frame = encode_event(self)
        return self.frame


def format_time(time_us: int) -> str:
    """An atproto datetime (RFC 3339, UTC, millisecond precision) for epoch microseconds."""
    seconds, micros = divmod(time_us, 1_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{micros // 1000:03d}Z"


def parse_time(text: str) -> int:
    """Epoch microseconds of an RFC 3339 datetime; ``ValueError`` when it is not one."""
    moment = datetime.datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"datetime {text!r} has no timezone")
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def encode_event(event: Event) -> bytes:
    """The event-stream frame (header + body) of ``event``."""
    when = format_time(event.time_us)
    if event.kind == COMMIT:
        blobs: list[CID] = []
        for _action, _path, _cid, record in event.ops:
            if record is not None:
                collect_blobs(record, blobs)
        rev = cast(str, event.rev)  # commit events carry their revision
        return frames.encode_commit(event.seq, event.did, rev, event.since, when, list(event.ops), blobs=blobs)
    if event.kind == IDENTITY:
        return frames.encode_identity(event.seq, event.did, when, event.handle)
    if event.kind == ACCOUNT:
        return frames.encode_account(event.seq, event.did, when, bool(event.active), event.status)
    raise ValueError(f"unknown event kind {event.kind!r}")


def collect_blobs(value: Any, out: list[CID]) -> None:
    """Append the CIDs of the blobs ``value`` references (the commit's ``blobs`` field)."""
    if isinstance(value, dict):
        if value.get("$type") == "blob" and isinstance(value.get("ref"), CID):
            out.append(value["ref"])
            return
        for item in value.values():
            if isinstance(item, (dict, list)):
                collect_blobs(item, out)
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, (dict, list)):
                collect_blobs(item, out)
