"""The policy check that runs before anything is created: ``up`` refuses what ``validate`` refuses.

Same evaluation, same findings, same text and exit code as ``supervisor validate``.
"""

from __future__ import annotations

import os
from typing import Any, Optional

from supervisor.compose.model import Project
from supervisor.verdicts import Verdicts

__all__ = ["preflight", "render_findings"]


def preflight(
    project: Project, root: Optional[str] = None, verdicts: Optional[Verdicts] = None
) -> tuple[list[Any], int]:
    """The findings ``supervisor validate`` reports for the project, and its exit code (0, 1 or 2)."""
    from supervisor.policy.errors import PolicyError
    from supervisor.policy.findings import exit_code, input_finding
    from supervisor.policy.sources import evaluate_sources

    try:
        findings = evaluate_sources(project, root=root, verdicts=verdicts).findings
    except PolicyError as exc:
        # As validate: a malformed x-supervisor block is finding SV010, an unreadable source SV013 (exit 2).
        findings = [input_finding(exc)]
    return findings, exit_code(findings)


def render_findings(findings: list[Any], root: Optional[str] = None) -> str:
    """The findings as ``supervisor validate`` prints them (text format)."""
    from supervisor.report.findings import render_text

    return render_text(findings, root or os.getcwd())
