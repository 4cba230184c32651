"""SV004 misleading-switch: a variable people set to turn a writer off does not (the profile's misleading entries)."""

from __future__ import annotations

from supervisor.policy.engine import Evaluation
from supervisor.policy.findings import Finding, Rule
from supervisor.policy.rules.common import enabling, profiled_services, started_units, unit_value_location

__all__ = ["RULE", "check"]

RULE = Rule(
    "SV004",
    "misleading-switch",
    "warning",
    "A variable is set to turn a backfill off, but it does not.",
    "FIREHOSE_ENABLED only gates the TypeScript live firehose consumer; BACKFILL_DAYS=0 turns the TypeScript backfill off.",
)


def check(evaluation: Evaluation) -> list[Finding]:
    from supervisor.policy.expressions import Context, evaluate

    findings = []
    for decision, profile in profiled_services(evaluation):
        for spec in profile.misleading:
            for unit in started_units(decision):
                if not unit.enabled.get(spec.while_writer):
                    continue
                if not evaluate(spec.when, Context(unit.env, dict(unit.values))):
                    continue
                value = unit.env.get(spec.variable)
                message = spec.message.format(service=decision.name, variable=spec.variable, value=value)
                writer = next(
                    (w for w in evaluation.writers if w.unit is unit and w.spec.role == spec.while_writer), None
                )
                if writer is not None:
                    message += f" (the backfill runs: {enabling(evaluation, writer)})"
                findings.append(
                    Finding(
                        "SV004",
                        "warning",
                        message,
                        unit_value_location(evaluation, decision.name, spec.variable),
                        [],
                        [decision.name],
                    )
                )
                break
    return findings
