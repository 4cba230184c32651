"""The crawl backfill: every repository fetched with ``getRepo``, then joined to live ingest.

Used when ``BACKFILL_DAYS`` reaches past what the relay replays (``BACKFILL_MODE``, see
:attr:`~supervisor.worker.config.WorkerConfig.backfill_crawls`). Live ingest runs all along.

1. **Enumerate**: ``com.atproto.sync.listRepos`` on the relay (``BACKFILL_SOURCE=relay``), or
   ``com.atproto.sync.listHosts`` and then each host's ``listRepos`` (``hosts``). Each page's
   repositories and the cursor after it are written in one transaction (``backfill_crawl.list_cursor``),
   so a restart goes on from the last page. Inactive accounts are recorded with their status.
2. **Fetch**: ``BACKFILL_CONCURRENCY`` repositories at a time. Each account is resolved to its PDS
   (:class:`~supervisor.worker.identity.IdentityResolver`); requests to one host are paced to
   ``BACKFILL_PDS_RATE`` per second and all of them to ``BACKFILL_GLOBAL_RATE``; a 429 defers the
   host by its ``Retry-After`` / ``RateLimit-Reset``; 5xx and network errors are retried with
   backoff and jitter; a host that keeps failing is parked and tried again later; account errors
   (``RepoTakendown``...) are recorded as the repository's state.
3. **Cut over** (:mod:`supervisor.worker.resync`): while a repository is fetched its live events are
   held; its CAR at revision R is applied (records made before the cutoff left out, records it no
   longer has removed), then the held events with a revision above R.
4. **Record**: ``backfill_repo`` says ``done`` (with R and the record count) only after that, so a
   ``kill -9`` at any moment fetches again only the repositories not done, and writes are idempotent
   (per-record revisions). A finished crawl is not repeated; a longer ``BACKFILL_DAYS`` crawls again
   for the older records.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
import urllib.parse
from datetime import datetime, timezone
from typing import Any, Callable, Optional

import httpx
import psycopg

from supervisor.atproto.errors import AtprotoError
from supervisor.secrets import mask_text
from supervisor.worker import store
from supervisor.worker.backfill import PREFIX, backfill_cutoff, window_note
from supervisor.worker.config import WorkerConfig
from supervisor.worker.fetch import DEFAULT_MAX_REPO_BYTES, FetchError, retry_after
from supervisor.worker.identity import Identity, IdentityError, IdentityResolver, did_document_url
from supervisor.worker.metrics import WorkerMetrics
from supervisor.worker.resync import Holds, apply_snapshot, catch_up, fetch_snapshot
from supervisor.worker.timing import Backoff, RateLimit

__all__ = ["Crawl", "CrawlStatus", "relay_http_url", "DONE", "PENDING", "FETCHING", "UNREACHABLE", "GIVEN_UP"]

log = logging.getLogger("supervisor.worker.crawl")

PENDING = "pending"
FETCHING = "fetching"
DONE = "done"
#: A repository whose host (its PDS, or where its identity is read) was given up as unreachable in
#: this run: terminal until the next start, which tries it again (``last_error`` says why).
UNREACHABLE = "host_unreachable"
#: A repository that failed every attempt of ``BACKFILL_REPO_MAX_PASSES`` passes while its host
#: answered (a CAR that does not check, an error of its own): terminal until the next start, like
#: :data:`UNREACHABLE`.
GIVEN_UP = "given_up"
#: The states the next start sends back to be fetched.
RETRIED_NEXT_START = (UNREACHABLE, GIVEN_UP)
_PAGE = 1000
#: Failures of one host in a row before it is parked (for ``BACKFILL_HOST_PARK_SECONDS``, doubling
#: each time up to :data:`MAX_PARK_SECONDS`); after ``BACKFILL_HOST_MAX_PARKS`` parks in a row it is
#: given up as unreachable.
PARK_AFTER = 5
MAX_PARK_SECONDS = 1800.0
#: Fetch attempts of one repository in a pass (transient failures) before it waits for the next pass.
ATTEMPTS_PER_PASS = 4
_PROGRESS_EVERY = 5.0


def relay_http_url(relay_url: str) -> str:
    """The relay's HTTP base (``ws://h:p/xrpc/...`` -> ``http://h:p``; wss -> https)."""
    parts = urllib.parse.urlsplit(relay_url)
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
    return f"{scheme}://{parts.netloc}"


class _RateLimited(Exception):
    def __init__(self, wait: Optional[float]) -> None:
        super().__init__(f"rate limited (wait {wait})")
        self.wait = wait


@dataclasses.dataclass
class _Host:
    name: str
    limit: RateLimit
    lock: asyncio.Lock = dataclasses.field(default_factory=asyncio.Lock)
    failures: int = 0
    parked_until: Optional[float] = None
    parks: int = 0
    gone: bool = False
    last_error: str = ""
    requests: int = 0
    rate_limited: int = 0


