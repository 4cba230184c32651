"""``compose/extends.py`` on its own, in memory: one table per rule (other files come from a dict)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from supervisor.compose.extends import apply_extends
from supervisor.compose.model import ComposeError


def _resolve(services: dict[str, Any], files: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    model = {"services": copy.deepcopy(services)}
    loaded: list[str] = []

    def load_file(path: str) -> dict[str, Any]:
        loaded.append(path)
        return copy.deepcopy((files or {})[path])

    def reach(path: str) -> str | None:  # the dict is the file system: nothing else exists
        return None if path in (files or {}) else "no such file or directory"

    apply_extends(model, "/proj/compose.yaml", "/proj", load_file, reach=reach)
    return model["services"]


# --- the extending service is merged over its base, by the usual merge rules -----------------

SAME_FILE: list[tuple[dict[str, Any], dict[str, Any]]] = [
    (
        {"base": {"image": "app", "environment": {"A": "1"}}, "web": {"extends": "base", "environment": {"B": "2"}}},
        {"image": "app", "environment": ["A=1", "B=2"]},
    ),  # as compose-go's merge: mappings to K=V sequences
    (
        {"base": {"image": "app", "command": ["a"]}, "web": {"extends": {"service": "base"}, "command": ["b"]}},
        {"image": "app", "command": ["b"]},
    ),
    (
        {"base": {"image": "app", "ports": [{"target": 80}]}, "web": {"extends": "base", "ports": [{"target": 81}]}},
        {"image": "app", "ports": [{"target": 80}, {"target": 81}]},
    ),
    # chains resolve from the bottom: web <- mid <- base
    (
        {
            "base": {"image": "app", "labels": {"a": "1"}},
            "mid": {"extends": "base", "labels": {"b": "2"}},
            "web": {"extends": "mid", "labels": {"c": "3"}},
        },
        {"image": "app", "labels": ["a=1", "b=2", "c=3"]},
    ),
]


@pytest.mark.parametrize("services,expected", SAME_FILE)
def test_extends_in_the_same_file(services: dict[str, Any], expected: dict[str, Any]) -> None:
    resolved = _resolve(services)
    assert resolved["web"] == expected
    assert "extends" not in resolved["web"]


def test_the_base_itself_is_left_as_it_was() -> None:
    resolved = _resolve({"base": {"image": "app"}, "web": {"extends": "base", "image": "other"}})
    assert resolved["base"] == {"image": "app"} and resolved["web"] == {"image": "other"}


def test_extends_from_another_file() -> None:
    other = {"services": {"common": {"image": "app", "environment": {"A": "1"}}}}
    resolved = _resolve(
        {"web": {"extends": {"file": "lib/common.yaml", "service": "common"}, "environment": {"B": "2"}}},
        {"/proj/lib/common.yaml": other},
    )
    assert resolved["web"] == {"image": "app", "environment": ["A=1", "B=2"]}


# --- errors ---------------------------------------------------------------------------------

ERRORS: list[tuple[dict[str, Any], dict[str, dict[str, Any]], str]] = [
    (
        {"web": {"extends": "nowhere"}},
        {},
        'cannot extend service "web" in /proj/compose.yaml: service "nowhere" not found',
    ),
    (
        {"web": {"extends": {"file": "x.yaml", "service": "nowhere"}}},
        {"/proj/x.yaml": {"services": {"a": {}}}},
        'cannot extend service "web" in x.yaml: service "nowhere" not found in x.yaml',
    ),
    (
        {"web": {"extends": {"file": "x.yaml", "service": "a"}}},
        {"/proj/x.yaml": {"volumes": {}}},
        'cannot extend service "web" in /proj/x.yaml: no services section',
    ),
    ({"web": {"extends": 3}}, {}, "services.web.extends must be a string or a mapping"),
    ({"web": {"extends": {"service": 3}}}, {}, "services.web.extends.service must be a string"),
    ({"web": "nginx"}, {}, "services.web must be a mapping"),
    (
        {"a": {"extends": "b"}, "b": {"extends": "a"}},
        {},
        "Circular reference:\n  a in /proj/compose.yaml\n  extends b in /proj/compose.yaml\n  extends a in /proj/compose.yaml",
    ),
]


@pytest.mark.parametrize("services,files,message", ERRORS)
def test_extends_errors(services: dict[str, Any], files: dict[str, dict[str, Any]], message: str) -> None:
    with pytest.raises(ComposeError) as info:
        _resolve(services, files)
    assert info.value.message == message


def test_a_model_without_services_is_left_alone() -> None:
    model: dict[str, Any] = {"volumes": {}}
    apply_extends(model, "/proj/compose.yaml", "/proj", lambda path: {})
    assert model == {"volumes": {}}
