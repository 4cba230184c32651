"""Error messages never quote a secret: a secret-named variable's value is masked in every format."""

from __future__ import annotations

from pathlib import Path

import pytest

from .support import run

SECRET = "sekrit99"
BODIES = {
    "cpus": "cpus: ${API_KEY}",
    "mem_limit": "mem_limit: ${API_KEY}",
    "scale": "scale: ${API_KEY}",
    "env_file path": "env_file: ${API_KEY}.env",
    "ports": "ports: ['${API_KEY}']",
}
COMMANDS = [
    ["config", "-q"],
    ["validate"],
    ["validate", "--format", "json"],
    ["validate", "--format", "sarif"],
    ["validate", "--format", "github"],
    ["audit"],
]


@pytest.mark.parametrize("body", sorted(BODIES))
@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_errors_do_not_quote_secrets(tmp_path: Path, body: str, command: list[str]) -> None:
    (tmp_path / ".env").write_text(f"API_KEY={SECRET}\n")
    (tmp_path / "compose.yaml").write_text(f"services:\n  s:\n    image: x\n    {BODIES[body]}\n")
    result = run(*command, cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert SECRET not in result.stdout + result.stderr
    assert "****" in result.stdout + result.stderr


def test_an_unterminated_quote_in_env_hides_the_value(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(f'API_KEY="{SECRET}\nOTHER=1\n')
    (tmp_path / "compose.yaml").write_text("services:\n  s:\n    image: x\n")
    result = run("config", "-q", cwd=tmp_path)
    assert result.returncode == 2
    assert SECRET not in result.stderr and "unterminated quoted value" in result.stderr
