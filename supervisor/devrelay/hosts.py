"""The network's PDS hosts: each an HTTP server of its own, serving its accounts' repositories.

A host answers ``getRepo``, ``listRepos`` (its own accounts), ``getLatestCommit``,
``getRepoStatus``, ``/.well-known/did.json`` (for a ``did:web`` account it hosts) and
``/xrpc/_health`` (with its request counts). It can be rate limited (a token bucket: over it,
HTTP 429 ``RateLimitExceeded`` with ``RateLimit-*`` and ``Retry-After`` headers) and can misbehave
for the first ``fault_seconds`` after it starts listening: a failing host answers every other
request with a 500 and drops the connection of the others; a stalling host reads the request
and sends nothing until the client gives up; a vanishing host serves, then stops listening for
good (and drops its open connections) once the time is up. A corrupting host serves every
repository with its last block changed, for good (the CAR no longer checks).

HTTP here is deliberately minimal (one ``GET`` per connection, ``Connection: close``): the faults
above happen at the socket, below what an HTTP server library lets one do.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import http
import math
import socket
import time
from typing import Any, Callable, Optional
from urllib.parse import parse_qs, unquote, urlsplit

from supervisor import __version__
from supervisor.devrelay import xrpc
from supervisor.devrelay.errors import ConfigError
from supervisor.devrelay.network import NetworkState

__all__ = ["HostSettings", "TokenBucket", "PdsHost", "bind_socket", "web_did"]

_MAX_HEAD = 16_384  # bytes of request line and headers a host reads


@dataclasses.dataclass(frozen=True)
class HostSettings:
    """The PDS hosts of the network (``count`` 0: the relay alone serves the repositories).

    ``port``: the first host's port, the others follow (0: free ports). ``rate``: requests per
    second each host allows (0: no limit). ``failing``, ``stalling``, ``vanishing``: 1-based
    host numbers (the order of ``--hosts-out``, ``did:web`` hosts after the others) misbehaving
    for ``fault_seconds`` after they start. Each ``did:web`` account of the network
    (:attr:`SynthConfig.did_web_every <supervisor.devrelay.synth.SynthConfig.did_web_every>`) has
    a host of its own, ``did:web:127.0.0.1%3APORT``, numbered after these. ``out``: where the host
    list is written (JSON).
    """

    count: int = 0
    address: str = "127.0.0.1"
    port: int = 0
    rate: float = 0.0
    failing: tuple[int, ...] = ()
    stalling: tuple[int, ...] = ()
    vanishing: tuple[int, ...] = ()
    #: Hosts serving every repository with one block changed (its CID no longer matches), for good.
    corrupting: tuple[int, ...] = ()
    fault_seconds: float = 10.0
    out: Optional[str] = None

    def validate(self, web_hosts: int = 0) -> None:
        """Raise :class:`ConfigError` for unusable settings (``web_hosts``: the ``did:web`` accounts)."""
        if self.count < 0:
            raise ConfigError(f"pds-hosts cannot be negative, not {self.count}")
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"hosts-port must be a port number (0: free ports), not {self.port}")
        if not 0 <= self.rate < float("inf"):
            raise ConfigError(
                f"host-rate must be a finite number of requests per second (0: no limit), not {self.rate}"
            )
        if not 0 < self.fault_seconds < float("inf"):
            raise ConfigError(f"host-fault-seconds must be a positive number of seconds, not {self.fault_seconds}")
        needs_hosts = [
            name
            for name, value in (
                ("did-web-every", web_hosts),
                ("host-rate", self.rate),
                ("failing-host", self.failing),
                ("stalling-host", self.stalling),
                ("vanishing-host", self.vanishing),
                ("corrupting-host", self.corrupting),
                ("hosts-out", self.out),
            )
            if value
        ]
        if needs_hosts and not self.count:
            raise ConfigError(f"{', '.join(needs_hosts)} need PDS hosts: give --pds-hosts N")
        total = self.count + web_hosts
        if self.port and self.port + total - 1 > 65535:
            raise ConfigError(f"hosts-port {self.port} leaves no room for {total} hosts below port 65536")
        for name, numbers in (
            ("failing-host", self.failing),
            ("stalling-host", self.stalling),
            ("vanishing-host", self.vanishing),
            ("corrupting-host", self.corrupting),
        ):
            for number in numbers:
                if not 1 <= number <= total:
                    raise ConfigError(f"{name} {number} is not a host: hosts are numbered 1 to {total}")


def web_did(hostname: str) -> str:
    """The ``did:web`` of the account alone on ``hostname`` (``host:port``)."""
    return "did:web:" + hostname.replace(":", "%3A")


def bind_socket(address: str, port: int) -> socket.socket:
    """A TCP socket bound to ``address:port`` (not listening yet); ConfigError when it cannot be."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((address, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {address}:{port} for a PDS host: {exc.strerror or exc}") from None
    sock.setblocking(False)
    return sock


