"""Account identities: DID -> signing key and PDS endpoint, resolved over HTTP and cached.

``did:plc`` documents come from a PLC directory (``PLC_DIRECTORY_URL``, default
https://plc.directory: ``GET {directory}/{did}``); ``did:web`` ones from
``https://HOST/.well-known/did.json``. What a document means is read by
:mod:`supervisor.atproto.diddoc`. The cache is bounded in entries and in age; an ``#identity``
event has its account's entry read again (:meth:`~IdentityResolver.refresh`). Concurrent look-ups of one DID
share one request.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import logging
import time
import urllib.parse
from datetime import datetime
from typing import Any, Optional

import httpx

from supervisor.atproto import diddoc
from supervisor.atproto.crypto import PublicKey, parse_did_key
from supervisor.atproto.errors import AtprotoError
from supervisor.worker.errors import WorkerError

__all__ = ["Identity", "IdentityResolver", "IdentityError", "DEFAULT_PLC_DIRECTORY", "did_document_url"]

DEFAULT_PLC_DIRECTORY = "https://plc.directory"

# httpx logs every request at INFO: one line per resolved identity is noise in the worker's log.
logging.getLogger("httpx").setLevel(logging.WARNING)
_MAX_DOCUMENT = 256 * 1024  # a DID document is a few kilobytes
_MAX_AUDIT_LOG = 4 * 1024 * 1024  # an operation is under a kilobyte; accounts have a handful
_MAX_HISTORIES = 10_000  # key histories kept (read only for accounts that rotated)


class IdentityError(WorkerError):
    """A DID could not be resolved to a usable document (``reason`` is a short code)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclasses.dataclass(frozen=True, slots=True)
class Identity:
    """What verification and fetching need of one account."""

    did: str
    key: PublicKey
    pds: str
    #: When the look-up that read it began (monotonic): the document is at least that recent.
    resolved_at: float


def parse_key_history(did: str, entries: Any) -> list[tuple[int, PublicKey]]:
    """``(since, key)`` of each signing key a PLC audit log (a JSON list of operations) sets,
    oldest first; nullified operations and those that set no ``atproto`` key are left out.
    Raises ValueError for a log that is not one."""
    if not isinstance(entries, list):
        raise ValueError("the audit log is not a list")
    history: list[tuple[int, PublicKey]] = []
    for entry in entries:
        if not isinstance(entry, dict) or entry.get("did") != did:
            raise ValueError("an audit log entry is not this DID's")
        if entry.get("nullified") is True:
            continue
        op = entry.get("operation")
        created = entry.get("createdAt")
        if not isinstance(op, dict) or not isinstance(created, str):
            raise ValueError("an audit log entry has no operation or createdAt")
        methods = op.get("verificationMethods")
        text = methods.get("atproto") if isinstance(methods, dict) else op.get("signingKey")  # legacy "create"
        if not isinstance(text, str):
            continue
        try:
            key = parse_did_key(text)
            moment = datetime.fromisoformat(created.replace("Z", "+00:00"))
        except (AtprotoError, ValueError) as exc:
            raise ValueError(f"an audit log entry is malformed: {exc}") from None
        if moment.tzinfo is None:
            raise ValueError("an audit log createdAt has no time zone")
        since = int(moment.timestamp()) * 1_000_000 + moment.microsecond
        history.append((since, key))
    history.sort(key=lambda item: item[0])
    return history


def did_document_url(did: str, plc_directory: str) -> str:
    """Where the DID document of ``did`` is read from."""
    if did.startswith("did:plc:"):
        return f"{plc_directory.rstrip('/')}/{did}"
    if did.startswith("did:web:"):
        rest = did[len("did:web:") :]
        if not rest or ":" in rest:  # did:web:host:path:segments name documents under a path
            raise IdentityError("bad_did", f"{did[:60]}: only a host (with a %3A-encoded port) is supported")
        host = urllib.parse.unquote(rest)
        if "/" in host or "@" in host:
            raise IdentityError("bad_did", f"{did[:60]} does not name a host")
        scheme = "http" if host.split(":")[0] in ("localhost", "127.0.0.1") else "https"
        return f"{scheme}://{host}/.well-known/did.json"
    raise IdentityError("bad_did", f"{did[:60]} is neither did:plc nor did:web")


