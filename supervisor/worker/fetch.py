"""``com.atproto.sync.getRepo`` from an account's PDS: the repository as a CAR, streamed to disk.

:func:`fetch_repo` reads the body chunk by chunk into a :class:`~supervisor.worker.repofile.RepoSpooler`
(each block checked against its CID as it arrives, written to a temporary file) and refuses it as
soon as it passes ``max_bytes``, so a repository is never held in memory whole and a hostile or
broken host cannot fill the disk either. XRPC errors that describe the account (``RepoNotFound``,
``RepoTakendown``, ``RepoDeactivated``, ``RepoSuspended``) are reported as such, an HTTP 429 as
``rate_limited`` with the wait the host asks for (``retry_after``), other failures as
``unavailable`` (worth retrying later). A malformed CAR raises
:class:`~supervisor.atproto.errors.AtprotoError` (a :class:`~supervisor.atproto.errors.CarError`
naming the byte offset, or an MST error from the walk).
"""

from __future__ import annotations

import email.utils
import json
import time
import urllib.parse
from typing import Mapping, Optional

import httpx

from supervisor.worker.errors import WorkerError
from supervisor.worker.repofile import RepoSpooler, SpooledRepo

__all__ = ["FetchError", "fetch_repo", "get_repo", "retry_after", "ACCOUNT_ERRORS", "DEFAULT_MAX_REPO_BYTES"]

CAR_TYPE = "application/vnd.ipld.car"
DEFAULT_MAX_REPO_BYTES = 1024 * 1024 * 1024
#: XRPC error names that say the account has no repository to serve (not worth retrying soon).
ACCOUNT_ERRORS = frozenset({"RepoNotFound", "RepoTakendown", "RepoDeactivated", "RepoSuspended"})


class FetchError(WorkerError):
    """A repository could not be fetched; ``reason`` is an XRPC error name (:data:`ACCOUNT_ERRORS`),
    ``rate_limited`` (HTTP 429), ``too_big`` or ``unavailable``. ``retry_after`` is the wait in seconds
    the host asked for (``Retry-After`` or ``RateLimit-Reset`` on a 429 or 503), else None."""

    def __init__(self, reason: str, message: str, *, retry_after: Optional[float] = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.retry_after = retry_after

    @property
    def account_state(self) -> bool:
        """Whether the host says the account has no repository to serve (taken down, deleted...)."""
        return self.reason in ACCOUNT_ERRORS


#: How much of an error reply's body is read (for its XRPC error name).
_ERROR_BODY_BYTES = 4096
#: ``RateLimit-Reset`` values above this are epoch seconds, below it a delay in seconds.
_EPOCH_THRESHOLD = 1_000_000_000


def retry_after(headers: Mapping[str, str], now: Optional[float] = None) -> Optional[float]:
    """The wait in seconds a reply asks for: ``Retry-After`` (seconds or an HTTP-date), else
    ``RateLimit-Reset`` (epoch seconds, or seconds from now); None when neither says; never negative."""
    now = time.time() if now is None else now
    value = (headers.get("Retry-After") or "").strip()
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            pass
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            when = None
        if when is not None and when.tzinfo is not None:
            return max(0.0, when.timestamp() - now)
    value = (headers.get("RateLimit-Reset") or "").strip()
    if value:
        try:
            reset = float(value)
        except ValueError:
            return None
        if reset != reset or reset in (float("inf"), float("-inf")):
            return None
        return max(0.0, reset - now if reset >= _EPOCH_THRESHOLD else reset)
    return None


def _describe(exc: httpx.HTTPError) -> str:
    """The error's text, or its kind when it has none (a timeout's text is often empty)."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


async def _error_of(reply: httpx.Response, did: str, pds: str) -> FetchError:
    body = bytearray()
    async for chunk in reply.aiter_bytes():
        body += chunk
        if len(body) >= _ERROR_BODY_BYTES:
            break
    body = body[:_ERROR_BODY_BYTES]
    name = "unavailable"
    try:
        answer = json.loads(bytes(body))
        if isinstance(answer, dict) and isinstance(answer.get("error"), str) and answer["error"] in ACCOUNT_ERRORS:
            name = answer["error"]
    except ValueError:
        pass
    status = reply.status_code
    if status == 429:
        name = "rate_limited"
    wait = retry_after(reply.headers) if status in (429, 503) else None
    return FetchError(name, f"getRepo of {did} from {pds}: HTTP {status} {bytes(body[:200])!r}", retry_after=wait)


async def fetch_repo(
    client: httpx.AsyncClient, pds: str, did: str, *, max_bytes: int, spool_dir: Optional[str] = None
) -> SpooledRepo:
    """``did``'s repository from ``pds`` (``https://host[:port]``), spooled to a temporary file in
    ``spool_dir`` (the system's temporary directory by default). Close the result when done."""
    url = f"{pds.rstrip('/')}/xrpc/com.atproto.sync.getRepo?" + urllib.parse.urlencode({"did": did})
    spooler: RepoSpooler | None = None
    try:
        async with client.stream("GET", url, headers={"Accept": CAR_TYPE}) as reply:
            if reply.status_code != 200:
                raise await _error_of(reply, did, pds)
            declared = reply.headers.get("Content-Length")
            if declared is not None and declared.isdigit() and int(declared) > max_bytes:
                raise FetchError("too_big", f"getRepo of {did}: {declared} bytes is more than the limit {max_bytes}")
            spooler = RepoSpooler(spool_dir=spool_dir)
            async for chunk in reply.aiter_bytes():
                spooler.feed(chunk)
                if spooler.byte_count > max_bytes:
                    raise FetchError("too_big", f"getRepo of {did}: more than the limit of {max_bytes} bytes")
            spooled = spooler.finish()
            spooler = None
            return spooled
    except httpx.HTTPError as exc:
        raise FetchError("unavailable", f"getRepo of {did} from {pds}: {_describe(exc)}") from None
    finally:
        if spooler is not None:
            spooler.abort()


async def get_repo(client: httpx.AsyncClient, pds: str, did: str, *, max_bytes: int = DEFAULT_MAX_REPO_BYTES) -> bytes:
    """The CAR of ``did``'s repository from ``pds``, held in memory whole (prefer :func:`fetch_repo`)."""
    url = f"{pds.rstrip('/')}/xrpc/com.atproto.sync.getRepo?" + urllib.parse.urlencode({"did": did})
    try:
        async with client.stream("GET", url, headers={"Accept": CAR_TYPE}) as reply:
            if reply.status_code != 200:
                raise await _error_of(reply, did, pds)
            declared = reply.headers.get("Content-Length")
            if declared is not None and declared.isdigit() and int(declared) > max_bytes:
                raise FetchError("too_big", f"getRepo of {did}: {declared} bytes is more than the limit {max_bytes}")
            chunks = bytearray()
            async for chunk in reply.aiter_bytes():
                chunks += chunk
                if len(chunks) > max_bytes:
                    raise FetchError("too_big", f"getRepo of {did}: more than the limit of {max_bytes} bytes")
            return bytes(chunks)
    except httpx.HTTPError as exc:
        raise FetchError("unavailable", f"getRepo of {did} from {pds}: {_describe(exc)}") from None
