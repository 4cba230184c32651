"""The worker process: migrations, live ingest, the backfill, health and signals.

:func:`run_worker` is what ``supervisor worker`` calls.  Exit codes: 0 after SIGTERM/SIGINT (the
current batch committed), 1 when ingest failed in a way that a restart has to fix.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from datetime import datetime, timedelta, timezone
from typing import Any, Optional

import psycopg

from supervisor.secrets import MaskingFilter, environment_secrets, mask_text
from supervisor.worker import store
from supervisor.worker.backfill import PREFIX, Backfill, BackfillStatus
from supervisor.worker.batch import BatchBuilder
from supervisor.worker.config import WorkerConfig, mask_database_url
from supervisor.worker.crawl import Crawl, CrawlStatus
from supervisor.worker.errors import MigrationError
from supervisor.worker.health import HealthInputs, HealthServer, health_document
from supervisor.worker.identity import IdentityResolver
from supervisor.worker.metrics import CONTENT_TYPE_LATEST, WorkerMetrics
from supervisor.worker.probe import DatabaseProbe
from supervisor.worker.stream import StopTimeout, Stream, StreamPolicy, StreamStatus
from supervisor.worker.timing import Backoff, resident_memory_bytes
from supervisor.worker.verifier import Verifier

__all__ = ["Worker", "run_worker", "configure_logging"]

log = logging.getLogger("supervisor.worker")

_MONITOR_INTERVAL = 5.0
_PRUNE_INTERVAL = 600.0
_SWITCH_INTERVAL = 0.0005


def configure_logging(level: int) -> None:
    """Timestamped lines on stderr (``[BACKFILL]`` lines keep their prefix for grep)."""
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(message)s", force=True)
    # every line masked (URL passwords, NAME=secret, the environment's secrets), whoever logs it
    secrets = environment_secrets(os.environ)
    for handler in logging.getLogger().handlers:
        handler.addFilter(MaskingFilter(secrets))
    logging.getLogger("websockets").setLevel(max(level, logging.WARNING))


class Worker:
    """One worker process (see the module docstring)."""

    def __init__(self, config: WorkerConfig) -> None:
        self.config = config
        self.metrics = WorkerMetrics()
        self.database = store.Database(config.database_url, config.db_pool_size)
        self.live_status = StreamStatus("live")
        self.backfill_status: Any = (
            CrawlStatus(state="disabled", days=config.backfill_days)
            if config.backfill_crawls
            else BackfillStatus(state="disabled", days=config.backfill_days)
        )
        self.crawl: Optional[Crawl] = None
        self.health: Optional[HealthServer] = None
        self.live: Optional[Stream] = None
        self.backfill: Optional[Backfill] = None
        self.database_ok: Optional[bool] = None
        self._started = time.monotonic()
        self._stop = asyncio.Event()
        self._stopping = False
        self._live_start: Optional[asyncio.Future[int]] = None
        self._db_checked_at: Optional[float] = None
        self.verifier: Optional[Verifier] = None
        self._verify_db: Optional[store.Database] = None

    # -- state for /health ----------------------------------------------------------------------
    def health_now(self) -> tuple[int, dict[str, Any]]:
        """The current health status and document."""
        # The most recent word on the database wins: the monitor's ping or the last batch.
        database_ok = self.database_ok
        status = self.live_status
        if status.database_checked_at is not None and (
            self._db_checked_at is None or status.database_checked_at > self._db_checked_at
        ):
            database_ok = status.database_ok
        inputs = HealthInputs(
            now=time.monotonic(),
            wall=datetime.now(timezone.utc),
            started_at=self._started,
            database_ok=database_ok,
            live=status,
            backfill=self.backfill_status if self.config.backfill_enabled else None,
            grace=max(60.0, self.config.receive_timeout * 2),
            worker_id=self.config.worker_id,
            relay_url=self.config.relay_url,
            stopping=self._stopping,
        )
        code, document = health_document(inputs)
        document["verify"] = self.verify_json()
        return code, document

    def verify_json(self) -> dict[str, Any]:
        """The verification part of /health (safe from the health thread)."""
        verifier = self.verifier
        if verifier is None:
            return {"mode": self.config.verify}
        for _attempt in range(5):
            try:
                return verifier.to_json()
            except RuntimeError:  # a dict changed size while the event loop ran: read again
                continue
        return {"mode": self.config.verify}

    def request_stop(self) -> None:
        """Finish and commit the current batch, then stop (SIGTERM/SIGINT)."""
        if self._stopping:
            return
        self._stopping = True
        log.info("stopping: committing the current batch")
        self._stop.set()
        if self.live is not None:
            self.live.stop()
        if self.backfill is not None:
            self.backfill.stop()
        if self.crawl is not None:
            self.crawl.stop()
        if self._live_start is not None and not self._live_start.done():
            self._live_start.cancel()

    # -- main -------------------------------------------------------------------------------------
    async def run(self) -> int:
        """Run until stopped; the exit code."""
        config = self.config
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(signum, self.request_stop)
        self.health = HealthServer(
            config.health_host, config.health_port, self.health_now, self.render_metrics, CONTENT_TYPE_LATEST
        )
        try:
            await self.health.start()
        except OSError as exc:
            log.error(
                "health: cannot listen on %s:%d: %s; set HEALTH_PORT to a free port",
                config.health_host,
                config.health_port,
                exc,
            )
            return 1
        log.info("health: listening on http://%s:%d/health and /metrics", config.health_host, self.health.port)
        log.info(
            "worker %d: relay %s, database %s, live cursor row '%s'",
            config.worker_id,
            mask_text(config.relay_url),
            mask_database_url(config.database_url),
            config.firehose_cursor_service,
        )
        for note in config.notes:
            log.warning("%s", note)
        if not config.backfill_enabled:
            reason = (
                "BACKFILL_DAYS=0 or not set"
                if config.backfill_days == 0
                else f"WORKER_ID={config.worker_id} is not the primary worker"
            )
            log.info("%sDisabled (%s)", PREFIX, reason)
        monitor = asyncio.create_task(self._monitor(), name="monitor")
        probe_every = min(_MONITOR_INTERVAL, max(0.5, config.receive_timeout / 2))
        probe = DatabaseProbe(lambda: self.database.connect(), self._probed, interval=probe_every, timeout=probe_every)
        probe.start()
        try:
            if not await self._prepare_database():
                return 0
            return await self._ingest()
        finally:
            await asyncio.to_thread(probe.stop)
            monitor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await monitor
            await self.health.close()
            await asyncio.to_thread(self.database.close)
            for signum in (signal.SIGTERM, signal.SIGINT):
                with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                    loop.remove_signal_handler(signum)

    async def _prepare_database(self) -> bool:
        backoff = Backoff(base=1.0, cap=30.0)
        while not self._stopping:
            try:
                applied = await asyncio.to_thread(self.database.migrate)
            except MigrationError as exc:
                cause = exc.__cause__
                if cause is not None and not store.is_transient(cause):
                    raise
                self.database_ok = False
                delay = backoff.next()
                log.warning("database not reachable (%s); retrying in %.0f s", mask_text(str(exc)), delay)
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), delay)
                continue
            self.database_ok, self._db_checked_at = True, time.monotonic()
            self.metrics.database_up.set(1)
            if applied:
                log.info("database: applied migrations %s", ", ".join(map(str, applied)))
            return True
        return False

    async def _db(self, func: Any, *args: Any) -> Any:
        def call() -> Any:
            with self.database.connection() as conn:
                return func(conn, *args)

        return await asyncio.to_thread(call)

    async def _ingest(self) -> int:
        config = self.config
        row = await self._db(store.read_cursor, config.firehose_cursor_service)
        start = row.seq if row is not None else None
        if row is None and config.start_cursor is not None:
            start = config.start_cursor
            log.info(
                "live: no cursor row '%s' yet: starting after seq %d (FIREHOSE_START_CURSOR)",
                config.firehose_cursor_service,
                start,
            )
        if row is not None and start is None:
            log.warning(
                "live: cursor row '%s' holds %r, not a sequence number: starting from the live tip",
                config.firehose_cursor_service,
                row.cursor,
            )
        log.info(
            "live: resuming after seq %d" if start is not None else "live: no cursor yet, starting at the live tip",
            *([start] if start is not None else []),
        )
        stored = row.seq if row is not None else None
        # A start cursor from the configuration is where to begin, not a stored position: the
        # stream checks its stored cursor (none yet) after a lost database connection.
        builder = BatchBuilder(after_seq=stored)
        policy = StreamPolicy(
            name="live",
            service=config.firehose_cursor_service,
            max_events=config.batch_size,
            receive_timeout=config.receive_timeout,
            initial_cursor=start if stored is None else None,
        )
        live = Stream(config.relay_url, self.database, policy, builder, self.metrics, self.live_status)
        self.live = live
        crawling = config.backfill_enabled and config.backfill_crawls
        resolver: Optional[IdentityResolver] = None
        if config.verify != "off" or crawling:
            resolver = IdentityResolver(
                config.plc_directory_url, max_entries=config.identity_cache_size, max_age=config.identity_cache_seconds
            )
        if config.verify != "off" or crawling:
            # (With VERIFY=off, only to fetch an account the crawl found inactive once it is active again.)
            assert resolver is not None
            # Its own connections (two repairs, one reading stored repository states): not the live writer's.
            self._verify_db = store.Database(config.database_url, 3)
            self.verifier = Verifier(
                config.verify,
                resolver,
                self._verify_db,
                self.metrics,
                service=config.firehose_cursor_service,
                hold_limit=config.verify_hold_limit,
            )
            live.verifier = self.verifier
            self.verifier.committed = lambda: self.live_status.committed_seq
            await self.verifier.resume()
        if config.verify != "off":
            log.info("verify: %s (identities from %s)", config.verify, config.plc_directory_url)
        else:
            log.warning("verify: off: events are written without checking signatures, proofs or revisions")

        def restart_from_tip() -> None:
            log.warning("live: restarting from the live tip")
            builder.last_seq = None
            policy.initial_cursor = None

        live.on_future_cursor = restart_from_tip
        if self._stopping:
            live.stop()
        live_start: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        if start is not None:
            live_start.set_result(start)
        else:

            def start_before_first(fut: asyncio.Future[int]) -> None:
                if not (live_start.done() or fut.cancelled()):
                    live_start.set_result(fut.result() - 1)

            live.first_seq.add_done_callback(start_before_first)
        tasks = {asyncio.create_task(live.run(), name="live")}
        backfill_task: Optional[asyncio.Task[None]] = None
        if crawling:
            assert resolver is not None
            self.backfill_status.state = "waiting"
            self.crawl = Crawl(
                config,
                self.database,
                self.metrics,
                live_start,
                self.backfill_status,
                resolver=resolver,
                live=live,
                verifier=self.verifier if config.verify != "off" else None,
                park=self.verifier.park if self.verifier is not None else None,
                hold_limit=config.verify_hold_limit,
            )
            live_status = self.live_status
            self.crawl.committed = lambda: (
                live_status.committed_seq if live_status.committed_seq is not None else stored
            )
            if self._stopping:
                self.crawl.stop()
            backfill_task = asyncio.create_task(self.crawl.run(), name="backfill")
            tasks.add(backfill_task)
        elif config.backfill_enabled:
            self.backfill_status.state = "waiting"
            replay_verifier: Optional[Verifier] = None
            if self.verifier is not None:
                # The replayed events are checked as live ones are (signatures, and proofs with full).
                replay_verifier = Verifier(
                    config.verify, self.verifier.resolver, self.verifier.database, self.metrics, replay=True
                )
            self.backfill = Backfill(
                config, self.database, self.metrics, live_start, self.backfill_status, verifier=replay_verifier
            )
            if self._stopping:
                self.backfill.stop()
            backfill_task = asyncio.create_task(self.backfill.run(), name="backfill")
            tasks.add(backfill_task)
        self._live_start = live_start
        code = 0
        pending = set(tasks)
        while pending:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                name = task.get_name()
                try:
                    task.result()
                except StopTimeout as exc:
                    log.warning(
                        "%s: stopped with an uncommitted batch (it is replayed at the next start): %s", name, exc
                    )
                except asyncio.CancelledError:
                    pass
                except Exception as exc:
                    log.error(
                        "%s failed: %s",
                        name,
                        mask_text(f"{type(exc).__name__}: {exc}"),
                        exc_info=log.isEnabledFor(logging.DEBUG),
                    )
                    if name == "backfill":
                        # Live ingest goes on; the backfill resumes from its cursor at the next start.
                        self.backfill_status.state = "failed"
                        self.backfill_status.note = mask_text(str(exc))
                        continue
                    code = 1
                if name == "live" and not self._stopping:
                    # Live ingest only ends when asked to; anything else is a failure.
                    code = 1
                    self.request_stop()
        if self.backfill is not None and self.backfill.verifier is not None:
            await self.backfill.verifier.close()
        if self.verifier is not None:
            await self.verifier.close()
            await asyncio.to_thread(self.verifier.database.close)
        elif resolver is not None:
            await resolver.close()
        log.info("stopped: live cursor %s", self.live_status.committed_seq)
        return code

    def _probed(self, ok: bool) -> None:
        # Called from the probe's thread.
        self.database_ok, self._db_checked_at = ok, time.monotonic()
        self.metrics.database_up.set(1 if ok else 0)

    def render_metrics(self) -> bytes:
        """The Prometheus text, with the queue depths of this moment (called from the health thread)."""
        for stream in (self.live, self.backfill.stream if self.backfill is not None else None):
            if stream is not None:
                stream.report_queues()
        return self.metrics.render()

    async def _monitor(self) -> None:
        last_prune = 0.0
        retention = timedelta(hours=max(7 * 24.0, 2 * self.config.relay_window_hours))
        while True:
            await asyncio.sleep(_MONITOR_INTERVAL)
            self.metrics.memory.set(resident_memory_bytes())
            ok = bool(self.database_ok)
            status = self.live_status
            now = time.monotonic()
            self.metrics.events_per_second.labels("live").set(status.rate.rate(now))
            if getattr(self.backfill_status, "stream", None) is not None:
                self.metrics.events_per_second.labels("backfill").set(self.backfill_status.stream.rate.rate(now))
            if status.committed_time is not None:
                self.metrics.lag.set(max(0.0, (datetime.now(timezone.utc) - status.committed_time).total_seconds()))
            if ok and now - last_prune >= _PRUNE_INTERVAL:
                last_prune = now
                try:
                    removed = await self._db(store.prune_tombstones, retention)
                    if removed:
                        log.info("database: pruned %d tombstones older than %s", removed, retention)
                except psycopg.Error as exc:
                    log.warning("database: pruning tombstones failed: %s", store.describe_error(exc))


def run_worker(config: WorkerConfig) -> int:
    """Run a worker in a fresh event loop; the exit code."""
    configure_logging(config.log_level_number)
    # The batch writer runs in a thread that waits for PostgreSQL several times per batch and then
    # needs the GIL back from the decoder, which is always busy under load: with the default 5 ms
    # switch interval those waits add up to a large part of each batch's commit time.
    sys.setswitchinterval(_SWITCH_INTERVAL)
    worker = Worker(config)
    try:
        return asyncio.run(worker.run())
    except MigrationError as exc:
        log.error("%s", mask_text(str(exc)))
        return 1
    except KeyboardInterrupt:
        return 0
