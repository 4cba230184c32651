"""Decide who really backfills: implementation profiles, the policy engine and its findings (pure).

>>> from supervisor.policy import evaluate_project
>>> evaluation = evaluate_project(project)          # a Project from supervisor.compose.loader
>>> [f.code for f in evaluation.findings]
"""

from supervisor.policy.audit import AuditRow, audit_rows, days_meaning
from supervisor.policy.engine import Evaluation, ServiceDecision, Unit, Writer, detect, evaluate_project
from supervisor.policy.errors import ExtensionError, PolicyError, ProfileError
from supervisor.policy.explain import Explanation, Layer, explain
from supervisor.policy.findings import RULES, Finding, Rule, exit_code, rule
from supervisor.policy.parsing import NaN, ParseFailure, js_parse_int, js_truthy, python_int
from supervisor.policy.profiles import Profile, builtin_profiles, load_profiles, parse_profile
from supervisor.policy.sources import read_dockerfiles

__all__ = [
    "AuditRow", "audit_rows", "days_meaning",
    "Evaluation", "ServiceDecision", "Unit", "Writer", "detect", "evaluate_project",
    "ExtensionError", "PolicyError", "ProfileError",
    "Explanation", "Layer", "explain",
    "RULES", "Finding", "Rule", "exit_code", "rule",
    "NaN", "ParseFailure", "js_parse_int", "js_truthy", "python_int",
    "Profile", "builtin_profiles", "load_profiles", "parse_profile",
    "read_dockerfiles",
]
