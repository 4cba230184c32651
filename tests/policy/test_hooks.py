"""The pre-commit hook definition is well formed and runs our command."""

import re
from pathlib import Path

import yaml


def test_pre_commit_hooks_file():
    path = Path(__file__).resolve().parents[2] / ".pre-commit-hooks.yaml"
    hooks = yaml.safe_load(path.read_text())
    assert {h["id"] for h in hooks} == {"supervisor-validate", "supervisor-validate-strict"}
    for hook in hooks:
        assert hook["entry"].startswith("supervisor validate")
        assert hook["language"] == "python" and hook["pass_filenames"] is False
        pattern = re.compile(hook["files"])
        for name in ("docker-compose.yml", "compose/docker-compose.unified-backfill.yml", "compose.yaml", ".env"):
            assert pattern.search(name), name
        assert not pattern.search("README.md")
