"""The development relay: ``subscribeRepos`` over WebSocket plus the sync XRPC routes.

The I/O layer over the pure parts: :mod:`~supervisor.devrelay.synth` or
:mod:`~supervisor.devrelay.capture` provide the events, :mod:`~supervisor.devrelay.log`
decides where a subscription starts, :mod:`~supervisor.devrelay.xrpc` answers HTTP GETs
(through the ``process_request`` hook of :mod:`websockets`), and
:mod:`~supervisor.devrelay.faults` says when to misbehave.

Each connection reads the log at its own pace. Live events that a connection has not sent
yet form its outbound backlog; past ``buffer`` events the connection gets the error frame
``ConsumerTooSlow`` and is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import http
import itertools
import json
import logging
import os
import socket
import time
from typing import Any, Iterable, Iterator, Optional, Sequence
from urllib.parse import parse_qs, unquote, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from supervisor.atproto import frames
from supervisor.devrelay import capture as capture_files
from supervisor.devrelay import xrpc
from supervisor.devrelay.errors import ConfigError
from supervisor.devrelay.events import Event
from supervisor.devrelay.faults import Faults, malformed_frame, tamper
from supervisor.devrelay.hosts import HostSettings, PdsHost, bind_socket
from supervisor.devrelay.log import EventLog, plan_subscription
from supervisor.devrelay.network import LARGE_REPO, NetworkState
from supervisor.devrelay.synth import MAX_TIME_US, SynthConfig, SyntheticNetwork
from supervisor.devrelay.truth import write_truth, write_truth_accounts

__all__ = ["RelayConfig", "DevRelay", "write_truth", "write_truth_accounts"]

_logger = logging.getLogger("supervisor.devrelay")

_CHUNK = 4096  # events appended to the log at a time while loading the history
_READ_BATCH = 256  # events a connection takes from the log at a time
_LIVE_BATCH = 256  # live events released at a time, at most, when a rate is set


@dataclasses.dataclass(frozen=True)
class RelayConfig:
    """Everything the relay serves and how.

    Exactly one source: ``synth`` (a synthetic network) or ``capture`` (a capture file).
    ``rate`` is live events per second (0: as fast as consumers read). ``buffer`` is the
    per-connection backlog of live events allowed before ``ConsumerTooSlow``. ``send_buffer``
    fixes each subscriber socket's kernel send buffer (bytes; 0: the kernel's own, which grows
    to megabytes and can hide a slow consumer from the backlog count). The three
    paths, when set, are written while the relay prepares (before it listens).

    A synthetic network's live events are generated before the relay listens only when
    something needs all of them first (:attr:`needs_all_live`); otherwise as they are
    sequenced, so the relay listens as soon as the history is ready.
    """

    synth: Optional[SynthConfig] = None
    capture: Optional[str] = None
    retention_hours: float = 72.0
    rate: float = 0.0
    buffer: int = 10_000
    send_buffer: int = 0
    faults: Faults = Faults()
    truth: Optional[str] = None
    truth_accounts: Optional[str] = None
    write_capture: Optional[str] = None
    close_timeout: float = 5.0
    hosts: HostSettings = HostSettings()

    @property
    def needs_all_live(self) -> bool:
        """Whether every live event must exist before the relay listens: the truth files and the
        capture hold the final network, and PDS hosts are dealt the final accounts."""
        return bool(self.truth or self.truth_accounts or self.write_capture or self.hosts.count)

    def validate(self) -> None:
        """Raise :class:`ConfigError` for an unusable combination of settings."""
        if (self.synth is None) == (self.capture is None):
            raise ConfigError("give exactly one event source: a synthetic network or a capture file")
        if self.synth is not None:
            self.synth.validate()
        if not (self.retention_hours > 0 and self.retention_hours * 3_600e6 <= MAX_TIME_US):
            raise ConfigError(
                f"retention-hours must be positive and at most {MAX_TIME_US // 3_600_000_000} "
                f"(the range of record keys), not {self.retention_hours}"
            )
        if not 0 <= self.rate < float("inf"):
            raise ConfigError(f"rate must be a finite number of events per second (0: unthrottled), not {self.rate}")
        if self.buffer < 1:
            raise ConfigError(f"buffer must be at least 1, not {self.buffer}")
        if self.send_buffer < 0:
            raise ConfigError(f"send_buffer must be 0 (the kernel's default) or a byte count, not {self.send_buffer}")
        self.hosts.validate(self.synth.web_accounts if self.synth is not None else 0)
        self._check_outputs()

    def _check_outputs(self) -> None:
        """Refuse an output file that is the capture being served, or another output: it would be lost."""
        named = [
            ("capture", self.capture),
            ("truth", self.truth),
            ("truth-accounts", self.truth_accounts),
            ("write-capture", self.write_capture),
            ("hosts-out", self.hosts.out),
        ]
        seen: list[tuple[str, str]] = []
        for option, path in named:
            if path is None:
                continue
            for earlier, other in seen:
                if _same_file(path, other):
                    raise ConfigError(
                        f"{option} and {earlier} name the same file ({path}): writing one would "
                        "destroy the other; give another path"
                    )
            seen.append((option, path))
        if self.close_timeout <= 0:
            raise ConfigError("close_timeout must be positive")
        self.faults.validate()


def _chunks(events: Iterable[Event], size: int) -> Iterator[list[Event]]:
    chunk: list[Event] = []
    for event in events:
        chunk.append(event)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


@dataclasses.dataclass(eq=False)
class _Subscriber:
    """One connection's position: ordinals count events appended to the log."""

    joined: int
    sent: int
    too_slow: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)

    def backlog(self, appended: int) -> int:
        return appended - max(self.sent, self.joined)


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:  # one does not exist yet: compare where they would be
        return os.path.realpath(a) == os.path.realpath(b)


