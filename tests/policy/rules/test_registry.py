"""The registry of rules: one module per rule, with its metadata; rules take program facts from profiles only."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

from supervisor.policy.findings import Finding, exit_code, rule
from supervisor.policy.rules import _MODULES, checks, registry

RULES_DIR = Path(importlib.import_module("supervisor.policy.rules").__file__).parent


def test_every_module_is_registered_once_with_unique_codes_and_names():
    on_disk = sorted(p.stem for p in RULES_DIR.glob("*.py") if re.match(r"^(sv|rt)\d{3}_", p.stem))
    assert sorted(_MODULES) == on_disk
    rules = list(registry().values())
    assert len({r.code for r in rules}) == len({r.name for r in rules}) == len(rules)
    for module in _MODULES:
        code = module.split("_")[0].upper()
        assert code in registry() and registry()[code].name.replace("-", "_") == module.split("_", 1)[1]


@pytest.mark.parametrize("code,suppressible,exit", [("SV000", False, 2), ("SV010", False, 2), ("SV001", True, 1)])
def test_metadata(code, suppressible, exit):
    found = rule(code)
    assert found.suppressible is suppressible and found.exit_code == exit
    assert exit_code([Finding(code, "error", "x")]) == exit


def test_runtime_status_codes_share_the_finding_model():
    for code in ("RT001", "RT002", "RT003", "RT004", "RT005"):
        assert rule(code) is not None
        assert Finding(code, rule(code).severity, "m").to_json()["name"] == rule(code).name
    assert all(not r.code.startswith("RT") for r, _ in checks())


FORBIDDEN = re.compile(
    r"BACKFILL_DAYS|WORKER_ID|NODE_APP_INSTANCE|\bpm_id\b|FIREHOSE_ENABLED|unified_worker|pm2-runtime|"
    r"TypeScript|Python|server/index"
)


@pytest.mark.parametrize("module", ["common", "suppression", *_MODULES])
def test_rule_code_names_no_program_or_variable(module):
    text = (RULES_DIR / f"{module}.py").read_text()
    code = text.split("RULE = Rule(", 1)[-1].split(")\n", 1)[-1] if "RULE = Rule(" in text else text
    code = re.sub(r'"""(.|\n)*?"""', "", code)  # docstrings may give examples
    assert not FORBIDDEN.findall(code)


def test_status_findings_are_policy_findings():
    from supervisor.runtime.status import STATUS_RULES, StatusFinding

    finding = StatusFinding("RT004", "error", "two writers", "app")
    assert isinstance(finding, Finding) and finding.services == ["app"] and finding.service == "app"
    assert finding.to_json()["name"] == "running-collision" == STATUS_RULES["RT004"]
    assert exit_code([finding]) == 1


def test_the_unsuppressible_codes_are_those_of_unusable_input():
    from supervisor.errors import PolicyError
    from supervisor.policy.errors import ExtensionError, SourceError
    from supervisor.policy.findings import COMPOSE_ERROR, SEVERITIES, UNSUPPRESSIBLE, input_finding

    # what cannot be ignored is exactly what makes the input unusable (exit 2)
    assert {r.code for r in registry().values() if r.exit_code == 2} == set(UNSUPPRESSIBLE)
    assert {r.code for r in registry().values() if not r.suppressible} == set(UNSUPPRESSIBLE)
    assert {r.severity for r in registry().values()} <= set(SEVERITIES)
    # each error of unusable input becomes the finding of its own code
    assert input_finding(ExtensionError("bad block")).code == PolicyError.code == "SV010"
    assert input_finding(SourceError("too large")).code == "SV013"
    assert input_finding(ValueError("broken yaml"), COMPOSE_ERROR).code == "SV000"
