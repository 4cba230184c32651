"""The relay's event log: a retention window of sequenced events and the cursor rules.

Pure data and decisions, no I/O. :func:`plan_subscription` applies the event-stream
specification's connection-time rules to a requested cursor:

- no cursor: start live, with events sequenced after the connection;
- a cursor above the latest ``seq``: the error ``FutureCursor``, then close;
- ``0``: start at the oldest event still kept, with no warning;
- a cursor older than the window (an event after it was already dropped): an ``#info``
  ``OutdatedCursor`` first, then the whole window;
- otherwise: every kept event with ``seq`` greater than the cursor.
"""

from __future__ import annotations

import bisect
import dataclasses
from typing import Optional, Sequence

from supervisor.devrelay.events import Event

__all__ = ["SubscriptionPlan", "EventLog", "plan_subscription"]


@dataclasses.dataclass(frozen=True)
class SubscriptionPlan:
    """What a new subscription gets: maybe an error, maybe an info, then events after ``after_seq``."""

    after_seq: int = 0
    error: Optional[tuple[str, str]] = None  # (name, message): send it, then close
    info: Optional[tuple[str, str]] = None  # (name, message): send it first


class EventLog:
    """Events in ``seq`` order, keeping those within ``retention_us`` of the newest event.

    ``evicted_through`` is the highest ``seq`` dropped so far (0 when nothing was), which is
    what decides whether a cursor is outdated. ``appended`` counts every event ever appended;
    an event's position in that count is its ordinal, used to measure consumer backlogs.
    """

    def __init__(self, retention_us: Optional[int] = None) -> None:
        self.retention_us = retention_us
        self._events: list[Event] = []
        self._seqs: list[int] = []
        self._start = 0  # index of the oldest kept event; the list is compacted lazily
        self._first_ordinal = 0  # ordinal of self._events[0]
        self.evicted_through = 0
        self.appended = 0

    def __len__(self) -> int:
        return len(self._events) - self._start

    @property
    def latest_seq(self) -> int:
        """The newest ``seq`` ever appended (0 before the first event)."""
        return self._seqs[-1] if self._seqs else self.evicted_through

    @property
    def oldest_seq(self) -> Optional[int]:
        """The oldest ``seq`` still kept, or ``None`` when the log is empty."""
        return self._seqs[self._start] if len(self) else None

    def extend(self, events: Sequence[Event]) -> None:
        """Append events (increasing ``seq``) and drop what falls out of the window."""
        for event in events:
            if self._seqs and event.seq <= self._seqs[-1]:
                raise ValueError(f"seq {event.seq} is not greater than {self._seqs[-1]}")
            self._events.append(event)
            self._seqs.append(event.seq)
        self.appended += len(events)
        if events and self.retention_us is not None:
            self._evict_before(events[-1].time_us - self.retention_us)

    def append(self, event: Event) -> None:
        """Append one event."""
        self.extend((event,))

    def _evict_before(self, cutoff_us: int) -> None:
        start = self._start
        events = self._events
        while start < len(events) - 1 and events[start].time_us < cutoff_us:
            start += 1
        if start != self._start:
            self.evicted_through = events[start - 1].seq
            self._start = start
        if self._start > 4096 and self._start * 2 > len(events):
            del events[: self._start]
            del self._seqs[: self._start]
            self._first_ordinal += self._start
            self._start = 0

    def read_after(self, seq: int, limit: int = 256) -> tuple[list[Event], int]:
        """Up to ``limit`` kept events with ``seq`` above ``seq``, and the ordinal after the last."""
        pos = max(bisect.bisect_right(self._seqs, seq), self._start)
        batch = self._events[pos : pos + limit]
        return batch, self._first_ordinal + pos + len(batch)

    def ordinal_after(self, seq: int) -> int:
        """How many events were appended up to and including ``seq``."""
        return self._first_ordinal + bisect.bisect_right(self._seqs, seq)


def plan_subscription(cursor: Optional[int], log: EventLog) -> SubscriptionPlan:
    """Decide how a subscription with ``cursor`` starts (see the module docstring)."""
    latest = log.latest_seq
    if cursor is None:
        return SubscriptionPlan(after_seq=latest)
    if cursor > latest:
        return SubscriptionPlan(
            error=("FutureCursor", f"cursor {cursor} is greater than the latest sequence number {latest}")
        )
    if cursor == 0:
        return SubscriptionPlan(after_seq=0)
    if cursor < log.evicted_through:
        oldest = log.oldest_seq
        return SubscriptionPlan(
            after_seq=0,
            info=("OutdatedCursor", f"cursor {cursor} is older than the retention window; starting at seq {oldest}"),
        )
    return SubscriptionPlan(after_seq=cursor)
