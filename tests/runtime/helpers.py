"""Shared helpers of the runtime tests: projects from YAML text, through the real loader."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

from supervisor.compose.loader import load_project
from supervisor.compose.model import LoadOptions, Project

REPO = Path(__file__).resolve().parents[2]


def project_from(
    tmp_path: Path,
    text: str,
    *,
    name: str = "demo",
    environ: dict[str, str] | None = None,
    files: dict[str, str] | None = None,
) -> Project:
    """Write ``compose.yml`` (and extra files) under ``tmp_path`` and load it as compose would."""
    (tmp_path / "compose.yml").write_text(textwrap.dedent(text))
    paths = [str(tmp_path / "compose.yml")]
    for rel, content in (files or {}).items():
        (tmp_path / rel).write_text(textwrap.dedent(content))
        paths.append(str(tmp_path / rel))
    env = {"PATH": os.environ.get("PATH", "")}
    env.update(environ or {})
    return load_project(LoadOptions(files=paths, project_name=name, environ=env, cwd=str(tmp_path)))
