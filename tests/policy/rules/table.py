"""Shared runner of the per-rule tables: services in, the findings of one rule out."""

from __future__ import annotations

from typing import Any, Optional

from tests.policy.builders import evaluate_project, project

PY = ["python", "-u", "unified_worker.py"]
PM2 = ["pm2-runtime", "start", "dist/index.js", "-i", "4"]
SUP = ["supervisor", "worker"]


def findings_of(
    code: str,
    services: list,
    *,
    environment: Optional[dict] = None,
    contexts: Optional[dict[str, Any]] = None,
    extensions: Optional[dict] = None,
):
    evaluation = evaluate_project(
        project(*services, environment=environment, extensions=extensions), root="/proj", contexts=contexts
    )
    return [f for f in evaluation.findings if f.code == code]


def check_case(code: str, case: tuple) -> None:
    """``case``: (services, expected count, fragments every finding message holds[, keyword arguments])."""
    services, count, fragments, *rest = case
    found = findings_of(code, services, **(rest[0] if rest else {}))
    assert len(found) == count, [f.message for f in found]
    for finding in found:
        for fragment in fragments:
            assert fragment in finding.message, finding.message
