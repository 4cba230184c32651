"""SV001 cursor-collision: more than one process writes one firehose_cursor row."""

from __future__ import annotations

from supervisor.policy.engine import Evaluation, Writer
from supervisor.policy.findings import Finding, Rule
from supervisor.policy.rules.common import deciding_variable, enabling, fixes, unit_value_location, writer_title
from supervisor.policy.rules.sv002_several_primaries import covered_by_primaries

__all__ = ["RULE", "check"]

RULE = Rule(
    "SV001",
    "cursor-collision",
    "error",
    "Two enabled writers share one firehose_cursor row.",
    "Each firehose_cursor row must have one writer: turn one backfill off (BACKFILL_DAYS=0) or give one writer another cursor name (BACKFILL_CURSOR_SERVICE / FIREHOSE_CURSOR_SERVICE on this project's worker).",
)


def check(evaluation: Evaluation) -> list[Finding]:
    """One finding per cursor row with more than one writing process."""
    covered = covered_by_primaries(evaluation)
    findings = []
    by_cursor: dict[str, list[Writer]] = {}
    for writer in evaluation.writers:
        by_cursor.setdefault(writer.cursor, []).append(writer)
    for cursor, writers in by_cursor.items():
        total = sum(w.count for w in writers)
        if total <= 1 or all(id(w) in covered for w in writers):
            continue
        parts = [f"{writer_title(w, evaluation)} with {enabling(evaluation, w)}" for w in writers]
        remedies = fixes(evaluation, writers)
        several = any(evaluation.services[w.service].launch.cpu_dependent for w in writers)
        message = (
            f'{total}{" or more" if several else ""} writers share the firehose_cursor row "{cursor}" and overwrite each other: '
            + " | ".join(parts)
            + (". Fix: " + "; or ".join(remedies) if remedies else ".")
        )
        first = writers[0]
        location = unit_value_location(evaluation, first.service, deciding_variable(first))
        related = [
            (loc, f'{writer_title(w, evaluation)} writes "{cursor}"')
            for w in writers[1:]
            if (loc := unit_value_location(evaluation, w.service, deciding_variable(w))) is not None
        ]
        findings.append(Finding("SV001", "error", message, location, related, sorted({w.service for w in writers})))
    return findings
