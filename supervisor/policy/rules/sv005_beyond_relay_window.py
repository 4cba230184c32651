"""SV005 beyond-relay-window: a backfill that can only replay the relay asks for more than the relay keeps."""

from __future__ import annotations

from supervisor.policy.engine import Evaluation
from supervisor.policy.findings import Finding, Rule
from supervisor.policy.rules.common import describe_unit_value, unit_value_location

__all__ = ["RULE", "check"]

RULE = Rule(
    "SV005",
    "beyond-relay-window",
    "warning",
    "The backfill reaches further back than the relay replays.",
    "A relay keeps a limited window (72 hours by default): ask for at most that many days, or expect the backfill to cover only the window.",
)


def check(evaluation: Evaluation) -> list[Finding]:
    findings = []
    window = evaluation.window_hours
    seen: set[str] = set()
    for writer in evaluation.writers:
        if writer.spec.role != "backfill" or writer.spec.source != "relay-replay" or writer.service in seen:
            continue
        profile = evaluation.services[writer.service].profile
        assert profile is not None
        days = writer.unit.value(profile.days_value)
        if not isinstance(days, int):
            continue
        shown = describe_unit_value(evaluation, writer.unit, profile.days_variable)
        hours = f"{window:g} hours"
        if days in profile.all_history:
            message = (
                f"{shown} asks {writer.service} for all history, but its {writer.spec.title} can only replay "
                f"what the relay keeps ({hours}): it will cover the window only. Set {profile.days_variable} to at most "
                f"{int(window // 24)} to say what you get, or import older history another way"
            )
        elif days * 24 > window:
            message = (
                f"{shown} reaches {days * 24} hours back, but the relay replays only {hours}: "
                f"{writer.service}'s {writer.spec.title} can only replay, so it will cover the last {hours}. "
                f"Set {profile.days_variable} to at most {int(window // 24)}, or import older history another way"
            )
        else:
            continue
        seen.add(writer.service)
        findings.append(
            Finding(
                "SV005",
                "warning",
                message,
                unit_value_location(evaluation, writer.service, profile.days_variable),
                [],
                [writer.service],
            )
        )
    return findings
