"""One row per service (and per group of processes that decide differently): who backfills, and why."""

from __future__ import annotations

import dataclasses
from typing import Any, Optional

from supervisor.policy.engine import Evaluation, ServiceDecision, Unit
from supervisor.policy.profiles import Profile
from supervisor.policy.provenance import describe_value
from supervisor.secrets import mask_text, mask_value, redact, secret_values

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
    program: Optional[str] = None  # "node server/index.ts", "python unified_worker.py", "redis-server"
    process_count: int = 1  # processes of this row: replicas x instances
    process_count_origin: str = ""  # "docker-entrypoint.sh:31: -i 32"
    variant: Optional[str] = None
    variant_chosen_by: str = ""
    markers: list[str] = dataclasses.field(default_factory=list)
    starts: bool = True
    start_note: str = ""
    writes: list[str] = dataclasses.field(default_factory=list)  # cursor rows this row's processes write
    guessed: bool = False  # the implementation comes from clues, not from the start-up chain
    chain: list[dict[str, str]] = dataclasses.field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        if self.variables is None:
            out.pop("variables")
        return out


def days_meaning(profile: Profile, unit: Unit) -> str:
    """``7 days``, ``all history``, ``disabled``, ``crashes at start``, ``refuses to start`` or ``no backfill``."""
    for failure in unit.failures:
        return "crashes at start" if failure.kind == "crash" else "refuses to start"
    if profile.writer("backfill") is None:
        return "no backfill"
    days = unit.value(profile.days_value)
    if not isinstance(days, int) or isinstance(days, bool):
        return "disabled"
    if days in profile.all_history:
        return "all history"
    if days > 0:
        return "1 day" if days == 1 else f"{days} days"
    return "disabled"


def program_text(decision: ServiceDecision) -> Optional[str]:
    """The program a service runs and its entry (source) file, as far as the chain was followed."""
    launch = decision.launch
    if not launch.followed:
        return None
    shown = launch.source or launch.entry
    return f"{launch.program} {shown}" if shown else launch.program


def _launch_fields(decision: ServiceDecision, unit: Optional[Unit]) -> dict[str, Any]:
    launch = decision.launch
    choice = decision.variant
    count = unit.count if unit is not None else _safe_replicas(decision) * launch.instances
    origin = launch.instances_origin if launch.manager is not None else ""
    if _safe_replicas(decision) != 1:
        origin = "; ".join(x for x in (origin, f"{_safe_replicas(decision)} replicas") if x)
    starts = decision.not_started is None and (unit is None or unit.started)
    note = decision.not_started or ("; ".join(str(f) for f in unit.failures) if unit is not None else "")
    writes = []
    if unit is not None and starts and unit.count > 0:
        writes = [c for role, c in unit.cursors.items() if unit.enabled.get(role) and c]
    return {
        "program": program_text(decision),
        "process_count": count,
        "process_count_origin": origin,
        "variant": choice.variant.name if choice.variant else None,
        "variant_chosen_by": choice.how,
        "markers": [r.render() for r in choice.markers] + list(choice.missing),
        "starts": starts,
        "start_note": note,
        "writes": writes,
        "guessed": decision.detection.guessed,
        "chain": [{**s.to_json(), "text": mask_text(s.text)} for s in launch.steps],
    }


def _row(evaluation: Evaluation, decision: ServiceDecision, unit: Optional[Unit], all_vars: bool) -> AuditRow:
    service = decision.service
    profile = decision.profile
    variable = profile.days_variable if profile else "BACKFILL_DAYS"
    record = service.environment.get(variable)
    days = unit.env.get(variable) if unit is not None else (record.value if record else None)
    origin = describe_value(variable, record, evaluation.root, value=days)
    notes: list[str] = []
    if decision.pm2 is not None and decision.pm2.note and decision.launch.manager is None:
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
    firehose = (
        unit.env.get("FIREHOSE_ENABLED")
        if unit is not None
        else (service.environment["FIREHOSE_ENABLED"].value if "FIREHOSE_ENABLED" in service.environment else None)
    )
    if decision.detection.guessed:
        notes.append(
            f"implementation guessed from a clue ({decision.detection.clue}): the start-up chain was not followed to a known program"
        )
    if decision.not_started:
        notes.append(f"does not start: {decision.not_started}")
    if decision.variant.missing:
        notes.append(
            f"no variant's markers hold; using the newest ({decision.variant.variant.name if decision.variant.variant else '?'})"
        )
    extra = _launch_fields(decision, unit)
    if profile is None or unit is None:
        return AuditRow(
            decision.name,
            "",
            _safe_replicas(decision),
            1,
            None,
            decision.detection.clue,
            days,
            origin,
            "not checked",
            None,
            False,
            None,
            None,
            None,
            firehose,
            notes
            + (
                [f"unknown implementation {decision.detection.unknown_name!r}"]
                if decision.detection.unknown_name
                else []
            ),
            variables,
            **extra,
        )
    primary = unit.value(profile.primary)
    return AuditRow(
        service=decision.name,
        group=unit.label,
        replicas=unit.replicas,
        instances=unit.instances,
        implementation=profile.name,
        detected_by=decision.detection.clue,
        backfill_days=days,
        backfill_days_origin=origin,
        meaning="does not start" if decision.not_started else days_meaning(profile, unit),
        primary=primary if isinstance(primary, bool) else None,
        backfill_enabled=bool(extra["starts"] and unit.count > 0 and unit.enabled.get("backfill")),
        cursor_service=unit.cursors.get("backfill"),
        live_consumer=bool(extra["starts"] and unit.count > 0 and unit.enabled.get("live"))
        if profile.writer("live")
        else None,
        live_cursor=unit.cursors.get("live"),
        firehose_enabled=firehose,
        notes=notes,
        variables=variables,
        **extra,
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
    # every column: a program's arguments, a cursor name or a variant can repeat a secret too
    return dataclasses.replace(
        row, **{field.name: redact(getattr(row, field.name), secrets) for field in dataclasses.fields(row)}
    )
