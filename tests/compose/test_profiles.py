"""Profiles, replicas and the dependency check."""

from __future__ import annotations

from pathlib import Path

import pytest

from supervisor.compose.loader import load_project
from supervisor.compose.model import ComposeError, LoadOptions

COMPOSE = """services:
  web:
    image: a
    deploy: {replicas: 3}
  debug:
    image: b
    profiles: [dev]
  tools:
    image: c
    profiles: [tools, dev]
    scale: 2
"""


def load(tmp_path: Path, text: str, **kwargs):
    (tmp_path / "compose.yaml").write_text(text)
    return load_project(LoadOptions(cwd=str(tmp_path), environ=kwargs.pop("environ", {}), **kwargs))


@pytest.mark.parametrize(
    "profiles,environ,enabled",
    [
        ([], {}, ["web"]),
        (["dev"], {}, ["web", "debug", "tools"]),
        (["tools"], {}, ["web", "tools"]),
        (["*"], {}, ["web", "debug", "tools"]),
        ([], {"COMPOSE_PROFILES": "tools,nope"}, ["web", "tools"]),
        (["dev"], {"COMPOSE_PROFILES": "tools"}, ["web", "debug", "tools"]),
    ],
)
def test_enabled_services(tmp_path, profiles, environ, enabled):
    project = load(tmp_path, COMPOSE, profiles=profiles, environ=environ)
    assert sorted(project.services) == sorted(enabled)
    assert sorted(project.config["services"]) == sorted(enabled)
    assert sorted(project.disabled_services) == sorted({"web", "debug", "tools"} - set(enabled))


def test_replicas(tmp_path):
    project = load(tmp_path, COMPOSE, profiles=["*"])
    assert project.services["web"].replicas == 3
    assert project.services["tools"].replicas == 2
    assert project.services["debug"].replicas == 1


def test_dependency_on_disabled_service_is_an_error(tmp_path):
    with pytest.raises(ComposeError) as info:
        load(
            tmp_path,
            "services:\n  web:\n    image: a\n    depends_on: [debug]\n  debug:\n    image: b\n    profiles: [dev]\n",
        )
    assert 'service "web" depends on undefined service "debug"' in str(info.value)


def test_distinct_scale_and_replicas_is_an_error(tmp_path):
    with pytest.raises(ComposeError) as info:
        load(tmp_path, "services:\n  web:\n    image: a\n    scale: 2\n    deploy: {replicas: 3}\n")
    assert "can't set distinct values on 'scale' and 'deploy.replicas'" in str(info.value)