class IdentityResolver:
    """A bounded, aging cache of resolved identities in front of an HTTP client."""

    def __init__(
        self,
        plc_directory: str = DEFAULT_PLC_DIRECTORY,
        *,
        max_entries: int = 100_000,
        max_age: float = 3600.0,
        timeout: float = 10.0,
        client: Optional[httpx.AsyncClient] = None,
        concurrency: int = 32,
    ) -> None:
        self.plc_directory = plc_directory
        self.max_entries = max_entries
        self.max_age = max_age
        self._client = client or httpx.AsyncClient(timeout=timeout, follow_redirects=True)
        self._own_client = client is None
        #: Requests in flight at most (made in the running loop on first use).
        self.concurrency = concurrency
        self._requests: Optional[asyncio.Semaphore] = None
        self._cache: collections.OrderedDict[str, Identity] = collections.OrderedDict()
        self._pending: dict[str, asyncio.Future[Identity]] = {}
        #: When each pending look-up began (monotonic).
        self._pending_since: dict[str, float] = {}
        self._refreshing: set[asyncio.Future[None]] = set()
        self._histories: collections.OrderedDict[str, list[tuple[int, PublicKey]]] = collections.OrderedDict()
        #: Counts for /metrics and /health: hits, misses (resolved), failures.
        self.counts: collections.Counter[str] = collections.Counter()

    def invalidate(self, did: str) -> None:
        """Forget ``did`` (its keys or PDS may have changed)."""
        self._cache.pop(did, None)

    def refresh(self, did: str, *, after: Optional[float] = None) -> None:
        """Read ``did``'s document again in the background (an ``#identity`` event): the cached entry
        serves until the new one replaces it, and a look-up with ``fresh`` joins the request.

        With ``after`` (a monotonic time: when the event arrived), not when the document was read,
        or is being read, by a look-up that began at or after it: a new account's first
        ``#identity`` then costs the one request its arrival started, not two."""
        if after is not None:
            entry = self._cache.get(did)
            began = entry.resolved_at if entry is not None else self._pending_since.get(did)
            if began is not None and began >= after:
                self.counts["refresh_unneeded"] += 1
                return
        task = asyncio.ensure_future(self._refresh(did))
        self._refreshing.add(task)
        task.add_done_callback(self._refreshing.discard)

    async def _refresh(self, did: str) -> None:
        try:
            await self.resolve(did, fresh=True)
        except IdentityError:
            self.invalidate(did)  # the next look-up tries again and reports the failure

    def cached(self, did: str) -> Optional[Identity]:
        """The cached identity of ``did`` when it is fresh enough."""
        entry = self._cache.get(did)
        if entry is None:
            return None
        if time.monotonic() - entry.resolved_at > self.max_age:
            del self._cache[did]
            return None
        self._cache.move_to_end(did)
        return entry

    async def resolve(self, did: str, *, fresh: bool = False) -> Identity:
        """The identity of ``did`` (from the cache unless ``fresh``: then from a new request); raises
        :class:`IdentityError`."""
        if not fresh:
            entry = self.cached(did)
            if entry is not None:
                self.counts["hit"] += 1
                return entry
        pending = self._pending.get(did)
        if pending is not None and not fresh:
            # (a fresh look-up does not join: that request may have left before the change it is for)
            return await asyncio.shield(pending)
        future: asyncio.Future[Identity] = asyncio.get_running_loop().create_future()
        self._pending[did] = future
        began = self._pending_since[did] = time.monotonic()
        try:
            entry = await self._fetch(did, began)
        except BaseException as exc:
            self.counts["failed"] += 1
            future.set_exception(exc)
            future.exception()  # retrieved: waiters get it through their own await
            raise
        finally:
            if self._pending.get(did) is future:
                del self._pending[did]
                del self._pending_since[did]
        self.counts["resolved"] += 1
        future.set_result(entry)
        self._cache[did] = entry
        self._cache.move_to_end(did)
        while len(self._cache) > self.max_entries:
            self._cache.popitem(last=False)
        return entry

    async def _fetch(self, did: str, began: float) -> Identity:
        url = did_document_url(did, self.plc_directory)
        if self._requests is None:
            self._requests = asyncio.Semaphore(self.concurrency)
        try:
            async with self._requests:
                reply = await self._client.get(url, headers={"Accept": "application/did+ld+json, application/json"})
        except httpx.HTTPError as exc:
            raise IdentityError("unreachable", f"{did}: cannot read {url}: {exc or type(exc).__name__}") from None
        if reply.status_code == 404 or reply.status_code == 410:
            raise IdentityError("not_found", f"{did}: {url} answered {reply.status_code} (no such DID, or tombstoned)")
        if reply.status_code != 200:
            raise IdentityError("unavailable", f"{did}: {url} answered HTTP {reply.status_code}")
        if len(reply.content) > _MAX_DOCUMENT:
            raise IdentityError("bad_document", f"{did}: the DID document is larger than {_MAX_DOCUMENT} bytes")
        try:
            doc: Any = reply.json()
        except ValueError:
            raise IdentityError("bad_document", f"{did}: {url} did not answer JSON") from None
        try:
            if not isinstance(doc, dict) or doc.get("id") != did:
                raise IdentityError("bad_document", f"{did}: the document at {url} is not this DID's")
            key = diddoc.atproto_key(doc)
            pds = diddoc.pds_endpoint(doc)
        except AtprotoError as exc:
            raise IdentityError("bad_document", f"{did}: {exc}") from None
        return Identity(did, key, pds, began)

    def cached_history(self, did: str) -> Optional[list[tuple[int, PublicKey]]]:
        """The key history last read for ``did`` (still true of the past: a log only grows)."""
        return self._histories.get(did)

    async def key_history(self, did: str) -> list[tuple[int, PublicKey]]:
        """The signing keys ``did:plc`` ``did`` has had, each with when it took effect (epoch
        microseconds), oldest first, from the directory's audit log (``/{did}/log/audit``),
        read now (and kept for :meth:`cached_history`); raises :class:`IdentityError`."""
        if not did.startswith("did:plc:"):
            raise IdentityError("bad_did", f"{did[:60]}: only did:plc has a key history")
        url = did_document_url(did, self.plc_directory) + "/log/audit"
        if self._requests is None:
            self._requests = asyncio.Semaphore(self.concurrency)
        try:
            async with self._requests:
                reply = await self._client.get(url, headers={"Accept": "application/json"})
        except httpx.HTTPError as exc:
            raise IdentityError("unreachable", f"{did}: cannot read {url}: {exc or type(exc).__name__}") from None
        if reply.status_code != 200:
            raise IdentityError("unavailable", f"{did}: {url} answered HTTP {reply.status_code}")
        if len(reply.content) > _MAX_AUDIT_LOG:
            raise IdentityError("bad_document", f"{did}: the audit log is larger than {_MAX_AUDIT_LOG} bytes")
        try:
            history = parse_key_history(did, reply.json())
        except ValueError as exc:
            raise IdentityError("bad_document", f"{did}: {url}: {exc}") from None
        self._histories[did] = history
        self._histories.move_to_end(did)
        while len(self._histories) > _MAX_HISTORIES:
            self._histories.popitem(last=False)
        return history

    async def close(self) -> None:
        """Close the HTTP client (when this resolver made it)."""
        for task in list(self._refreshing):
            task.cancel()
        if self._own_client:
            await self._client.aclose()
