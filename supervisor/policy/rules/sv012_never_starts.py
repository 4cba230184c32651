"""SV012 never-starts: a service's program cannot start, or it waits for one that never starts."""

from __future__ import annotations

from supervisor.policy.engine import Evaluation, key_location
from supervisor.policy.findings import Finding, Rule

__all__ = ["RULE", "check"]

RULE = Rule(
    "SV012",
    "never-starts",
    "error",
    "A service never starts: its program's entry file is not built, or it waits for the health of a service that never starts.",
    "Make the start command name a file the build produces (compare the build script's outputs with the command), or change the depends_on condition.",
)


def check(evaluation: Evaluation) -> list[Finding]:
    """One finding per service whose own program cannot start, naming the services that wait for it."""
    findings = []
    for decision in evaluation.services.values():
        reason = decision.launch.cannot_start
        if not reason or decision.not_started != reason:
            continue
        waiting = sorted(
            d.name
            for d in evaluation.services.values()
            if d.not_started and d.name != decision.name and d.launch.cannot_start is None
        )
        location = key_location(evaluation.project, "services", decision.name, "build") or decision.service.location
        steps = "; ".join(s.render() for s in decision.launch.steps if s.kind in ("manager", "build", "script"))
        message = (
            f"{decision.name} never starts: {reason}"
            + (f" ({steps})" if steps else "")
            + (f"; so these services, which wait for it, never start either: {', '.join(waiting)}" if waiting else "")
            + ". Fix: start a file the build writes, or make the build write the file the command starts"
        )
        findings.append(Finding("SV012", "error", message, location, [], [decision.name]))
    return findings
