"""Prometheus metrics of one worker (its own registry, so several workers can live in one process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["WorkerMetrics", "CONTENT_TYPE_LATEST"]


class WorkerMetrics:
    """Counters and gauges, labelled by ``stream`` (``live`` or ``backfill``) where it matters."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.events = Counter(
            "worker_events_total", "Events committed, by stream and kind.", ["stream", "kind"], registry=r
        )
        self.ops = Counter("worker_ops_total", "Record operations seen in committed events.", ["stream"], registry=r)
        self.records = Counter(
            "worker_records_applied_total",
            "Record writes applied (not older than what was stored).",
            ["stream"],
            registry=r,
        )
        self.users = Counter(
            "worker_user_updates_total", "Account and identity updates applied.", ["stream"], registry=r
        )
        self.skipped = Counter(
            "worker_skipped_total", "Frames, events and ops skipped, by reason.", ["stream", "reason"], registry=r
        )
        self.malformed = Counter(
            "worker_malformed_frames_total", "Frames that could not be decoded.", ["stream"], registry=r
        )
        self.batches = Counter("worker_batches_total", "Transactions committed.", ["stream"], registry=r)
        self.batch_seconds = Histogram(
            "worker_batch_seconds",
            "Time to write one batch.",
            ["stream"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=r,
        )
        self.db_errors = Counter(
            "worker_database_errors_total", "Failed batch transactions (retried).", ["stream"], registry=r
        )
        self.reconnects = Counter(
            "worker_reconnects_total", "Relay reconnections, by reason.", ["stream", "reason"], registry=r
        )
        self.resyncs = Counter(
            "worker_resyncs_total",
            "Restarts from the stored cursor after a database crash took commits away.",
            ["stream"],
            registry=r,
        )
        self.error_frames = Counter(
            "worker_error_frames_total", "Error frames from the relay.", ["stream", "error"], registry=r
        )
        self.gap_events = Counter(
            "worker_gap_events_total",
            "Events missed because the relay no longer kept them (OutdatedCursor).",
            ["stream"],
            registry=r,
        )
        self.connected = Gauge(
            "worker_relay_connected", "1 while the relay connection is open.", ["stream"], registry=r
        )
        self.cursor = Gauge("worker_cursor_seq", "Last committed sequence number.", ["stream"], registry=r)
        self.lag = Gauge("worker_lag_seconds", "Now minus the time of the last committed live event.", registry=r)
        self.events_per_second = Gauge(
            "worker_events_per_second", "Committed events per second (recent).", ["stream"], registry=r
        )
        self.queue_depth = Gauge(
            "worker_queue_depth", "Items waiting in a pipeline queue.", ["stream", "queue"], registry=r
        )
        self.backfill_progress = Gauge(
            "worker_backfill_progress_ratio", "Share of the backfill replay done (0..1).", registry=r
        )
        self.backfill_missed = Gauge(
            "worker_backfill_missed_events",
            "Events of the backfill's range the relay no longer kept (OutdatedCursor).",
            registry=r,
        )
        self.backfill_paused = Gauge("worker_backfill_paused", "1 while the backfill waits for memory.", registry=r)
        self.memory = Gauge("worker_resident_memory_bytes", "Resident memory of the worker process.", registry=r)
        self.verify_failures = Counter(
            "worker_verify_failures_total",
            "Events refused by verification (never written), by reason.",
            ["reason"],
            registry=r,
        )
        self.desynchronizations = Counter(
            "worker_desynchronizations_total",
            "Repositories marked desynchronized (to be fetched again), by reason.",
            ["reason"],
            registry=r,
        )
        self.desynchronized = Gauge("worker_desynchronized_repos", "Repositories being fetched again now.", registry=r)
        self.held_events = Gauge(
            "worker_held_events", "Live events held for repositories being fetched again.", registry=r
        )
        self.repairs = Counter(
            "worker_repairs_total",
            "Repository fetches after a broken chain, by result "
            "(repaired, failed: retried, gone: the host has no repository).",
            ["result"],
            registry=r,
        )
        self.repair_seconds = Histogram(
            "worker_repair_seconds",
            "Time from desynchronized to caught up.",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
            registry=r,
        )
        self.database_up = Gauge("worker_database_up", "1 when the database answered recently.", registry=r)

        # the crawl backfill (worker/crawl.py)
        self.crawl_repos = Gauge(
            "worker_backfill_repos_total", "Repositories of the crawl backfill, by state.", ["state"], registry=r
        )
        self.crawl_rate_waits = Counter(
            "worker_backfill_rate_limit_waits_total",
            "Times a crawl request waited for a host's rate limit, by host and cause (pace or 429).",
            ["host", "cause"],
            registry=r,
        )
        self.crawl_wait_seconds = Counter(
            "worker_backfill_rate_limit_wait_seconds_total",
            "Seconds crawl requests waited for a host's rate limit, by host.",
            ["host"],
            registry=r,
        )
        self.crawl_fetch_seconds = Histogram(
            "worker_backfill_fetch_seconds",
            "Time to fetch and parse one repository (getRepo).",
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
            registry=r,
        )
        self.crawl_bytes = Counter(
            "worker_backfill_fetched_bytes_total", "Bytes of repositories fetched by the crawl.", registry=r
        )
        self.crawl_records = Counter(
            "worker_backfill_crawl_records_total", "Records written by the crawl backfill.", registry=r
        )
        self.crawl_hosts_parked = Gauge(
            "worker_backfill_hosts_parked", "PDS hosts the crawl set aside after repeated failures.", registry=r
        )
        self.crawl_hosts_unreachable = Gauge(
            "worker_backfill_hosts_unreachable",
            "Hosts the crawl gave up as unreachable in this run (their repositories wait for the next start).",
            registry=r,
        )

    def render(self) -> bytes:
        """The Prometheus text exposition."""
        return generate_latest(self.registry)
