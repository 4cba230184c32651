"""Fixtures of the runtime tests: a real Docker Engine (started when absent) and local images.

Tests marked ``docker`` need the Engine. The session fixture runs ``scripts/docker-engine.sh start``
and ``scripts/build-images.sh python postgres`` (both skip work already done), so ``pytest
tests/runtime`` works on a fresh machine once Debian's docker.io and debootstrap are installed.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

from .helpers import REPO

PYTHON_IMAGE = "appview-local/python:3.11"
POSTGRES_IMAGE = "appview-local/postgres:15"
# The CLI entry point with the runtime commands registered, whether or not supervisor.cli imports them.
CLI = [sys.executable, "-c", "import supervisor.cli.runtime; from supervisor.cli import main; main()"]

_names = itertools.count(1)


def _run(argv: list[str], timeout: float) -> None:
    result = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        pytest.fail(f"{' '.join(argv)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")


@pytest.fixture(scope="session")
def engine():
    """A connected :class:`supervisor.runtime.engine.Engine` with the local base images present."""
    _run(["bash", str(REPO / "scripts/docker-engine.sh"), "start"], timeout=120)
    _run(["bash", str(REPO / "scripts/build-images.sh"), "python", "postgres"], timeout=900)
    from supervisor.runtime.engine import Engine

    return Engine()


def _purge(engine, project: str) -> None:
    api = engine.api
    label = {"label": [f"com.docker.compose.project={project}"]}
    for container in api.containers(all=True, filters=label):
        api.remove_container(container["Id"], force=True, v=True)
    for network in api.networks(filters=label):
        api.remove_network(network["Id"])
    for volume in (api.volumes(filters=label) or {}).get("Volumes") or []:
        api.remove_volume(volume["Name"], force=True)


@pytest.fixture()
def project_name(engine) -> Iterator[str]:
    """A fresh project name; whatever carries its label is removed afterwards."""
    name = f"rt{os.getpid()}x{next(_names)}"
    yield name
    _purge(engine, name)


def labelled(engine, project: str) -> dict[str, list[str]]:
    """Names of the containers, networks and volumes labelled with the project."""
    api = engine.api
    label = {"label": [f"com.docker.compose.project={project}"]}
    return {
        "containers": sorted(c["Names"][0].lstrip("/") for c in api.containers(all=True, filters=label)),
        "networks": sorted(n["Name"] for n in api.networks(filters=label)),
        "volumes": sorted(v["Name"] for v in (api.volumes(filters=label) or {}).get("Volumes") or []),
    }


def supervisor(
    *args: str, cwd: Path, timeout: float = 300, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """Run the command line; returns the completed process (text output)."""
    environ = dict(os.environ)
    environ.update(env or {})
    return subprocess.run([*CLI, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=environ)
