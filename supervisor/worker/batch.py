"""Decoded firehose events -> write batches (pure: no I/O).

A :class:`BatchBuilder` is fed decoded events in stream order and hands back :class:`Batch` objects:
the record writes (one per URI: within a batch a later op on the same URI wins), the account and
identity updates (one per DID), the position (last seq and event time) and counts of what was
skipped and why.  Every identifier is checked before anything reaches the database, with the checks
of :mod:`supervisor.atproto.validate`: an event that passed
:func:`~supervisor.atproto.validate.frame_problems` is added with ``checked=True`` and not checked
again; in any other event a bad op or event is counted and skipped, never fatal.
"""

from __future__ import annotations

import base64
import collections
import dataclasses
import json
import re
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Optional

from supervisor.atproto import validate
from supervisor.atproto.cid import CID

try:  # orjson serialises records in C, several times faster than the json module
    import orjson as _orjson
except ImportError:  # pragma: no cover - the json module gives the same text, slower
    _orjson = None  # type: ignore[assignment]  # an optional module: None stands for "not installed"

__all__ = [
    "RecordWrite",
    "IdentityUpdate",
    "AccountUpdate",
    "Batch",
    "BatchBuilder",
    "parse_time",
    "record_time",
    "record_json_text",
    "cid_text",
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
    #: Record creates and updates accepted, before de-duplication.
    record_writes: int = 0
    #: Events that write at least one record version (a create or update kept): the backfill
    #: throttles on these only, not on what it skips or on deletes, identity and account events.
    contributing: int = 0
    #: Set by the backfill: this batch reaches the end of the replay.
    final: bool = False
    #: Events the relay no longer kept (OutdatedCursor) before this batch's events: count and seq range.
    missed: int = 0
    missed_from: Optional[int] = None
    missed_to: Optional[int] = None
    #: Event time texts not parsed yet (``last_time`` is resolved from them when the batch is taken:
    #: one parse per batch instead of one per event).
    time_texts: list = dataclasses.field(default_factory=list, repr=False)
    #: The verified state of each repository after this batch's commits (``did -> (rev, data CID
    #: text)``; VERIFY=full), stored in ``repo_head`` in the batch's transaction.
    heads: dict = dataclasses.field(default_factory=dict, repr=False)

    @property
    def empty(self) -> bool:
        """True when the batch moves nothing, not even the cursor."""
        return (
            self.last_seq is None and not self.writes and not self.identities and not self.accounts and not self.missed
        )

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


_B32 = "abcdefghijklmnopqrstuvwxyz234567"
# Base32 two characters (ten bits) at a time: str(CID) goes through base64.b32encode, which is
# written in Python and costs several microseconds per CID; every op and link needs one.
_B32_PAIRS = tuple(a + b for a in _B32 for b in _B32)
_B32_PLANS: dict[int, tuple[int, tuple[int, ...], int]] = {}


def _spread_steps() -> tuple[tuple[int, int, int], ...]:
    # Moving 64 five-bit fields (320 bits) into the low five bits of 64 bytes, by halves: in every
    # block of s fields, the upper s/2 fields move up by 3*s/2 bits to start a byte-aligned half.
    steps = []
    block = 64
    while block > 1:
        half = block // 2
        high = 0
        for index in range(64 // block):
            high |= ((1 << (5 * half)) - 1) << (8 * block * index + 5 * half)
        steps.append((high, ((1 << 512) - 1) & ~high, 3 * half))
        block = half
    return tuple(steps)


_SPREAD = _spread_steps()
_B32_BYTES = bytes(ord(_B32[index & 31]) for index in range(256))


def _b32(raw: bytes) -> str:
    size = len(raw)
    if size <= 40:
        # Up to 40 bytes (a CID has 36): spread the bits with six big-integer steps, then one
        # table translation; about twice as fast as the character pairs below.
        number = int.from_bytes(raw, "big") << (320 - size * 8)
        for high, low, shift in _SPREAD:
            number = (number & low) | ((number & high) << shift)
        return number.to_bytes(64, "big").translate(_B32_BYTES)[: (size * 8 + 4) // 5].decode("ascii")
    plan = _B32_PLANS.get(size)
    if plan is None:
        chars = (size * 8 + 4) // 5
        pairs = (chars + 1) // 2
        plan = (pairs * 10 - size * 8, tuple(range(pairs * 10 - 10, -1, -10)), chars)
        if size <= 256:
            _B32_PLANS[size] = plan
    pad, shifts, chars = plan
    number = int.from_bytes(raw, "big") << pad
    text = "".join([_B32_PAIRS[(number >> shift) & 1023] for shift in shifts])
    return text if len(text) == chars else text[:chars]


def cid_text(cid: CID) -> str:
    """``str(cid)`` (multibase base32 for CIDv1), computed faster."""
    if cid[:1] == b"\x01":
        return "b" + _b32(cid)
    return str(cid)  # CIDv0: base58


def _json_default(value: Any) -> Any:
    # orjson calls this for what JSON has no type for: links and byte strings (atproto JSON forms).
    if type(value) is CID:
        return {"$link": cid_text(value)}
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"$bytes": base64.b64encode(bytes(value)).decode("ascii").rstrip("=")}
    raise TypeError(f"a value of type {type(value).__name__} has no JSON form")


# A JSON \u0000 escape (an odd number of backslashes before "u0000"), not an escaped backslash
# followed by the text "u0000".
_NUL_ESCAPE = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")


def record_json_text(record: dict, jsonfmt: Any = None) -> Optional[str]:
    """The record as atproto JSON text for a jsonb column; None when PostgreSQL could not store it
    (a NUL character, which jsonb rejects; a lone surrogate, which UTF-8 cannot carry).

    ``jsonfmt`` is accepted for older callers and not used: links and byte strings get their
    atproto JSON forms (``{"$link": ...}``, ``{"$bytes": ...}``) here.
    """
    if _orjson is None:  # pragma: no cover
        from supervisor.atproto import jsonfmt as fmt

        try:
            data = json.dumps(fmt.to_json(record), ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode(
                "utf-8"
            )
        except (TypeError, ValueError, RecursionError, UnicodeEncodeError):
            return None
    else:
        try:
            data = _orjson.dumps(record, default=_json_default)
        except (TypeError, ValueError, RecursionError):
            return None
    if b"\\u0000" in data and _NUL_ESCAPE.search(data):
        return None
    return data.decode("utf-8")


class BatchBuilder:
    """Accumulates decoded events of one stream into :class:`Batch` objects.

    ``cutoff`` (backfill): record creates and updates older than it are skipped.  ``end_seq``
    (backfill): events after it are ignored and the batch that reaches it is marked ``final``.
    """

    def __init__(
        self,
        *,
        cutoff: Optional[datetime] = None,
        end_seq: Optional[int] = None,
        after_seq: Optional[int] = None,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        from supervisor.atproto import frames, jsonfmt, syntax

        self._frames = frames
        self._jsonfmt = jsonfmt
        self._syntax = syntax
        self._commit_type = frames.Commit
        self.cutoff = cutoff
        self.end_seq = end_seq
        #: The last seq seen: events at or below it are duplicates (a replay after a reconnect).
        self.last_seq = after_seq
        self.finished = False
        self.batch = Batch()
        # Consecutive events often share their time text (millisecond precision): parse it once.
        self._time_text: Any = None
        self._time_value: Optional[datetime] = None

    def _event_time(self, value: Any) -> Optional[datetime]:
        if value == self._time_text and type(value) is str:
            return self._time_value
        parsed = parse_time(value)
        self._time_text, self._time_value = value, parsed
        return parsed

    # -- feeding ----------------------------------------------------------------------------
    def skip(self, reason: str, count: int = 1) -> None:
        """Count something skipped (a malformed frame, say) against the current batch."""
        self.batch.skipped[reason] += count

    def add(self, event: Any, *, checked: bool = False) -> bool:
        """Add one decoded event; returns False when it was ignored (duplicate, past the end).

        ``checked``: :func:`~supervisor.atproto.validate.frame_problems` found nothing wrong with it,
        so its identifiers (DID, rev, op actions and paths, handle) are not checked again.
        """
        seq = getattr(event, "seq", None)
        if type(seq) is not int:
            return False
        if self.last_seq is not None and seq <= self.last_seq:
            self.batch.skipped["duplicate"] += 1
            return False
        end_seq = self.end_seq
        if end_seq is not None and seq > end_seq:
            self.finished = True
            self.batch.final = True
            return False
        self.last_seq = seq
        batch = self.batch
        batch.events += 1
        if batch.first_seq is None:
            batch.first_seq = seq
        batch.last_seq = seq
        text = getattr(event, "time", None)
        batch.time_texts.append(text)
        writes_before = batch.record_writes
        if type(event) is self._commit_type:
            batch.kinds["commit"] += 1
            # A commit needs its time only for the backfill window.
            self._add_commit(event, self._event_time(text) if self.cutoff is not None else None, checked)
        else:
            time = self._event_time(text)
            frames = self._frames
            if isinstance(event, frames.Commit):
                batch.kinds["commit"] += 1
                self._add_commit(event, time, checked)
            elif isinstance(event, frames.Identity):
                batch.kinds["identity"] += 1
                self._add_identity(event, time, checked)
            elif isinstance(event, frames.Account):
                batch.kinds["account"] += 1
                self._add_account(event, time, checked)
            else:
                batch.kinds[type(event).__name__.lower()] += 1
        if batch.record_writes > writes_before:
            batch.contributing += 1
        if end_seq is not None and seq >= end_seq:
            self.finished = True
            batch.final = True
        return True

    def _add_commit(self, commit: Any, time: Optional[datetime], checked: bool) -> None:
        batch = self.batch
        did = commit.did
        rev = commit.rev
        if not checked:
            if not validate.did_ok(did):
                batch.skipped["bad did"] += 1
                return
            if not validate.tid_ok(rev):
                batch.skipped["bad rev"] += 1
                return
        if commit.too_big:
            batch.skipped["too big"] += 1
        writes = batch.writes
        for op in commit.ops:
            batch.ops += 1
            write = self._op_write(commit, op, did, rev, time, checked)
            if write is not None:
                # Dicts keep insertion order; re-inserting moves a URI behind later ones.
                if write.uri in writes:
                    del writes[write.uri]
                writes[write.uri] = write
                batch.changes += 1
                if write.action != "delete":
                    batch.record_writes += 1

    def _op_write(
        self, commit: Any, op: Any, did: str, rev: str, time: Optional[datetime], checked: bool
    ) -> Optional[RecordWrite]:
        action = op.action
        path = op.path
        if checked:
            collection, _, rkey = path.partition("/")
        else:
            if action != "create" and action != "update" and action != "delete":
                self.batch.skipped["bad action"] += 1
                return None
            parts = validate.record_path(path)
            if parts is None:
                self.batch.skipped["bad path"] += 1
                return None
            collection, rkey = parts
        uri = f"at://{did}/{path}"
        if action == "delete":
            return RecordWrite(uri, did, collection, rkey, action, None, rev, None, None, commit.seq)
        cid = op.cid
        if cid is None:
            self.batch.skipped["missing cid"] += 1
            return None
        record = op.record
        if type(record) is not dict:
            self.batch.skipped["missing record"] += 1
            return None
        if self.cutoff is not None:
            made = record_time(rkey, record, self._syntax) or time
            if made is not None and made < self.cutoff:
                self.batch.skipped["outside window"] += 1
                return None
        text = record_json_text(record)
        if text is None:
            self.batch.skipped["unstorable record"] += 1
            return None
        created = parse_time(record.get("createdAt"))
        cid_str = cid_text(cid) if type(cid) is CID else str(cid)
        return RecordWrite(uri, did, collection, rkey, action, cid_str, rev, text, created, commit.seq)

    def _add_identity(self, event: Any, time: Optional[datetime], checked: bool) -> None:
        if (not checked and not validate.did_ok(event.did)) or time is None:
            self.batch.skipped["bad identity"] += 1
            return
        handle = event.handle
        if handle is not None and not checked and not validate.handle_ok(handle):
            self.batch.skipped["bad handle"] += 1
            handle = None
        if isinstance(handle, str):
            handle = handle.lower()
        earlier = self.batch.identities.pop(event.did, None)
        if handle is None and earlier is not None:
            handle = earlier.handle
        self.batch.identities[event.did] = IdentityUpdate(event.did, handle, time, event.seq)
        self.batch.changes += 1

    def _add_account(self, event: Any, time: Optional[datetime], checked: bool) -> None:
        if (not checked and not validate.did_ok(event.did)) or time is None or not isinstance(event.active, bool):
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
        texts = batch.time_texts
        if texts:
            # The time of the last event that has a valid one.
            for text in reversed(texts):
                time = self._event_time(text)
                if time is not None:
                    batch.last_time = time
                    break
            batch.time_texts = []
        return batch
