"""Findings: what the policy found, with a stable code, a severity, a fix and a location."""

from __future__ import annotations

import dataclasses
from typing import Any, Optional

from supervisor.compose.model import Location

__all__ = ["Rule", "RULES", "rule", "Finding", "SEVERITIES", "exit_code"]

SEVERITIES = ("error", "warning", "info")


@dataclasses.dataclass(frozen=True)
class Rule:
    """A finding code and what it is about (also the SARIF rule metadata)."""

    code: str
    name: str
    severity: str  # the default severity
    summary: str
    help: str


RULES: dict[str, Rule] = {r.code: r for r in [
    Rule("SV000", "compose-error", "error",
         "The compose files cannot be resolved.",
         "Fix the compose file at the location given; Docker Compose would refuse it too."),
    Rule("SV001", "cursor-collision", "error",
         "Two enabled writers share one firehose_cursor row.",
         "Each firehose_cursor row must have one writer: turn one backfill off (BACKFILL_DAYS=0) or give "
         "one writer another cursor name (BACKFILL_CURSOR_SERVICE / FIREHOSE_CURSOR_SERVICE on this project's worker)."),
    Rule("SV002", "several-primaries", "error",
         "Several containers are the primary worker (replicas with a fixed WORKER_ID=0).",
         "Run one replica of the primary worker, or a separate service per worker with its own WORKER_ID."),
    Rule("SV003", "start-failure", "error",
         "A value makes a worker crash or refuse to start.",
         "Use a whole number: BACKFILL_DAYS is a number of days (0 off, -1 all history), WORKER_ID is 0 for the primary."),
    Rule("SV004", "misleading-switch", "warning",
         "A variable is set to turn a backfill off, but it does not.",
         "FIREHOSE_ENABLED only gates the TypeScript live firehose consumer; BACKFILL_DAYS=0 turns the TypeScript backfill off."),
    Rule("SV005", "beyond-relay-window", "warning",
         "The backfill reaches further back than the relay replays.",
         "A relay keeps a limited window (72 hours by default): ask for at most that many days, or expect the backfill to cover only the window."),
    Rule("SV006", "backfill-days-unused", "info",
         "BACKFILL_DAYS is set but no service will backfill.",
         "Check which service is meant to backfill: it must be the primary (WORKER_ID 0 / PM2 instance 0) with a day count its parser accepts."),
    Rule("SV007", "shell-value-unused", "info",
         "A variable set in the shell or .env reaches no service.",
         "Compose passes the shell to a container only through ${VAR} in a compose file or a bare `- VAR` entry; a literal value in the compose file wins."),
    Rule("SV008", "unknown-implementation", "warning",
         "A service sets BACKFILL_DAYS but matches no implementation profile, or names an unknown one.",
         "Declare it: x-supervisor: {implementation: NAME} with a profile from schemas/profiles."),
    Rule("SV009", "pm2-assigns-pm-id", "warning",
         "pm_id is set for a service run by PM2, which assigns its own.",
         "PM2 gives each instance its own pm_id (0..N-1) and ignores a pm_id from the environment: set BACKFILL_DAYS=0 to keep the TypeScript backfill off."),
    Rule("SV010", "invalid-extension", "error",
         "The x-supervisor block is malformed.",
         "See schemas/x-supervisor.schema.json: implementation, ignore: {CODE: reason}, relay_window_hours."),
]}

_BY_NAME = {r.name: r for r in RULES.values()}


def rule(code_or_name: str) -> Optional[Rule]:
    """The rule for a code (``SV001``) or a name (``cursor-collision``)."""
    return RULES.get(code_or_name.upper()) or _BY_NAME.get(code_or_name.lower())


@dataclasses.dataclass
class Finding:
    """One finding. ``location`` points at the deciding value; ``related`` at the others involved."""

    code: str
    severity: str
    message: str
    location: Optional[Location] = None
    related: list[tuple[Location, str]] = dataclasses.field(default_factory=list)
    services: list[str] = dataclasses.field(default_factory=list)
    suppressed: Optional[str] = None  # the reason, when an x-supervisor ignore entry applies

    @property
    def name(self) -> str:
        return RULES[self.code].name

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "name": self.name,
            "severity": self.severity,
            "message": self.message,
            "location": self.location.to_json() if self.location else None,
            "related": [{**loc.to_json(), "message": msg} for loc, msg in self.related],
            "services": list(self.services),
            "suppressed": self.suppressed is not None,
            "suppression_reason": self.suppressed,
        }


def exit_code(findings: list[Finding], *, strict: bool = False) -> int:
    """0 clean, 1 when an unsuppressed error (or warning with ``strict``) remains, 2 for unusable input."""
    active = [f for f in findings if f.suppressed is None]
    if any(f.code in ("SV000", "SV010") for f in active):
        return 2
    if any(f.severity == "error" for f in active):
        return 1
    if strict and any(f.severity == "warning" for f in active):
        return 1
    return 0
