"""RT001 environment-drift: a finding of ``supervisor status`` on the running stack.

Its check needs the running containers, so it lives in :mod:`supervisor.runtime.status`; the
metadata is here, beside the policy's rules, and its findings are :class:`~supervisor.policy.findings.Finding`.
"""

from __future__ import annotations

from supervisor.policy.findings import Rule

__all__ = ["RULE", "check"]

RULE = Rule(
    "RT001",
    "environment-drift",
    "warning",
    "A running container's variable differs from the compose files.",
    "Recreate the container (supervisor up) so that it runs what the files say, or change the files.",
)

check = None  # computed from the running stack by supervisor.runtime.status
