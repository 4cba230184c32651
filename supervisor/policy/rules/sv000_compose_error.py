"""SV000 compose-error: raised by the compose loader; the CLI turns the error into this finding."""

from __future__ import annotations

from supervisor.policy.engine import Evaluation
from supervisor.policy.findings import COMPOSE_ERROR, Finding, Rule

__all__ = ["RULE", "check"]

RULE = Rule(
    COMPOSE_ERROR,
    "compose-error",
    "error",
    "The compose files cannot be resolved.",
    "Fix the compose file at the location given; Docker Compose would refuse it too.",
    exit_code=2,
)


def check(evaluation: Evaluation) -> list[Finding]:
    """Nothing to check on an evaluation: this finding comes from unusable input."""
    return []
