"""SV008 unknown-implementation: a service that sets a day count matches no profile, or names an unknown one."""

from __future__ import annotations

from supervisor.policy.engine import Evaluation, key_location
from supervisor.policy.findings import Finding, Rule
from supervisor.policy.provenance import value_location

__all__ = ["RULE", "check"]

RULE = Rule(
    "SV008",
    "unknown-implementation",
    "warning",
    "A service sets BACKFILL_DAYS but matches no implementation profile, or names an unknown one.",
    "Declare it: x-supervisor: {implementation: NAME} with a profile from schemas/profiles.",
)


def check(evaluation: Evaluation) -> list[Finding]:
    profiles_known = sorted(evaluation.profiles)
    day_variables = sorted({p.days_variable for p in evaluation.profiles.values()})
    findings = []
    known = ", ".join(profiles_known)
    for decision in evaluation.services.values():
        detection = decision.detection
        if detection.unknown_name is not None:
            findings.append(
                Finding(
                    "SV008",
                    "warning",
                    f"{decision.name}: x-supervisor.implementation {detection.unknown_name!r} is not a known implementation "
                    f"(known: {known}); its backfill is not checked",
                    key_location(evaluation.project, "services", decision.name, "x-supervisor")
                    or decision.service.location,
                    [],
                    [decision.name],
                )
            )
            continue
        variable = next((v for v in day_variables if v in decision.service.environment), None)
        if detection.profile is None and variable is not None:
            record = decision.service.environment[variable]
            findings.append(
                Finding(
                    "SV008",
                    "warning",
                    f"{decision.name} sets {variable} but matches no implementation profile (command, Dockerfile, "
                    f"image, build context, variable names and service name gave no clue), so whether it backfills is not checked: declare "
                    f"x-supervisor: {{implementation: NAME}} with one of {known}",
                    value_location(record) or decision.service.location,
                    [],
                    [decision.name],
                )
            )
    return findings
