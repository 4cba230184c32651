"""The worker's own health report, read through its container, judged and summarised (pure).

``supervisor worker healthcheck --json`` prints the worker's ``/health`` document.  Docker's
health status only says the check command exits 0; ``up --wait`` also wants proof that the
worker is really working: connected to the firehose and moving its cursor.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Optional

__all__ = ["WorkerHealth", "parse_worker_health", "summarise_docker_health", "is_worker_service"]


def _get(doc: Any, *paths: str) -> Any:
    """The first present value among dotted ``paths`` (the report nests some fields)."""
    for path in paths:
        node = doc
        for part in path.split("."):
            if isinstance(node, dict) and part in node:
                node = node[part]
            else:
                node = None
                break
        if node is not None:
            return node
    return None


@dataclasses.dataclass
class WorkerHealth:
    """The fields of the worker's health report that ``up`` and ``status`` show."""

    status: str
    database: Optional[str]
    firehose_connected: Optional[bool]
    cursor: Optional[Any]
    lag_seconds: Optional[float]
    events_per_second: Optional[float]
    events_total: Optional[int]
    backfill_state: Optional[str]
    raw: dict[str, Any]

    @property
    def healthy(self) -> bool:
        """The worker calls itself healthy."""
        return self.status.lower() in ("ok", "healthy", "pass", "up")

    @property
    def ingesting(self) -> bool:
        """Connected to the firehose and past its first event (a cursor, or events counted)."""
        if self.firehose_connected is False:
            return False
        if self.cursor not in (None, "", 0, "0"):
            return True
        return bool(self.events_total)

    def summary(self) -> str:
        """One line: firehose, cursor, lag, rate and backfill state."""
        parts = [f"status {self.status}"]
        if self.database is not None:
            parts.append(f"database {self.database}")
        if self.firehose_connected is not None:
            parts.append("firehose connected" if self.firehose_connected else "firehose disconnected")
        if self.cursor is not None:
            parts.append(f"cursor {self.cursor}")
        if self.lag_seconds is not None:
            parts.append(f"lag {self.lag_seconds:.1f}s")
        if self.events_per_second is not None:
            parts.append(f"{self.events_per_second:.1f} events/s")
        if self.events_total is not None:
            parts.append(f"{self.events_total} events")
        if self.backfill_state is not None:
            parts.append(f"backfill {self.backfill_state}")
        return ", ".join(parts)


def _float(value: Any) -> Optional[float]:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def _int(value: Any) -> Optional[int]:
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None


def _text(value: Any) -> Optional[str]:
    if value is None:
        return None
    if isinstance(value, dict):
        inner = _get(value, "status", "state")
        return None if inner is None else str(inner)
    if isinstance(value, bool):
        return "ok" if value else "down"
    return str(value)


def parse_worker_health(text: str) -> WorkerHealth:
    """Parse the JSON the worker prints; raises ``ValueError`` on anything else."""
    doc = json.loads(text)
    if not isinstance(doc, dict):
        raise ValueError("the worker's health report is not a JSON object")
    connected = _get(doc, "firehose.connected", "firehose_connected", "connected")
    return WorkerHealth(
        status=str(_get(doc, "status") or "unknown"),
        database=_text(_get(doc, "database", "db")),
        firehose_connected=None if connected is None else bool(connected),
        cursor=_get(doc, "firehose.cursor", "cursor"),
        lag_seconds=_float(_get(doc, "firehose.lag_seconds", "lag_seconds", "firehose.lag", "lag")),
        events_per_second=_float(_get(doc, "firehose.events_per_second", "events_per_second", "firehose.rate", "rate")),
        events_total=_int(
            _get(
                doc,
                "firehose.events",
                "firehose.events_total",
                "events_total",
                "events",
                "firehose.events_processed",
                "events_processed",
            )
        ),
        backfill_state=_text(_get(doc, "backfill.state", "backfill.status", "backfill_state", "backfill")),
        raw=doc,
    )


def summarise_docker_health(state: dict[str, Any], lines: int = 3) -> str:
    """The Engine's health record (``State.Health``) as the last few check outputs."""
    health = state.get("Health") or {}
    out = [f"health: {health.get('Status', 'none')}, failing streak {health.get('FailingStreak', 0)}"]
    for entry in (health.get("Log") or [])[-lines:]:
        output = " ".join(str(entry.get("Output") or "").split())
        out.append(f"  check exit {entry.get('ExitCode')}: {output[:300]}")
    return "\n".join(out)


def is_worker_service(name: str, config: dict[str, Any], extensions: Optional[dict[str, Any]] = None) -> bool:
    """Whether a service runs this project's worker (``x-supervisor.implementation``, else its command)."""
    marker = (extensions or {}).get("x-supervisor") or config.get("x-supervisor") or {}
    if isinstance(marker, dict) and marker.get("implementation"):
        return marker["implementation"] == "supervisor-worker"
    command = config.get("command") or []
    if isinstance(command, str):
        command = command.split()
    return list(command[:2]) == ["supervisor", "worker"]
