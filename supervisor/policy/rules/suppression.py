"""x-supervisor ``ignore`` entries: which findings they silence, and why (pure)."""

from __future__ import annotations

from typing import Any, Mapping, Optional

from supervisor.policy.engine import Evaluation
from supervisor.policy.findings import Finding, rule

__all__ = ["apply_suppressions"]


def apply_suppressions(findings: list[Finding], evaluation: Evaluation, top: Mapping[str, Any]) -> None:
    """Mark findings that an x-supervisor ignore entry (top level, or on a service involved) silences."""

    def reason_in(block: Mapping[str, Any], finding: Finding) -> Optional[str]:
        for key, reason in (block.get("ignore") or {}).items():
            found = rule(str(key))
            if found is not None and found.code == finding.code:
                return str(reason)
        return None

    for finding in findings:
        found = rule(finding.code)
        if found is None or not found.suppressible:
            continue
        reason = reason_in(top, finding)
        if reason is None:
            for service in finding.services:
                decision = evaluation.services.get(service)
                if decision is not None:
                    reason = reason_in(decision.extension, finding)
                    if reason is not None:
                        break
        finding.suppressed = reason