@dataclasses.dataclass
class CrawlStatus:
    """What /health, /metrics and the log show of the crawl."""

    state: str = "waiting"
    days: int = 0
    source: str = "relay"
    cutoff: Optional[datetime] = None
    listed: bool = False
    counts: dict[str, int] = dataclasses.field(default_factory=dict)
    records: int = 0
    bytes: int = 0
    hosts_parked: int = 0
    #: Hosts given up as unreachable in this run, and those whose repositories could not be listed.
    hosts_unreachable: int = 0
    hosts_unlisted: int = 0
    held_events: int = 0
    note: Optional[str] = None
    started: float = dataclasses.field(default_factory=time.monotonic)
    done_this_run: int = 0
    records_this_run: int = 0

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def finished(self) -> int:
        """Repositories with nothing left to do (done, or an account state)."""
        return sum(n for state, n in self.counts.items() if state not in (PENDING, FETCHING, "failed"))

    def eta_seconds(self, now: float) -> Optional[float]:
        elapsed = now - self.started
        if self.done_this_run == 0 or elapsed <= 0 or not self.listed:
            return None
        left = self.total - self.finished
        return left / (self.done_this_run / elapsed)

    def to_json(self, now: float) -> dict[str, Any]:
        elapsed = max(1e-9, now - self.started)
        eta = self.eta_seconds(now)
        out: dict[str, Any] = {
            "state": self.state,
            "mode": "crawl",
            "days": self.days,
            "source": self.source,
            "cutoff": self.cutoff.isoformat() if self.cutoff else None,
            "listed": self.listed,
            "repos": {
                "total": self.total,
                "done": self.finished,
                "unreachable": self.counts.get(UNREACHABLE, 0),
                "given_up": self.counts.get(GIVEN_UP, 0),
                "by_state": dict(self.counts),
            },
            "records": self.records,
            "records_per_second": round(self.records_this_run / elapsed, 1),
            "bytes": self.bytes,
            "hosts_parked": self.hosts_parked,
            "hosts_unreachable": self.hosts_unreachable,
            "hosts_unlisted": self.hosts_unlisted,
            "held_events": self.held_events,
            "eta_seconds": None if eta is None else round(eta),
            "progress": round(self.finished / self.total, 4) if self.total and self.listed else None,
        }
        if self.note:
            out["note"] = self.note
        return out


