"""One row per service (and per group of processes that decide differently): who backfills, and why."""

from __future__ import annotations

import dataclasses
from typing import Any, Optional

from supervisor.policy.engine import Evaluation, ServiceDecision, Unit
from supervisor.policy.profiles import Profile
from supervisor.policy.provenance import describe_value
from supervisor.secrets import mask_value, redact, secret_values

__all__ = ["AuditRow", "days_meaning", "audit_rows"]


@dataclasses.dataclass
class AuditRow:
    """What one group of identical processes does."""

    service: str
    group: str
    replicas: int
    instances: int
    implementation: Optional[str]
    detected_by: str
    backfill_days: Optional[str]
    backfill_days_origin: str
    meaning: str
    primary: Optional[bool]
    backfill_enabled: bool
    cursor_service: Optional[str]
    live_consumer: Optional[bool]
    live_cursor: Optional[str]
    firehose_enabled: Optional[str]
    notes: list[str] = dataclasses.field(default_factory=list)
    variables: Optional[dict[str, Optional[str]]] = None

    def to_json(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        if self.variables is None:
            out.pop("variables")
        return out


def days_meaning(profile: Profile, unit: Unit) -> str:
    """``7 days``, ``all history``, ``disabled``, ``crashes at start`` or ``refuses to start``."""
    for failure in unit.failures:
        return "crashes at start" if failure.kind == "crash" else "refuses to start"
    days = unit.values.get(profile.days_value)
    if not isinstance(days, int) or isinstance(days, bool):
        return "disabled"
    if days in profile.all_history:
        return "all history"
    if days > 0:
        return "1 day" if days == 1 else f"{days} days"
    return "disabled"


def _row(evaluation: Evaluation, decision: ServiceDecision, unit: Optional[Unit], all_vars: bool) -> AuditRow:
    service = decision.service
    profile = decision.profile
    variable = profile.days_variable if profile else "BACKFILL_DAYS"
    record = service.environment.get(variable)
    days = unit.env.get(variable) if unit is not None else (record.value if record else None)
    origin = describe_value(variable, record, evaluation.root, value=days)
    notes: list[str] = []
    if decision.pm2 is not None and decision.pm2.note:
        notes.append(decision.pm2.note)
    if unit is not None and unit.failures:
        notes.extend(str(f) for f in unit.failures)
    if profile is not None:
        live = profile.writer("live")
        if live is not None and live.cursor is None and live.cursor_note:
            notes.append(live.cursor_note)
    variables = None
    if all_vars:
        env = unit.env if unit is not None else {k: v.value for k, v in service.environment.items()}
        variables = {k: mask_value(k, v) for k, v in sorted(env.items())}
    firehose = unit.env.get("FIREHOSE_ENABLED") if unit is not None else (
        service.environment["FIREHOSE_ENABLED"].value if "FIREHOSE_ENABLED" in service.environment else None)
    if profile is None or unit is None:
        return AuditRow(decision.name, "", _safe_replicas(decision), 1, None, decision.detection.clue, days, origin,
                        "not checked", None, False, None, None, None, firehose,
                        notes + ([f"unknown implementation {decision.detection.unknown_name!r}"]
                                 if decision.detection.unknown_name else []), variables)
    primary = unit.values.get(profile.primary)
    return AuditRow(
        service=decision.name,
        group=unit.label,
        replicas=unit.replicas,
        instances=unit.instances,
        implementation=profile.name,
        detected_by=decision.detection.clue,
        backfill_days=days,
        backfill_days_origin=origin,
        meaning=days_meaning(profile, unit),
        primary=primary if isinstance(primary, bool) else None,
        backfill_enabled=bool(unit.started and unit.count > 0 and unit.enabled.get("backfill")),
        cursor_service=unit.cursors.get("backfill"),
        live_consumer=bool(unit.started and unit.count > 0 and unit.enabled.get("live")) if profile.writer("live") else None,
        live_cursor=unit.cursors.get("live"),
        firehose_enabled=firehose,
        notes=notes,
        variables=variables,
    )


def _safe_replicas(decision: ServiceDecision) -> int:
    try:
        return decision.service.replicas
    except (TypeError, ValueError):
        return 1


def audit_rows(evaluation: Evaluation, *, all_vars: bool = False) -> list[AuditRow]:
    """The audit table: one row per service, or per PM2 instance group when they differ.

    Values that templates took from secret variables are shown as ``****``.
    """
    rows: list[AuditRow] = []
    for decision in evaluation.services.values():
        if not decision.units:
            rows.append(_row(evaluation, decision, None, all_vars))
            continue
        for unit in decision.units:
            rows.append(_row(evaluation, decision, unit, all_vars))
    secrets = secret_values(evaluation.project)
    if secrets:
        rows = [_redact_row(row, secrets) for row in rows]
    return rows


def _redact_row(row: AuditRow, secrets: frozenset[str]) -> AuditRow:
    shown = ("backfill_days", "backfill_days_origin", "firehose_enabled", "notes", "variables")
    return dataclasses.replace(row, **{name: redact(getattr(row, name), secrets) for name in shown})
