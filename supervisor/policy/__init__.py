"""Decide who really backfills: implementation profiles, the policy engine and its findings (pure).

>>> from supervisor.policy import evaluate_sources
>>> evaluation = evaluate_sources(project)          # a Project from supervisor.compose.loader
>>> [f.code for f in evaluation.findings]
"""

import importlib
from typing import Any

# Public names and their modules: imported on first use, so that a command needing only the
# engine (validate) does not load the audit and explain renderers.
_EXPORTS = {
    "AuditRow": "audit",
    "audit_rows": "audit",
    "days_meaning": "audit",
    "Evaluation": "engine",
    "ServiceDecision": "engine",
    "Unit": "engine",
    "Writer": "engine",
    "detect": "engine",
    "evaluate_project": "engine",
    "ExtensionError": "errors",
    "PolicyError": "errors",
    "ProfileError": "errors",
    "Explanation": "explain",
    "Layer": "explain",
    "explain": "explain",
    "RULES": "findings",
    "Finding": "findings",
    "Rule": "findings",
    "exit_code": "findings",
    "rule": "findings",
    "NaN": "parsing",
    "ParseFailure": "parsing",
    "js_parse_int": "parsing",
    "js_truthy": "parsing",
    "python_int": "parsing",
    "Catalog": "profiles",
    "Profile": "profiles",
    "parse_profile": "profiles",
    "builtin_catalog": "sources",
    "builtin_profiles": "sources",
    "load_profiles": "sources",
    "evaluate_sources": "sources",
    "read_dockerfiles": "sources",
    "read_build_contexts": "sources",
    "BuildContext": "sources",
    "Launch": "launch",
    "follow_launch": "launch",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'supervisor.policy' has no attribute {name!r}")
    return getattr(importlib.import_module(f"supervisor.policy.{module}"), name)


__all__ = [
    "AuditRow",
    "audit_rows",
    "days_meaning",
    "Evaluation",
    "ServiceDecision",
    "Unit",
    "Writer",
    "detect",
    "evaluate_project",
    "ExtensionError",
    "PolicyError",
    "ProfileError",
    "Explanation",
    "Layer",
    "explain",
    "RULES",
    "Finding",
    "Rule",
    "exit_code",
    "rule",
    "NaN",
    "ParseFailure",
    "js_parse_int",
    "js_truthy",
    "python_int",
    "Catalog",
    "Profile",
    "parse_profile",
    "builtin_catalog",
    "builtin_profiles",
    "load_profiles",
    "evaluate_sources",
    "read_dockerfiles",
    "read_build_contexts",
    "BuildContext",
    "Launch",
    "follow_launch",
]
