"""RT004 running-collision: a finding of ``supervisor status`` on the running stack.

Its check needs the running containers, so it lives in :mod:`supervisor.runtime.status`; the
metadata is here, beside the policy's rules, and its findings are :class:`~supervisor.policy.findings.Finding`.
"""

from __future__ import annotations

from supervisor.policy.findings import Rule

__all__ = ["RULE", "check"]

RULE = Rule(
    "RT004",
    "running-collision",
    "error",
    "Two running writers share one firehose_cursor row.",
    "Stop one of the writers now: their cursors overwrite each other.",
)

check = None  # computed from the running stack by supervisor.runtime.status
