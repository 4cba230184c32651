"""SV006 backfill-days-unused: a day count is set but no service will backfill."""

from __future__ import annotations

from supervisor.policy.engine import Evaluation
from supervisor.policy.findings import Finding, Rule
from supervisor.policy.provenance import value_location
from supervisor.policy.rules.common import describe_unit_value, profiled_services

__all__ = ["RULE", "check"]

RULE = Rule(
    "SV006",
    "backfill-days-unused",
    "info",
    "BACKFILL_DAYS is set but no service will backfill.",
    "Check which service is meant to backfill: it must be the primary (WORKER_ID 0 / PM2 instance 0) with a day count its parser accepts.",
)


def check(evaluation: Evaluation) -> list[Finding]:
    if any(w.spec.role == "backfill" for w in evaluation.writers):
        return []
    findings = []
    for decision, profile in profiled_services(evaluation):
        record = decision.service.environment.get(profile.days_variable)
        if record is None or record.value is None:
            continue
        for unit in decision.units:
            if not unit.started:
                break
            days = unit.value(profile.days_value)
            if not isinstance(days, int) or days == 0:
                break
            primary = unit.value(profile.primary) is True
            backfill = profile.writer("backfill")
            if decision.not_started:
                why = f"{decision.name} never starts ({decision.not_started})"
            elif unit.count == 0:
                why = f"{decision.name} runs no container (replicas: 0)"
            elif not primary:
                # a profile without a primary value names none ("None is false")
                primary_source = profile.value_source(profile.primary) if profile.primary is not None else None
                why = (
                    f"{unit.title} is not the primary worker ({primary_source} is false: "
                    + "; ".join(
                        describe_unit_value(evaluation, unit, v)
                        for s in unit.trace
                        if s.name == profile.primary
                        for v in s.reads
                    )
                    + ")"
                )
            else:
                source = profile.value_source(backfill.enabled) if backfill else "the backfill condition"
                why = f"{source} is false for {days}"
            message = (
                f"{describe_unit_value(evaluation, unit, profile.days_variable)} but no service will backfill: {why}"
            )
            findings.append(
                Finding(
                    "SV006", "info", message, value_location(record) or decision.service.location, [], [decision.name]
                )
            )
            break
    return findings
