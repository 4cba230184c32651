"""``com.atproto.sync.getRepo`` from an account's PDS: the repository as a CAR, streamed with a size limit.

The body is read in chunks and refused as soon as it passes ``max_bytes``, so a hostile or broken
host cannot make the worker hold more than that. XRPC errors that describe the account
(``RepoNotFound``, ``RepoTakendown``, ``RepoDeactivated``, ``RepoSuspended``) are reported as
such; other failures as ``unavailable`` (worth retrying later).
"""

from __future__ import annotations

import json
import time
import urllib.parse
from typing import Optional

import httpx

from supervisor.worker.errors import WorkerError
from supervisor.worker.timing import retry_after_seconds

__all__ = ["FetchError", "get_repo", "ACCOUNT_ERRORS", "DEFAULT_MAX_REPO_BYTES"]

CAR_TYPE = "application/vnd.ipld.car"
DEFAULT_MAX_REPO_BYTES = 1024 * 1024 * 1024
#: XRPC error names that say the account has no repository to serve (not worth retrying soon).
ACCOUNT_ERRORS = frozenset({"RepoNotFound", "RepoTakendown", "RepoDeactivated", "RepoSuspended"})


class FetchError(WorkerError):
    """A repository could not be fetched; ``reason`` is an XRPC error name or ``unavailable``/``too_big``."""

    def __init__(self, reason: str, message: str, *, retry_after: Optional[float] = None) -> None:
        super().__init__(message)
        self.reason = reason
        #: Seconds the host asked to wait (``Retry-After`` / ``RateLimit-Reset`` on a 429 or 503).
        self.retry_after = retry_after

    @property
    def account_state(self) -> bool:
        """Whether the host says the account has no repository to serve (taken down, deleted...)."""
        return self.reason in ACCOUNT_ERRORS


async def get_repo(client: httpx.AsyncClient, pds: str, did: str, *, max_bytes: int = DEFAULT_MAX_REPO_BYTES) -> bytes:
    """The CAR of ``did``'s repository from ``pds`` (``https://host[:port]``)."""
    url = f"{pds.rstrip('/')}/xrpc/com.atproto.sync.getRepo?" + urllib.parse.urlencode({"did": did})
    try:
        async with client.stream("GET", url, headers={"Accept": CAR_TYPE}) as reply:
            if reply.status_code != 200:
                body = (await reply.aread())[:4096]
                name = "unavailable"
                try:
                    answer = json.loads(body)
                    if isinstance(answer, dict) and isinstance(answer.get("error"), str):
                        name = answer["error"] if answer["error"] in ACCOUNT_ERRORS else name
                except ValueError:
                    pass
                wait = None
                if reply.status_code in (429, 503):
                    wait = retry_after_seconds(reply.headers, time.time())
                    name = "rate_limited" if reply.status_code == 429 else name
                raise FetchError(
                    name, f"getRepo of {did} from {pds}: HTTP {reply.status_code} {body[:200]!r}", retry_after=wait
                )
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
        raise FetchError("unavailable", f"getRepo of {did} from {pds}: {exc or type(exc).__name__}") from None
