"""Verification of live events (sync 1.1) and the repair of repositories that break their chain.

:class:`Verifier` sits between the frame decoder and the batch builder of live ingest and says,
for each event, :data:`ACCEPT`, :data:`REJECT` (never written; counted by reason in
``worker_verify_failures_total{reason}`` and logged once per repository) or :data:`HOLD`
(the repository is being fetched again; its events wait, bounded, and are applied after it).

What ``VERIFY`` checks:

- ``off``: nothing.
- ``signatures``: each ``#commit`` and ``#sync`` is signed by the ``#atproto`` key of the
  account's DID document (resolved through :class:`~supervisor.worker.identity.IdentityResolver`,
  cached, invalidated by ``#identity``); every block hashes to its CID.
- ``full`` (the default): also the MST inversion of the operations to ``prevData``, and the
  revision chain against the state held for the repository (newer ``rev``, ``since`` and
  ``prevData`` equal to what was last accepted, no revision from the future).

A broken chain (``since`` or ``prevData`` not what is held), a ``#sync`` to a root not held, or a
commit that fails verification marks the repository ``desynchronized`` (table ``repo_sync``): it is
fetched again with ``getRepo`` from its PDS, its signed commit checked, its records applied as of
that revision (records it no longer holds removed), then the held events newer than it are
verified and applied.

With ``full``, each repository's last verified revision and MST root are stored in ``repo_head``
in the transaction of the batch that writes the commit (so a ``kill -9`` never leaves them ahead of
or behind the records and the cursor), and read back lazily, per DID and in groups, into a bounded
cache: the chain check goes on across restarts. A repository with no stored state (never seen, or
first seen while ``VERIFY`` was not ``full``) has its first verified commit adopted (``prevData``
cannot be compared; the signature and proof still are).
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import logging
import re
import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Callable, Optional

import httpx

from supervisor.atproto import chain, syntax
from supervisor.atproto.cid import CID
from supervisor.atproto.crypto import SIGNATURE_INVALID
from supervisor.atproto.errors import AtprotoError
from supervisor.atproto.verify import verify_commit_event, verify_sync_event
from supervisor.worker import store
from supervisor.worker.fetch import DEFAULT_MAX_REPO_BYTES, FetchError
from supervisor.worker.identity import IdentityError, IdentityResolver
from supervisor.worker.metrics import WorkerMetrics
from supervisor.worker.resync import Hold, apply_snapshot, catch_up, fetch_snapshot, hold_frame
from supervisor.worker.timing import Backoff

if TYPE_CHECKING:
    from supervisor.atproto.frames import Commit, Sync

__all__ = ["Verifier", "ACCEPT", "REJECT", "HOLD", "MODES", "RepoHead"]

log = logging.getLogger("supervisor.worker.verify")

ACCEPT = "accept"
REJECT = "reject"
HOLD = "hold"
MODES = ("full", "signatures", "off")
#: The DIDs whose last ``#account`` event is remembered (see Verifier._account_active).
_ACCOUNTS_KEPT = 100_000

_DID = re.compile(r"did:(?:plc|web):[A-Za-z0-9._%:-]{1,2000}")

#: Chain failures that mean "events are missing": fetch the repository again.
_BREAKS = frozenset({chain.CHAIN_GAP, chain.CHAIN_PREV_DATA, chain.CHAIN_UNKNOWN})


_KEY_SKEW_US = 5_000_000  # clock skew allowed between a revision and the directory's createdAt


def _keys_at(history: list[tuple[int, Any]], rev: str) -> list[Any]:
    """The keys of ``history`` (``(since, key)``, oldest first) in force at the time of ``rev``,
    the one whose span holds it first, then those whose span starts or ends within the skew."""
    try:
        moment = syntax.tid_time(rev)
    except (AtprotoError, ValueError):
        return []
    found: list[Any] = []
    for index, (since, key) in enumerate(history):
        until = history[index + 1][0] if index + 1 < len(history) else None
        if since <= moment and (until is None or moment < until):
            found.insert(0, key)
        elif since - _KEY_SKEW_US <= moment and (until is None or moment < until + _KEY_SKEW_US):
            found.append(key)
    return found


@dataclasses.dataclass(frozen=True, slots=True)
class RepoHead:
    """The last accepted state of a repository: its revision and MST root."""

    rev: str
    data: CID


@dataclasses.dataclass
class _Repair(Hold):
    """A repository fetched again; its ``seq`` is that of the event that broke the chain."""

    reason: str = ""
    since: float = 0.0
    attempts: int = 0
    last_error: Optional[str] = None
    task: Optional[asyncio.Task[None]] = None


class Verifier:
    """See the module docstring. One per live stream; all methods run in its event loop."""

    def __init__(
        self,
        mode: str,
        resolver: IdentityResolver,
        database: store.Database,
        metrics: WorkerMetrics,
        *,
        service: str = "firehose",
        max_heads: int = 1_000_000,
        hold_limit: int = 10_000,
        repair_concurrency: int = 2,
        max_future_seconds: float = chain.DEFAULT_MAX_FUTURE_SECONDS,
        max_repo_bytes: int = DEFAULT_MAX_REPO_BYTES,
        client: Optional[httpx.AsyncClient] = None,
        replay: bool = False,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"VERIFY must be one of {', '.join(MODES)}, not {mode!r}")
        self.mode = mode
        #: The replay backfill's: signatures (and with ``full`` the MST proofs) only; a replay is older
        #: than the live state, so no chain, no stored state and no repair. The resolver is the live one's.
        self.replay = replay
        self.resolver = resolver
        self.database = database
        self.metrics = metrics
        self.service = service
        self.max_heads = max_heads
        self.hold_limit = hold_limit
        self.max_future_seconds = max_future_seconds
        self.max_repo_bytes = max_repo_bytes
        self._client = client or httpx.AsyncClient(timeout=60.0, follow_redirects=True)
        self._own_client = client is None
        #: Repository states (None: none stored), least recently used first, at most max_heads.
        self._heads: collections.OrderedDict[str, Optional[RepoHead]] = collections.OrderedDict()
        #: States accepted and not yet known to be stored (they survive the cache's eviction), and
        #: those of them the stream has not yet taken into a batch.
        self._unstored: dict[str, RepoHead] = {}
        self._fresh: dict[str, RepoHead] = {}
        #: Stored states being read: the DIDs queued, the waiters, the reading task.
        self._load_queue: list[str] = []
        self._loading: dict[str, asyncio.Future[Optional[RepoHead]]] = {}
        self._loader: Optional[asyncio.Task[None]] = None
        self._forgotten = 0
        self.heads_loaded = 0
        self._repairs: dict[str, _Repair] = {}
        self._logged: set[str] = set()
        #: Repositories whose host would not serve them (deactivated, taken down...): fetched again
        #: when an ``#account`` event says the account is active.
        self._parked: set[str] = set()
        #: Whether the last live ``#account`` event of each DID said active (the most recent
        #: :data:`_ACCOUNTS_KEPT`): an account the crawl parks after live ingest saw it reactivated
        #: (a listing older than the event) is fetched at once.
        self._account_active: collections.OrderedDict[str, bool] = collections.OrderedDict()
        self._parking: set[asyncio.Future[Any]] = set()
        self._prefetching: set[asyncio.Future[None]] = set()
        #: When the last ``#identity`` frame of each DID arrived (monotonic), until it is decoded.
        self._identity_arrived: dict[str, float] = {}
        self.prefetch_limit = 256
        self._slots = asyncio.Semaphore(repair_concurrency)
        self.failures: collections.Counter[str] = collections.Counter()
        self.repaired = 0
        self.repair_failures = 0
        self._closed = False
        #: The stream's last committed seq (set by the worker; None: nothing committed yet).
        self.committed: Callable[[], Optional[int]] = lambda: None

    # -- state ----------------------------------------------------------------------------------
    def head(self, did: str) -> Optional[RepoHead]:
        """The state held in memory for ``did`` (None: not read or not stored)."""
        held = self._heads.get(did)
        return held if held is not None else self._unstored.get(did)

    def _set_head(self, did: str, rev: str, data: CID, *, stream: bool = False) -> None:
        """Hold ``did`` at ``rev``/``data``; ``stream``: stored with the stream's next batch (otherwise
        the caller stores it, see :meth:`catch_up`)."""
        heads = self._heads
        head = heads[did] = RepoHead(rev, data)
        heads.move_to_end(did)
        self._unstored[did] = head
        if stream:
            self._fresh[did] = head
        if len(heads) > self.max_heads:
            heads.popitem(last=False)

    def take_heads(self) -> dict[str, tuple[str, str]]:
        """The states accepted since the last call, for the batch that writes their events."""
        fresh = self._fresh
        if not fresh:
            return {}
        self._fresh = {}
        return {did: (head.rev, str(head.data)) for did, head in fresh.items()}

    def stored(self, heads: dict[str, tuple[str, str]]) -> None:
        """``heads`` (from :meth:`take_heads`) are committed."""
        unstored = self._unstored
        for did, (rev, _data) in heads.items():
            head = unstored.get(did)
            if head is not None and head.rev == rev and did not in self._fresh:
                del unstored[did]

    def forget(self) -> None:
        """Drop every repository's held state (events past the stored cursor are read again after a
        database crash): each is read again from ``repo_head``, which the crash rolled back with the
        cursor."""
        self._heads.clear()
        self._unstored.clear()
        self._fresh.clear()
        self._forgotten += 1

    async def _held(self, did: str) -> Optional[RepoHead]:
        """The last verified state of ``did``: from memory, else from ``repo_head``."""
        heads = self._heads
        if did in heads:
            heads.move_to_end(did)
            return heads[did]
        head = self._unstored.get(did)
        if head is not None:
            return head
        return await asyncio.shield(self._want_head(did))

    def _want_head(self, did: str) -> asyncio.Future[Optional[RepoHead]]:
        future = self._loading.get(did)
        if future is None:
            future = self._loading[did] = asyncio.get_running_loop().create_future()
            self._load_queue.append(did)
            if self._loader is None or self._loader.done():
                self._loader = asyncio.ensure_future(self._load_heads())
        return future

    async def _load_heads(self) -> None:
        """Read queued DIDs' stored states, up to 1,000 a query (one round trip for all the accounts
        new to the cache that arrived meanwhile)."""
        backoff = Backoff(base=0.2, cap=5.0)
        while self._load_queue and not self._closed:
            dids, self._load_queue = self._load_queue[:1000], self._load_queue[1000:]
            forgotten = self._forgotten
            while True:
                try:
                    rows = await asyncio.to_thread(self._db, store.read_heads, dids)
                    break
                except Exception as exc:
                    if not store.is_transient(exc) or self._closed:
                        for did in dids:
                            future = self._loading.pop(did, None)
                            if future is not None and not future.done():
                                future.set_exception(exc)
                                future.exception()
                        raise
                    await asyncio.sleep(backoff.next())
            if forgotten != self._forgotten:
                self._load_queue.extend(dids)  # read before a resync to the stored cursor: read again
                continue
            self.heads_loaded += len(rows)
            heads = self._heads
            for did in dids:
                if did not in heads and did not in self._unstored:
                    row = rows.get(did)
                    heads[did] = RepoHead(row[0], CID.parse(row[1])) if row is not None else None
                    if len(heads) > self.max_heads:
                        heads.popitem(last=False)
                future = self._loading.pop(did, None)
                if future is not None and not future.done():
                    future.set_result(self.head(did))

    @property
    def desynchronized(self) -> list[str]:
        """DIDs being fetched again."""
        return list(self._repairs)

    def to_json(self) -> dict[str, Any]:
        """What /health shows."""
        repairs = self._repairs
        return {
            "mode": self.mode,
            "failures": dict(self.failures),
            "desynchronized": len(repairs),
            "desynchronized_repos": [
                {
                    "did": did,
                    "reason": r.reason,
                    "held_events": len(r.held),
                    "attempts": r.attempts,
                    "last_error": r.last_error,
                }
                for did, r in list(repairs.items())[:50]
            ],
            "held_events": sum(len(r.held) for r in repairs.values()),
            "repaired": self.repaired,
            "parked": len(self._parked),
            "repair_failures": self.repair_failures,
            "identities": dict(self.resolver.counts),
        }

    # -- identities ahead of the decoder ---------------------------------------------------------
    def prefetch(self, data: bytes) -> None:
        """Start resolving the identity of the account a raw frame is about, if it is not cached.

        Called by the reader for each frame it queues: the decoder verifies in order, and one
        directory round trip per new account, awaited in turn, would bound ingest to a few dozen
        accounts per second. The repository's DID is the first DID of a ``#commit`` body (its
        ``ops`` hold only paths and links) and of ``#sync`` and ``#identity`` bodies.
        """
        if self.mode == "off":
            return
        start = data.find(b"did:", 0, 4096)
        if start < 2:
            return
        # The DAG-CBOR text header before it gives the length (a DID of 24..255 bytes: 0x78 n).
        if data[start - 2] == 0x78:
            size = data[start - 1]
        elif 0x60 <= data[start - 1] < 0x78:
            size = data[start - 1] - 0x60
        else:
            return
        try:
            did = data[start : start + size].decode("ascii")
        except UnicodeDecodeError:
            return
        if not _DID.fullmatch(did):
            return
        if b"#identity" in data[:start]:  # (the header's "t", before the body)
            arrived = self._identity_arrived
            if len(arrived) >= 100_000:
                arrived.clear()  # (frames the decoder never reached: a refresh is then always made)
            arrived[did] = time.monotonic()
        if (
            self.mode == "full"
            and not self.replay
            and did not in self._heads
            and did not in self._unstored
            and did not in self._loading
        ):
            self._want_head(did)
        resolver = self.resolver
        if did in resolver._cache or did in resolver._pending or len(self._prefetching) >= self.prefetch_limit:
            return
        task = asyncio.ensure_future(self._prefetch(did))
        self._prefetching.add(task)
        task.add_done_callback(self._prefetching.discard)

    async def _prefetch(self, did: str) -> None:
        try:
            await self.resolver.resolve(did)
        except IdentityError:
            pass  # the decoder resolves it again and counts the failure

    # -- the decision ---------------------------------------------------------------------------
    async def check(self, frame: Any) -> str:
        """ACCEPT, REJECT or HOLD for one decoded event frame (already checked for field syntax)."""
        if self.mode == "off":
            # Nothing is checked; only an account the crawl found inactive is fetched once it is
            # active again (its events held meanwhile), as with verification.
            if not self._repairs and frame.type != "#account":
                return ACCEPT
            return await self._unchecked(frame)
        kind = frame.type
        if self.replay and kind != "#commit" and kind != "#sync":
            return ACCEPT  # a replayed #identity or #account is older than what live ingest saw
        if kind == "#identity":
            # Read the document again (unless a look-up began after this event arrived: the one its
            # frame started, see prefetch); until it is back the cached key serves, and a commit it
            # does not verify (a rotation) waits for the new document (see _key_checked).
            self.resolver.refresh(frame.did, after=self._identity_arrived.pop(frame.did, None))
            return ACCEPT
        if kind == "#account":
            await self._account(frame)
            return ACCEPT
        if kind != "#commit" and kind != "#sync":
            return ACCEPT
        if self._held_for_repair(frame):
            return HOLD
        if kind == "#sync":
            return await self._check_sync(frame)
        return await self._check_commit(frame)

    async def _unchecked(self, frame: Any) -> str:
        """:meth:`check` with ``VERIFY=off``: ACCEPT, or HOLD while the repository is fetched again."""
        kind = frame.type
        if kind == "#account":
            await self._account(frame)
            return ACCEPT
        if (kind == "#commit" or kind == "#sync") and self._held_for_repair(frame):
            return HOLD
        return ACCEPT

    def _held_for_repair(self, frame: Any) -> bool:
        """Hold ``frame`` when its repository is being fetched again."""
        repair = self._repairs.get(frame.did)
        if repair is None:
            return False
        self._hold(repair, frame)
        return True

    async def _account(self, frame: Any) -> None:
        """A live ``#account`` event: noted, and a parked account that is active again fetched."""
        did = frame.did
        seen = self._account_active
        seen[did] = bool(frame.active)
        seen.move_to_end(did)
        if len(seen) > _ACCOUNTS_KEPT:
            seen.popitem(last=False)
        if frame.active and did in self._parked:
            # The host refused to serve the repository while it was inactive: fetch it now.
            self._parked.discard(did)
            await self._desynchronize(did, "reactivated", frame.seq)

    async def _key_checked(self, frame: Any, check: Any) -> Any:
        """Run ``check(key)`` with the account's key; on a bad signature, with the key in force at the
        revision's time when the account's key history is known, then once more with a fresh document
        (a rotation whose ``#identity`` was not seen), then with the keys of a freshly read history
        (a commit signed before a rotation the directory already shows: a replay, or a consumer behind
        the relay). Returns the result or raises IdentityError."""
        identity = await self.resolver.resolve(frame.did)
        checked = check(identity.key)
        tried = {identity.key}
        known = self.resolver.cached_history(frame.did)
        if not checked.ok and checked.verdict.reason == SIGNATURE_INVALID and known:
            for key in _keys_at(known, frame.rev):  # a replay of an account seen rotating: no request
                if key not in tried:
                    tried.add(key)
                    checked = check(key)
                    if checked.ok:
                        return checked
        if not checked.ok and checked.verdict.reason == SIGNATURE_INVALID:
            fresh = await self.resolver.resolve(frame.did, fresh=True)
            if fresh.key not in tried:
                tried.add(fresh.key)
                checked = check(fresh.key)
            if not checked.ok and checked.verdict.reason == SIGNATURE_INVALID and frame.did.startswith("did:plc:"):
                # Signed before a rotation the directory already shows (a replayed history, or a
                # consumer behind the relay): the key in force at the revision's time decides.
                try:
                    history = await self.resolver.key_history(frame.did)
                except IdentityError:
                    return checked
                for key in _keys_at(history, frame.rev):
                    if key not in tried:
                        tried.add(key)
                        checked = check(key)
                        if checked.ok:
                            break
        return checked

    async def _check_commit(self, frame: "Commit", *, stream: bool = True) -> str:
        if self.mode == "off":
            return ACCEPT  # (a commit held during a repair with VERIFY=off)
        full = self.mode == "full"
        try:
            checked = await self._key_checked(frame, lambda key: verify_commit_event(frame, key, proof=full))
        except IdentityError as exc:
            return await self._fail(frame, f"identity_{exc.reason}", str(exc), repair=not self.replay)
        if not checked.ok:
            verdict = checked.verdict
            # A commit that is not what the account signed: the repository's real state is unknown.
            return await self._fail(frame, verdict.reason, verdict.detail, repair=full and not self.replay)
        commit = checked.commit
        assert commit is not None
        if not full or self.replay:
            return ACCEPT
        held = await self._held(frame.did)
        verdict = chain.check_chain(
            frame.rev,
            frame.since,
            held.rev if held else None,
            time.time_ns() // 1000,
            prev_data=frame.prev_data,
            held_data=held.data if held else None,
            max_future_seconds=self.max_future_seconds,
        )
        if not verdict and not (held is None and verdict.reason == chain.CHAIN_UNKNOWN):
            if verdict.reason in _BREAKS:
                self._count(frame.did, verdict.reason, verdict.detail)
                repair = await self._desynchronize(frame.did, verdict.reason, frame.seq)
                self._hold(repair, frame)
                return HOLD
            return await self._fail(frame, verdict.reason, verdict.detail, repair=False)
        self._set_head(frame.did, frame.rev, commit.data, stream=stream)
        return ACCEPT

    async def _check_sync(self, frame: "Sync") -> str:
        try:
            checked = await self._key_checked(frame, lambda key: verify_sync_event(frame, key))
        except IdentityError as exc:
            return await self._fail(frame, f"identity_{exc.reason}", str(exc), repair=not self.replay)
        if not checked.ok:
            return await self._fail(frame, checked.verdict.reason, checked.verdict.detail, repair=False)
        commit = checked.commit
        assert commit is not None
        if self.replay:
            return ACCEPT  # a past reset: live ingest holds the repository's state
        held = await self._held(frame.did) if self.mode == "full" else self._heads.get(frame.did)
        if held is not None and frame.rev <= held.rev:
            return await self._fail(
                frame, chain.CHAIN_STALE, f"#sync to {frame.rev}, not newer than {held.rev}", repair=False
            )
        if held is not None and held.data == commit.data:
            self._set_head(frame.did, frame.rev, commit.data, stream=True)  # the same tree: nothing to fetch
            return ACCEPT
        # A reset to a state we do not hold: fetch the repository as of now.
        await self._desynchronize(frame.did, "sync", frame.seq)
        return ACCEPT

    def _count(self, did: str, reason: str, message: str) -> None:
        self.failures[reason] += 1
        self.metrics.verify_failures.labels(reason).inc()
        if did not in self._logged:
            if len(self._logged) < 1_000_000:
                self._logged.add(did)
            log.warning(
                "verify: %s: %s (%s); further failures of this repository are counted, not logged", did, message, reason
            )

    async def _fail(self, frame: Any, reason: Optional[str], message: str, *, repair: bool) -> str:
        reason = reason or "invalid"
        self._count(frame.did, reason, message)
        if repair:
            await self._desynchronize(frame.did, reason, frame.seq)
        return REJECT

    def _hold(self, repair: _Repair, frame: Any) -> None:
        count = len(repair.held)
        hold_frame(repair, frame, self.hold_limit)
        if repair.overflowed or count % 64 == 0:
            self._held_gauge()

    def _held_gauge(self) -> None:
        self.metrics.held_events.set(sum(len(r.held) for r in self._repairs.values()))

    # -- desynchronized repositories ------------------------------------------------------------
    async def _desynchronize(self, did: str, reason: str, seq: int = 0) -> _Repair:
        """Mark ``did`` desynchronized (in ``repo_sync`` before anything of it is held past the cursor)."""
        repair = self._repairs.get(did)
        if repair is None:
            repair = self._repairs[did] = _Repair(seq=seq, reason=reason, since=time.monotonic())
            self.metrics.desynchronized.set(len(self._repairs))
            await self._mark(did, reason)
            repair.task = self._start_repair(did)
        return repair

    async def _mark(self, did: str, reason: str) -> None:
        self.metrics.desynchronizations.labels(reason).inc()
        log.warning("verify: %s is desynchronized (%s): its events are held while it is fetched again", did, reason)
        backoff = Backoff(base=0.2, cap=5.0)
        while not self._closed:
            try:
                await asyncio.to_thread(self._db, store.mark_desynchronized, did, reason)
                return
            except Exception as exc:  # the database is down: the stream's writer waits for it too
                if not store.is_transient(exc):
                    raise
                await asyncio.sleep(backoff.next())

    def _db(self, func: Any, *args: Any) -> Any:
        with self.database.connection(timeout=30.0) as conn:
            return func(conn, *args)

    async def resume(self) -> int:
        """Fetch again the repositories a previous run left desynchronized; returns how many."""
        dids = await asyncio.to_thread(self._db, store.read_desynchronized)
        for did, reason in dids:
            if did not in self._repairs:
                self._repairs[did] = _Repair(reason=reason or "restart", since=time.monotonic())
                self._repairs[did].task = self._start_repair(did)
        self.metrics.desynchronized.set(len(self._repairs))
        if dids:
            log.info("verify: %d repositories left desynchronized by the last run are fetched again", len(dids))
        return len(dids)

    def _start_repair(self, did: str) -> asyncio.Task[None]:
        task = asyncio.ensure_future(self._repair(did))

        def done(task: asyncio.Task[None]) -> None:
            if not task.cancelled() and task.exception() is not None:
                exc = task.exception()
                log.error("verify: the repair of %s stopped: %s: %s", did, type(exc).__name__, exc, exc_info=exc)

        task.add_done_callback(done)
        return task

    async def _repair(self, did: str) -> None:
        backoff = Backoff(base=1.0, cap=120.0)
        while not self._closed:
            repair = self._repairs.get(did)
            if repair is None:
                return
            repair.attempts += 1
            started = time.monotonic()
            try:
                async with self._slots:
                    done = await self._fetch_and_apply(did, repair)
            except (FetchError, IdentityError, AtprotoError, store.StoreError) as exc:
                reason = getattr(exc, "reason", type(exc).__name__)
                repair.last_error = f"{reason}: {exc}"
                if isinstance(exc, FetchError) and exc.account_state:
                    # No repository to serve (taken down, deactivated): nothing to catch up with.
                    log.warning(
                        "verify: %s cannot be fetched (%s): left as it is until the account is active again",
                        did,
                        exc.reason,
                    )
                    await self._finish(did, repair, state=exc.reason, rev=None, error=str(exc))
                    self._parked.add(did)
                    self.metrics.repairs.labels("gone").inc()
                    return
                self.repair_failures += 1
                self.metrics.repairs.labels("failed").inc()
                delay = backoff.next()
                log.warning(
                    "verify: fetching %s again failed (attempt %d), retrying in %.0f s: %s",
                    did,
                    repair.attempts,
                    delay,
                    exc,
                )
                await asyncio.sleep(delay)
                continue
            except Exception as exc:  # a database error, or a bug: logged, and tried again later
                repair.last_error = f"{type(exc).__name__}: {store.describe_error(exc)}"
                self.repair_failures += 1
                self.metrics.repairs.labels("failed").inc()
                delay = backoff.next()
                log.error(
                    "verify: fetching %s again failed (attempt %d), retrying in %.0f s: %s",
                    did,
                    repair.attempts,
                    delay,
                    repair.last_error,
                    exc_info=exc if not store.is_transient(exc) else None,
                )
                await asyncio.sleep(delay)
                continue
            if done:
                self.repaired += 1
                self.metrics.repairs.labels("repaired").inc()
                self.metrics.repair_seconds.observe(time.monotonic() - started)
                return

    async def _fetch_and_apply(self, did: str, repair: _Repair) -> bool:
        """One fetch: apply the repository, then what was held. True when ``did`` is in sync again."""
        identity = await self.resolver.resolve(did, fresh=True)
        repair.overflowed = False
        fetched = await fetch_snapshot(
            self._client, identity, max_bytes=self.max_repo_bytes, check_signature=self.mode != "off"
        )
        try:
            while not self._closed and (self.committed() or 0) < repair.seq:
                await asyncio.sleep(0.05)  # what was accepted before the break is still being written
        except BaseException:
            fetched.close()
            raise
        try:
            await asyncio.to_thread(apply_snapshot, self.database, fetched, self.service)
        finally:
            fetched.close()
        rev = fetched.rev
        self._set_head(did, rev, fetched.data)
        del fetched
        caught_up = await self.catch_up(did, repair)
        self._held_gauge()
        if not caught_up:
            return False  # too much arrived meanwhile, or it does not follow: fetch again
        head = self.head(did)
        await self._finish(did, repair, state="synchronized", rev=head.rev if head else rev, error=None)
        log.info("verify: %s fetched again at %s and caught up (attempt %d)", did, rev, repair.attempts)
        return True

    async def catch_up(self, did: str, hold: Hold) -> bool:
        """Verify and apply the events held for ``did`` after its fetched state (see
        :func:`~supervisor.worker.resync.catch_up`); the held state is what was fetched. When it
        caught up, the state reached is stored (a restart checks the next commit against it)."""

        async def accept(frame: Any) -> Optional[bool]:
            decision = await self._check_commit(frame, stream=False)
            if decision == HOLD:
                return None
            return decision == ACCEPT

        async def apply(frames: list[Any]) -> None:
            await asyncio.to_thread(self._db, store.apply_frames, frames, self.service)

        def rev() -> str:
            head = self.head(did)
            return head.rev if head is not None else ""

        caught_up = await catch_up(hold, rev, accept, apply)
        head = self.head(did)
        if caught_up and head is not None and self.mode == "full":
            heads = {did: (head.rev, str(head.data))}
            await asyncio.to_thread(self._db, store.write_heads, heads)
            self.stored(heads)
        return caught_up

    def park(self, did: str) -> None:
        """``did``'s host would not serve it (deactivated, taken down...): fetch it when an ``#account``
        event says it is active again, or now when the last one live ingest saw did (the listing that
        found it inactive was older; a fetch that finds it inactive parks it again)."""
        if self._account_active.get(did) and did not in self._repairs:
            task = asyncio.ensure_future(self._desynchronize(did, "reactivated"))
            self._parking.add(task)
            task.add_done_callback(self._parking.discard)
            return
        self._parked.add(did)

    def adopt(self, did: str, rev: str, data: CID) -> None:
        """Hold ``did`` at a state applied from elsewhere (a crawled repository)."""
        self._set_head(did, rev, data)

    async def _finish(self, did: str, repair: _Repair, *, state: str, rev: Optional[str], error: Optional[str]) -> None:
        await asyncio.to_thread(self._db, store.mark_repaired, did, state, rev, repair.attempts, error)
        self._repairs.pop(did, None)
        self._held_gauge()
        self._logged.discard(did)
        self.metrics.desynchronized.set(len(self._repairs))

    async def close(self) -> None:
        """Stop repairs (they resume at the next start: ``repo_sync`` still says desynchronized)."""
        self._closed = True
        for prefetch in [*self._prefetching, *self._parking]:
            prefetch.cancel()
        if self._loader is not None:
            self._loader.cancel()
        tasks = [r.task for r in self._repairs.values() if r.task is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass
        if self._own_client:
            await self._client.aclose()
        if not self.replay:
            await self.resolver.close()


def now_text() -> str:
    """The current time as an atproto datetime (the time of a snapshot's synthetic commit)."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
