"""Files, folder, environment and project name, as `docker compose` settles them."""

from __future__ import annotations

from pathlib import Path

import pytest

from supervisor.compose.discovery import normalize_project_name
from supervisor.compose.loader import load_project
from supervisor.compose.model import ComposeError, LoadOptions

SERVICE = "services:\n  web:\n    image: a\n"


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


@pytest.mark.parametrize("raw,name", [("My_App!", "my_app"), ("--x", "x"), ("a.b c", "abc"), ("_", "")])
def test_normalize_project_name(raw, name):
    assert normalize_project_name(raw) == name


def test_default_files_in_a_parent_with_override(tmp_path):
    write(tmp_path, {"compose.yml": SERVICE, "docker-compose.override.yml": "services:\n  web:\n    image: b\n"})
    (tmp_path / "deep" / "er").mkdir(parents=True)
    project = load_project(LoadOptions(cwd=str(tmp_path / "deep" / "er"), environ={}))
    assert project.files == [str(tmp_path / "compose.yml"), str(tmp_path / "docker-compose.override.yml")]
    assert project.services["web"].config["image"] == "b"
    assert project.working_dir == str(tmp_path)


def test_compose_file_and_separator(tmp_path):
    write(tmp_path, {"one.yaml": SERVICE, "two.yaml": "services:\n  web:\n    image: b\n"})
    project = load_project(
        LoadOptions(cwd=str(tmp_path), environ={"COMPOSE_FILE": "one.yaml,two.yaml", "COMPOSE_PATH_SEPARATOR": ","})
    )
    assert [Path(f).name for f in project.files] == ["one.yaml", "two.yaml"]


def test_compose_variables_from_dotenv(tmp_path):
    write(tmp_path, {"one.yaml": SERVICE, ".env": "COMPOSE_FILE=one.yaml\nCOMPOSE_PROJECT_NAME=fromdotenv\n"})
    project = load_project(LoadOptions(cwd=str(tmp_path), environ={}))
    assert project.name == "fromdotenv"
    assert project.environment["COMPOSE_PROJECT_NAME"][1].kind == "dotenv"


def test_disable_env_file(tmp_path):
    write(tmp_path, {"compose.yaml": "services:\n  web:\n    image: ${IMG:-default}\n", ".env": "IMG=dot\n"})
    project = load_project(LoadOptions(cwd=str(tmp_path), environ={"COMPOSE_DISABLE_ENV_FILE": "1"}))
    assert project.services["web"].config["image"] == "default"


@pytest.mark.parametrize(
    "options,environ,expected",
    [
        ({}, {}, "proj"),
        ({"project_name": "flag"}, {"COMPOSE_PROJECT_NAME": "env"}, "flag"),
        ({}, {"COMPOSE_PROJECT_NAME": "env"}, "env"),
    ],
)
def test_name_precedence(tmp_path, options, environ, expected):
    write(tmp_path / "proj", {"compose.yaml": SERVICE})
    project = load_project(LoadOptions(cwd=str(tmp_path / "proj"), environ=environ, **options))
    assert project.name == expected


def test_name_key_is_normalised_and_interpolated(tmp_path):
    write(tmp_path, {"compose.yaml": "name: App-${S}\n" + SERVICE})
    project = load_project(LoadOptions(cwd=str(tmp_path), environ={"S": "X"}))
    assert project.name == "app-x"
    assert project.config["name"] == "app-x"


@pytest.mark.parametrize("name", ["Bad", "a b", "-x"])
def test_invalid_imposed_name(tmp_path, name):
    write(tmp_path, {"compose.yaml": SERVICE})
    with pytest.raises(ComposeError) as info:
        load_project(LoadOptions(cwd=str(tmp_path), environ={}, project_name=name))
    assert f'invalid project name "{name}"' in str(info.value)


def test_no_file_found(tmp_path):
    with pytest.raises(ComposeError) as info:
        load_project(LoadOptions(cwd=str(tmp_path), environ={}))
    assert "no configuration file provided" in str(info.value)


def test_env_file_option_replaces_dotenv(tmp_path):
    write(
        tmp_path,
        {
            "compose.yaml": "services:\n  web:\n    image: ${IMG}\n",
            ".env": "IMG=dot\n",
            "a.env": "IMG=a\n",
            "b.env": "IMG=b\n",
        },
    )
    project = load_project(LoadOptions(cwd=str(tmp_path), environ={}, env_files=["a.env", "b.env"]))
    assert project.services["web"].config["image"] == "b"
