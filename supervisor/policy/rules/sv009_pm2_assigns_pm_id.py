"""SV009 pm2-assigns-pm-id: a per-instance variable that the process manager assigns itself is set in the environment."""

from __future__ import annotations

from supervisor.policy.engine import Evaluation
from supervisor.policy.findings import Finding, Rule
from supervisor.policy.provenance import value_location
from supervisor.policy.rules.common import enabling

__all__ = ["RULE", "check"]

RULE = Rule(
    "SV009",
    "pm2-assigns-pm-id",
    "warning",
    "pm_id is set for a service run by PM2, which assigns its own.",
    "PM2 gives each instance its own pm_id (0..N-1) and ignores a pm_id from the environment: set BACKFILL_DAYS=0 to keep the TypeScript backfill off.",
)


def check(evaluation: Evaluation) -> list[Finding]:
    findings = []
    for decision in evaluation.services.values():
        if decision.pm2 is None or not decision.pm2.used:
            continue
        manager = decision.launch.manager or evaluation.managers["pm2"]
        for variable in manager.per_instance:
            if variable.environment_overrides:
                continue
            record = decision.service.environment.get(variable.name)
            if record is None or not record.value:
                continue
            primary = decision.units[0] if decision.units else None
            runs = ""
            writer_spec = decision.profile.writer("backfill") if decision.profile else None
            if primary is not None and primary.enabled.get("backfill"):
                writer = next((w for w in evaluation.writers if w.unit is primary and w.spec.role == "backfill"), None)
                runs = f"; its backfill runs ({enabling(evaluation, writer)})" if writer else "; its backfill runs"
            name = manager.name.upper()
            fix = ""
            if writer_spec is not None and writer_spec.disable:
                off = ", ".join(f"{v}={x}" for v, x in writer_spec.disable)
                fix = f". Set {off} on {decision.name} to keep the {writer_spec.title} off"
            message = (
                f"{variable.name}={record.value} on {decision.name} has no effect: {name} gives its instances "
                f"{variable.name} 0..{max(decision.pm2.instances - 1, 0)} and ignores a {variable.name} from the "
                f"environment, so instance 0 is still the primary{runs}{fix}"
            )
            findings.append(
                Finding(
                    "SV009",
                    "warning",
                    message,
                    value_location(record) or decision.service.location,
                    [],
                    [decision.name],
                )
            )
    return findings
