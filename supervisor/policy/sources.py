"""The one I/O edge of the policy layer: reading the build context of services that build.

Files are read on demand (only those the start-up chain and the profiles' markers name), must be
regular files inside the context, and are refused above :data:`MAX_SOURCE_BYTES`.
"""

from __future__ import annotations

import dataclasses
import os
import stat
from typing import Any, Iterator, Mapping, Optional

from supervisor.compose.model import Location, Project
from supervisor.policy.errors import SourceError

__all__ = ["MAX_DOCKERFILE_BYTES", "MAX_SOURCE_BYTES", "BuildContext", "ContextFiles", "read_build_contexts",
           "read_dockerfiles"]

MAX_SOURCE_BYTES = 1 << 20
MAX_DOCKERFILE_BYTES = MAX_SOURCE_BYTES


def read_source(path: str, limit: int = MAX_SOURCE_BYTES) -> Optional[str]:
    """The text of ``path``; None when absent. Refuses non-regular files and files above ``limit``."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    if not stat.S_ISREG(info.st_mode):
        raise SourceError(f"{path}: not a regular file; a build context's Dockerfile and sources must be files",
                          Location(path))
    if info.st_size > limit:
        raise SourceError(f"{path}: {info.st_size} bytes, more than the {limit} bytes read from a build context file; "
                          f"shorten it or declare x-supervisor: {{implementation: NAME}} on the service", Location(path))
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read(limit + 1)[:limit]
    except OSError:
        return None


class ContextFiles(Mapping[str, str]):
    """A build context folder as a mapping of relative paths to text, read on first access."""

    def __init__(self, root: str):
        self.root = os.path.realpath(root)
        self._cache: dict[str, Optional[str]] = {}

    def _path(self, key: str) -> Optional[str]:
        if not key or key.startswith("/") or "\x00" in key:
            return None
        path = os.path.realpath(os.path.join(self.root, key))
        if path != self.root and not path.startswith(self.root + os.sep):
            return None  # outside the context: Docker cannot see it either
        return path

    def __getitem__(self, key: str) -> str:
        if key not in self._cache:
            path = self._path(key)
            self._cache[key] = read_source(path) if path else None
        value = self._cache[key]
        if value is None:
            raise KeyError(key)
        return value

    def __iter__(self) -> Iterator[str]:
        return iter(k for k, v in self._cache.items() if v is not None)

    def __len__(self) -> int:
        return sum(1 for v in self._cache.values() if v is not None)


@dataclasses.dataclass
class BuildContext:
    """What the policy engine needs of a service's build: where, which Dockerfile, which stage."""

    label: str  # the context as shown to users, relative to the project folder ("python-firehose/")
    dockerfile: str  # the Dockerfile's name as shown ("Dockerfile.unified")
    dockerfile_text: Optional[str]
    target: Optional[str]
    files: Mapping[str, str]


def _label(project: Project, context: str) -> str:
    rel = os.path.relpath(context, project.working_dir)
    if rel == ".":
        return ""
    return (rel if not rel.startswith("..") else context).replace(os.sep, "/").rstrip("/") + "/"


def _build(service_config: Mapping[str, Any]) -> Optional[Mapping[str, Any]]:
    build = service_config.get("build")
    if isinstance(build, str):
        return {"context": build}
    return build if isinstance(build, Mapping) else None


def read_build_contexts(project: Project) -> dict[str, BuildContext]:
    """Service name -> its build context, for services that build from a local folder."""
    out: dict[str, BuildContext] = {}
    for name, service in project.services.items():
        build = _build(service.config)
        if build is None:
            continue
        context = str(build.get("context") or ".")
        if "://" in context or context.startswith("git@"):
            continue
        if not os.path.isabs(context):
            context = os.path.join(project.working_dir, context)
        files = ContextFiles(context)
        label = _label(project, context)
        target = build.get("target") if isinstance(build.get("target"), str) else None
        if isinstance(build.get("dockerfile_inline"), str):
            out[name] = BuildContext(label, "(dockerfile_inline)", build["dockerfile_inline"], target, files)
            continue
        dockerfile = str(build.get("dockerfile") or "Dockerfile")
        path = dockerfile if os.path.isabs(dockerfile) else os.path.join(context, dockerfile)
        shown = dockerfile if not os.path.isabs(dockerfile) else os.path.relpath(dockerfile, context)
        out[name] = BuildContext(label, shown, read_source(path), target, files)
    return out


def read_dockerfiles(project: Project) -> dict[str, str]:
    """Service name -> Dockerfile text, for services whose Dockerfile can be read."""
    return {name: ctx.dockerfile_text for name, ctx in read_build_contexts(project).items()
            if ctx.dockerfile_text is not None}
