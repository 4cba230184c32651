"""RT005 orphan-cursor: a finding of ``supervisor status`` on the running stack.

Its check needs the running containers, so it lives in :mod:`supervisor.runtime.status`; the
metadata is here, beside the policy's rules, and its findings are :class:`~supervisor.policy.findings.Finding`.
"""

from __future__ import annotations

from supervisor.policy.findings import Rule

__all__ = ["RULE", "check"]

RULE = Rule(
    "RT005",
    "orphan-cursor",
    "info",
    "A firehose_cursor row that no running writer owns.",
    "A writer that used this row is gone: remove the row or start its writer.",
)

check = None  # computed from the running stack by supervisor.runtime.status
