"""SV002 several-primaries: several containers are the one primary worker of a profile that needs a unique primary."""

from __future__ import annotations

from supervisor.policy.engine import Evaluation, ServiceDecision, Unit, key_location
from supervisor.policy.findings import Finding, Rule
from supervisor.policy.rules.common import (
    describe_unit_value,
    enabling,
    profiled_services,
    started_units,
    unit_value_location,
    where,
)

__all__ = ["RULE", "check"]

RULE = Rule(
    "SV002",
    "several-primaries",
    "error",
    "Several containers are the primary worker (replicas with a fixed WORKER_ID=0).",
    "Run one replica of the primary worker, or a separate service per worker with its own WORKER_ID.",
)


def primaries(evaluation: Evaluation) -> tuple[list[Finding], set[int]]:
    """The findings, and the writers they already report (SV001 leaves those out)."""
    findings: list[Finding] = []
    covered: set[int] = set()
    groups: dict[str, list[tuple[ServiceDecision, Unit]]] = {}
    for decision, service_profile in profiled_services(evaluation):
        if service_profile.unique_primary is None:
            continue
        for unit in started_units(decision):
            if unit.count > 0 and unit.value(service_profile.primary) is True:
                groups.setdefault(service_profile.name, []).append((decision, unit))
    for name, members in groups.items():
        total = sum(u.count for _, u in members)
        if total <= 1:
            continue
        profile = members[0][0].profile
        assert profile is not None
        variable = profile.unique_primary
        assert variable is not None
        backfilling = [
            w for w in evaluation.writers if w.spec.role == "backfill" and any(w.unit is u for _, u in members)
        ]
        who = " and ".join(
            f"{d.name} ({u.replicas} replicas, {describe_unit_value(evaluation, u, variable)})"
            if u.replicas > 1
            else f"{d.name} ({describe_unit_value(evaluation, u, variable)})"
            for d, u in members
        )
        fix = "; or ".join(
            [f"run one replica of {d.name}" for d, u in members if u.replicas > 1]
            + [f"give each worker its own {variable} (one service per worker: {variable}=0, 1, 2...)"]
        )
        first = members[0][0].name
        location = (
            key_location(evaluation.project, "services", first, "deploy") if members[0][1].replicas > 1 else None
        ) or unit_value_location(evaluation, first, variable)
        services = sorted({d.name for d, _ in members})
        per_row: dict[str, int] = {}
        for w in backfilling:
            per_row[w.cursor] = per_row.get(w.cursor, 0) + w.count
        if sum(per_row.values()) > 1 and all(n == 1 for n in per_row.values()):
            # Each primary backfills on its own row: no cursor is overwritten, the work is done twice.
            quoted = ", ".join(f'"{c}"' for c in sorted(per_row))
            message = (
                f"{total} containers are the primary {profile.title}: {who}. Each runs its own backfill "
                f"(firehose_cursor rows {quoted}), so no cursor is overwritten, but the history is "
                f"replayed {len(per_row)} times. Fix: {fix}"
            )
            findings.append(Finding("SV002", "warning", message, location, [], services))
        elif sum(per_row.values()) > 1:
            backfilling = [w for w in backfilling if per_row[w.cursor] > 1]
            quoted = ", ".join(f'"{c}"' for c in sorted({w.cursor for w in backfilling}))
            days = "; ".join(enabling(evaluation, w) for w in backfilling[:1])
            message = (
                f"{total} containers are the primary {profile.title}: {who}. Each runs the backfill "
                f"({days}) on the firehose_cursor row {quoted}, overwriting the others. Fix: {fix}; "
                f"or set {profile.days_variable}=0{where(evaluation, first, profile.days_variable)}"
            )
            findings.append(Finding("SV002", "error", message, location, [], services))
            covered.update(id(w) for w in backfilling)
        else:
            message = (
                f"{total} containers are the primary {profile.title}: {who}. Their backfill is off now, "
                f"but as soon as {profile.days_variable} is set they would all backfill on one cursor row. Fix: {fix}"
            )
            findings.append(Finding("SV002", "warning", message, location, [], services))
    return findings, covered


def check(evaluation: Evaluation) -> list[Finding]:
    return primaries(evaluation)[0]


def covered_by_primaries(evaluation: Evaluation) -> set[int]:
    return primaries(evaluation)[1]