class DevRelay:
    """A relay serving one network; ``await start()``, then connect to :attr:`url`.

    :meth:`prepare` (called by :meth:`start` when needed) generates or loads the events and
    writes the truth and capture files. ``state`` is the network as served so far;
    ``final_state`` is the network after every event, live ones included (with live events
    generated as they are sequenced, only once :attr:`finished`: until then, after the
    ``live_generated`` of them made so far).
    """

    def __init__(self, config: RelayConfig) -> None:
        config.validate()
        self.config = config
        self.log = EventLog(int(config.retention_hours * 3_600e6))
        self.state = NetworkState()
        self.final_state = NetworkState()
        #: The live events, when generated before listening (see ``RelayConfig.needs_all_live``).
        self.live: list[Event] = []
        self.live_total = 0  # live events to emit, generated already or not
        self.live_generated = 0  # live events generated so far
        self._live_source: Optional[Iterator[Event]] = None
        self._pending: list[Event] = []  # live events generated and not released yet
        self._generating: Optional[asyncio.Future[None]] = None
        self.released = 0  # live events appended so far
        self.too_slow_closed = 0  # connections closed with ConsumerTooSlow
        self.prepare_seconds = 0.0
        self._prepared = False
        self._server: Optional[Server] = None
        self._producer: Optional[asyncio.Task[None]] = None
        self._changed = asyncio.Event()
        self._demand = asyncio.Event()
        self._subscribers: set[_Subscriber] = set()
        self._tampered: dict[int, Optional[bytes]] = {}
        self._host = "127.0.0.1"
        self._port = 0
        #: The PDS hosts (empty without ``config.hosts.count``), numbered from 1 in this order.
        self.hosts: list[PdsHost] = []
        self._host_of: dict[str, PdsHost] = {}
        #: The highest seq the relay did not replay when it started listening (0: it replays all).
        self.replay_floor = 0

    # -- preparing the events ------------------------------------------------------------------

    def prepare(self) -> None:
        """Generate (or load) every event once; idempotent."""
        if self._prepared:
            return
        started = time.perf_counter()
        cfg = self.config
        self._bind_hosts()
        capture_out = open(cfg.write_capture, "wb") if cfg.write_capture else None
        try:
            if cfg.synth is not None:
                synth = cfg.synth
                web = [host.hostname for host in self.hosts if host.web_did is not None]
                if web:
                    synth = dataclasses.replace(synth, web_hosts=tuple(web))
                self._prepare_synth(synth, capture_out)
            else:
                self._prepare_capture(cfg.capture or "", capture_out)
        except BaseException:
            self._close_host_sockets()
            raise
        finally:
            if capture_out is not None:
                capture_out.close()
        self.replay_floor = self.log.evicted_through
        self._assign_hosts()
        for did, acct in self.state.accounts.items():
            if acct.rev is not None and len(acct.records) >= LARGE_REPO:
                self.state.export(did)  # built now, not on the first getRepo (which would stall the loop)
        if cfg.truth:
            write_truth(cfg.truth, self.final_state, self.replay_floor)
        if cfg.truth_accounts:
            write_truth_accounts(cfg.truth_accounts, self.final_state)
        self._prepared = True
        self.prepare_seconds = time.perf_counter() - started

    def _prepare_synth(self, synth: SynthConfig, capture_out: Any) -> None:
        network = SyntheticNetwork(synth)
        events = network.events()
        history = itertools.islice(events, synth.events)
        for chunk in _chunks(history, _CHUNK):
            if capture_out is not None:
                capture_files.write_capture(capture_out, chunk)
            self.log.extend(chunk)
        # The served state stops at "now"; the generator runs on to the final state.
        self.state = network.state.copy()
        self.final_state = network.state
        self.live_total = synth.live_events
        if not self.config.needs_all_live:
            self._live_source = events  # generated as they are sequenced (see _take_live)
            return
        self.live = list(events)
        self.live_generated = len(self.live)
        if capture_out is not None:
            capture_files.write_capture(capture_out, self.live)

    def _prepare_capture(self, path: str, capture_out: Any) -> None:
        events = capture_files.load_capture(path)
        for chunk in _chunks(events, _CHUNK):
            for event in chunk:
                self.state.apply(event)
            if capture_out is not None:
                capture_files.write_capture(capture_out, chunk)
            self.log.extend(chunk)
        self.final_state = self.state

    def _bind_hosts(self) -> None:
        """Bind every host's socket now: a ``did:web`` names its host's port."""
        settings = self.config.hosts
        if not settings.count or self.hosts:
            return
        total = settings.count + (self.config.synth.web_accounts if self.config.synth is not None else 0)
        try:
            for index in range(total):
                sock = bind_socket(settings.address, settings.port + index if settings.port else 0)
                self.hosts.append(PdsHost(index + 1, sock, settings, lambda: self.state, web=index >= settings.count))
        except BaseException:
            self._close_host_sockets()
            raise

    def _close_host_sockets(self) -> None:
        for host in self.hosts:
            host.sock.close()
        self.hosts = []

    def _assign_hosts(self) -> None:
        """Each ``did:web`` account on its own host; the others dealt out in DID order."""
        if not self.hosts:
            return
        count = self.config.hosts.count
        by_web = {host.web_did: host for host in self.hosts if host.web_did is not None}
        shared: list[list[str]] = [[] for _ in range(count)]
        others = sorted(did for did in self.final_state.accounts if did not in by_web)
        for index, did in enumerate(others):
            shared[index % count].append(did)
        for host, dids in zip(self.hosts, shared):
            host.dids = frozenset(dids)
        for did, host in by_web.items():
            if did in self.final_state.accounts:
                host.dids = frozenset((did,))
        self._host_of = {did: host for host in self.hosts for did in host.dids}

    def pds_url(self, did: str, asked_at: Optional[str] = None) -> str:
        """Where ``did``'s repository is hosted: its PDS host, or the relay itself without hosts.

        ``asked_at``: the ``Host`` header of the request; the relay then names itself by the address
        the client reached (``relay:2470`` in a compose network), not by the one it listens on
        (``0.0.0.0``).
        """
        host = self._host_of.get(did)
        if host is not None:
            return host.url
        if asked_at and "/" not in asked_at and "@" not in asked_at and " " not in asked_at:
            return f"http://{asked_at}"
        return self.http_url

    def host_list(self) -> list[dict[str, Any]]:
        """The ``listHosts`` entries, in host order."""
        out = []
        for host in self.hosts:
            seq = max((self.state.accounts[did].seq for did in host.dids if did in self.state.accounts), default=0)
            out.append({"hostname": host.hostname, "seq": seq, "accountCount": len(host.dids), "status": host.status})
        return out

    def write_hosts(self, path: str) -> None:
        """Write ``[{"hostname", "url", "accounts"}]`` (JSON) for the hosts."""
        with open(path, "w", encoding="utf-8") as out:
            json.dump([host.describe() for host in self.hosts], out, indent=1)
            out.write("\n")

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Prepare if needed, listen on ``host:port`` (0: a free port) and start live emission."""
        if self._server is not None:
            raise RuntimeError("the relay is already started")
        if not self._prepared:
            await asyncio.get_running_loop().run_in_executor(None, self.prepare)
        self._changed = asyncio.Event()
        self._demand = asyncio.Event()
        self._server = await serve(
            self._connection,
            host,
            port,
            process_request=self._process_request,
            compression=None,
            close_timeout=self.config.close_timeout,
            max_size=1 << 16,  # consumers send nothing of interest
        )
        self._host = host
        self._port = self._server.sockets[0].getsockname()[1]
        try:
            for pds in self.hosts:
                await pds.start()
            if self.config.hosts.out:
                self.write_hosts(self.config.hosts.out)
        except BaseException:
            await self.stop()
            raise
        if self.live_total:
            self._producer = asyncio.create_task(self._produce(), name="devrelay-live")

    async def stop(self) -> None:
        """Stop emitting, close every connection and stop listening."""
        if self._producer is not None:
            self._producer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._producer
            self._producer = None
        for pds in self.hosts:
            await pds.stop()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> "DevRelay":
        if self._server is None:
            await self.start()
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        """The TCP port the relay listens on."""
        return self._port

    @property
    def host(self) -> str:
        """The address the relay listens on."""
        return self._host

    @property
    def url(self) -> str:
        """``ws://host:port`` (append the subscription path, or use :attr:`subscribe_url`)."""
        return f"ws://{self._url_host()}:{self._port}"

    @property
    def http_url(self) -> str:
        """``http://host:port`` for the XRPC routes."""
        return f"http://{self._url_host()}:{self._port}"

    @property
    def subscribe_url(self) -> str:
        """The full ``subscribeRepos`` WebSocket URL."""
        return self.url + xrpc.SUBSCRIBE_PATH

    def _url_host(self) -> str:
        return f"[{self._host}]" if ":" in self._host else self._host

    @property
    def finished(self) -> bool:
        """Whether every live event has been emitted."""
        return self.released >= self.live_total

    # -- live emission -------------------------------------------------------------------------

    def _release(self, batch: Sequence[Event]) -> None:
        for event in batch:
            self.state.apply(event)
        self.log.extend(batch)
        self.released += len(batch)
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()
        appended = self.log.appended
        for sub in self._subscribers:
            if sub.backlog(appended) > self.config.buffer:
                sub.too_slow.set()

    def _generate_live(self, count: int) -> None:
        """Generate the next ``count`` live events into the pending list (in a thread: signing
        takes time, and the loop goes on serving meanwhile)."""
        assert self._live_source is not None
        batch = list(itertools.islice(self._live_source, count))
        self.live_generated += len(batch)
        self._pending.extend(batch)

    async def _take_live(self, count: int) -> list[Event]:
        """The next ``count`` (fewer at the end) live events to release.

        Generated lazily: each call waits for the events it needs, then starts generating the
        next ``count`` while consumers read these.
        """
        count = min(count, self.live_total - self.released)
        if self._live_source is None:
            return self.live[self.released : self.released + count]
        loop = asyncio.get_running_loop()
        if self._generating is None and len(self._pending) < count:
            self._generating = loop.run_in_executor(None, self._generate_live, count - len(self._pending))
        if self._generating is not None:
            # Shielded: a stop while a batch is being made leaves its events pending, in order.
            await asyncio.shield(self._generating)
            self._generating = None
        batch, self._pending = self._pending[:count], self._pending[count:]
        ahead = min(count, self.live_total - self.live_generated)
        if ahead > 0:
            self._generating = loop.run_in_executor(None, self._generate_live, ahead)
        return batch

    async def _produce(self) -> None:
        try:
            await self._produce_live()
        finally:
            if self._generating is not None:
                # Stopping: let the thread finish the batch it is making (its events stay pending).
                with contextlib.suppress(BaseException):
                    await asyncio.shield(self._generating)
                self._generating = None

    async def _produce_live(self) -> None:
        loop = asyncio.get_running_loop()
        rate = self.config.rate
        total = self.live_total
        if rate > 0:
            start = loop.time()
            while self.released < total:
                due = min(total, int((loop.time() - start) * rate) + 1)
                if due > self.released:
                    self._release(await self._take_live(min(due - self.released, _LIVE_BATCH)))
                await asyncio.sleep(max(start + self.released / rate - loop.time(), 0.0005))
        else:
            # As fast as consumers read: release a batch whenever one of them has caught up.
            batch = max(1, min(64, self.config.buffer))
            while self.released < total:
                await self._demand.wait()
                self._demand.clear()
                self._release(await self._take_live(batch))
                await asyncio.sleep(0)

    # -- HTTP ----------------------------------------------------------------------------------

    def _process_request(self, connection: ServerConnection, request: Request) -> Optional[Response]:
        parts = urlsplit(request.path)
        if parts.path == xrpc.SUBSCRIBE_PATH and "websocket" in request.headers.get("Upgrade", "").lower():
            return None
        if parts.path.startswith("/did:plc:") and parts.path.endswith("/log/audit"):
            reply = xrpc.did_audit_log(self.state, unquote(parts.path[1 : -len("/log/audit")]))
        elif parts.path.startswith("/did:"):
            did = unquote(parts.path[1:])
            if did.startswith("did:plc:"):
                reply = xrpc.did_document(self.state, did, self.pds_url(did, request.headers.get("Host")))
            else:
                reply = xrpc.HttpReply.json({"message": f"DID not registered: {did}"}, 404)
        elif parts.path == "/xrpc/com.atproto.sync.listHosts":
            reply = xrpc.list_hosts(self.host_list(), parse_qs(parts.query, keep_blank_values=True))
        else:
            reply = xrpc.handle(self.state, parts.path, parse_qs(parts.query, keep_blank_values=True))
        headers = Headers()
        headers["Content-Type"] = reply.content_type
        headers["Content-Length"] = str(len(reply.body))
        headers["Connection"] = "close"
        return Response(reply.status, http.HTTPStatus(reply.status).phrase, headers, reply.body)

    # -- subscriptions -------------------------------------------------------------------------

    async def _connection(self, ws: ServerConnection) -> None:
        query = parse_qs(urlsplit(ws.request.path if ws.request else "").query)
        cursors = query.get("cursor")
        cursor_text = cursors[-1] if cursors else None
        cursor: Optional[int] = None
        if cursor_text not in (None, ""):
            try:
                cursor = int(cursor_text)
                if cursor < 0:
                    raise ValueError
            except ValueError:
                await self._fail(ws, "InvalidRequest", f"cursor must be a non-negative integer, not {cursor_text!r}")
                return
        plan = plan_subscription(cursor, self.log)
        if plan.error is not None:
            await self._fail(ws, *plan.error)
            return
        if self.config.send_buffer:
            sock = ws.transport.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.config.send_buffer)
        sub = _Subscriber(joined=self.log.appended, sent=self.log.ordinal_after(plan.after_seq))
        self._subscribers.add(sub)
        tasks: list[asyncio.Task[Any]] = []
        try:
            if plan.info is not None:
                await ws.send(frames.encode_info(*plan.info))
            pump = asyncio.create_task(self._pump(ws, sub, plan.after_seq))
            slow = asyncio.create_task(sub.too_slow.wait())
            closed = asyncio.create_task(ws.wait_closed())
            tasks = [pump, slow, closed]
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            if slow.done() and not pump.done() and not closed.done():
                pump.cancel()
                with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                    await pump
                self.too_slow_closed += 1
                _logger.info(
                    "ConsumerTooSlow: closing a connection with more than %d live events waiting", self.config.buffer
                )
                await self._fail(
                    ws, "ConsumerTooSlow", f"more than {self.config.buffer} events waiting for this consumer"
                )
        except ConnectionClosed:
            pass
        finally:
            self._subscribers.discard(sub)
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                    await task

    async def _pump(self, ws: ServerConnection, sub: _Subscriber, after_seq: int) -> None:
        """Send events after ``after_seq`` for as long as the connection lives."""
        faults = self.config.faults
        last = after_seq
        sent = 0
        malformed = 0
        while True:
            batch, end = self.log.read_after(last, _READ_BATCH)
            if not batch:
                waiter = self._changed
                if not self.config.rate:
                    self._demand.set()
                await waiter.wait()
                continue
            first = end - len(batch)
            for index, event in enumerate(batch):
                data = self._frame(event) if faults.tampering and event.kind == "commit" else event.encoded()
                if data is not None:
                    await ws.send(data)
                last = event.seq
                sub.sent = first + index + 1
                sent += 1
                if not faults.enabled:
                    continue
                actions = faults.after(sent)
                if actions.malformed:
                    await ws.send(malformed_frame(malformed))
                    malformed += 1
                if actions.stall_seconds:
                    # A stalled connection carries nothing, pings included: nothing is read meanwhile.
                    ws.transport.pause_reading()
                    try:
                        await asyncio.sleep(actions.stall_seconds)
                    finally:
                        ws.transport.resume_reading()
                if actions.drop:
                    # A network failure: no close frame, but what was sent gets delivered.
                    ws.transport.close()
                    return

    def _frame(self, event: Event) -> Optional[bytes]:
        """The frame sent for a commit when tampering is on (the same on every connection)."""
        kind = self.config.faults.tamper_kind(event.seq)
        if kind is None:
            return event.encoded()
        if event.seq not in self._tampered:
            self._tampered[event.seq] = tamper(event.encoded(), kind)
        return self._tampered[event.seq]

    async def _fail(self, ws: ServerConnection, name: str, message: str) -> None:
        """Send an error frame, then close (the frame may wait for a slow reader)."""
        try:
            await asyncio.wait_for(ws.send(frames.encode_error(name, message)), self.config.close_timeout)
            await ws.close(1008, name)
        except (ConnectionClosed, asyncio.TimeoutError):
            ws.transport.abort()