class Crawl:
    """Runs the crawl backfill (see the module docstring)."""

    def __init__(
        self,
        config: WorkerConfig,
        database: store.Database,
        metrics: WorkerMetrics,
        live_start: "asyncio.Future[int]",
        status: CrawlStatus,
        *,
        resolver: IdentityResolver,
        live: Any = None,
        verifier: Any = None,
        park: Optional[Callable[[str], None]] = None,
        hold_limit: int = 10_000,
        max_repo_bytes: int = DEFAULT_MAX_REPO_BYTES,
        client: Optional[httpx.AsyncClient] = None,
    ) -> None:
        self.config = config
        self.database = database
        self.metrics = metrics
        self.live_start = live_start
        self.status = status
        self.resolver = resolver
        self.live = live
        self.verifier = verifier
        #: Called with each repository its host would not serve (an inactive account): it is fetched
        #: once an ``#account`` event says it is active again (the verifier's park).
        self.park = park
        self.holds = Holds(hold_limit)
        if live is not None:
            live.holds = self.holds
        self.max_repo_bytes = max_repo_bytes
        timeout = httpx.Timeout(config.backfill_request_timeout)
        self._client = client or httpx.AsyncClient(
            timeout=timeout,
            follow_redirects=True,
            limits=httpx.Limits(max_connections=config.backfill_concurrency * 2 + 4),
        )
        self._own_client = client is None
        self._hosts: dict[str, _Host] = {}
        #: Passes of this run in which a repository failed every attempt (see BACKFILL_REPO_MAX_PASSES).
        self._failed_passes: dict[str, int] = {}
        self._global = RateLimit(1.0 / config.backfill_global_rate)
        self._global_lock = asyncio.Lock()
        self._stopping = False
        self._stop = asyncio.Event()
        self._last_progress = 0.0
        self._last_shown: Optional[tuple[int, ...]] = None
        self.cutoff: Optional[datetime] = None
        self.service = config.backfill_cursor_service
        #: The live stream's committed seq (the stored cursor until this run commits; set by the worker).
        self.committed: Callable[[], Optional[int]] = lambda: live.status.committed_seq if live is not None else None

    # -- plumbing -------------------------------------------------------------------------------
    def stop(self) -> None:
        """Stop soon: repositories being applied finish; the next start resumes."""
        self._stopping = True
        self._stop.set()

    async def _db(self, func: Any, *args: Any) -> Any:
        def call() -> Any:
            with self.database.connection(timeout=30.0) as conn:
                return func(conn, *args)

        backoff = Backoff(base=0.5, cap=10.0)
        while True:
            try:
                return await asyncio.to_thread(call)
            except Exception as exc:
                if self._stopping or not store.is_transient(exc):
                    raise
                delay = backoff.next()
                log.warning("%sdatabase unavailable (%s); retrying in %.1f s", PREFIX, store.describe_error(exc), delay)
                await asyncio.sleep(delay)

    async def _sleep(self, seconds: float) -> None:
        if seconds > 0:
            try:
                await asyncio.wait_for(self._stop.wait(), seconds)
            except asyncio.TimeoutError:
                pass

    def _host(self, url: str) -> _Host:
        name = urllib.parse.urlsplit(url).netloc or url
        host = self._hosts.get(name)
        if host is None:
            host = self._hosts[name] = _Host(name, RateLimit(1.0 / self.config.backfill_pds_rate))
        return host

    async def _pace(self, host: _Host) -> None:
        """Wait for the host's and the global rate limits.

        The host's limit is looked at again after every wait (the global one's too): a 429 that
        defers the host while a request waits here (behind the lock, or for the global limit) holds
        that request back as well, so nothing is sent to a host while it is deferred."""
        loop = asyncio.get_running_loop()
        waited = 0.0
        paced = False
        async with host.lock:
            while True:
                delay = host.limit.delay(loop.time())
                if delay > 0:
                    if not paced:
                        self.metrics.crawl_rate_waits.labels(host.name, "pace").inc()
                        paced = True
                    waited += delay
                    await asyncio.sleep(delay)
                    continue
                async with self._global_lock:
                    delay = self._global.delay(loop.time())
                    if delay > 0:
                        waited += delay
                        await asyncio.sleep(delay)
                    if host.limit.delay(loop.time()) > 0:
                        continue  # deferred meanwhile
                    self._global.started(loop.time())
                host.limit.started(loop.time())
                break
        if waited:
            self.metrics.crawl_wait_seconds.labels(host.name).inc(waited)
        host.requests += 1

    async def _pace_identity(self, did: str, *, fresh: bool) -> None:
        """A ``did:web`` document is read from the account's own host: that request keeps to the
        host's rate too (a ``did:plc`` one goes to the PLC directory)."""
        if not did.startswith("did:web:") or (not fresh and self.resolver.cached(did) is not None):
            return
        await self._pace(self._host(did_document_url(did, self.resolver.plc_directory)))

    def _deferred(self, host: _Host, wait: Optional[float]) -> None:
        """A 429: nothing more to ``host`` for ``wait`` seconds (the interval when it did not say)."""
        wait = host.limit.interval * 2 if wait is None else min(max(wait, 0.0), 600.0)
        host.rate_limited += 1
        self.metrics.crawl_rate_waits.labels(host.name, "429").inc()
        host.limit.defer(asyncio.get_running_loop().time() + wait)

    def _failed(self, host: _Host, problem: str) -> None:
        """One more failure of ``host`` in a row: parked after :data:`PARK_AFTER`, given up as
        unreachable once it failed again after ``BACKFILL_HOST_MAX_PARKS`` parks in a row."""
        host.failures += 1
        host.last_error = mask_text(problem)[:1000]
        if host.failures < PARK_AFTER or host.parked_until is not None or host.gone:
            return
        if host.parks >= self.config.backfill_host_max_parks:
            host.gone = True
            log.warning(
                "%sHost %s given up as unreachable after %d parks in a row (last error: %s); its repositories "
                "are recorded as %s and tried again at the next start",
                PREFIX,
                host.name,
                host.parks,
                host.last_error,
                UNREACHABLE,
            )
            self._count_parked()
            return
        host.parks += 1
        seconds = min(self.config.backfill_host_park_seconds * 2 ** (host.parks - 1), MAX_PARK_SECONDS)
        host.parked_until = time.monotonic() + seconds
        log.warning(
            "%sHost %s parked for %.0f s after %d failures in a row (park %d of %d)",
            PREFIX,
            host.name,
            seconds,
            host.failures,
            host.parks,
            self.config.backfill_host_max_parks,
        )
        self._count_parked()

    def _succeeded(self, host: _Host) -> None:
        host.failures = 0
        host.parks = 0
        if host.parked_until is not None:
            host.parked_until = None
            self._count_parked()

    def _parked(self, host: _Host) -> bool:
        until = host.parked_until
        if until is None:
            return False
        if time.monotonic() >= until:
            host.parked_until = None  # try it again (one failure parks it anew)
            host.failures = PARK_AFTER - 1
            self._count_parked()
            return False
        return True

    def _count_parked(self) -> None:
        self.status.hosts_parked = sum(1 for h in self._hosts.values() if h.parked_until is not None)
        self.status.hosts_unreachable = sum(1 for h in self._hosts.values() if h.gone)
        self.metrics.crawl_hosts_parked.set(self.status.hosts_parked)
        self.metrics.crawl_hosts_unreachable.set(self.status.hosts_unreachable)

    def _unreachable(self, host: _Host, what: str) -> FetchError:
        return FetchError(UNREACHABLE, f"{what}: host {host.name} unreachable ({host.last_error or 'no answer'})")

    async def _get_json(self, base: str, method: str, params: dict[str, str]) -> Any:
        """An XRPC query with pacing, 429 deferral and retries of 5xx and network errors."""
        host = self._host(base)
        backoff = Backoff(base=0.5, cap=30.0)
        url = f"{base.rstrip('/')}/xrpc/{method}"
        while True:
            while self._parked(host) and not self._stopping:
                await self._sleep((host.parked_until or 0.0) - time.monotonic())
            if host.gone:
                raise self._unreachable(host, f"{method} on {base}")
            await self._pace(host)
            try:
                reply = await self._client.get(url, params=params)
            except httpx.HTTPError as exc:
                problem = f"{type(exc).__name__}: {exc}"
            else:
                if reply.status_code == 200:
                    self._succeeded(host)
                    try:
                        return reply.json()
                    except ValueError:
                        problem = "the answer is not JSON"
                elif reply.status_code == 429:
                    self._deferred(host, retry_after(reply.headers))
                    continue
                elif reply.status_code < 500:
                    raise FetchError("unavailable", f"{method} on {base}: HTTP {reply.status_code} {reply.text[:200]}")
                else:
                    problem = f"HTTP {reply.status_code}"
            self._failed(host, problem)
            if self._stopping:
                raise FetchError("unavailable", f"{method} on {base}: {problem}")
            delay = backoff.next()
            log.warning("%s%s on %s failed (%s); retrying in %.1f s", PREFIX, method, base, problem, delay)
            await self._sleep(delay)

    # -- the run --------------------------------------------------------------------------------
    async def run(self) -> None:
        """Run to completion, or until stopped."""
        try:
            await self._run()
        finally:
            if self._own_client:
                await self._client.aclose()

    async def _run(self) -> None:
        config = self.config
        status = self.status
        status.days, status.source = config.backfill_days, config.backfill_source
        span = "all history" if config.backfill_days == -1 else f"the last {config.backfill_days} days"
        log.info(
            "%sStarting a crawl of %s (getRepo of every repository; the relay replays %g h) on primary worker "
            "(WORKER_ID=%d): %d at a time, %g requests/s per host, %g requests/s in all, repositories from %s",
            PREFIX,
            span,
            config.relay_window_hours,
            config.worker_id,
            config.backfill_concurrency,
            config.backfill_pds_rate,
            config.backfill_global_rate,
            config.backfill_source,
        )
        note = window_note(config.backfill_days, config.relay_window_hours, crawls=True)
        if note:
            log.info("%s%s", PREFIX, note)
        cutoff = backfill_cutoff(config.backfill_days, datetime.now(timezone.utc))
        row = await self._db(_read_crawl, self.service)
        if row is not None and row["completed_at"] is not None:
            done_cutoff = row["cutoff"]
            if done_cutoff is None or (cutoff is not None and cutoff >= done_cutoff):
                status.cutoff, status.listed, status.state = done_cutoff, True, "complete"
                await self._count()
                await self._park_inactive()
                log.info(
                    "%sAlready complete (finished %s, %d repositories, %d records); nothing to do. "
                    "Delete its backfill_crawl row to run it again.",
                    PREFIX,
                    row["completed_at"].isoformat(timespec="seconds"),
                    row["repos"],
                    row["records"],
                )
                return
            log.info(
                "%sA longer window than the finished crawl (records since %s, was %s): crawling again for the "
                "older records",
                PREFIX,
                "the beginning" if cutoff is None else cutoff.isoformat(timespec="seconds"),
                done_cutoff.isoformat(timespec="seconds"),
            )
            row = await self._db(_begin_crawl, self.service, config.backfill_days, cutoff, config.backfill_source, True)
        elif row is None:
            row = await self._db(
                _begin_crawl, self.service, config.backfill_days, cutoff, config.backfill_source, False
            )
        elif row["days"] != config.backfill_days:
            log.warning(
                "%sResuming a crawl started with BACKFILL_DAYS=%d (now %d): keeping its window until it completes",
                PREFIX,
                row["days"],
                config.backfill_days,
            )
        retried = await self._db(_retry_unfinished)
        if retried:
            log.info(
                "%s%d repositories given up last time (an unreachable host, or failing): trying them again",
                PREFIX,
                retried,
            )
        await self._park_inactive()
        self.cutoff = status.cutoff = row["cutoff"]
        status.records = row["records"]
        status.listed = row["listed"]
        if not self.live_start.done():
            log.info("%sWaiting for live ingest to start: repositories are fetched once it runs", PREFIX)
        try:
            await asyncio.shield(self.live_start)
        except asyncio.CancelledError:
            status.state = "stopped"
            return
        status.state = "running"
        if not row["listed"]:
            try:
                await self._enumerate(row["list_cursor"])
            except FetchError as exc:
                if exc.reason != UNREACHABLE:
                    raise
                status.hosts_unlisted += 1  # the relay itself: what it listed so far is fetched
                log.warning("%sCould not list the repositories: %s", PREFIX, exc)
            if self._stopping:
                status.state = "stopped"
                return
        await self._count()
        log.info("%sListed %d repositories; fetching", PREFIX, status.total)
        await self._fetch_all()
        if self._stopping:
            status.state = "stopped"
            log.info(
                "%sStopped with %d of %d repositories done; the next start resumes",
                PREFIX,
                status.finished,
                status.total,
            )
            return
        await self._count()
        unreachable = status.counts.get(UNREACHABLE, 0)
        given_up = status.counts.get(GIVEN_UP, 0)
        if unreachable or given_up or status.hosts_unlisted:
            status.state = "incomplete"
            self._progress(final=True)
            log.warning(
                "%sIncomplete: %d of %d repositories on %d unreachable hosts (state %s), %d given up after "
                "failing %d passes (state %s; last_error says why), %d hosts not listed; %d records written "
                "(%.0f s this run). The next start tries them again.",
                PREFIX,
                unreachable,
                status.total,
                status.hosts_unreachable,
                UNREACHABLE,
                given_up,
                self.config.backfill_repo_max_passes,
                GIVEN_UP,
                status.hosts_unlisted,
                status.records,
                time.monotonic() - status.started,
            )
            return
        await self._db(_complete_crawl, self.service)
        await self._count()
        status.state = "complete"
        self._progress(final=True)
        log.info(
            "%sComplete: %d repositories (%s), %d records written (%.0f s this run)",
            PREFIX,
            status.total,
            ", ".join(f"{n} {state}" for state, n in sorted(status.counts.items())),
            status.records,
            time.monotonic() - status.started,
        )

    def _park(self, did: str) -> None:
        if self.park is not None:
            self.park(did)

    async def _park_inactive(self) -> None:
        for did in await self._db(_inactive):
            self._park(did)

    async def _count(self) -> None:
        counts = await self._db(_repo_counts)
        self.status.counts = counts
        for state, n in counts.items():
            self.metrics.crawl_repos.labels(state).set(n)

    # -- enumeration ----------------------------------------------------------------------------
    async def _enumerate(self, cursor: Optional[str]) -> None:
        relay = relay_http_url(self.config.relay_url)
        if self.config.backfill_source == "relay":
            await self._list_repos(relay, None, cursor)
        else:
            # The cursor is "HOST CURSOR" of the host being listed: hosts before it are done.
            current, _, host_cursor = (cursor or "").partition(" ")
            hosts = await self._list_hosts(relay)
            scheme = urllib.parse.urlsplit(relay).scheme
            for hostname in sorted(hosts):
                if current and hostname < current:
                    continue
                try:
                    await self._list_repos(
                        f"{scheme}://{hostname}", hostname, host_cursor if hostname == current else None
                    )
                except FetchError as exc:
                    if exc.reason != UNREACHABLE:
                        raise
                    # Its repositories are unknown: the listing is not finished, and the next
                    # start lists every host again (the pages already written stay).
                    self.status.hosts_unlisted += 1
                    log.warning("%sCould not list the repositories of %s: %s", PREFIX, hostname, exc)
                if self._stopping:
                    return
        if self.status.hosts_unlisted:
            return
        if not self._stopping:
            await self._db(_set_listed, self.service)
            self.status.listed = True
            await self._park_inactive()

    async def _list_hosts(self, relay: str) -> list[str]:
        hosts: list[str] = []
        cursor: Optional[str] = None
        while not self._stopping:
            params = {"limit": str(_PAGE), **({"cursor": cursor} if cursor else {})}
            answer = await self._get_json(relay, "com.atproto.sync.listHosts", params)
            for item in answer.get("hosts", []) if isinstance(answer, dict) else []:
                name = item.get("hostname") if isinstance(item, dict) else None
                if isinstance(name, str) and name and item.get("status", "active") == "active":
                    hosts.append(name)
            cursor = answer.get("cursor") if isinstance(answer, dict) else None
            if not cursor:
                break
        log.info("%s%d PDS hosts listed by the relay", PREFIX, len(hosts))
        return hosts

    async def _list_repos(self, base: str, hostname: Optional[str], cursor: Optional[str]) -> None:
        pages = 0
        while not self._stopping:
            params = {"limit": str(_PAGE), **({"cursor": cursor} if cursor else {})}
            answer = await self._get_json(base, "com.atproto.sync.listRepos", params)
            repos = answer.get("repos", []) if isinstance(answer, dict) else []
            rows: list[tuple[str, Optional[str], str]] = []
            for item in repos:
                if not isinstance(item, dict) or not isinstance(item.get("did"), str):
                    continue
                active = item.get("active", True)
                state = PENDING
                if active is False:
                    state = str(item.get("status") or "inactive")[:64]
                rows.append((item["did"], base if hostname else None, state))
            following = answer.get("cursor") if isinstance(answer, dict) else None
            following = following if isinstance(following, str) and following and repos else None
            saved = None if following is None else (f"{hostname} {following}" if hostname else following)
            if following is None and hostname:
                saved = f"{hostname}~"  # this host is done: the next one sorts after it
            if self.status.hosts_unlisted:
                saved = None  # a host before this one was not listed: the next start lists all again
            await self._db(_add_repos, self.service, rows, saved, self.cutoff)
            pages += 1
            if following is None:
                return
            cursor = following

    # -- fetching -------------------------------------------------------------------------------
    async def _fetch_all(self) -> None:
        """Passes over what is not done until nothing is left (hosts parked wait for a later pass)."""
        passes = 0
        while not self._stopping:
            dids: list[tuple[str, Optional[str]]] = await self._db(_undone, self.cutoff)
            if not dids:
                return
            passes += 1
            if passes > 1:
                log.info("%sPass %d: %d repositories left", PREFIX, passes, len(dids))
            queue: asyncio.Queue[tuple[str, Optional[str]]] = asyncio.Queue()
            deferred: list[str] = []
            for item in dids:
                queue.put_nowait(item)
            workers = [
                asyncio.create_task(self._fetch_worker(queue, deferred), name=f"crawl-{n}")
                for n in range(min(self.config.backfill_concurrency, len(dids)))
            ]
            try:
                await asyncio.gather(*workers)
            finally:
                for task in workers:
                    task.cancel()
            await self._count()
            self._progress(final=False, force=True)
            if deferred and not self._stopping:
                # Hosts parked, or repositories failing: wait a little before the next pass.
                waits = [h.parked_until - time.monotonic() for h in self._hosts.values() if h.parked_until]
                await self._sleep(max(1.0, min(waits, default=5.0)))

    async def _fetch_worker(self, queue: "asyncio.Queue[tuple[str, Optional[str]]]", deferred: list[str]) -> None:
        while not self._stopping:
            try:
                did, pds = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            if not await self._crawl_one(did, pds):
                deferred.append(did)
            elif did in self._failed_passes:
                del self._failed_passes[did]
            self._progress(final=False)

    async def _crawl_one(self, did: str, pds: Optional[str]) -> bool:
        """Fetch, apply and catch up one repository; False when it has to wait for a later pass."""
        backoff = Backoff(base=0.5, cap=15.0)
        attempt = 0
        limited = 0
        while attempt < ATTEMPTS_PER_PASS and limited < 100:
            attempt += 1
            if self._stopping:
                return False
            where: Optional[_Host] = None  # where the identity is read, when it is not cached
            if attempt > 1 or self.resolver.cached(did) is None:
                try:
                    where = self._host(did_document_url(did, self.resolver.plc_directory))
                except IdentityError:
                    pass  # (the resolver says why below)
            if where is not None and where.gone:
                await self._db(_repo_unreachable, did, f"identity: {self._unreachable(where, did)}")
                return True
            if where is not None and self._parked(where):
                return False
            try:
                await self._pace_identity(did, fresh=attempt > 1)
                identity = await self.resolver.resolve(did, fresh=attempt > 1)
            except IdentityError as exc:
                if exc.reason in ("not_found", "bad_did", "bad_document"):
                    await self._db(_finish_repo, did, f"identity_{exc.reason}", None, 0, str(exc), self.cutoff)
                    return True
                if where is not None:
                    self._failed(where, str(exc))
                await self._db(_repo_failed, did, None, f"identity: {exc}")
                await self._sleep(backoff.next())
                continue
            if where is not None:
                self._succeeded(where)
            if pds and self.config.backfill_source == "hosts":
                identity = dataclasses.replace(identity, pds=pds)
            host = self._host(identity.pds)
            if host.gone:
                await self._db(_repo_unreachable, did, str(self._unreachable(host, f"getRepo of {did}")))
                return True
            if self._parked(host):
                return False
            try:
                outcome = await self._fetch_apply(identity, host)
            except _RateLimited as exc:
                self._deferred(host, exc.wait)  # not a failure: the next request waits as asked
                attempt -= 1
                limited += 1
                continue
            except (FetchError, AtprotoError) as exc:
                reason = getattr(exc, "reason", "bad_repo")
                if isinstance(exc, FetchError) and exc.account_state:
                    self._succeeded(host)  # the host answered
                    await self._db(_finish_repo, did, exc.reason, None, 0, str(exc), self.cutoff)
                    self._park(did)
                    return True
                if isinstance(exc, FetchError) and reason == "unavailable":
                    self._failed(host, str(exc))
                await self._db(_repo_failed, did, identity.pds, f"{reason}: {exc}")
                log.warning("%sFetching %s from %s failed (attempt %d): %s", PREFIX, did, host.name, attempt, exc)
                if host.gone:
                    await self._db(_repo_unreachable, did, str(self._unreachable(host, f"getRepo of {did}")))
                    return True
                if self._parked(host):
                    return False
                await self._sleep(backoff.next())
                continue
            if outcome:
                self._succeeded(host)
                return True
        if attempt >= ATTEMPTS_PER_PASS:
            # Every attempt of this pass failed while its hosts answered (parked hosts return above):
            # a repository failing for a reason of its own would otherwise be tried for ever.
            passes = self._failed_passes[did] = self._failed_passes.get(did, 0) + 1
            if passes >= self.config.backfill_repo_max_passes:
                await self._db(_repo_given_up, did)
                log.warning(
                    "%sGiving %s up for this run: it failed %d attempts in each of %d passes (state %s; "
                    "the next start tries it again)",
                    PREFIX,
                    did,
                    ATTEMPTS_PER_PASS,
                    passes,
                    GIVEN_UP,
                )
                return True
        return False

    async def _fetch_apply(self, identity: Identity, host: _Host) -> bool:
        did = identity.did
        await self._db(_start_repo, did, identity.pds)
        live = self.live
        seq = (live.builder.last_seq or 0) if live is not None else 0
        hold = self.holds.begin(did, seq)
        try:
            for _round in range(3):
                hold.overflowed = False
                await self._pace(host)
                started = time.monotonic()
                try:
                    fetched = await fetch_snapshot(
                        self._client,
                        identity,
                        max_bytes=self.max_repo_bytes,
                        check_signature=self.config.verify != "off",
                    )
                except FetchError as exc:
                    if exc.reason == "rate_limited" or exc.retry_after is not None:
                        raise _RateLimited(exc.retry_after) from None
                    raise
                try:
                    self.metrics.crawl_fetch_seconds.observe(time.monotonic() - started)
                    self.metrics.crawl_bytes.inc(fetched.byte_count)
                    self.status.bytes += fetched.byte_count
                    while live is not None and not self._stopping and (self.committed() or 0) < hold.seq:
                        await asyncio.sleep(0.05)  # what live ingest accepted before the hold is written first
                    written = await asyncio.to_thread(
                        apply_snapshot, self.database, fetched, self.config.firehose_cursor_service, cutoff=self.cutoff
                    )
                finally:
                    fetched.close()
                rev, data = fetched.rev, fetched.data
                del fetched
                caught_up = await self._catch_up(did, hold, rev, data)
                if caught_up:
                    self.holds.end(did)
                    await self._db(_finish_repo, did, DONE, rev, written, None, self.cutoff)
                    self.status.records += written
                    self.status.records_this_run += written
                    self.status.done_this_run += 1
                    self.metrics.crawl_records.inc(written)
                    return True
                log.info("%s%s: too many live events arrived while it was fetched; fetching it again", PREFIX, did)
            return False
        finally:
            self.holds.end(did)

    async def _catch_up(self, did: str, hold: Any, rev: str, data: Any) -> bool:
        verifier = self.verifier
        # Held events at or below the CAR's revision are in it, but the snapshot left out what is
        # older than the window: they apply as live ingest would have applied them (per-record
        # revisions keep what is newer), their signatures checked unless VERIFY=off.
        older = sorted((f for f in hold.held if f.rev <= rev and f.type == "#commit"), key=lambda f: f.seq)
        hold.held = [f for f in hold.held if f.rev > rev or f.type != "#commit"]
        if older and verifier is not None:
            from supervisor.atproto.verify import verify_commit_event

            key = (await self.resolver.resolve(did)).key
            older = [f for f in older if verify_commit_event(f, key, proof=False).ok]
        if older:
            await self._db(store.apply_frames, older, self.config.firehose_cursor_service)
        if verifier is not None:
            verifier.adopt(did, rev, data)
            return bool(await verifier.catch_up(did, hold))
        current = [rev]

        async def accept(frame: Any) -> Optional[bool]:
            current[0] = frame.rev
            return True

        async def apply(frames: list[Any]) -> None:
            await self._db(store.apply_frames, frames, self.config.firehose_cursor_service)

        return await catch_up(hold, lambda: current[0], accept, apply)

    def _progress(self, *, final: bool, force: bool = False) -> None:
        now = time.monotonic()
        status = self.status
        status.held_events = self.holds.held_events
        if not (final or force or now - self._last_progress >= _PROGRESS_EVERY):
            return
        self._last_progress = now
        elapsed = max(1e-9, now - status.started)
        eta = status.eta_seconds(now)
        done = status.finished + (0 if final or force else status.done_this_run)
        shown = (done, status.total, status.records, status.hosts_parked, status.hosts_unreachable)
        if final and shown == self._last_shown:
            return  # the last forced line already said this
        self._last_shown = shown
        log.info(
            "%sProgress: %d/%d repositories, %.0f records/s, %d records written, %d hosts parked, "
            "%d hosts unreachable, ETA %s",
            PREFIX,
            min(done, status.total) if status.total else done,
            status.total,
            status.records_this_run / elapsed,
            status.records,
            status.hosts_parked,
            status.hosts_unreachable,
            "?" if eta is None else f"{eta:.0f} s",
        )


