"""Decoded firehose events -> write batches (pure: no I/O).

A :class:`BatchBuilder` is fed decoded events in stream order and hands back :class:`Batch` objects:
the record writes (one per URI: within a batch a later op on the same URI wins), the account and
identity updates (one per DID), the position (last seq and event time) and counts of what was
skipped and why.  Every identifier is checked here, before anything reaches the database; a bad op
or event is counted and skipped, never fatal.
"""

from __future__ import annotations

import collections
import dataclasses
import json
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Optional

__all__ = [
    "RecordWrite",
    "IdentityUpdate",
    "AccountUpdate",
    "Batch",
    "BatchBuilder",
    "parse_time",
    "record_time",
    "record_json_text",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MIN_TIME = datetime(1, 1, 2, tzinfo=timezone.utc)


@dataclasses.dataclass(slots=True)
class RecordWrite:
    """One checked record operation: ``action`` is ``create``, ``update`` or ``delete``."""

    uri: str
    did: str
    collection: str
    rkey: str
    action: str
    cid: Optional[str]
    rev: str
    json: Optional[str]
    created_at: Optional[datetime]
    seq: int


@dataclasses.dataclass(slots=True)
class IdentityUpdate:
    """An ``#identity`` event: ``handle`` None means unchanged."""

    did: str
    handle: Optional[str]
    time: datetime
    seq: int


@dataclasses.dataclass(slots=True)
class AccountUpdate:
    """An ``#account`` event."""

    did: str
    active: bool
    status: Optional[str]
    time: datetime
    seq: int


@dataclasses.dataclass
class Batch:
    """Everything one transaction writes, with the stream position it moves the cursor to."""

    writes: dict[str, RecordWrite] = dataclasses.field(default_factory=dict)
    identities: dict[str, IdentityUpdate] = dataclasses.field(default_factory=dict)
    accounts: dict[str, AccountUpdate] = dataclasses.field(default_factory=dict)
    events: int = 0
    ops: int = 0
    first_seq: Optional[int] = None
    last_seq: Optional[int] = None
    last_time: Optional[datetime] = None
    skipped: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    kinds: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    #: Changes accepted (record writes, identities, accounts), before de-duplication.
    changes: int = 0
    #: Events that carried at least one accepted change (the backfill throttles on these).
    contributing: int = 0
    #: Set by the backfill: this batch reaches the end of the replay.
    final: bool = False

    @property
    def empty(self) -> bool:
        """True when the batch moves nothing, not even the cursor."""
        return self.last_seq is None and not self.writes and not self.identities and not self.accounts

    @property
    def indexable(self) -> int:
        """How many rows-worth of changes the batch carries (records, identities, accounts)."""
        return len(self.writes) + len(self.identities) + len(self.accounts)


def parse_time(value: Any) -> Optional[datetime]:
    """An RFC 3339 datetime with a time zone, as an aware :class:`datetime`; None when not one."""
    if not isinstance(value, str) or len(value) < 19 or len(value) > 64 or "T" not in value[:11]:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return None
    try:
        if parsed < _MIN_TIME:
            return None
    except OverflowError:
        return None
    return parsed


def _tid_datetime(rkey: str, syntax: Any) -> Optional[datetime]:
    if len(rkey) != 13 or not syntax.is_valid("tid", rkey):
        return None
    try:
        return _EPOCH + timedelta(microseconds=syntax.tid_time(rkey))
    except (OverflowError, ValueError):
        return None


def record_time(rkey: str, record: Optional[dict], syntax: Any) -> Optional[datetime]:
    """When a record was made: its record key when that is a TID, else its ``createdAt``."""
    tid = _tid_datetime(rkey, syntax)
    if tid is not None:
        return tid
    if isinstance(record, dict):
        return parse_time(record.get("createdAt"))
    return None


def record_json_text(record: dict, jsonfmt: Any) -> Optional[str]:
    """The record as atproto JSON text for a jsonb column; None when PostgreSQL could not store it."""
    try:
        text = json.dumps(jsonfmt.to_json(record), ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError, RecursionError):
        return None
    # jsonb rejects \u0000 in strings; lone surrogates cannot be sent as UTF-8.
    if "\\u0000" in text:
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return None
    return text


class BatchBuilder:
    """Accumulates decoded events of one stream into :class:`Batch` objects.

    ``cutoff`` (backfill): record creates and updates older than it are skipped.  ``end_seq``
    (backfill): events after it are ignored and the batch that reaches it is marked ``final``.
    """

    def __init__(self, *, cutoff: Optional[datetime] = None, end_seq: Optional[int] = None,
                 after_seq: Optional[int] = None, now: Callable[[], datetime] | None = None) -> None:
        from supervisor.atproto import frames, jsonfmt, syntax

        self._frames = frames
        self._jsonfmt = jsonfmt
        self._syntax = syntax
        self.cutoff = cutoff
        self.end_seq = end_seq
        #: The last seq seen: events at or below it are duplicates (a replay after a reconnect).
        self.last_seq = after_seq
        self.finished = False
        self.batch = Batch()
        self._valid_dids: dict[str, bool] = {}
        self._valid_nsids: dict[str, bool] = {}

    # -- identifiers ------------------------------------------------------------------------
    def _did_ok(self, did: Any) -> bool:
        if not isinstance(did, str):
            return False
        known = self._valid_dids.get(did)
        if known is None:
            known = self._syntax.is_valid("did", did)
            if len(self._valid_dids) > 100_000:
                self._valid_dids.clear()
            self._valid_dids[did] = known
        return known

    def _nsid_ok(self, nsid: str) -> bool:
        known = self._valid_nsids.get(nsid)
        if known is None:
            known = self._syntax.is_valid("nsid", nsid)
            if len(self._valid_nsids) > 10_000:
                self._valid_nsids.clear()
            self._valid_nsids[nsid] = known
        return known

    # -- feeding ----------------------------------------------------------------------------
    def skip(self, reason: str, count: int = 1) -> None:
        """Count something skipped (a malformed frame, say) against the current batch."""
        self.batch.skipped[reason] += count

    def add(self, event: Any) -> bool:
        """Add one decoded event; returns False when it was ignored (duplicate, past the end)."""
        seq = getattr(event, "seq", None)
        if not isinstance(seq, int) or isinstance(seq, bool):
            return False
        if self.last_seq is not None and seq <= self.last_seq:
            self.batch.skipped["duplicate"] += 1
            return False
        if self.end_seq is not None and seq > self.end_seq:
            self.finished = True
            self.batch.final = True
            return False
        self.last_seq = seq
        batch = self.batch
        batch.events += 1
        if batch.first_seq is None:
            batch.first_seq = seq
        batch.last_seq = seq
        time = parse_time(getattr(event, "time", None))
        if time is not None:
            batch.last_time = time
        frames = self._frames
        changes = batch.changes
        if isinstance(event, frames.Commit):
            batch.kinds["commit"] += 1
            self._add_commit(event, time)
        elif isinstance(event, frames.Identity):
            batch.kinds["identity"] += 1
            self._add_identity(event, time)
        elif isinstance(event, frames.Account):
            batch.kinds["account"] += 1
            self._add_account(event, time)
        else:
            batch.kinds[type(event).__name__.lower()] += 1
        if batch.changes > changes:
            batch.contributing += 1
        if self.end_seq is not None and seq >= self.end_seq:
            self.finished = True
            batch.final = True
        return True

    def _add_commit(self, commit: Any, time: Optional[datetime]) -> None:
        batch = self.batch
        did = commit.did
        if not self._did_ok(did):
            batch.skipped["bad did"] += 1
            return
        rev = commit.rev
        if not isinstance(rev, str) or len(rev) != 13 or not self._syntax.is_valid("tid", rev):
            batch.skipped["bad rev"] += 1
            return
        if commit.too_big:
            batch.skipped["too big"] += 1
        for op in commit.ops:
            batch.ops += 1
            write = self._op_write(commit, op, did, rev, time)
            if write is not None:
                # Dicts keep insertion order; re-inserting moves a URI behind later ones.
                batch.writes.pop(write.uri, None)
                batch.writes[write.uri] = write
                batch.changes += 1

    def _op_write(self, commit: Any, op: Any, did: str, rev: str, time: Optional[datetime]) -> Optional[RecordWrite]:
        batch = self.batch
        action = op.action
        if action not in ("create", "update", "delete"):
            batch.skipped["bad action"] += 1
            return None
        path = op.path
        if not isinstance(path, str) or path.count("/") != 1:
            batch.skipped["bad path"] += 1
            return None
        collection, rkey = path.split("/")
        if not self._nsid_ok(collection) or not self._syntax.is_valid("recordkey", rkey):
            batch.skipped["bad path"] += 1
            return None
        uri = f"at://{did}/{collection}/{rkey}"
        if action == "delete":
            return RecordWrite(uri, did, collection, rkey, action, None, rev, None, None, commit.seq)
        if op.cid is None:
            batch.skipped["missing cid"] += 1
            return None
        cid = str(op.cid)
        record = op.record
        if not isinstance(record, dict):
            batch.skipped["missing record"] += 1
            return None
        if self.cutoff is not None:
            made = record_time(rkey, record, self._syntax) or time
            if made is not None and made < self.cutoff:
                batch.skipped["outside window"] += 1
                return None
        text = record_json_text(record, self._jsonfmt)
        if text is None:
            batch.skipped["unstorable record"] += 1
            return None
        created = parse_time(record.get("createdAt"))
        return RecordWrite(uri, did, collection, rkey, action, cid, rev, text, created, commit.seq)

    def _add_identity(self, event: Any, time: Optional[datetime]) -> None:
        if not self._did_ok(event.did) or time is None:
            self.batch.skipped["bad identity"] += 1
            return
        handle = event.handle
        if handle is not None and not (isinstance(handle, str) and self._syntax.is_valid("handle", handle)):
            self.batch.skipped["bad handle"] += 1
            handle = None
        if isinstance(handle, str):
            handle = handle.lower()
        earlier = self.batch.identities.pop(event.did, None)
        if handle is None and earlier is not None:
            handle = earlier.handle
        self.batch.identities[event.did] = IdentityUpdate(event.did, handle, time, event.seq)
        self.batch.changes += 1

    def _add_account(self, event: Any, time: Optional[datetime]) -> None:
        if not self._did_ok(event.did) or time is None or not isinstance(event.active, bool):
            self.batch.skipped["bad account"] += 1
            return
        status = event.status
        if status is not None and (not isinstance(status, str) or "\x00" in status or len(status) > 200):
            status = None
        self.batch.accounts.pop(event.did, None)
        self.batch.accounts[event.did] = AccountUpdate(event.did, event.active, status, time, event.seq)
        self.batch.changes += 1

    def take(self) -> Batch:
        """Hand back the current batch and start a new one."""
        batch, self.batch = self.batch, Batch()
        return batch
