"""One relay subscription through to PostgreSQL: reader -> decoder -> writer.

Three asyncio tasks joined by bounded queues, so a slow database slows the reader (and, through
TCP, the relay) instead of growing memory:

- the reader holds the WebSocket: it connects with ``?cursor=`` (the last decoded seq), detects
  stalls with a receive timeout, and reconnects with exponential backoff and jitter;
- the decoder turns frames into :class:`~supervisor.worker.batch.Batch` objects (malformed frames
  are counted and skipped), reacts to error frames and ``#info`` messages, and cuts batches;
- the writer commits each batch with its cursor in one transaction, retrying transient database
  errors and isolating a row the database rejects.

Live ingest and the backfill are two :class:`Stream` objects that differ by a
:class:`StreamPolicy`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
import urllib.parse
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Optional, cast

import psycopg

from supervisor.atproto.validate import frame_problems
from supervisor.worker import store
from supervisor.worker.batch import Batch, BatchBuilder
from supervisor.worker.metrics import WorkerMetrics
from supervisor.worker.timing import Backoff, RateMeter

if TYPE_CHECKING:  # supervisor.atproto.frames is imported when a stream starts
    from supervisor.atproto.frames import Account, Commit, Identity, Sync
    from supervisor.worker.resync import Holds
    from supervisor.worker.verifier import Verifier

    EventFrame = Commit | Identity | Account | Sync

__all__ = ["StreamPolicy", "StreamStatus", "Stream", "with_cursor", "StopTimeout"]

log = logging.getLogger("supervisor.worker.stream")

_EOF = object()
_MAX_FRAME = 16 * 1024 * 1024


class _Resync(Exception):
    """The stored cursor is not where this stream last committed (a database crash took acknowledged
    commits away): what is in flight is dropped and the stream resumes from ``cursor``."""

    def __init__(self, cursor: Optional[int], epoch: int) -> None:
        super().__init__(cursor)
        self.cursor = cursor
        self.epoch = epoch


class _Stalled(Exception):
    """No frame within the receive timeout and no answer to a ping."""


class StopTimeout(Exception):
    """The database stayed unreachable while stopping: the last batch was not committed (it will be
    replayed from the cursor at the next start)."""


def with_cursor(url: str, cursor: Optional[int]) -> str:
    """``url`` with ``?cursor=N`` (no query when ``cursor`` is None: the live tip)."""
    if cursor is None:
        return url
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode({"cursor": str(cursor)})))


@dataclasses.dataclass
class StreamPolicy:
    """What makes live ingest and the backfill differ."""

    name: str
    service: str
    #: Cut a batch after this many events ...
    max_events: int = 1000
    #: ... or after this many events that carry changes (the backfill's BACKFILL_BATCH_SIZE).
    max_contributing: Optional[int] = None
    #: Log prefix ("[BACKFILL] " for the backfill, so that grep BACKFILL keeps working).
    prefix: str = ""
    #: The ``backfill_state`` row to update with each batch (backfill only).
    backfill_service: Optional[str] = None
    #: Awaited before a batch with changes goes to the writer (throttling, memory ceiling).
    before_batch: Optional[Callable[[Batch], Awaitable[None]]] = None
    #: Cursor used when nothing was decoded yet and no stored cursor exists (None: the live tip).
    initial_cursor: Optional[int] = None
    #: How long a non-full batch may wait for more events when the writer is busy.
    linger: float = 0.2
    #: How long a batch may wait for more events when the writer is idle (so that events arriving
    #: one by one do not each cost a transaction).
    min_batch_age: float = 0.05
    receive_timeout: float = 30.0
    #: False (the throttled backfill): frames read ahead are dropped, not decoded, when stopping or
    #: reconnecting (they are read again from the cursor), so a stop commits no more than the batch
    #: under way and a reconnect does not wait for the throttle to work through the queue.
    keep_read_ahead: bool = True
    queue_frames: int = 1000
    queue_batches: int = 2


@dataclasses.dataclass
class StreamStatus:
    """What the health endpoint reports about one stream."""

    name: str
    connected: bool = False
    connected_since: Optional[float] = None
    disconnected_since: Optional[float] = None
    last_frame_at: Optional[float] = None
    committed_seq: Optional[int] = None
    committed_time: Optional[datetime] = None
    committed_at: Optional[float] = None
    database_ok: Optional[bool] = None
    database_checked_at: Optional[float] = None
    last_error: Optional[str] = None
    finished: bool = False
    rate: RateMeter = dataclasses.field(default_factory=RateMeter)

    def to_json(self, now: float) -> dict[str, Any]:
        """A JSON-ready summary."""
        return {
            "connected": self.connected,
            "cursor": self.committed_seq,
            "last_event_time": self.committed_time.isoformat() if self.committed_time else None,
            "events_per_second": round(self.rate.rate(now), 2),
            "events": self.rate.total,
            "last_error": self.last_error,
        }


class Stream:
    """One subscription (see the module docstring)."""

    def __init__(
        self,
        url: str,
        database: store.Database,
        policy: StreamPolicy,
        builder: BatchBuilder,
        metrics: WorkerMetrics,
        status: Optional[StreamStatus] = None,
    ) -> None:
        self.url = url
        self.database = database
        self.policy = policy
        self.builder = builder
        self.metrics = metrics
        self.status = status or StreamStatus(policy.name)
        #: Resolved with the seq of the first event this stream decodes.
        self.first_seq: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.finished = False
        self._raw: asyncio.Queue[Any] = asyncio.Queue(maxsize=policy.queue_frames)
        self._batches: asyncio.Queue[Any] = asyncio.Queue(maxsize=policy.queue_batches)
        self._reader: Optional[asyncio.Task[None]] = None
        self._writer_busy = False
        self._writer_idle = asyncio.Event()
        self._stopping = False
        self._stop_deadline: Optional[float] = None
        self._ws: Any = None
        self._reconnect = False
        self._gap_from: Optional[int] = None
        self._backoff = Backoff()
        self._malformed_logged = 0
        #: When the decoder last found no frame waiting and the writer idle (see min_batch_age).
        self._idle_since: Optional[float] = None
        self._frames_seen = 0
        #: Called on a FutureCursor error frame (live: restart from the tip; backfill: finish).
        self.on_future_cursor: Optional[Callable[[], None]] = None
        #: Called after each committed batch.
        self.on_commit: Optional[Callable[[Batch, store.ApplyResult], None]] = None
        #: Says whether each event may be written (live ingest with VERIFY on; see worker/verifier.py).
        self.verifier: Optional[Verifier] = None
        #: Repositories being crawled: their live events wait there (see worker/resync.py).
        self.holds: Optional[Holds] = None
        #: Called (in the event loop) after a resync to the stored cursor (backfill: re-read its state).
        self.on_resync: Optional[Callable[[Optional[int]], Awaitable[None]]] = None
        #: The cursor this stream last stored (or found stored at its start) and the database
        #: epoch it was checked in.
        self._stored: Optional[int] = builder.last_seq
        self._epoch = database.epoch

    # -- control ------------------------------------------------------------------------------
    def stop(self, grace: float = 20.0) -> None:
        """Stop reading; what was read is still decoded and committed (for up to ``grace`` seconds
        of database trouble)."""
        if self._stopping:
            return
        self._stopping = True
        self._stop_deadline = time.monotonic() + grace
        if not self.policy.keep_read_ahead:
            self._drop_read_ahead()
        if self._reader is not None and not self._reader.done():
            self._reader.cancel()

    def _drop_read_ahead(self) -> None:
        raw = self._raw
        while True:
            try:
                item = raw.get_nowait()
            except asyncio.QueueEmpty:
                return
            raw.task_done()
            if item is _EOF:
                raw.put_nowait(_EOF)
                return

    async def run(self) -> None:
        """Run until stopped, or (backfill) until the end of the replay is committed."""
        while True:
            try:
                await self._run_once()
                return
            except _Resync as resync:
                if self._stopping:
                    # What is not stored is replayed from the stored cursor at the next start.
                    return
                await self._restart_from(resync.cursor, resync.epoch)

    async def _run_once(self) -> None:
        self._reader = asyncio.create_task(self._read_loop(), name=f"{self.policy.name}-reader")
        decoder = asyncio.create_task(self._decode_loop(), name=f"{self.policy.name}-decoder")
        writer = asyncio.create_task(self._write_loop(), name=f"{self.policy.name}-writer")
        if self._stopping:
            self._reader.cancel()
        try:
            done, _ = await asyncio.wait({self._reader, writer}, return_when=asyncio.FIRST_COMPLETED)
            if writer in done:
                writer.result()  # a writer failure (or a resync) ends this run
            try:
                await self._reader
            except asyncio.CancelledError:
                if not self._reader.cancelled():
                    raise
            await self._raw.put(_EOF)
            await decoder
            await writer
        finally:
            for task in (self._reader, decoder, writer):
                if not task.done():
                    task.cancel()
            await asyncio.gather(self._reader, decoder, writer, return_exceptions=True)
            self.status.connected = False
            self.metrics.connected.labels(self.policy.name).set(0)

    async def _restart_from(self, cursor: Optional[int], epoch: int) -> None:
        """Drop everything in flight and go on from the stored ``cursor`` (read in ``epoch``)."""
        frames, batches = self._raw.qsize(), self._batches.qsize() + 1
        self._raw = asyncio.Queue(maxsize=self.policy.queue_frames)
        self._batches = asyncio.Queue(maxsize=self.policy.queue_batches)
        self._writer_busy = False
        self._writer_idle = asyncio.Event()
        self._gap_from = None
        self._idle_since = None
        self.finished = False
        self.status.finished = False
        builder = self.builder
        builder.batch = Batch()
        builder.finished = False
        if cursor is None and self.first_seq.done():
            # Nothing stored yet: start again at the first event this stream saw.
            cursor = self.first_seq.result() - 1
        builder.last_seq = cursor
        self._stored, self._epoch = cursor, epoch
        self.status.committed_seq = cursor
        if cursor is not None:
            self.metrics.cursor.labels(self.policy.name).set(cursor)
        self.metrics.resyncs.labels(self.policy.name).inc()
        if self.verifier is not None:
            # The revisions it accepted past the stored cursor are replayed: they must not be stale.
            self.verifier.forget()
        log.warning(
            "%s%s: resuming from the stored cursor %s (dropped what was in flight: %d frames, %d batches)",
            self.policy.prefix,
            self.policy.name,
            "(none: the live tip)" if cursor is None else cursor,
            frames,
            batches,
        )
        if self.on_resync is not None:
            await self.on_resync(cursor)

    # -- reader -------------------------------------------------------------------------------
    def _position(self) -> Optional[int]:
        seq = self.builder.last_seq
        return seq if seq is not None else self.policy.initial_cursor

    async def _read_loop(self) -> None:
        from websockets.asyncio.client import connect
        from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI, WebSocketException

        prefix = self.policy.prefix
        name = self.policy.name
        while not self._stopping and not self.finished:
            # Everything read so far is decoded: the position is exact, nothing is asked twice.
            if not self.policy.keep_read_ahead:
                self._drop_read_ahead()
            await self._raw.join()
            if self.finished:
                return
            cursor = self._position()
            url = with_cursor(self.url, cursor)
            self._reconnect = False
            reason = "closed"
            try:
                async with connect(
                    url,
                    open_timeout=10,
                    close_timeout=2,
                    ping_interval=20,
                    ping_timeout=20,
                    max_size=_MAX_FRAME,
                    max_queue=64,
                    compression=None,
                    user_agent_header="appview-supervisor-worker",
                ) as ws:
                    self._ws = ws
                    now = time.monotonic()
                    self.status.connected, self.status.connected_since = True, now
                    self.status.disconnected_since = None
                    self.metrics.connected.labels(name).set(1)
                    log.info(
                        "%s%s: connected to %s (cursor %s)",
                        prefix,
                        name,
                        self.url,
                        "live tip" if cursor is None else cursor,
                    )
                    reason = await self._receive(ws)
            except asyncio.CancelledError:
                raise
            except ConnectionClosed as exc:
                reason, text = close_cause(exc)
                self.status.last_error = text
                log.warning("%s%s: connection closed (%s)", prefix, name, text)
            except InvalidURI as exc:
                reason = "error"
                log.error("%s%s: invalid relay URL: %s", prefix, name, exc)
            except (OSError, InvalidHandshake, asyncio.TimeoutError, WebSocketException) as exc:
                reason = "connect failed"
                self.status.last_error = f"connect: {exc}"
                log.warning("%s%s: cannot connect to %s: %s", prefix, name, self.url, exc or type(exc).__name__)
            finally:
                self._ws = None
                if self.status.connected:
                    self.status.disconnected_since = time.monotonic()
                self.status.connected = False
                self.metrics.connected.labels(name).set(0)
            if self._stopping or self.finished:
                return
            self.metrics.reconnects.labels(name, reason).inc()
            delay = self._backoff.next()
            log.info("%s%s: reconnecting in %.1f s (%s)", prefix, name, delay, reason)
            await asyncio.sleep(delay)

    async def _receive(self, ws: Any) -> str:
        loop = asyncio.get_running_loop()
        timeout = self.policy.receive_timeout
        raw = self._raw
        status = self.status
        monotonic = time.monotonic
        watchdog = _Watchdog(loop, asyncio.current_task(), timeout)
        first = True
        quiet_logged = False
        try:
            while True:
                try:
                    data = await ws.recv()
                except asyncio.CancelledError:
                    if not watchdog.expired():
                        raise
                    if not await self._answers_ping(ws):
                        raise _Stalled() from None
                    # The relay is there and answers: it has nothing to send (a quiet relay).
                    log.log(
                        logging.DEBUG if quiet_logged else logging.INFO,
                        "%s%s: no frame for %.1f s, but the relay answers pings: it is quiet, not stalled",
                        self.policy.prefix,
                        self.policy.name,
                        timeout,
                    )
                    quiet_logged = True
                    watchdog.rearm()
                    continue
                quiet_logged = False
                watchdog.last = loop.time()
                status.last_frame_at = monotonic()
                if first:
                    self._backoff.reset()
                    first = False
                if type(data) is not bytes:
                    if isinstance(data, str):
                        self.metrics.skipped.labels(self.policy.name, "text frame").inc()
                        continue
                if self.verifier is not None:
                    self.verifier.prefetch(data)
                if raw.full():
                    # Time spent waiting for the decoder (a slow database behind it) is not the
                    # relay's silence: the watchdog does not count it.
                    watchdog.paused = True
                    try:
                        await raw.put(data)
                    finally:
                        watchdog.paused = False
                        watchdog.last = loop.time()
                else:
                    raw.put_nowait(data)
                if self._reconnect:
                    return "requested"
        except _Stalled:
            log.warning(
                "%s%s: no frame for %.1f s and no answer to a ping: the connection is stalled, reconnecting",
                self.policy.prefix,
                self.policy.name,
                timeout,
            )
            self.status.last_error = f"stalled: no frame for {timeout:g} s"
            return "stall"
        finally:
            watchdog.close()

    async def _answers_ping(self, ws: Any) -> bool:
        try:
            pong = await ws.ping()
            await asyncio.wait_for(pong, min(self.policy.receive_timeout, 10.0))
            return True
        except asyncio.TimeoutError:
            return False
        except Exception:  # the connection closed meanwhile: ws.recv() tells how
            return True

    def _request_reconnect(self) -> None:
        self._reconnect = True
        ws = self._ws
        if ws is not None:
            asyncio.ensure_future(ws.close())

    # -- decoder ------------------------------------------------------------------------------
    async def _decode_loop(self) -> None:
        from supervisor.atproto import frames
        from supervisor.atproto.errors import AtprotoError

        raw = self._raw
        batches = self._batches
        builder = self.builder
        policy = self.policy
        decode = frames.decode_frame
        event_types = (frames.Commit, frames.Identity, frames.Account, frames.Sync)
        loop = asyncio.get_running_loop()
        since_yield = 0
        while True:
            if raw.empty() and self._pending():
                # No frame waiting.  Commit soon, but not one transaction per event when events
                # trickle in (each one costs a round of statements): a batch gathers for at least
                # min_batch_age; frames arriving meanwhile wait in the queue and are decoded together.
                now = loop.time()
                if self._idle_since is None:
                    self._idle_since = now
                left = self._idle_since + policy.min_batch_age - now
                if self._writer_busy or not batches.empty():
                    # The writer is busy: keep filling this batch until it is free (or a short while).
                    item = await self._next_or_idle(policy.linger)
                    if item is None and (not self._writer_busy or left > 0):
                        continue  # the writer is free now: the batch's age decides
                elif left > 0 and not builder.batch.final:
                    await asyncio.sleep(left)
                    continue
                else:
                    item = None
                if item is None:
                    await self._flush()
                    continue
                if item is _EOF:
                    raw.task_done()
                    await self._flush()
                    await batches.put(_EOF)
                    return
                await self._handle(item, decode, event_types, AtprotoError)
                raw.task_done()
                if self.finished:
                    await self._finish_decoding()
                    return
                continue
            if raw.empty():
                item = await raw.get()
                since_yield = 0
            else:
                item = raw.get_nowait()
                since_yield += 1
                if since_yield >= 256:
                    since_yield = 0
                    await asyncio.sleep(0)
            if item is _EOF:
                raw.task_done()
                await self._flush()
                await batches.put(_EOF)
                return
            await self._handle(item, decode, event_types, AtprotoError)
            raw.task_done()
            if self.finished:
                await self._finish_decoding()
                return

    async def _finish_decoding(self) -> None:
        raw = self._raw
        await self._flush()
        await self._batches.put(_EOF)
        # Drain what the reader still holds so that it is not blocked on a full queue.
        if self._reader is not None:
            self._reader.cancel()
        while not raw.empty():
            raw.get_nowait()
            raw.task_done()

    async def _next_or_idle(self, timeout: float) -> Any:
        """The next frame, or None when the writer went idle (or ``timeout`` passed) first."""
        getter = asyncio.ensure_future(self._raw.get())
        idle = asyncio.ensure_future(self._writer_idle.wait())
        try:
            await asyncio.wait({getter, idle}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            idle.cancel()
            if not getter.done():
                getter.cancel()
        if getter.done() and not getter.cancelled():
            return getter.result()
        return None

    def _pending(self) -> bool:
        batch = self.builder.batch
        return batch.events > 0 or bool(batch.skipped) or batch.final

    async def _handle(
        self,
        data: Any,
        decode: Callable[..., Any],
        event_types: tuple[type[EventFrame], ...],
        decode_error: type[Exception],
    ) -> None:
        if data is _EOF:
            return
        builder = self.builder
        try:
            frame = decode(data, records=True)
        except decode_error as exc:
            self._malformed(exc)
            return
        except (ValueError, TypeError, KeyError, IndexError, RecursionError) as exc:
            self._malformed(exc)
            return
        if isinstance(frame, event_types):
            problems = frame_problems(frame)
            if problems:
                # well-formed but against the specification (a negative seq, a path like ../x,
                # an unknown action): never written
                self._malformed(ValueError(f"{frame.type} with invalid fields: {'; '.join(problems)}"))
                return
            verifier = self.verifier
            holds = self.holds
            fresh = builder.last_seq is None or frame.seq > builder.last_seq
            if (
                holds is not None
                and fresh
                and (frame.type == "#commit" or frame.type == "#sync")
                and holds.offer(frame)
            ):
                # Its repository is being crawled: applied after the fetched state (backfill_repo
                # says it is not done yet, so a restart fetches it again).
                builder.skip("held for backfill")
                frame = dataclasses.replace(cast(Any, frame), ops=[]) if frame.type == "#commit" else frame
            elif verifier is not None and fresh:
                decision = await verifier.check(frame)
                if decision != "accept":
                    # Refused (counted by reason, never written) or held for a repository fetched again
                    # (repo_sync says so, and a restart fetches it again): the cursor moves past it.
                    builder.skip("refused by verification" if decision == "reject" else "held for repair")
                    frame = dataclasses.replace(cast(Any, frame), ops=[]) if frame.type == "#commit" else frame
            gap_from = self._gap_from
            if gap_from is not None:
                self._gap_from = None
                self._log_gap(gap_from, frame.seq)
            if builder.add(frame, checked=True):
                if not self.first_seq.done():
                    self.first_seq.set_result(frame.seq)
            batch = builder.batch
            if batch.events >= self.policy.max_events or (
                self.policy.max_contributing is not None and batch.contributing >= self.policy.max_contributing
            ):
                await self._flush()
        else:
            kind = getattr(frame, "type", "")
            if kind == "error":
                self._error_frame(frame)
            elif kind == "#info":
                self._info(frame)
            else:
                builder.skip("unknown frame")
                log.debug("%s%s: skipped a frame of unknown type %r", self.policy.prefix, self.policy.name, kind)
        if builder.finished:
            self.finished = True

    def _malformed(self, exc: BaseException) -> None:
        self.builder.skip("malformed frame")
        self.metrics.malformed.labels(self.policy.name).inc()
        self._malformed_logged += 1
        # Log the first few in full, then one in a hundred: a broken relay must not flood the log.
        if self._malformed_logged <= 10 or self._malformed_logged % 100 == 0:
            log.warning(
                "%s%s: skipped a malformed frame after seq %s (%d so far): %s",
                self.policy.prefix,
                self.policy.name,
                self.builder.last_seq,
                self._malformed_logged,
                exc,
            )

    def _log_gap(self, cursor: int, seq: int) -> None:
        # Events past the end point (the backfill's) were never this stream's to replay.
        end_seq = self.builder.end_seq
        last = seq - 1 if end_seq is None else min(seq - 1, end_seq)
        missed = max(0, last - cursor)
        self.metrics.gap_events.labels(self.policy.name).inc(missed)
        log.warning(
            "%s%s: gap: the relay no longer keeps the events after cursor %d; resumed at seq %d, "
            "%d events missed (seq %d..%d)",
            self.policy.prefix,
            self.policy.name,
            cursor,
            seq,
            missed,
            cursor + 1,
            last,
        )
        if missed:
            batch = self.builder.batch
            batch.missed += missed
            batch.missed_from = cursor + 1 if batch.missed_from is None else min(batch.missed_from, cursor + 1)
            batch.missed_to = last if batch.missed_to is None else max(batch.missed_to, last)

    def _info(self, frame: Any) -> None:
        name = frame.name
        if name == "OutdatedCursor":
            cursor = self._position()
            log.warning(
                "%s%s: relay says OutdatedCursor (%s): cursor %s is older than what it keeps",
                self.policy.prefix,
                self.policy.name,
                frame.message or "",
                cursor,
            )
            if cursor is not None and cursor > 0:
                self._gap_from = cursor
        else:
            log.info("%s%s: relay info %s: %s", self.policy.prefix, self.policy.name, name, frame.message or "")

    def _error_frame(self, frame: Any) -> None:
        error = frame.error
        self.metrics.error_frames.labels(self.policy.name, error).inc()
        self.status.last_error = f"{error}: {frame.message or ''}".strip()
        if error == "FutureCursor":
            log.warning(
                "%s%s: relay says FutureCursor (%s): cursor %s is ahead of the relay (a different or reset relay)",
                self.policy.prefix,
                self.policy.name,
                frame.message or "",
                self._position(),
            )
            if self.on_future_cursor is not None:
                self.on_future_cursor()
        elif error == "ConsumerTooSlow":
            log.warning(
                "%s%s: relay says ConsumerTooSlow (%s): reconnecting from cursor %s",
                self.policy.prefix,
                self.policy.name,
                frame.message or "",
                self._position(),
            )
        else:
            log.warning("%s%s: relay error %s: %s", self.policy.prefix, self.policy.name, error, frame.message or "")
        self._request_reconnect()

    async def _flush(self) -> None:
        self._idle_since = None
        batch = self.builder.take()
        if batch.empty and not batch.final:
            if batch.skipped:
                self._count_skips(batch)
            return
        if self.verifier is not None:
            batch.heads = self.verifier.take_heads()  # stored with the events they were accepted for
        if self.policy.before_batch is not None and batch.changes:
            await self.policy.before_batch(batch)
        if self._stopping and not self.policy.keep_read_ahead:
            return  # not committed: read again from the cursor at the next start
        await self._batches.put(batch)
        self.report_queues()

    def report_queues(self) -> None:
        """Set the queue depth gauges to what waits now (safe from another thread)."""
        self.metrics.queue_depth.labels(self.policy.name, "batches").set(self._batches.qsize())
        self.metrics.queue_depth.labels(self.policy.name, "frames").set(self._raw.qsize())

    def _count_skips(self, batch: Batch) -> None:
        for reason, count in batch.skipped.items():
            self.metrics.skipped.labels(self.policy.name, reason).inc(count)

    # -- writer -------------------------------------------------------------------------------
    async def _write_loop(self) -> None:
        while True:
            if self._batches.empty():
                self._writer_busy = False
                self._writer_idle.set()
            batch = await self._batches.get()
            self._writer_busy = True
            self._writer_idle.clear()
            if batch is _EOF:
                return
            if self._stopping and not self.policy.keep_read_ahead:
                continue  # queued but not started: read again from the cursor at the next start
            await self._write(batch)

    async def _verify_stored(self) -> None:
        """After a lost connection or a server restart: go on only if the stored cursor is where this
        stream last committed; otherwise raise :class:`_Resync` (acknowledged commits were lost)."""
        epoch = self.database.epoch

        def read() -> Optional[store.CursorRow]:
            with self.database.connection() as conn:
                return store.read_cursor(conn, self.policy.service)

        row = await asyncio.to_thread(read)
        stored = row.seq if row is not None else None
        if stored != self._stored:
            log.warning(
                "%s%s: the database connection was lost and the stored cursor is %s, not %s as last "
                "committed: the crash took commits away",
                self.policy.prefix,
                self.policy.name,
                stored,
                self._stored,
            )
            raise _Resync(stored, epoch)
        log.info(
            "%s%s: database connection back; the stored cursor %s is where it was last committed",
            self.policy.prefix,
            self.policy.name,
            stored,
        )
        self._epoch = epoch

    async def _write(self, batch: Batch) -> None:
        backoff = Backoff(base=0.2, cap=10.0)
        name = self.policy.name
        while True:
            started = time.monotonic()
            try:
                if self.database.epoch != self._epoch:
                    await self._verify_stored()
                result = await asyncio.to_thread(self._apply_isolating, batch)
            except psycopg.Error as exc:
                if not store.is_transient(exc):
                    raise
                self.metrics.db_errors.labels(name).inc()
                self.status.database_ok, self.status.database_checked_at = False, time.monotonic()
                self.status.last_error = store.describe_error(exc)
                if self._stopping and self._stop_deadline is not None and time.monotonic() > self._stop_deadline:
                    raise StopTimeout(self.status.last_error) from exc
                delay = backoff.next()
                log.warning(
                    "%s%s: database error, retrying the batch in %.1f s: %s",
                    self.policy.prefix,
                    name,
                    delay,
                    self.status.last_error,
                )
                await asyncio.sleep(delay)
                continue
            self._committed(batch, result, time.monotonic() - started)
            return

    def _apply_isolating(self, batch: Batch) -> store.ApplyResult:
        """Apply a batch; when the database rejects a row (not a transient error), split the batch
        until the row is found, skip it and count it."""
        try:
            with self.database.connection() as conn:
                return store.apply_batch(
                    conn, batch, service=self.policy.service, backfill_service=self.policy.backfill_service
                )
        except psycopg.Error as exc:
            if store.is_transient(exc):
                raise
            if batch.indexable <= 1:
                log.error(
                    "%s%s: the database rejected a change, skipped: %s (%s)",
                    self.policy.prefix,
                    self.policy.name,
                    ", ".join(list(batch.writes)[:1] + list(batch.identities)[:1] + list(batch.accounts)[:1]),
                    store.describe_error(exc),
                )
                batch.skipped["rejected by database"] += batch.indexable
                batch.writes.clear()
                batch.identities.clear()
                batch.accounts.clear()
                with self.database.connection() as conn:
                    return store.apply_batch(
                        conn, batch, service=self.policy.service, backfill_service=self.policy.backfill_service
                    )
            first, second = store.split_batch(batch)
            a = self._apply_part(first)
            b = self._apply_isolating(second)
            return store.ApplyResult(a.records + b.records, a.users + b.users)

    def _apply_part(self, part: Batch) -> store.ApplyResult:
        # A part without the position: it moves no cursor and counts no events.
        try:
            with self.database.connection() as conn:
                return store.apply_batch(
                    conn,
                    part,
                    service=self.policy.service,
                    move_cursor=False,
                    backfill_service=self.policy.backfill_service,
                )
        except psycopg.Error as exc:
            if store.is_transient(exc) or part.indexable <= 1:
                if not store.is_transient(exc):
                    log.error(
                        "%s%s: the database rejected a change, skipped: %s",
                        self.policy.prefix,
                        self.policy.name,
                        store.describe_error(exc),
                    )
                    return store.ApplyResult(0, 0)
                raise
            first, second = store.split_batch(part)
            second.last_seq = None
            a = self._apply_part(first)
            b = self._apply_part(second)
            return store.ApplyResult(a.records + b.records, a.users + b.users)

    def _committed(self, batch: Batch, result: store.ApplyResult, seconds: float) -> None:
        name = self.policy.name
        metrics = self.metrics
        now = time.monotonic()
        status = self.status
        status.database_ok, status.database_checked_at = True, now
        if batch.last_seq is not None:
            status.committed_seq = batch.last_seq
            self._stored = batch.last_seq
            metrics.cursor.labels(name).set(batch.last_seq)
        if batch.last_time is not None:
            status.committed_time = batch.last_time
        status.committed_at = now
        status.rate.add(batch.events, now)
        for kind, count in batch.kinds.items():
            metrics.events.labels(name, kind).inc(count)
        metrics.ops.labels(name).inc(batch.ops)
        metrics.records.labels(name).inc(result.records)
        metrics.users.labels(name).inc(result.users)
        metrics.batches.labels(name).inc()
        metrics.batch_seconds.labels(name).observe(seconds)
        self._count_skips(batch)
        if batch.final:
            status.finished = True
        if batch.heads and self.verifier is not None:
            self.verifier.stored(batch.heads)
        if self.on_commit is not None:
            self.on_commit(batch, result)


class _Watchdog:
    """Cancels a task after ``timeout`` seconds without :attr:`last` moving.

    Receiving a frame only stores the loop time in :attr:`last`; the timer re-arms itself when it
    fires early.  Rescheduling an ``asyncio.timeout`` instead costs a timer cancellation and a new
    timer for every frame.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, task: Optional["asyncio.Task[Any]"], timeout: float) -> None:
        self.loop = loop
        self.task = task
        self.timeout = timeout
        self.last = loop.time()
        #: While True (the reader waits for the decoder) the relay's silence does not count.
        self.paused = False
        self.fired = False
        self._cancelling = task.cancelling() if task is not None else 0
        self._handle: Optional[asyncio.TimerHandle] = loop.call_at(self.last + timeout, self._check)

    def _check(self) -> None:
        if self.paused:
            self.last = self.loop.time()
        due = self.last + self.timeout
        if self.loop.time() < due:
            self._handle = self.loop.call_at(due, self._check)
            return
        self._handle = None
        if self.task is not None and not self.task.done():
            self.fired = True
            self.task.cancel()

    def expired(self) -> bool:
        """True when the cancellation being handled is this watchdog's alone (then it is absorbed)."""
        if not self.fired or self.task is None:
            return False
        self.fired = False
        return self.task.uncancel() <= self._cancelling

    def rearm(self) -> None:
        """Watch again from now (after a fired timeout was handled)."""
        self.last = self.loop.time()
        if self._handle is None:
            self._handle = self.loop.call_at(self.last + self.timeout, self._check)

    def close(self) -> None:
        """Stop watching."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None


def close_cause(exc: Any) -> tuple[str, str]:
    """Why a connection closed: a reconnect reason (for the metric) and the words for the log."""
    rcvd = getattr(exc, "rcvd", None)
    sent = getattr(exc, "sent", None)
    if rcvd is not None:
        return "closed", f"closed by the relay: code {rcvd.code}{': ' + rcvd.reason if rcvd.reason else ''}"
    if sent is not None:
        if "keepalive" in (sent.reason or ""):
            return "keepalive", (
                f"closed by the worker: code {sent.code}: {sent.reason} (the relay did not "
                f"answer a ping in time; the network or the relay is too slow)"
            )
        return "closed", f"closed by the worker: code {sent.code}{': ' + sent.reason if sent.reason else ''}"
    return "dropped", "no close frame: the connection dropped"


def utc_now() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(timezone.utc)
