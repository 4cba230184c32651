"""A known secret's value is masked wherever it reappears: other variables, commands, labels, columns."""

from __future__ import annotations

from pathlib import Path

import pytest

from .support import run

SECRET = "Rk4reusedpw"
PROJECTS = {
    # the literal of a secret-named variable, repeated in a variable whose name is not secret
    "literal": (
        "services:\n  app:\n    image: x\n    environment:\n      DB_PASSWORD: " + SECRET + "\n"
        "      BACKFILL_DAYS: '2'\n      OTHER: " + SECRET + "\n    command: [run, '" + SECRET + "']\n",
        "",
    ),
    # a .env secret used by a template outside the environment
    "dotenv": (
        "services:\n  app:\n    image: x\n    environment:\n      OTHER: '" + SECRET + "'\n"
        "    command: [run, '${DB_PASSWORD}']\n    labels: ['a=x${DB_PASSWORD}']\n",
        f"DB_PASSWORD={SECRET}\n",
    ),
}
COMMANDS = [
    ["audit", "--all-vars"],
    ["audit", "--all-vars", "--format", "json"],
    ["audit", "--format", "csv"],
    ["audit", "--format", "markdown"],
    ["explain", "app"],
    ["explain", "app", "OTHER"],
    ["explain", "app", "OTHER", "--format", "json"],
    ["config"],
    ["config", "--format", "json"],
    ["config", "--provenance"],
    ["validate", "--format", "sarif"],
]


@pytest.mark.parametrize("project", sorted(PROJECTS))
@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_a_reused_secret_is_masked(tmp_path: Path, project: str, command: list[str]) -> None:
    compose, env = PROJECTS[project]
    (tmp_path / "compose.yaml").write_text(compose)
    (tmp_path / ".env").write_text(env)
    result = run(*command, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert SECRET not in result.stdout + result.stderr
    if "--all-vars" in command or "OTHER" in command or command[0] == "config":
        assert "****" in result.stdout  # the value is there, masked


def test_a_password_equal_to_a_word_of_the_project_name_leaves_the_names_alone(tmp_path: Path) -> None:
    # The containers are named PROJECT-SERVICE-N: masking the word would print ****-dev-db-1.
    (tmp_path / "compose.yaml").write_text(
        "name: appview-dev\nservices:\n  db:\n    image: postgres\n    environment:\n"
        "      POSTGRES_PASSWORD: appview\n      OTHER: appview\n"
    )
    result = run("config", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "name: appview-dev\n" in result.stdout
    assert "name: appview-dev_default" in result.stdout
    assert "POSTGRES_PASSWORD: '****'" in result.stdout or "POSTGRES_PASSWORD: ****" in result.stdout