# -- the database -----------------------------------------------------------------------------------


def _read_crawl(conn: psycopg.Connection, service: str) -> Optional[dict[str, Any]]:
    cur = conn.execute(
        "SELECT days, cutoff, list_cursor, listed, repos, records, completed_at FROM backfill_crawl WHERE service = %s",
        (service,),
    )
    row = cur.fetchone()
    if row is None:
        return None
    names = [d.name for d in cur.description or ()]
    return dict(zip(names, row))


def _begin_crawl(
    conn: psycopg.Connection, service: str, days: int, cutoff: Optional[datetime], source: str, again: bool
) -> dict[str, Any]:
    with conn.transaction():
        if again:
            # Every repository is fetched again for the records older than the last crawl's window.
            conn.execute("UPDATE backfill_repo SET state = %s, updated_at = now() WHERE state = %s", (PENDING, DONE))
            conn.execute(
                "UPDATE backfill_crawl SET days = %s, until = cutoff, cutoff = %s, source = %s, list_cursor = NULL,"
                " listed = false, completed_at = NULL, updated_at = now() WHERE service = %s",
                (days, cutoff, source, service),
            )
        else:
            conn.execute(
                "INSERT INTO backfill_crawl (service, days, cutoff, source) VALUES (%s, %s, %s, %s)"
                " ON CONFLICT (service) DO NOTHING",
                (service, days, cutoff, source),
            )
    row = _read_crawl(conn, service)
    assert row is not None
    return row


