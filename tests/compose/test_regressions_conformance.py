"""Regressions: Go conversions on empty input, missing files, shared env files, unicity paths.

The behaviour against compose itself is covered by ``test_loader_differential.py``; these
cases pin what has no compose output to compare with (a crash, a message, a cache).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from supervisor.compose import environment as environment_module
from supervisor.compose.goconv import GoConvError, parse_duration
from supervisor.compose.loader import load_project
from supervisor.compose.merge import enforce_unicity
from supervisor.compose.model import ComposeError, LoadOptions
from supervisor.compose.yamlsource import LList, LMap


@pytest.mark.parametrize("text", ["", "+", "-"])
def test_parse_duration_of_nothing_is_go_error(text: str) -> None:
    with pytest.raises(GoConvError) as info:
        parse_duration(text)
    assert str(info.value) == f'time: invalid duration "{text}"'


def test_empty_healthcheck_interval_is_a_compose_error(tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_text("services:\n  web:\n    image: a\n    healthcheck: {interval: ''}\n")
    with pytest.raises(ComposeError, match="invalid duration"):
        load_project(LoadOptions(cwd=str(tmp_path), environ={}))


def test_missing_file_is_named_even_without_a_project_name(tmp_path: Path) -> None:
    # "/" gives no folder name: the missing file must still be the error reported.
    with pytest.raises(ComposeError) as info:
        load_project(LoadOptions(cwd="/", environ={}, files=[str(tmp_path / "nope.yml")]))
    assert str(info.value) == f"{tmp_path / 'nope.yml'}: no such file or directory"


@pytest.mark.parametrize("command", ["config", "up"])
def test_cli_names_the_missing_file(command: str, tmp_path: Path) -> None:
    from supervisor.cli import main

    missing = str(tmp_path / "nonexistent.yml")
    result = CliRunner().invoke(main, [command, "-f", missing], catch_exceptions=False)
    assert result.exit_code == 2
    assert f"{missing}: no such file or directory" in result.output
    assert "project name" not in result.output


def _env_file_project(tmp_path: Path, services: int) -> None:
    body = "".join(
        f"  s{i}:\n    image: a\n    environment: {{OWN: 'o{i % 2}'}}\n    env_file: [shared.env]\n"
        for i in range(services)
    )
    (tmp_path / "compose.yaml").write_text("services:\n" + body)
    (tmp_path / "shared.env").write_text("A=${FROM_SHELL:-d}\nB=${A}-x\nC=${OWN}\nBARE\n")


def test_shared_env_file_parsed_once_per_distinct_lookup(tmp_path: Path, monkeypatch) -> None:
    _env_file_project(tmp_path, 6)
    calls = []
    real = environment_module._read_env_file
    monkeypatch.setattr(environment_module, "_read_env_file", lambda *a: calls.append(a[0]) or real(*a))
    project = load_project(LoadOptions(cwd=str(tmp_path), environ={"FROM_SHELL": "s", "BARE": "b"}))
    # Two distinct answers for ${OWN}: two parses for six services.
    assert len(calls) == 2
    for i in range(6):
        env = {k: v.value for k, v in project.services[f"s{i}"].environment.items()}
        assert env == {"A": "s", "B": "s-x", "BARE": "b", "C": f"o{i % 2}", "OWN": f"o{i % 2}"}


def test_env_file_cache_does_not_outlive_a_load(tmp_path: Path) -> None:
    _env_file_project(tmp_path, 2)
    first = load_project(LoadOptions(cwd=str(tmp_path), environ={"FROM_SHELL": "one"}))
    (tmp_path / "shared.env").write_text("A=changed\n")
    second = load_project(LoadOptions(cwd=str(tmp_path), environ={"FROM_SHELL": "one"}))
    assert first.services["s0"].environment["A"].value == "one"
    assert second.services["s0"].environment["A"].value == "changed"


def test_unicity_visits_only_known_list_paths() -> None:
    service = LMap(
        {
            "ports": LList(["80:80"]),  # not canonical yet: keyed as written
            "environment": LList(["A=1", "B=2", "A=3"]),
            "x-list": LList(["A=1", "A=2"]),  # extensions are data: left alone
            "networks": LMap({"n": LMap({"aliases": LList(["a", "b", "a"])})}),
        }
    )
    model = LMap(
        {
            "services": LMap({"web": service}),
            "volumes": LMap({"v": LMap({"labels": LList(["k=1", "k=1"])})}),
            "networks": LMap({"n": LMap({"labels": LList(["k=1", "k=2"])})}),
        }
    )
    enforce_unicity(model)
    assert list(service["environment"]) == ["A=3", "B=2"]
    assert list(service["x-list"]) == ["A=1", "A=2"]
    assert list(service["networks"]["n"]["aliases"]) == ["a", "b"]
    assert list(model["networks"]["n"]["labels"]) == ["k=2"]
    # compose keeps volume labels as merged, for the schema to judge
    assert list(model["volumes"]["v"]["labels"]) == ["k=1", "k=1"]
