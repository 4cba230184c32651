"""The one I/O edge of the policy layer: reading the Dockerfiles of services that build."""

from __future__ import annotations

import os
from typing import Any, Mapping

from supervisor.compose.model import Project

__all__ = ["MAX_DOCKERFILE_BYTES", "read_dockerfiles"]

MAX_DOCKERFILE_BYTES = 1 << 20


def _dockerfile_path(project: Project, build: Mapping[str, Any]) -> str:
    context = str(build.get("context") or ".")
    if "://" in context or context.startswith("git@"):
        return ""
    if not os.path.isabs(context):
        context = os.path.join(project.working_dir, context)
    dockerfile = str(build.get("dockerfile") or "Dockerfile")
    return dockerfile if os.path.isabs(dockerfile) else os.path.join(context, dockerfile)


def read_dockerfiles(project: Project) -> dict[str, str]:
    """Service name -> Dockerfile text, for services whose Dockerfile can be read (others are skipped)."""
    texts: dict[str, str] = {}
    for name, service in project.services.items():
        build = service.config.get("build")
        if isinstance(build, str):
            build = {"context": build}
        if not isinstance(build, Mapping):
            continue
        if isinstance(build.get("dockerfile_inline"), str):
            texts[name] = build["dockerfile_inline"]
            continue
        path = _dockerfile_path(project, build)
        try:
            if path and os.path.getsize(path) <= MAX_DOCKERFILE_BYTES:
                with open(path, encoding="utf-8", errors="replace") as handle:
                    texts[name] = handle.read()
        except OSError:
            continue  # a missing Dockerfile only removes a detection clue
    return texts