def _add_repos(
    conn: psycopg.Connection,
    service: str,
    rows: list[tuple[str, Optional[str], str]],
    cursor: Optional[str],
    cutoff: Optional[datetime],
) -> None:
    """One page of the listing and the cursor after it, in one transaction."""
    with conn.transaction():
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO backfill_repo (did, pds, state, cutoff, updated_at) VALUES (%s, %s, %s, %s, now())"
                " ON CONFLICT (did) DO UPDATE SET state = EXCLUDED.state, updated_at = now()"
                " WHERE backfill_repo.state <> 'done' AND EXCLUDED.state <> 'pending'",
                [(did, pds, state, None if state == PENDING else cutoff) for did, pds, state in rows],
            )
        conn.execute(
            "UPDATE backfill_crawl SET list_cursor = %s, repos = (SELECT count(*) FROM backfill_repo),"
            " updated_at = now() WHERE service = %s",
            (cursor, service),
        )


def _set_listed(conn: psycopg.Connection, service: str) -> None:
    conn.execute("UPDATE backfill_crawl SET listed = true, updated_at = now() WHERE service = %s", (service,))


def _complete_crawl(conn: psycopg.Connection, service: str) -> None:
    conn.execute(
        "UPDATE backfill_crawl SET completed_at = now(), repos = (SELECT count(*) FROM backfill_repo),"
        " records = (SELECT coalesce(sum(records), 0) FROM backfill_repo), updated_at = now() WHERE service = %s",
        (service,),
    )


