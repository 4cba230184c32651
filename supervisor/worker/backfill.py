"""The backfill: a relay replay from the oldest event the relay keeps up to where live ingest began.

It runs on worker 0 only, when BACKFILL_DAYS is not 0, beside live ingest, on its own cursor row
(BACKFILL_CURSOR_SERVICE; the ``cursor`` column stays a plain sequence number).  Its end point, its
time window and its completion are kept in ``backfill_state``, so a restart resumes from the
cursor and a finished backfill is not run again.  BACKFILL_BATCH_SIZE and BACKFILL_BATCH_DELAY_MS
bound its rate; BACKFILL_MAX_MEMORY_MB pauses it while the process is above that size.  Every log
line starts with ``[BACKFILL]``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import logging
import time
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Literal, Optional

from supervisor.throttle import BackfillEstimate, estimate_backfill
from supervisor.worker import store
from supervisor.worker.batch import Batch, BatchBuilder
from supervisor.worker.config import WorkerConfig
from supervisor.worker.metrics import WorkerMetrics
from supervisor.worker.stream import Stream, StreamPolicy, StreamStatus
from supervisor.worker.timing import RateLimit, resident_memory_bytes

__all__ = ["BackfillStatus", "Backfill", "backfill_cutoff", "window_note", "throttle_text", "PREFIX"]

if TYPE_CHECKING:
    from supervisor.worker.verifier import Verifier

PREFIX = "[BACKFILL] "
log = logging.getLogger("supervisor.worker.backfill")


def backfill_cutoff(days: int, now: datetime) -> Optional[datetime]:
    """The oldest record time the backfill indexes (None: all history)."""
    if days < 0:
        return None
    return now - timedelta(days=days)


def window_note(days: int, relay_window_hours: float, *, crawls: bool = False) -> Optional[str]:
    """A note when the requested window reaches past what the relay keeps (None when it fits).

    ``crawls``: the backfill fetches the repositories (BACKFILL_MODE auto or crawl), which covers
    the whole window; a replay (BACKFILL_MODE=replay) only covers what the relay still keeps."""
    if days == -1:
        if crawls:
            return (
                f"all history requested: the relay keeps about {relay_window_hours:g} h of events, "
                f"so the crawl fetches every repository for it"
            )
        return (
            f"all history requested: the relay keeps about {relay_window_hours:g} h of events, "
            f"so the backfill covers what that window holds (BACKFILL_MODE=replay; auto or crawl fetches "
            f"the repositories)"
        )
    if days * 24 > relay_window_hours:
        if crawls:
            return (
                f"the {days}-day window reaches past the relay's replay window ({relay_window_hours:g} h): "
                f"the crawl fetches every repository for it"
            )
        return (
            f"the {days}-day window reaches past the relay's replay window ({relay_window_hours:g} h): "
            f"only what the relay still keeps can be backfilled (BACKFILL_MODE=replay; auto or crawl "
            f"fetches the repositories)"
        )
    return None


def throttle_text(config: WorkerConfig) -> str:
    """The throttling configuration in one line."""
    delay = config.backfill_batch_delay_ms
    rate = "unlimited" if delay == 0 else f"{config.backfill_batch_size * 1000 / delay:g} record-writing events/s"
    return (
        f"Resource throttling config: batch size {config.backfill_batch_size} events, batch delay {delay}ms "
        f"(at most {rate}), memory ceiling {config.backfill_max_memory_mb}MB, "
        f"cursor row '{config.backfill_cursor_service}'"
    )


#: disabled, waiting, running, paused, complete, incomplete (finished, but the relay no longer
#: kept some of the events: see ``missed_*``), stopped, failed
BackfillPhase = Literal["disabled", "waiting", "running", "paused", "complete", "incomplete", "stopped", "failed"]


@dataclasses.dataclass
class BackfillStatus:
    """What the health endpoint reports about the backfill."""

    state: BackfillPhase = "disabled"
    days: int = 0
    end_seq: Optional[int] = None
    start_seq: Optional[int] = None
    cursor: Optional[int] = None
    cutoff: Optional[datetime] = None
    events: int = 0
    records: int = 0
    note: Optional[str] = None
    stream: Optional[StreamStatus] = None
    #: Events of the replay's range the relay no longer kept (OutdatedCursor), and their seq range.
    missed_events: int = 0
    missed_from: Optional[int] = None
    missed_to: Optional[int] = None
    estimate: Optional[BackfillEstimate] = None

    @property
    def progress(self) -> Optional[float]:
        """Share of the replay's range replayed, 0..1 (None when unknown); missed events do not count."""
        if self.state == "complete":
            return 1.0
        if self.end_seq is None or self.cursor is None or self.start_seq is None:
            return None
        span = self.end_seq - self.start_seq
        if span <= 0:
            return 0.0 if self.missed_events else 1.0
        done = (self.cursor - self.start_seq - self.missed_events) / span
        if self.missed_events and done >= 1.0:
            done = (span - 1) / span
        return max(0.0, min(1.0, done))

    def missed_text(self) -> str:
        """The missed events in words ('' when none)."""
        if not self.missed_events:
            return ""
        return (
            f"{self.missed_events} events (seq {self.missed_from}..{self.missed_to}) had fallen out of the "
            f"relay's window (OutdatedCursor) and were never indexed"
        )

    def record_missed(self, count: int, first: Optional[int], last: Optional[int]) -> None:
        """Add events missed by one batch."""
        if not count:
            return
        self.missed_events += count
        if first is not None:
            self.missed_from = first if self.missed_from is None else min(self.missed_from, first)
        if last is not None:
            self.missed_to = last if self.missed_to is None else max(self.missed_to, last)

    def to_json(self, now: float) -> dict[str, Any]:
        """A JSON-ready summary."""
        out: dict[str, Any] = {
            "state": self.state,
            "days": self.days,
            "cursor": self.cursor,
            "end_seq": self.end_seq,
            "progress": None if self.progress is None else round(self.progress, 4),
            "events": self.events,
            "records": self.records,
            "cutoff": self.cutoff.isoformat() if self.cutoff else None,
        }
        if self.note:
            out["note"] = self.note
        if self.missed_events:
            out["missed"] = {
                "events": self.missed_events,
                "from_seq": self.missed_from,
                "to_seq": self.missed_to,
                "reason": "OutdatedCursor: the relay no longer kept them",
            }
        if self.estimate is not None:
            out["estimate"] = self.estimate.to_json()
        if self.stream is not None:
            out["connected"] = self.stream.connected
            out["events_per_second"] = round(self.stream.rate.rate(now), 2)
        return out


