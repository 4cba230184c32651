"""SV014 backfill-cannot-finish: a throttled replay that the relay's window outruns."""

from __future__ import annotations

from supervisor.policy.engine import Evaluation
from supervisor.policy.findings import Finding, Rule
from supervisor.policy.rules.common import describe_unit_value, unit_value_location
from supervisor.throttle import estimate_backfill

__all__ = ["RULE", "check"]

RULE = Rule(
    "SV014",
    "backfill-cannot-finish",
    "warning",
    "The backfill's throttle is too slow to replay its window before the relay drops it.",
    "Raise the batch size or lower the batch delay until the estimate fits the relay's window; "
    "x-supervisor: {network_events_per_second: N} sets the network rate assumed (default 500).",
)


def check(evaluation: Evaluation) -> list[Finding]:
    findings = []
    seen: set[str] = set()
    for writer in evaluation.writers:
        if writer.spec.role != "backfill" or writer.service in seen:
            continue
        profile = evaluation.services[writer.service].profile
        if profile is None or profile.backfill_throttle is None:
            continue
        size_value, size_variable, delay_value, delay_variable = profile.backfill_throttle
        days, size, delay = (
            writer.unit.value(profile.days_value),
            writer.unit.value(size_value),
            writer.unit.value(delay_value),
        )
        if not (isinstance(days, int) and isinstance(size, int) and isinstance(delay, int)) or any(
            isinstance(v, bool) for v in (days, size, delay)
        ):
            continue
        estimate = estimate_backfill(
            days=days,
            batch_size=size,
            batch_delay_ms=delay,
            relay_window_hours=evaluation.window_hours,
            network_events_per_second=evaluation.network_events_per_second,
        )
        if estimate.fits:
            continue
        seen.add(writer.service)
        shown = (
            f"{describe_unit_value(evaluation, writer.unit, size_variable)} and "
            f"{describe_unit_value(evaluation, writer.unit, delay_variable)}"
        )
        message = (
            f"{shown} let {writer.service}'s {writer.spec.title} index {estimate.limit_per_second:g} "
            f"record-writing events/s: {estimate.text().removeprefix('Estimate: ')}"
        )
        environment = evaluation.project.services[writer.service].environment
        variable = next((v for v in (size_variable, delay_variable) if v in environment), profile.days_variable)
        location = unit_value_location(evaluation, writer.service, variable)
        findings.append(Finding("SV014", "warning", message, location, [], [writer.service]))
    return findings
