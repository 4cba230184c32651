"""Field checks of decoded event-stream frames: what a well-formed frame may still get wrong.

:func:`~supervisor.atproto.frames.decode_frame` checks structure and types; this module checks
the values against the atproto specifications: sequence numbers, DIDs, handles, datetimes,
revisions (TIDs), op actions, record paths (an NSID and a record key, so never ``../..``) and
records (maps with a ``$type``).  A frame with any problem must not be indexed.

This is the one home of these checks: the worker's batch building uses the same functions
(:func:`did_ok`, :func:`tid_ok`, :func:`record_path`, :func:`handle_ok`) for events that did not
pass :func:`frame_problems`, and trusts those that did.
"""

from __future__ import annotations

from typing import Any, Optional

from supervisor.atproto.frames import Account, Commit, Identity, Sync, Unknown
from supervisor.atproto.syntax import KINDS, is_valid

__all__ = ["frame_problems", "ACTIONS", "did_ok", "tid_ok", "handle_ok", "record_path"]

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


_tid = KINDS["tid"]
_record_key = KINDS["record-key"]
_datetime = KINDS["datetime"]


def did_ok(value: Any) -> bool:
    """Whether ``value`` is a DID (memoised: DIDs recur)."""
    return _valid("did", value)


def tid_ok(value: Any) -> bool:
    """Whether ``value`` is a TID (a revision; not memoised: each one is new)."""
    return type(value) is str and _tid(value)


def handle_ok(value: Any) -> bool:
    """Whether ``value`` is a handle."""
    return type(value) is str and is_valid("handle", value)


def record_path(path: Any) -> Optional[tuple[str, str]]:
    """``(collection, record key)`` of a record path ``NSID/record-key``; None when it is not one."""
    if type(path) is not str:
        return None
    collection, slash, rkey = path.partition("/")
    if not slash or not _valid("nsid", collection) or not _record_key(rkey):
        return None
    return collection, rkey


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
        if not did_ok(frame.did):
            problems.append(f"repo {frame.did!r} is not a DID")
        if type(frame.time) is not str or not _datetime(frame.time):
            problems.append(f"time {frame.time!r} is not an atproto datetime")
    if isinstance(frame, (Commit, Sync)) and not tid_ok(frame.rev):
        problems.append(f"rev {frame.rev!r} is not a TID")
    if isinstance(frame, Commit):
        if frame.since is not None and not tid_ok(frame.since):
            problems.append(f"since {frame.since!r} is not a TID")
        for index, op in enumerate(frame.ops):
            problems.extend(f"op {index}: {problem}" for problem in _op_problems(op))
    if isinstance(frame, Identity) and frame.handle is not None and not handle_ok(frame.handle):
        problems.append(f"handle {frame.handle!r} is not a handle")
    return problems


def _op_problems(op: Any) -> list[str]:
    problems = []
    if op.action not in ACTIONS:
        problems.append(f"action {op.action!r} is not create, update or delete")
    if record_path(op.path) is None:
        problems.append(f"path {op.path!r} is not collection/record-key")
    if op.action in ("create", "update") and op.cid is None:
        problems.append(f"a {op.action} needs a cid")
    if op.action == "delete" and op.cid is not None:
        problems.append("a delete has no cid")
    record = op.record
    if record is not None and not (isinstance(record, dict) and isinstance(record.get("$type"), str)):
        problems.append("the record is not a map with a string $type")
    return problems