class TokenBucket:
    """``rate`` requests per second with bursts up to ``max(1, rate)``; the clock is passed in."""

    def __init__(self, rate: float, now: float) -> None:
        self.rate = rate
        self.capacity = max(1.0, rate)
        self.tokens = self.capacity
        self.stamp = now

    def take(self, now: float) -> tuple[bool, dict[str, str]]:
        """Spend a token if there is one; returns whether it was allowed and the headers to send.

        ``RateLimit-Reset`` is the epoch second at which the bucket is full again (as Bluesky's
        PDS sends it); a refused request also gets ``Retry-After`` (whole seconds until a token)."""
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        allowed = self.tokens >= 1.0
        if allowed:
            self.tokens -= 1.0
        full_in = (self.capacity - self.tokens) / self.rate
        headers = {
            "RateLimit-Limit": str(int(self.capacity)),
            "RateLimit-Remaining": str(int(self.tokens)),
            "RateLimit-Reset": str(math.ceil(time.time() + full_in)),
            "RateLimit-Policy": f"{int(self.capacity)};w={max(1, math.ceil(self.capacity / self.rate))}",
        }
        if not allowed:
            headers["Retry-After"] = str(max(1, math.ceil((1.0 - self.tokens) / self.rate)))
        return allowed, headers


#: Seconds after a 429 in which requests the client sent before it read the 429 may still arrive.
RETRY_GRACE = 0.25


