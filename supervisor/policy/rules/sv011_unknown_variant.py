"""SV011 unknown-variant: the program's sources match none of its profile's variants."""

from __future__ import annotations

from supervisor.policy.engine import Evaluation, key_location
from supervisor.policy.findings import Finding, Rule

__all__ = ["RULE", "check"]

RULE = Rule(
    "SV011",
    "unknown-variant",
    "warning",
    "The program's sources match no known version of it: the newest is assumed.",
    "Check the markers listed: if the program is a version the profiles do not describe, add a variant to its profile, or declare x-supervisor: {implementation: NAME, variant: V}.",
)


def check(evaluation: Evaluation) -> list[Finding]:
    findings = []
    for decision in evaluation.services.values():
        choice = decision.variant
        if choice.variant is None or (not choice.missing and choice.unknown_name is None):
            continue
        profile = decision.profile
        title = profile.title if profile is not None else "the program"
        if choice.unknown_name is not None:
            known = ", ".join(v.name for v in profile.variants) if profile is not None else ""
            message = (
                f"{decision.name}: x-supervisor.variant {choice.unknown_name!r} is not a variant of {title} "
                f"(known: {known}); assuming the newest, {choice.variant.name}"
            )
        else:
            message = (
                f"{decision.name} runs {title}, but its sources match none of its versions, so the newest "
                f"({choice.variant.name}: {choice.variant.title}) is assumed. Missing: "
                + " | ".join(choice.missing)
                + ". Declare x-supervisor: {variant: NAME} if you know the version"
            )
        location = key_location(evaluation.project, "services", decision.name, "build") or decision.service.location
        findings.append(Finding("SV011", "warning", message, location, [], [decision.name]))
    return findings
