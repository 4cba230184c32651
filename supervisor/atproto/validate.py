"""Field checks of decoded event-stream frames: what a well-formed frame may still get wrong.

:func:`~supervisor.atproto.frames.decode_frame` checks structure and types; this module checks
the values against the atproto specifications: sequence numbers, DIDs, handles, datetimes,
revisions (TIDs), op actions, record paths (an NSID and a record key, so never ``../..``) and
records (maps with a ``$type``).  A frame with any problem must not be indexed.
"""

from __future__ import annotations

from typing import Any

from supervisor.atproto.frames import Account, Commit, Identity, Sync, Unknown
from supervisor.atproto.syntax import is_valid

__all__ = ["frame_problems", "ACTIONS"]

#: The op actions of a ``#commit``.
ACTIONS = frozenset({"create", "update", "delete"})

# DIDs and collections recur from event to event: each distinct one is checked once (bounded).
_VALID: dict[tuple[str, str], bool] = {}


def _valid(kind: str, value: Any) -> bool:
    key = (kind, value)
    known = _VALID.get(key) if type(value) is str else None
    if known is None:
        known = is_valid(kind, value)
        if type(value) is str and len(value) <= 512:
            if len(_VALID) >= 50_000:
                _VALID.clear()
            _VALID[key] = known
    return known


def frame_problems(frame: Any) -> list[str]:
    """What is wrong with ``frame``'s values (an empty list for a frame that may be indexed)."""
    problems: list[str] = []
    if isinstance(frame, Unknown):
        if frame.op not in (1, -1):
            problems.append(f"header op {frame.op} is neither 1 (message) nor -1 (error)")
        return problems
    if isinstance(frame, (Commit, Identity, Account, Sync)):
        if frame.seq < 1:
            problems.append(f"seq {frame.seq} is not a positive integer")
        if not _valid("did", frame.did):
            problems.append(f"repo {frame.did!r} is not a DID")
        if not is_valid("datetime", frame.time):
            problems.append(f"time {frame.time!r} is not an atproto datetime")
    if isinstance(frame, (Commit, Sync)) and not is_valid("tid", frame.rev):
        problems.append(f"rev {frame.rev!r} is not a TID")
    if isinstance(frame, Commit):
        if frame.since is not None and not is_valid("tid", frame.since):
            problems.append(f"since {frame.since!r} is not a TID")
        for index, op in enumerate(frame.ops):
            problems.extend(f"op {index}: {problem}" for problem in _op_problems(op))
    if isinstance(frame, Identity) and frame.handle is not None and not is_valid("handle", frame.handle):
        problems.append(f"handle {frame.handle!r} is not a handle")
    return problems


def _op_problems(op: Any) -> list[str]:
    problems = []
    if op.action not in ACTIONS:
        problems.append(f"action {op.action!r} is not create, update or delete")
    collection, slash, rkey = op.path.partition("/")
    if not slash or not _valid("nsid", collection) or not is_valid("record-key", rkey):
        problems.append(f"path {op.path!r} is not collection/record-key")
    if op.action in ("create", "update") and op.cid is None:
        problems.append(f"a {op.action} needs a cid")
    if op.action == "delete" and op.cid is not None:
        problems.append("a delete has no cid")
    record = op.record
    if record is not None and not (isinstance(record, dict) and isinstance(record.get("$type"), str)):
        problems.append("the record is not a map with a string $type")
    return problems