def _repo_counts(conn: psycopg.Connection) -> dict[str, int]:
    rows = conn.execute("SELECT state, count(*) FROM backfill_repo GROUP BY state").fetchall()
    return {str(state): int(n) for state, n in rows}


def _inactive(conn: psycopg.Connection) -> list[str]:
    rows = conn.execute(
        "SELECT did FROM backfill_repo WHERE state NOT IN (%s, %s, %s, %s, %s, 'failed')"
        " AND state NOT LIKE 'identity_%%'",
        (PENDING, FETCHING, DONE, UNREACHABLE, GIVEN_UP),
    ).fetchall()
    return [str(did) for (did,) in rows]


def _undone(conn: psycopg.Connection, cutoff: Optional[datetime]) -> list[tuple[str, Optional[str]]]:
    rows = conn.execute(
        "SELECT did, pds FROM backfill_repo WHERE state IN (%s, %s, 'failed') ORDER BY did", (PENDING, FETCHING)
    ).fetchall()
    return [(str(did), pds) for did, pds in rows]


def _retry_unfinished(conn: psycopg.Connection) -> int:
    """Repositories given up in an earlier run (with their host, or failing) go back to be fetched
    (their ``last_error`` stays until they are)."""
    cur = conn.execute(
        "UPDATE backfill_repo SET state = %s, updated_at = now() WHERE state = ANY(%s)",
        (PENDING, list(RETRIED_NEXT_START)),
    )
    return cur.rowcount


