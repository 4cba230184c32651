"""Whether a throttled backfill can finish before the relay drops what it replays.

A relay keeps a window of events (about 72 hours); a backfill starts at the oldest event it keeps
and replays up to where live ingest began.  BACKFILL_BATCH_SIZE and BACKFILL_BATCH_DELAY_MS bound
how many record-writing events it indexes per second (what it skips costs nothing).  The end point
ages while the backfill runs, so the replay finishes within the relay's window exactly when it
takes less time than that window: :func:`estimate_backfill` works that out for an assumed network
rate.  Pure arithmetic: the worker logs it at start and ``supervisor validate`` can report it.
"""

from __future__ import annotations

import dataclasses
from typing import Optional

__all__ = ["BackfillEstimate", "estimate_backfill", "DEFAULT_NETWORK_EVENTS_PER_SECOND", "DEFAULT_WRITE_SHARE"]

#: The live network's average event rate in 2025-2026 (peaks reach about 2,000).
DEFAULT_NETWORK_EVENTS_PER_SECOND = 500.0
#: The share of network events that write a record (creates and updates; the rest are deletes,
#: identity and account events).
DEFAULT_WRITE_SHARE = 0.85


@dataclasses.dataclass(frozen=True)
class BackfillEstimate:
    """How long a backfill takes at its configured limit, against the relay's window."""

    #: Hours of history the backfill indexes (its days, at most the relay's window).
    hours: float
    relay_window_hours: float
    network_events_per_second: float
    #: Record-writing events the window holds (estimated).
    writing_events: int
    #: The limit in record-writing events per second (None: unlimited).
    limit_per_second: Optional[float]
    #: Estimated time to finish at the limit (None: unlimited, bound by the worker's own speed).
    seconds: Optional[float]

    @property
    def fits(self) -> bool:
        """True when the replay can finish before the relay drops its end point."""
        return self.seconds is None or self.seconds <= self.relay_window_hours * 3600

    def text(self) -> str:
        """One line: the estimate and its verdict."""
        assumed = f"assuming {self.network_events_per_second:g} events/s on the network"
        if self.seconds is None:
            return (
                f"Estimate: about {self.writing_events:,} record-writing events to index, unthrottled "
                f"({assumed}): limited only by the worker's own speed"
            )
        window = f"the relay's {self.relay_window_hours:g} h window"
        verdict = (
            f"can finish within {window}"
            if self.fits
            else f"cannot finish before the relay drops it ({window}): raise BACKFILL_BATCH_SIZE or lower "
            f"BACKFILL_BATCH_DELAY_MS"
        )
        return (
            f"Estimate: about {self.writing_events:,} record-writing events at {self.limit_per_second:g}/s "
            f"take {_duration(self.seconds)} ({assumed}): {verdict}"
        )

    def to_json(self) -> dict:
        """A JSON-ready summary (for /health)."""
        return {
            "fits_relay_window": self.fits,
            "seconds": None if self.seconds is None else round(self.seconds),
            "writing_events": self.writing_events,
            "limit_per_second": self.limit_per_second,
            "network_events_per_second": self.network_events_per_second,
            "relay_window_hours": self.relay_window_hours,
        }


def estimate_backfill(
    *,
    days: int,
    batch_size: int,
    batch_delay_ms: int,
    relay_window_hours: float,
    network_events_per_second: float = DEFAULT_NETWORK_EVENTS_PER_SECOND,
    write_share: float = DEFAULT_WRITE_SHARE,
) -> BackfillEstimate:
    """The estimate for a backfill of ``days`` (-1: all the relay keeps) at the given limit."""
    if network_events_per_second < 0 or not 0 <= write_share <= 1:
        raise ValueError("the network rate must be >= 0 and the write share within 0..1")
    hours = relay_window_hours if days < 0 else min(days * 24.0, relay_window_hours)
    writing = int(hours * 3600 * network_events_per_second * write_share)
    if batch_delay_ms <= 0:
        return BackfillEstimate(hours, relay_window_hours, network_events_per_second, writing, None, None)
    limit = batch_size * 1000.0 / batch_delay_ms
    return BackfillEstimate(
        hours,
        relay_window_hours,
        network_events_per_second,
        writing,
        limit,
        writing / limit if limit > 0 else float("inf"),
    )


def _duration(seconds: float) -> str:
    if seconds == float("inf"):
        return "forever"
    for unit, size in (("days", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size * (2 if unit == "days" else 1):
            return f"about {seconds / size:,.1f} {unit}"
    return f"about {seconds:.0f} s"
