"""SV005 beyond-relay-window: a backfill reaches further back than the relay replays.

A backfill that can only replay the relay is warned (it will cover the window only); one that
crawls the repositories for older history (our worker with ``BACKFILL_MODE`` auto or crawl) is
said to do so, as information.
"""

from __future__ import annotations

from typing import Any

from supervisor.policy.engine import Evaluation
from supervisor.policy.findings import Finding, Rule, Severity
from supervisor.policy.rules.common import describe_unit_value, unit_value_location

__all__ = ["RULE", "check"]

RULE = Rule(
    "SV005",
    "beyond-relay-window",
    "warning",
    "The backfill reaches further back than the relay replays.",
    "A relay keeps a limited window (72 hours by default): a backfill that only replays covers that window; "
    "ask for at most that many days, or use a backfill that crawls the repositories (the supervisor worker "
    "with BACKFILL_MODE auto or crawl fetches older history with getRepo).",
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
        reach = "all history" if days in profile.all_history else f"{days * 24} hours back"
        if days not in profile.all_history and days * 24 <= window:
            continue
        severity: Severity = "warning"
        crawl = writer.spec.crawl
        if crawl is not None and writer.unit.value(crawl[0]) is True:
            _when, mode, window_variable = crawl
            severity = "info"
            message = (
                f"{shown} asks {writer.service} for {reach}, beyond the {hours} the relay replays: "
                f"{writer.service}'s {writer.spec.title} crawls the repositories (getRepo from each account's host) "
                f"for the history older than {window_variable} ({mode} is auto or crawl), "
                "then joins the live stream; expect it to take longer than a replay"
            )
        elif days in profile.all_history:
            message = (
                f"{shown} asks {writer.service} for all history, but its {writer.spec.title} can only replay "
                f"what the relay keeps ({hours}): it will cover the window only. Set {profile.days_variable} to at most "
                f"{int(window // 24)} to say what you get, or {_other_way(writer)}"
            )
        else:
            message = (
                f"{shown} reaches {days * 24} hours back, but the relay replays only {hours}: "
                f"{writer.service}'s {writer.spec.title} can only replay, so it will cover the last {hours}. "
                f"Set {profile.days_variable} to at most {int(window // 24)}, or {_other_way(writer)}"
            )
        seen.add(writer.service)
        findings.append(
            Finding(
                "SV005",
                severity,
                message,
                unit_value_location(evaluation, writer.service, profile.days_variable),
                [],
                [writer.service],
            )
        )
    return findings


def _other_way(writer: Any) -> str:
    if writer.spec.crawl is not None:
        return f"set {writer.spec.crawl[1]}=auto or crawl to fetch older history from the repositories"
    return "import older history another way"
