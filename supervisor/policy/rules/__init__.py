"""The finding rules: one module per rule, each with its metadata (``RULE``) and its ``check``.

:func:`registry` lists them in order; :func:`run_rules` runs every check on an evaluation.
A new rule is a new module here plus its line in ``_MODULES`` (and its test table in
``tests/policy/rules/``). Rules read what they know about programs from the profiles only.
"""

from __future__ import annotations

import functools
import importlib
from typing import Any, Callable, Mapping, Optional

from supervisor.policy.findings import Finding, Rule

__all__ = ["registry", "checks", "run_rules"]

_MODULES = (
    "sv000_compose_error",
    "sv001_cursor_collision",
    "sv002_several_primaries",
    "sv003_start_failure",
    "sv004_misleading_switch",
    "sv005_beyond_relay_window",
    "sv006_backfill_days_unused",
    "sv007_shell_value_unused",
    "sv008_unknown_implementation",
    "sv009_pm2_assigns_pm_id",
    "sv010_invalid_extension",
    "sv011_unknown_variant",
    "sv012_never_starts",
    "sv013_unreadable_source",
    "sv014_backfill_cannot_finish",
    "rt001_environment_drift",
    "rt002_config_drift",
    "rt003_not_running",
    "rt004_running_collision",
    "rt005_orphan_cursor",
)


@functools.lru_cache(maxsize=1)
def _loaded() -> tuple[Any, ...]:
    return tuple(importlib.import_module(f"{__name__}.{name}") for name in _MODULES)


@functools.lru_cache(maxsize=1)
def registry() -> dict[str, Rule]:
    """Code -> rule, in the registry's order."""
    return {module.RULE.code: module.RULE for module in _loaded()}


def checks() -> list[tuple[Rule, Callable[[Any], list[Finding]]]]:
    """The rules that check an evaluation, with their check."""
    return [(m.RULE, m.check) for m in _loaded() if m.check is not None]


_ORDER = {"error": 0, "warning": 1, "info": 2}


def run_rules(evaluation: Any, top: Mapping[str, Any], only: Optional[set[str]] = None) -> list[Finding]:
    """Every finding for an evaluation, most severe first, with suppressions applied."""
    from supervisor.policy.rules.suppression import apply_suppressions

    findings: list[Finding] = []
    for rule, check in checks():
        if only is None or rule.code in only:
            findings.extend(check(evaluation))
    apply_suppressions(findings, evaluation, top)
    findings.sort(key=lambda f: (_ORDER[f.severity], f.code))
    return findings
