"""SV013 unreadable-source: a file of a build context is refused (raised by the reading edge)."""

from __future__ import annotations

from supervisor.policy.engine import Evaluation
from supervisor.policy.findings import UNREADABLE_SOURCE, Finding, Rule

__all__ = ["RULE", "check"]

RULE = Rule(
    UNREADABLE_SOURCE,
    "unreadable-source",
    "error",
    "A Dockerfile or source file of a build context cannot be read: not a regular file, or too large.",
    "Build context files are read up to 1 MiB and must be regular files; fix the file, or declare "
    "x-supervisor: {implementation: NAME} on the service.",
    exit_code=2,
)


def check(evaluation: Evaluation) -> list[Finding]:
    """Nothing to check on an evaluation: this finding comes from unusable input."""
    return []
