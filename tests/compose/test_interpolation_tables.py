"""``compose/interpolation.py`` on its own, in memory: one table per rule."""

from __future__ import annotations

from typing import Any

import pytest

from supervisor.compose.interpolation import Interpolator, dotted, warning_line
from supervisor.compose.model import ComposeError, Location, Origin
from supervisor.compose.yamlsource import LMap


def _interpolator(**env: str) -> Interpolator:
    return Interpolator({k: (v, Origin("shell")) for k, v in env.items()})


# --- values are interpolated, keys never ------------------------------------------------------

TEMPLATES: list[tuple[Any, dict[str, str], Any]] = [
    ({"image": "nginx:${TAG}"}, {"TAG": "1.27"}, {"image": "nginx:1.27"}),
    ({"image": "nginx:${TAG:-latest}"}, {}, {"image": "nginx:latest"}),
    ({"image": "nginx:${TAG-latest}"}, {"TAG": ""}, {"image": "nginx:"}),
    ({"image": "nginx:${TAG:-latest}"}, {"TAG": ""}, {"image": "nginx:latest"}),
    ({"command": ["echo", "$$HOME", "$A"]}, {"A": "x"}, {"command": ["echo", "$HOME", "x"]}),
    ({"${KEY}": "$VALUE"}, {"KEY": "k", "VALUE": "v"}, {"${KEY}": "v"}),
    ({"labels": {"a": "${ALT:+set}"}}, {"ALT": "1"}, {"labels": {"a": "set"}}),
    ({"nested": [{"deep": ["${A}"]}]}, {"A": "x"}, {"nested": [{"deep": ["x"]}]}),
]


@pytest.mark.parametrize("tree,env,expected", TEMPLATES)
def test_values_are_interpolated(tree: Any, env: dict[str, str], expected: Any) -> None:
    assert _interpolator(**env).tree(tree) == expected


def test_a_bare_string_root_is_interpolated() -> None:
    assert _interpolator(A="x").tree("${A}y") == "xy"


# --- the casts compose applies after interpolation, whatever the value's origin ----------------

CASTS: list[tuple[list[str], str, Any]] = [
    (["services", "web", "deploy", "replicas"], "3", 3),
    (["services", "web", "cpus"], "0.5", 0.5),
    (["services", "web", "cpu_shares"], "512", 512),
    (["services", "web", "read_only"], "true", True),
    (["services", "web", "ports", "[]", "target"], "80", 80),
    (["services", "web", "ulimits", "nofile", "soft"], "1024", 1024),
    (["networks", "front", "external"], "false", False),
    (["services", "web", "image"], "3", "3"),  # not a cast path: stays a string
    (["x-custom", "replicas"], "3", "3"),
]


def _tree_at(path: list[str], value: Any) -> Any:
    root: Any = value
    for part in reversed(path):
        root = [root] if part == "[]" else {part: root}
    return root


@pytest.mark.parametrize("path,value,expected", CASTS)
def test_values_are_cast_at_compose_paths(path: list[str], value: str, expected: Any) -> None:
    assert _interpolator().tree(_tree_at(path, value)) == _tree_at(path, expected)


def test_a_value_from_a_template_is_cast_too() -> None:
    assert _interpolator(N="2").tree({"services": {"web": {"deploy": {"replicas": "${N}"}}}}) == {
        "services": {"web": {"deploy": {"replicas": 2}}}
    }


CAST_ERRORS = [
    (
        ["services", "web", "deploy", "replicas"],
        "three",
        "error while interpolating services.web.deploy.replicas: failed to cast to expected type: "
        'strconv.Atoi: parsing "three": invalid syntax',
    ),
    (
        ["services", "web", "read_only"],
        "maybe",
        "error while interpolating services.web.read_only: failed to cast to expected type: ",
    ),
]


@pytest.mark.parametrize("path,value,message", CAST_ERRORS)
def test_values_that_do_not_cast_are_errors(path: list[str], value: str, message: str) -> None:
    with pytest.raises(ComposeError) as info:
        _interpolator().tree(_tree_at(path, value))
    assert info.value.message.startswith(message)


LEGACY_BOOLEANS = [("yes", True, "true"), ("off", False, "false")]


@pytest.mark.parametrize("text,value,word", LEGACY_BOOLEANS)
def test_yaml11_booleans_cast_with_a_warning(text: str, value: bool, word: str) -> None:
    interpolator = _interpolator()
    assert interpolator.tree({"services": {"web": {"tty": text}}}) == {"services": {"web": {"tty": value}}}
    assert interpolator.warnings == [
        warning_line(f'"{text}" for boolean is not supported by YAML 1.2, please use `{word}`')
    ]


# --- unset variables, errors and where they are reported ----------------------------------------


def test_an_unset_variable_is_blank_with_a_warning_at_every_use() -> None:
    interpolator = _interpolator()
    assert interpolator.tree({"a": "${MISSING}", "b": "$MISSING"}) == {"a": "", "b": ""}
    assert len(interpolator.warnings) == 2 and all("MISSING" in w for w in interpolator.warnings)


def test_a_required_variable_names_the_path_and_the_place() -> None:
    doc = LMap({"image": "${TAG:?set TAG}"}, loc=Location("compose.yaml", 1, 1))
    doc.keylocs["image"] = Location("compose.yaml", 3, 12)
    with pytest.raises(ComposeError) as info:
        _interpolator().tree(doc)
    assert "set TAG" in info.value.message
    assert info.value.location is not None and info.value.location.line == 3


def test_the_raw_template_and_its_references_are_kept() -> None:
    doc = LMap({"image": "nginx:${TAG}"})
    _interpolator(TAG="1").tree(doc)
    raw, references = doc.raws["image"]
    assert raw == "nginx:${TAG}" and [r.name for r in references] == ["TAG"]


def test_substitutions_record_the_origin_of_each_variable() -> None:
    interpolator = _interpolator(TAG="1")
    _, references = interpolator.text("${TAG}${NONE:-d}", ["image"], None)
    records = interpolator.substitutions(references)
    assert [(s.variable, s.origin.kind, s.used_default) for s in records] == [
        ("TAG", "shell", False),
        ("NONE", "unset", True),
    ]


def test_dotted_paths_are_spelled_as_compose_does() -> None:
    assert dotted(["services", "web", "environment", "[]"]) == "services.web.environment.[]"
