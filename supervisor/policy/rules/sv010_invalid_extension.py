"""SV010 invalid-extension: raised by the engine for a malformed x-supervisor block; the CLI turns it into this finding."""

from __future__ import annotations

from supervisor.policy.engine import Evaluation
from supervisor.policy.findings import INVALID_EXTENSION, Finding, Rule

__all__ = ["RULE", "check"]

RULE = Rule(
    INVALID_EXTENSION,
    "invalid-extension",
    "error",
    "The x-supervisor block is malformed.",
    "See schemas/x-supervisor.schema.json: implementation, variant, ignore: {CODE: reason}, relay_window_hours.",
    exit_code=2,
)


def check(evaluation: Evaluation) -> list[Finding]:
    """Nothing to check on an evaluation: this finding comes from unusable input."""
    return []
