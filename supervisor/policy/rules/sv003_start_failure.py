"""SV003 start-failure: a value makes a program crash or refuse to start."""

from __future__ import annotations

from supervisor.policy.engine import Evaluation
from supervisor.policy.findings import Finding, Rule
from supervisor.policy.rules.common import describe_unit_value, profiled_services, unit_value_location
from supervisor.secrets import mask_value

__all__ = ["RULE", "check"]

RULE = Rule(
    "SV003",
    "start-failure",
    "error",
    "A value makes a worker crash or refuse to start.",
    "Use a whole number: BACKFILL_DAYS is a number of days (0 off, -1 all history), WORKER_ID is 0 for the primary.",
)


def check(evaluation: Evaluation) -> list[Finding]:
    findings = []
    for decision, profile in profiled_services(evaluation):
        seen: set[str] = set()
        for unit in decision.units:
            if unit.count == 0:
                continue
            for failure in unit.failures:
                if failure.variable in seen:
                    continue
                seen.add(failure.variable)
                effect = profile.start_failure.get(failure.kind) or (
                    "the program would crash at start" if failure.kind == "crash" else "the program refuses to start"
                )
                shown = mask_value(failure.variable, failure.text) if failure.text is not None else None
                text = "unset" if shown is None else f'"{shown}"'
                record = decision.service.environment.get(failure.variable)
                came = ""
                if record is not None and record.substitutions:
                    came = f" [{describe_unit_value(evaluation, unit, failure.variable)}]"
                message = (
                    f"{failure.variable} is {text} on {decision.name}: {effect} ({failure.reason})"
                    f"{'; ' + failure.advice if failure.advice else ''}{came}"
                )
                findings.append(
                    Finding(
                        "SV003",
                        "error",
                        message,
                        unit_value_location(evaluation, decision.name, failure.variable),
                        [],
                        [decision.name],
                    )
                )
    return findings