class PdsHost:
    """One PDS host; ``number`` is 1-based. ``state`` gives the network as served now."""

    def __init__(
        self,
        number: int,
        sock: socket.socket,
        settings: HostSettings,
        state: Callable[[], NetworkState],
        *,
        web: bool = False,
    ) -> None:
        self.number = number
        self.sock = sock
        self._port = int(sock.getsockname()[1])
        self.settings = settings
        self._state = state
        self.dids: frozenset[str] = frozenset()
        self.web_did: Optional[str] = web_did(self.hostname) if web else None
        self.requests = 0
        self.rate_limited = 0
        #: Requests that arrived more than :data:`RETRY_GRACE` seconds after a 429 and before the
        #: end of its ``Retry-After``: a client that does not wait as asked.
        self.early = 0
        self._quiet = (0.0, 0.0)  # (the 429 that asked for a wait, the end of the wait), loop time
        self.faulted = 0
        self.vanished = False
        self._server: Optional[asyncio.Server] = None
        self._started = 0.0
        self._bucket: Optional[TokenBucket] = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._vanish_task: Optional[asyncio.Task[None]] = None
        self.fault = (
            "failing"
            if number in settings.failing
            else "stalling"
            if number in settings.stalling
            else "vanishing"
            if number in settings.vanishing
            else "corrupting"
            if number in settings.corrupting
            else None
        )

    @property
    def port(self) -> int:
        return self._port

    @property
    def hostname(self) -> str:
        """``127.0.0.1:PORT`` (the loopback address when listening on every address)."""
        address = self.settings.address
        if address in ("", "0.0.0.0", "::"):
            address = "127.0.0.1"
        if ":" in address:
            address = f"[{address}]"
        return f"{address}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.hostname}"

    @property
    def status(self) -> str:
        """The ``listHosts`` status: ``offline`` once vanished, else ``active``."""
        return "offline" if self.vanished else "active"

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._started = loop.time()
        if self.settings.rate:
            self._bucket = TokenBucket(self.settings.rate, self._started)
        self._server = await asyncio.start_server(self._connection, sock=self.sock)
        if self.fault == "vanishing":
            self._vanish_task = asyncio.create_task(self._vanish_later())

    async def _vanish_later(self) -> None:
        await asyncio.sleep(self.settings.fault_seconds)
        self.vanished = True
        await self._close()

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
            for writer in list(self._writers):
                writer.transport.abort()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None

    async def stop(self) -> None:
        if self._vanish_task is not None:
            self._vanish_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._vanish_task
            self._vanish_task = None
        await self._close()
        self.sock.close()

    def _in_fault(self) -> bool:
        return asyncio.get_running_loop().time() - self._started < self.settings.fault_seconds

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            await self._serve_one(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _serve_one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        if len(head) > _MAX_HEAD:
            await _respond(
                writer, xrpc.HttpReply.json({"error": "InvalidRequest", "message": "request too large"}, 431)
            )
            return
        parts = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            await _respond(writer, xrpc.HttpReply.json({"error": "InvalidRequest", "message": "bad request line"}, 400))
            return
        method, target = parts[0], parts[1]
        self.requests += 1
        if self.fault in ("failing", "stalling") and self._in_fault():
            self.faulted += 1
            if self.fault == "stalling":
                await reader.read()  # nothing is sent; wait for the client to give up
                return
            if self.faulted % 2:
                message = {"error": "InternalServerError", "message": "this host is failing"}
                await _respond(writer, xrpc.HttpReply.json(message, 500))
            else:
                writer.transport.abort()
            return
        extra: dict[str, str] = {}
        if self._bucket is not None and not target.startswith("/xrpc/_health"):  # (health is never limited)
            now = asyncio.get_running_loop().time()
            asked, until = self._quiet
            if asked + RETRY_GRACE < now < until:
                self.early += 1
            allowed, extra = self._bucket.take(now)
            if not allowed:
                if now >= until:
                    self._quiet = (now, now + int(extra["Retry-After"]))
                self.rate_limited += 1
                message = {"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"}
                await _respond(writer, xrpc.HttpReply.json(message, 429), extra)
                return
        if method not in ("GET", "HEAD"):
            reply = xrpc.HttpReply.json({"error": "InvalidRequest", "message": f"method {method} not allowed"}, 405)
        else:
            reply = self.answer(target)
            if self.fault == "corrupting" and reply.status == 200 and reply.content_type == xrpc.CAR_TYPE:
                self.faulted += 1
                # The last byte is in the last block: its bytes no longer hash to its CID.
                reply = dataclasses.replace(reply, body=reply.body[:-1] + bytes([reply.body[-1] ^ 0x01]))
        await _respond(writer, reply, extra, body=method == "GET")

    def answer(self, target: str) -> xrpc.HttpReply:
        """The reply to ``GET target``."""
        split = urlsplit(target)
        path = unquote(split.path)
        state = self._state()
        if path == "/.well-known/did.json":
            if self.web_did is None or self.web_did not in state.accounts:
                return xrpc.HttpReply.json({"error": "NotFound", "message": "no did:web account here"}, 404)
            return xrpc.did_document(state, self.web_did, self.url)
        if path == "/xrpc/_health":
            return xrpc.HttpReply.json(self.health())
        return xrpc.handle(state, path, parse_qs(split.query, keep_blank_values=True), dids=self.dids)

    def health(self) -> dict[str, Any]:
        return {
            "version": f"devrelay {__version__}",
            "hostname": self.hostname,
            "accounts": len(self.dids),
            "requests": self.requests,
            "rateLimited": self.rate_limited,
            "early": self.early,
            "faulted": self.faulted,
        }

    def describe(self) -> dict[str, Any]:
        """This host's line of ``--hosts-out``."""
        return {"hostname": self.hostname, "url": self.url, "accounts": len(self.dids)}


async def _respond(
    writer: asyncio.StreamWriter, reply: xrpc.HttpReply, extra: Optional[dict[str, str]] = None, *, body: bool = True
) -> None:
    lines = [
        f"HTTP/1.1 {reply.status} {http.HTTPStatus(reply.status).phrase}",
        f"Content-Type: {reply.content_type}",
        f"Content-Length: {len(reply.body)}",
        "Connection: close",
    ]
    lines.extend(f"{name}: {value}" for name, value in (extra or {}).items())
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
    if body:
        writer.write(reply.body)
    await writer.drain()
