"""Health and metrics over HTTP: ``GET /health`` (JSON) and ``GET /metrics`` (Prometheus text).

:func:`health_document` is pure: it turns the worker's state into the status code and document.
:class:`HealthServer` is a deliberately small HTTP/1.1 server on asyncio (one request per
connection), so the worker needs no web framework.  :func:`check_health` is the client behind
``supervisor worker healthcheck``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import urllib.error
import urllib.request
from datetime import datetime, timezone
from typing import Any, Callable, Optional

__all__ = ["HealthInputs", "health_document", "HealthServer", "HealthResult", "check_health"]

log = logging.getLogger("supervisor.worker.health")


@dataclasses.dataclass
class HealthInputs:
    """Everything :func:`health_document` looks at (monotonic times in seconds)."""

    now: float
    wall: datetime
    started_at: float
    database_ok: Optional[bool]
    live: Any  # StreamStatus
    backfill: Any  # BackfillStatus
    grace: float = 60.0
    worker_id: int = 0
    relay_url: str = ""
    stopping: bool = False


def health_document(inputs: HealthInputs) -> tuple[int, dict[str, Any]]:
    """The HTTP status (200 healthy, 503 not) and the JSON document.

    Healthy means: the database answered, and the relay connection is open or was lost less than
    ``grace`` seconds ago (reconnects with backoff are normal).  Until the first connection the
    worker reports ``starting`` (503) for up to ``grace`` seconds, then ``unhealthy``.
    """
    live = inputs.live
    reasons: list[str] = []
    now = inputs.now
    if inputs.database_ok is None:
        database = "unknown"
        reasons.append("database not reached yet")
    elif inputs.database_ok:
        database = "ok"
    else:
        database = "down"
        reasons.append("database unreachable")
    starting = False
    if not live.connected:
        since = live.disconnected_since
        if since is None:
            if now - inputs.started_at < inputs.grace:
                starting = True
                reasons.append("not connected to the relay yet")
            else:
                reasons.append(f"no relay connection since start ({now - inputs.started_at:.0f} s)")
        elif now - since >= inputs.grace:
            reasons.append(f"relay disconnected for {now - since:.0f} s")
    if inputs.stopping:
        reasons.append("stopping")
    if not reasons:
        status = "ok"
    elif starting and database != "down" and not inputs.stopping and all(
            r in ("not connected to the relay yet", "database not reached yet") for r in reasons):
        status = "starting"
    else:
        status = "unhealthy"
    lag = None
    if live.committed_time is not None:
        lag = max(0.0, (inputs.wall - live.committed_time).total_seconds())
    backfill = inputs.backfill.to_json(now) if inputs.backfill is not None else {"state": "disabled"}
    document = {
        "status": status,
        "reasons": reasons,
        "database": database,
        "firehose_connected": bool(live.connected),
        "cursor": live.committed_seq,
        "lag_seconds": None if lag is None else round(lag, 3),
        "events_per_second": round(live.rate.rate(now), 2),
        "backfill": backfill,
        "firehose": {**live.to_json(now), "url": inputs.relay_url},
        "worker_id": inputs.worker_id,
        "uptime_seconds": round(now - inputs.started_at, 1),
        "time": inputs.wall.astimezone(timezone.utc).isoformat(timespec="seconds"),
    }
    return (200 if status == "ok" else 503), document


_REASONS = {200: "OK", 404: "Not Found", 405: "Method Not Allowed", 400: "Bad Request", 503: "Service Unavailable",
            500: "Internal Server Error"}


class HealthServer:
    """``/health`` and ``/metrics`` on ``host:port`` (port 0 picks a free one: see :attr:`port`)."""

    def __init__(self, host: str, port: int, health: Callable[[], tuple[int, dict[str, Any]]],
                 metrics: Callable[[], bytes], metrics_type: str) -> None:
        self.host = host
        self.port = port
        self._health = health
        self._metrics = metrics
        self._metrics_type = metrics_type
        self._server: Optional[asyncio.base_events.Server] = None

    async def start(self) -> None:
        """Listen; :attr:`port` then holds the real port."""
        self._server = await asyncio.start_server(self._serve, self.host, self.port, reuse_address=True)
        sockets = self._server.sockets or []
        if sockets:
            self.port = sockets[0].getsockname()[1]

    async def close(self) -> None:
        """Stop listening."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            try:
                request = await asyncio.wait_for(reader.readline(), 5)
                while True:
                    line = await asyncio.wait_for(reader.readline(), 5)
                    if line in (b"\r\n", b"\n", b""):
                        break
            except (asyncio.TimeoutError, ConnectionError, asyncio.LimitOverrunError, ValueError):
                return
            code, ctype, body = self._route(request)
            head = (f"HTTP/1.1 {code} {_REASONS.get(code, 'Error')}\r\nContent-Type: {ctype}\r\n"
                    f"Content-Length: {len(body)}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n")
            writer.write(head.encode("ascii") + (b"" if request.startswith(b"HEAD ") else body))
            await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()
            try:
                await writer.wait_closed()
            except (ConnectionError, OSError):
                pass

    def _route(self, request: bytes) -> tuple[int, str, bytes]:
        parts = request.decode("latin-1").split()
        if len(parts) < 2:
            return 400, "text/plain; charset=utf-8", b"bad request\n"
        method, target = parts[0], parts[1].split("?", 1)[0]
        if method not in ("GET", "HEAD"):
            return 405, "text/plain; charset=utf-8", b"method not allowed\n"
        try:
            if target in ("/health", "/healthz", "/"):
                code, document = self._health()
                return code, "application/json", (json.dumps(document, indent=2) + "\n").encode("utf-8")
            if target == "/metrics":
                return 200, self._metrics_type, self._metrics()
        except Exception as exc:  # the health endpoint must answer, whatever broke
            log.exception("health endpoint failed")
            return 500, "text/plain; charset=utf-8", f"internal error: {type(exc).__name__}\n".encode()
        return 404, "text/plain; charset=utf-8", b"not found: try /health or /metrics\n"


@dataclasses.dataclass(frozen=True)
class HealthResult:
    """The answer of a health check: ``ok`` is what the exit code follows."""

    ok: bool
    status_code: Optional[int]
    document: Optional[dict[str, Any]]
    error: Optional[str] = None

    def summary(self) -> str:
        """One line for people."""
        if self.error is not None:
            return f"unhealthy: {self.error}"
        doc = self.document or {}
        text = (f"{doc.get('status', 'unknown')}: database {doc.get('database')}, "
                f"firehose {'connected' if doc.get('firehose_connected') else 'disconnected'}, "
                f"cursor {doc.get('cursor')}, lag {doc.get('lag_seconds')} s, "
                f"{doc.get('events_per_second')} events/s, backfill {(doc.get('backfill') or {}).get('state')}")
        reasons = doc.get("reasons") or []
        return text + (f" ({'; '.join(reasons)})" if reasons else "")


def check_health(url: str, timeout: float = 5.0) -> HealthResult:
    """GET ``url``; healthy when it answers 200 with ``status`` ``ok``."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            code, body = response.status, response.read()
    except urllib.error.HTTPError as exc:
        code, body = exc.code, exc.read()
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return HealthResult(False, None, None, f"cannot reach {url}: {reason}")
    try:
        document = json.loads(body)
        if not isinstance(document, dict):
            raise ValueError("not an object")
    except ValueError:
        return HealthResult(False, code, None, f"{url} answered {code} without a JSON health document")
    return HealthResult(code == 200 and document.get("status") == "ok", code, document)