class Backfill:
    """Runs the replay (see the module docstring)."""

    def __init__(
        self,
        config: WorkerConfig,
        database: store.Database,
        metrics: WorkerMetrics,
        live_start: "asyncio.Future[int]",
        status: BackfillStatus,
        *,
        verifier: Optional["Verifier"] = None,
    ) -> None:
        self.config = config
        #: Checks each replayed event as live ingest does (None: VERIFY=off); refused ones are not written.
        self.verifier = verifier
        self.database = database
        self.metrics = metrics
        self.live_start = live_start
        self.status = status
        self.stream: Optional[Stream] = None
        self._stopping = False
        self._limit = RateLimit(config.backfill_batch_delay_ms / 1000.0)
        self._last_progress = 0.0
        self._started = time.monotonic()

    def stop(self) -> None:
        """Stop after committing what was read; the next start resumes from the cursor."""
        self._stopping = True
        if self.stream is not None:
            self.stream.stop()

    async def _db(self, func: Any, *args: Any, **kwargs: Any) -> Any:
        def call() -> Any:
            with self.database.connection() as conn:
                return func(conn, *args, **kwargs)

        return await asyncio.to_thread(call)

    async def run(self) -> None:
        """Run to completion, or until stopped."""
        config = self.config
        status = self.status
        status.days = config.backfill_days
        span = "all history" if config.backfill_days == -1 else f"{config.backfill_days}-day historical backfill"
        log.info("%sStarting %s on primary worker (WORKER_ID=%d)...", PREFIX, span, config.worker_id)
        log.info("%s%s", PREFIX, throttle_text(config))
        note = window_note(config.backfill_days, config.relay_window_hours, crawls=config.backfill_crawls)
        if note:
            log.warning("%s%s", PREFIX, note)
        status.estimate = estimate_backfill(
            days=config.backfill_days,
            batch_size=config.backfill_batch_size,
            batch_delay_ms=config.backfill_batch_delay_ms,
            relay_window_hours=config.relay_window_hours,
        )
        log.log(logging.INFO if status.estimate.fits else logging.WARNING, "%s%s", PREFIX, status.estimate.text())
        state = await self._db(store.read_backfill_state, config.backfill_cursor_service)
        if state is not None and state.finished:
            self._adopt(state)
            finished = state.completed_at.isoformat(timespec="seconds") if state.completed_at else "?"
            if status.missed_events:
                status.state = "incomplete"
                log.warning(
                    "%sAlready finished but incomplete (finished %s, replayed up to seq %s, %d records): %s. "
                    "Delete its backfill_state row to run it again.",
                    PREFIX,
                    finished,
                    state.end_seq,
                    state.records,
                    status.missed_text(),
                )
                return
            status.state = "complete"
            log.info(
                "%sAlready complete (finished %s, replayed up to seq %s, %d records); nothing to do. "
                "Delete its backfill_state row to run it again.",
                PREFIX,
                finished,
                state.end_seq,
                state.records,
            )
            return
        if state is None:
            status.state = "waiting"
            if not self.live_start.done():
                log.info("%sWaiting for live ingest to start: the backfill replays up to that point", PREFIX)
            try:
                end_seq = await self._wait_for_live_start()
            except asyncio.CancelledError:
                # Stopped before live ingest saw its first event: nothing to resume yet.
                status.state = "stopped"
                return
            if self._stopping:
                status.state = "stopped"
                return
            cutoff = backfill_cutoff(config.backfill_days, datetime.now(timezone.utc))
            state = await self._db(
                store.begin_backfill_state,
                config.backfill_cursor_service,
                days=config.backfill_days,
                end_seq=end_seq,
                cutoff=cutoff,
                live_service=config.firehose_cursor_service,
            )
        elif state.days != config.backfill_days:
            log.warning(
                "%sResuming a backfill started with BACKFILL_DAYS=%d (now %d): keeping its window until it completes",
                PREFIX,
                state.days,
                config.backfill_days,
            )
        self._adopt(state)
        row = await self._db(store.read_cursor, config.backfill_cursor_service)
        cursor = row.seq if row is not None else None
        status.cursor = cursor
        end_seq = state.end_seq if state.end_seq is not None else 0
        window = (
            "all records"
            if state.cutoff is None
            else f"records made since {state.cutoff.isoformat(timespec='seconds')}"
        )
        if cursor is not None and cursor >= end_seq:
            await self._db(
                store.complete_backfill_state, config.backfill_cursor_service, "cursor already at the end point"
            )
            self._finished(f"cursor {cursor} already at the end point {end_seq}")
            return
        log.info(
            "%sReplaying %s from %s up to seq %d (where live ingest began)",
            PREFIX,
            window,
            f"cursor {cursor}" if cursor is not None else "the oldest event the relay keeps (cursor 0)",
            end_seq,
        )
        await self._replay(state, cursor, end_seq)

    async def _wait_for_live_start(self) -> int:
        waited = 0.0
        step = max(self.config.receive_timeout, 1.0)
        while True:
            try:
                return await asyncio.wait_for(asyncio.shield(self.live_start), step)
            except asyncio.TimeoutError:
                waited += step
                if waited == step or waited % 600 < step:
                    log.warning(
                        "%sStill waiting: live ingest has seen no event for %.0f s (a capture or a quiet "
                        "relay sends none); set FIREHOSE_START_CURSOR (--start-cursor; 0: everything the "
                        "relay keeps) to give live ingest and the backfill their starting point",
                        PREFIX,
                        waited,
                    )

    def _adopt(self, state: store.BackfillState) -> None:
        status = self.status
        status.end_seq, status.start_seq, status.cutoff = state.end_seq, state.start_seq, state.cutoff
        status.events, status.records, status.note = state.events, state.records, state.note
        status.missed_events, status.missed_from, status.missed_to = (
            state.missed_events,
            state.missed_from,
            state.missed_to,
        )
        self.metrics.backfill_missed.set(status.missed_events)
        self.metrics.backfill_progress.set(status.progress or 0.0)

    async def _replay(self, state: store.BackfillState, cursor: Optional[int], end_seq: int) -> None:
        config = self.config
        status = self.status
        builder = BatchBuilder(cutoff=state.cutoff, end_seq=end_seq, after_seq=cursor)
        policy = StreamPolicy(
            name="backfill",
            service=config.backfill_cursor_service,
            max_events=max(1000, config.backfill_batch_size),
            max_contributing=config.backfill_batch_size,
            prefix=PREFIX,
            backfill_service=config.backfill_cursor_service,
            before_batch=self._before_batch,
            initial_cursor=0,
            receive_timeout=config.receive_timeout,
            keep_read_ahead=config.backfill_batch_delay_ms == 0,
        )
        stream = Stream(config.relay_url, self.database, policy, builder, self.metrics)
        stream.verifier = self.verifier
        status.stream = stream.status
        stream.on_commit = self._committed
        stream.on_resync = self._resynced
        stream.on_future_cursor = lambda: self._future_cursor(builder)
        self.stream = stream
        if self._stopping:
            stream.stop()
        status.state = "running"
        first = asyncio.ensure_future(self._record_start(stream))
        try:
            await stream.run()
        finally:
            first.cancel()
        if stream.status.finished:
            self._finished(
                f"replayed up to seq {end_seq}; {status.events} events and {status.records} records "
                f"indexed in total ({time.monotonic() - self._started:.0f} s this run)"
            )
        else:
            status.state = "stopped"
            log.info("%sStopped at seq %s; the next start resumes from there", PREFIX, status.cursor)

    async def _resynced(self, cursor: Optional[int]) -> None:
        # A database crash took commits away: the stored state is the truth again.
        state = await self._db(store.read_backfill_state, self.config.backfill_cursor_service)
        if state is not None:
            self._adopt(state)
        self.status.cursor = cursor

    def _finished(self, what: str) -> None:
        status = self.status
        if status.missed_events:
            status.state = "incomplete"
            self.metrics.backfill_progress.set(status.progress or 0.0)
            log.warning("%sIncomplete: %s, but %s", PREFIX, what, status.missed_text())
            return
        status.state = "complete"
        self.metrics.backfill_progress.set(1.0)
        log.info("%sComplete: %s", PREFIX, what)

    async def _record_start(self, stream: Stream) -> None:
        seq = await stream.first_seq
        if self.status.start_seq is None:
            self.status.start_seq = seq
            await self._db(_set_start_seq, self.config.backfill_cursor_service, seq)
            log.info("%sOldest event replayed: seq %d", PREFIX, seq)

    def _future_cursor(self, builder: BatchBuilder) -> None:
        # The relay is behind our cursor (a reset or different relay): nothing more to replay.
        builder.finished = True
        builder.batch.final = True
        self.status.note = "finished early: the relay is behind the backfill cursor (FutureCursor)"

    async def _before_batch(self, batch: Batch) -> None:
        limit = self.config.backfill_max_memory_mb * 1024 * 1024
        paused_at: Optional[float] = None
        while not self._stopping:
            rss = resident_memory_bytes()
            self.metrics.memory.set(rss)
            if rss <= limit:
                break
            if paused_at is None:
                paused_at = time.monotonic()
                self.status.state = "paused"
                self.metrics.backfill_paused.set(1)
                log.warning(
                    "%sPaused: resident memory %d MB is over BACKFILL_MAX_MEMORY_MB=%d",
                    PREFIX,
                    rss // (1024 * 1024),
                    self.config.backfill_max_memory_mb,
                )
            gc.collect()
            await asyncio.sleep(1.0)
        if paused_at is not None:
            self.status.state = "running"
            self.metrics.backfill_paused.set(0)
            log.info("%sResumed after %.0f s: memory back under the ceiling", PREFIX, time.monotonic() - paused_at)
        if not batch.contributing:
            return  # nothing written that the limit counts: skipped events, deletes, identities, accounts
        loop = asyncio.get_running_loop()
        delay = self._limit.delay(loop.time())
        if delay > 0 and not self._stopping:
            await asyncio.sleep(delay)
        self._limit.started(loop.time())

    def _committed(self, batch: Batch, result: store.ApplyResult) -> None:
        status = self.status
        status.events += batch.events
        status.records += result.records
        status.record_missed(batch.missed, batch.missed_from, batch.missed_to)
        self.metrics.backfill_missed.set(status.missed_events)
        if batch.last_seq is not None:
            status.cursor = batch.last_seq
        if batch.final:
            status.state = "incomplete" if status.missed_events else "complete"
        self.metrics.backfill_progress.set(status.progress or 0.0)
        now = time.monotonic()
        if now - self._last_progress >= 5.0 or batch.final:
            self._last_progress = now
            rate = status.stream.rate.rate(now) if status.stream else 0.0
            pct = "?" if status.progress is None else f"{status.progress * 100:.1f}%"
            when = batch.last_time.isoformat(timespec="seconds") if batch.last_time else "?"
            log.info(
                "%sProgress: seq %s of %s (%s), %.1f events/s, %d events and %d records so far, at event time %s",
                PREFIX,
                status.cursor,
                status.end_seq,
                pct,
                rate,
                status.events,
                status.records,
                when,
            )


def _set_start_seq(conn: Any, service: str, seq: int) -> None:
    with conn.transaction():
        conn.execute("UPDATE backfill_state SET start_seq = COALESCE(start_seq, %s) WHERE service = %s", (seq, service))
