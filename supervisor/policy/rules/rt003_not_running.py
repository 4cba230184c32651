"""RT003 not-running: a finding of ``supervisor status`` on the running stack.

Its check needs the running containers, so it lives in :mod:`supervisor.runtime.status`; the
metadata is here, beside the policy's rules, and its findings are :class:`~supervisor.policy.findings.Finding`.
"""

from __future__ import annotations

from supervisor.policy.findings import Rule

__all__ = ["RULE", "check"]

RULE = Rule(
    "RT003",
    "not-running",
    "warning",
    "A service has no running container, or it is unhealthy.",
    "Start the service (supervisor up SERVICE) and read its logs (supervisor logs SERVICE).",
)

check = None  # computed from the running stack by supervisor.runtime.status
