"""Health and metrics over HTTP: ``GET /health`` (JSON) and ``GET /metrics`` (Prometheus text).

:func:`health_document` is pure: it turns the worker's state into the status code and document.
:class:`HealthServer` is the standard library's threading HTTP server (one request per
connection) in a thread of its own, so the worker needs no web framework and answers while its
event loop is busy.  :func:`check_health` is the client behind
``supervisor worker healthcheck``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import http.server
import json
import logging
import threading
import urllib.error
import urllib.request
from datetime import datetime, timezone
from typing import Any, Callable, Optional

from supervisor.secrets import mask_text

__all__ = ["HealthInputs", "health_document", "HealthServer", "HealthResult", "check_health", "backfill_text"]

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
    elif (
        starting
        and database != "down"
        and not inputs.stopping
        and all(r in ("not connected to the relay yet", "database not reached yet") for r in reasons)
    ):
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
        "firehose": {**live.to_json(now), "url": mask_text(inputs.relay_url)},
        "worker_id": inputs.worker_id,
        "uptime_seconds": round(now - inputs.started_at, 1),
        "time": inputs.wall.astimezone(timezone.utc).isoformat(timespec="seconds"),
    }
    return (200 if status == "ok" else 503), document


_REASONS = {
    200: "OK",
    404: "Not Found",
    405: "Method Not Allowed",
    400: "Bad Request",
    503: "Service Unavailable",
    500: "Internal Server Error",
}


class HealthServer:
    """``/health`` and ``/metrics`` on ``host:port`` (port 0 picks a free one: see :attr:`port`).

    It answers from a thread of its own, so a busy event loop (a worker catching up) never delays
    an answer; ``health`` and ``metrics`` are called in that thread.
    """

    def __init__(
        self,
        host: str,
        port: int,
        health: Callable[[], tuple[int, dict[str, Any]]],
        metrics: Callable[[], bytes],
        metrics_type: str,
    ) -> None:
        self.host = host
        self.port = port
        self._health = health
        self._metrics = metrics
        self._metrics_type = metrics_type
        self._server: Optional[http.server.ThreadingHTTPServer] = None
        self._thread: Optional[threading.Thread] = None

    async def start(self) -> None:
        """Listen; :attr:`port` then holds the real port."""
        route = self._route

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = 5

            def _answer(self, body_too: bool) -> None:
                code, ctype, body = route(f"{self.command} {self.path} HTTP/1.1".encode("latin-1"))
                self.send_response(code, _REASONS.get(code, "Error"))
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.send_header("Connection", "close")
                self.end_headers()
                if body_too:
                    self.wfile.write(body)
                self.close_connection = True

            def do_GET(self) -> None:  # noqa: N802 (the http.server naming)
                self._answer(True)

            def do_HEAD(self) -> None:  # noqa: N802
                self._answer(False)

            def do_POST(self) -> None:  # noqa: N802
                self._answer(True)

            do_PUT = do_DELETE = do_PATCH = do_POST

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True
            allow_reuse_address = True

        self._server = Server((self.host, self.port), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.2}, name="health", daemon=True
        )
        self._thread.start()

    async def close(self) -> None:
        """Stop listening."""
        server, self._server = self._server, None
        if server is not None:
            await asyncio.to_thread(server.shutdown)
            server.server_close()

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
        text = (
            f"{doc.get('status', 'unknown')}: database {doc.get('database')}, "
            f"firehose {'connected' if doc.get('firehose_connected') else 'disconnected'}, "
            f"cursor {doc.get('cursor')}, lag {doc.get('lag_seconds')} s, "
            f"{doc.get('events_per_second')} events/s, backfill {backfill_text(doc.get('backfill') or {})}"
        )
        reasons = doc.get("reasons") or []
        return text + (f" ({'; '.join(reasons)})" if reasons else "")


def backfill_text(backfill: dict[str, Any]) -> str:
    """The backfill part of a health summary: its state, and a crawl's progress."""
    state = str(backfill.get("state"))
    if backfill.get("mode") != "crawl":
        return state
    repos = backfill.get("repos") or {}
    eta = backfill.get("eta_seconds")
    unreachable = f" ({repos['unreachable']} repositories on them)" if repos.get("unreachable") else ""
    if repos.get("given_up"):
        unreachable += f", {repos['given_up']} repositories given up"
    return (
        f"{state} (crawl: {repos.get('done', 0)}/{repos.get('total', 0)} repositories, "
        f"{backfill.get('records', 0)} records, {backfill.get('records_per_second', 0)} records/s, "
        f"{backfill.get('hosts_parked', 0)} hosts parked, {backfill.get('hosts_unreachable', 0)} hosts unreachable"
        f"{unreachable}, ETA {'?' if eta is None else f'{eta} s'})"
    )


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
