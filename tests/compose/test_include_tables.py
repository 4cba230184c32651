"""``compose/include.py`` on its own, in memory: one table per rule (the included projects come from a dict)."""

from __future__ import annotations

import copy
import os
from typing import Any

import pytest

from supervisor.compose.include import apply_include
from supervisor.compose.model import ComposeError

# a project folder that does not exist: no .env is found beside the included files
ROOT = "/nonexistent-include-project"


def _include(
    model: dict[str, Any], projects: dict[str, dict[str, Any]], chain: list[str] | None = None
) -> tuple[dict[str, Any], list[tuple[list[str], str, list[str]]]]:
    calls: list[tuple[list[str], str, list[str]]] = []

    def load_project(paths: list[str], project_dir: str, env_files: list[str]) -> dict[str, Any]:
        calls.append((paths, project_dir, env_files))
        return copy.deepcopy(projects[paths[0]])

    model = copy.deepcopy(model)

    def reach(path: str) -> str | None:  # every file exists but those named missing*
        return "no such file or directory" if os.path.basename(path).startswith("missing") else None

    apply_include(model, ROOT, load_project, chain or [f"{ROOT}/compose.yaml"], reach=reach)
    return model, calls


DB = {"services": {"db": {"image": "postgres"}}, "volumes": {"pgdata": {}}}

# --- each entry is loaded as its own project and its resources added ---------------------------

ENTRIES: list[tuple[Any, list[tuple[list[str], str, list[str]]]]] = [
    (["db/compose.yaml"], [([f"{ROOT}/db/compose.yaml"], f"{ROOT}/db", [])]),
    ([{"path": "db/compose.yaml"}], [([f"{ROOT}/db/compose.yaml"], f"{ROOT}/db", [])]),
    (
        [{"path": ["db/compose.yaml", "db/override.yaml"], "project_directory": "."}],
        [([f"{ROOT}/db/compose.yaml", f"{ROOT}/db/override.yaml"], f"{ROOT}/.", [])],
    ),
    ([{"path": "db/compose.yaml", "env_file": "/dev/null"}], [([f"{ROOT}/db/compose.yaml"], f"{ROOT}/db", [])]),
]


@pytest.mark.parametrize("include,calls", ENTRIES)
def test_include_entries(include: Any, calls: list[tuple[list[str], str, list[str]]]) -> None:
    model, made = _include({"include": include, "services": {"web": {"image": "app"}}}, {f"{ROOT}/db/compose.yaml": DB})
    assert made == calls
    assert "include" not in model
    assert model["services"] == {"web": {"image": "app"}, "db": {"image": "postgres"}}
    assert model["volumes"] == {"pgdata": {}}


def test_the_same_resource_twice_is_fine_when_equal() -> None:
    model, _ = _include({"include": ["db/compose.yaml"], "volumes": {"pgdata": {}}}, {f"{ROOT}/db/compose.yaml": DB})
    assert model["volumes"] == {"pgdata": {}}


def test_no_include_key_is_no_change() -> None:
    model, calls = _include({"services": {}}, {})
    assert model == {"services": {}} and calls == []


# --- errors ---------------------------------------------------------------------------------

ERRORS: list[tuple[dict[str, Any], str]] = [
    ({"include": "db/compose.yaml"}, "include must be a list"),
    ({"include": [3]}, "include entries must be strings or mappings"),
    ({"include": [{"path": 3}]}, "include[0].path must be a string or a list of strings"),
    (
        {"include": [{"path": "db/compose.yaml", "env_file": "missing.env"}]},
        f"stat {ROOT}/missing.env: no such file or directory",
    ),
    (
        {"include": ["db/compose.yaml"], "services": {"db": {"image": "mysql"}}},
        f"imported compose file {ROOT}/db/compose.yaml defines conflicting service db",
    ),
    ({"include": ["compose.yaml"]}, f"include cycle detected:\n{ROOT}/compose.yaml\n include {ROOT}/compose.yaml"),
]


@pytest.mark.parametrize("model,message", ERRORS)
def test_include_errors(model: dict[str, Any], message: str) -> None:
    with pytest.raises(ComposeError) as info:
        _include(model, {f"{ROOT}/db/compose.yaml": DB})
    assert info.value.message == message


# --- the .env beside an included project: asked of the loader, a folder named .env is not read ---


@pytest.mark.parametrize(
    "answer,env_files",
    [(None, [f"{ROOT}/db/.env"]), ("is a directory, not a file", []), ("no such file or directory", [])],
)
def test_the_dotenv_beside_an_included_project_is_asked_of_the_loader(answer: str | None, env_files: list[str]) -> None:
    asked: list[str] = []
    calls: list[list[str]] = []

    def reach_file(path: str) -> str | None:
        asked.append(path)
        return answer

    def load_project(paths: list[str], project_dir: str, files: list[str]) -> dict[str, Any]:
        calls.append(files)
        return copy.deepcopy(DB)

    model = {"include": ["db/compose.yaml"], "services": {"web": {"image": "app"}}}
    apply_include(model, ROOT, load_project, [f"{ROOT}/compose.yaml"], reach_file=reach_file)
    assert asked == [f"{ROOT}/db/.env"]
    assert calls == [env_files]