def _repo_given_up(conn: psycopg.Connection, did: str) -> None:
    """``did`` failed for reasons of its own in every pass allowed (its ``last_error`` says why)."""
    conn.execute("UPDATE backfill_repo SET state = %s, updated_at = now() WHERE did = %s", (GIVEN_UP, did))


def _repo_unreachable(conn: psycopg.Connection, did: str, error: str) -> None:
    """``did``'s host was given up in this run (what was written of it stays: rev, records)."""
    conn.execute(
        "UPDATE backfill_repo SET state = %s, last_error = %s, updated_at = now() WHERE did = %s",
        (UNREACHABLE, mask_text(error)[:2000], did),
    )


def _start_repo(conn: psycopg.Connection, did: str, pds: str) -> None:
    conn.execute(
        "UPDATE backfill_repo SET state = %s, pds = %s, attempts = attempts + 1, started_at = now(),"
        " updated_at = now() WHERE did = %s",
        (FETCHING, pds, did),
    )


def _repo_failed(conn: psycopg.Connection, did: str, pds: Optional[str], error: str) -> None:
    conn.execute(
        "UPDATE backfill_repo SET state = 'failed', pds = coalesce(%s, pds), last_error = %s, updated_at = now()"
        " WHERE did = %s",
        (pds, mask_text(error)[:2000], did),
    )


def _finish_repo(
    conn: psycopg.Connection,
    did: str,
    state: str,
    rev: Optional[str],
    records: int,
    error: Optional[str],
    cutoff: Optional[datetime],
) -> None:
    conn.execute(
        "UPDATE backfill_repo SET state = %s, rev = %s, records = %s, last_error = %s, cutoff = %s,"
        " finished_at = now(), updated_at = now() WHERE did = %s",
        (state, rev, records, None if error is None else mask_text(error)[:2000], cutoff, did),
    )
