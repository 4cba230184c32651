"""The one I/O edge of the policy layer: what the engine reads, read here and handed to it.

- the build context of services that build: files are read on demand (only those the start-up
  chain and the profiles' markers name), must be regular files inside the context, and are
  refused above :data:`MAX_SOURCE_BYTES`;
- the shipped data (``schemas/``): implementation profiles, process managers and the
  ``x-supervisor`` schema, as one :class:`~supervisor.policy.profiles.Catalog`;
- :func:`evaluate_sources`, the one pipeline from a loaded project to its evaluation
  (``validate``, ``audit``, ``explain``, ``status`` and the check ``up`` runs first).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import stat
from pathlib import PurePath
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Mapping, Optional, TypeVar

from supervisor.compose.model import Location, Project
from supervisor.files import InputTooLarge, read_input
from supervisor.policy.engine import key_location
from supervisor.policy.errors import ProfileError, SourceError
from supervisor.policy.managers import ProcessManager, parse_managers
from supervisor.policy.profiles import Catalog, Profile, collect_profiles, parse_profile
from supervisor.verdicts import Verdicts

if TYPE_CHECKING:
    from pathlib import Path

    from supervisor.policy.engine import Evaluation

__all__ = [
    "MAX_DOCKERFILE_BYTES",
    "MAX_SOURCE_BYTES",
    "BuildContext",
    "ContextFiles",
    "read_build_contexts",
    "read_dockerfiles",
    "schemas_dir",
    "load_schema",
    "load_profiles",
    "builtin_profiles",
    "process_managers",
    "builtin_catalog",
    "evaluate_sources",
]

MAX_SOURCE_BYTES = 1 << 20
MAX_DOCKERFILE_BYTES = MAX_SOURCE_BYTES


def read_source(path: str, limit: int = MAX_SOURCE_BYTES) -> Optional[str]:
    """The text of ``path``; None when absent. Refuses non-regular files and files above ``limit``."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    if not stat.S_ISREG(info.st_mode):
        raise SourceError(
            f"{path}: not a regular file; a build context's Dockerfile and sources must be files", Location(path)
        )
    if info.st_size > limit:
        raise SourceError(
            f"{path}: {info.st_size} bytes, more than the {limit} bytes read from a build context file; "
            f"shorten it or declare x-supervisor: {{implementation: NAME}} on the service",
            Location(path),
        )
    try:
        return read_input(path, limit).decode("utf-8", errors="replace")
    except InputTooLarge:  # grew since it was looked at
        raise SourceError(
            f"{path}: more than the {limit} bytes read from a build context file; "
            f"shorten it or declare x-supervisor: {{implementation: NAME}} on the service",
            Location(path),
        ) from None
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
        try:
            text = read_source(path)
        except SourceError as exc:
            # located where the compose file names the Dockerfile: the file itself has no line
            where = key_location(project, "services", name, "build", "dockerfile") or exc.location
            raise SourceError(exc.message, where) from None
        out[name] = BuildContext(label, shown, text, target, files)
    return out


def read_dockerfiles(project: Project) -> dict[str, str]:
    """Service name -> Dockerfile text, for services whose Dockerfile can be read."""
    return {
        name: ctx.dockerfile_text
        for name, ctx in read_build_contexts(project).items()
        if ctx.dockerfile_text is not None
    }


# --- the shipped data -----------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _schemas_path() -> str:
    # os.path rather than pathlib: this runs at every start of validate
    package = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
    for candidate in (os.path.join(package, "schemas"), os.path.join(os.path.dirname(package), "schemas")):
        if os.path.isfile(os.path.join(candidate, "profile.schema.json")):
            return candidate
    raise ProfileError(f"schemas folder not found beside {package}")


def schemas_dir() -> "Path":
    """The folder holding our JSON Schemas (``schemas/`` beside the package, or inside it once installed)."""
    from pathlib import Path

    return Path(_schemas_path())


@functools.lru_cache(maxsize=None)
def load_schema(name: str) -> dict[str, Any]:
    """One of our JSON Schemas by file name, e.g. ``profile.schema.json``."""
    path = os.path.join(_schemas_path(), name)
    try:
        with open(path, encoding="utf-8") as handle:
            schema: dict[str, Any] = json.load(handle)
            return schema
    except (OSError, ValueError) as exc:
        raise ProfileError(f"{path}: cannot read schema: {exc}") from None


_PathT = TypeVar("_PathT", str, PurePath)


def load_profiles(
    paths: Iterable[_PathT], *, check_patterns: bool = True, verdicts: Optional[Verdicts] = None
) -> dict[str, Profile]:
    """Read profile files (all ``str`` or all paths: they are sorted); names must be unique."""
    schema = load_schema("profile.schema.json")
    parsed: list[Profile] = []
    for path in sorted(paths):
        try:
            with open(path, encoding="utf-8") as handle:
                document = json.load(handle)
        except OSError as exc:
            raise ProfileError(f"{path}: cannot read: {exc.strerror or exc}") from None
        except ValueError as exc:
            raise ProfileError(f"{path}: not JSON: {exc}") from None
        parsed.append(
            parse_profile(document, schema, where=str(path), check_patterns=check_patterns, verdicts=verdicts)
        )
    return collect_profiles(parsed)


@functools.lru_cache(maxsize=4)
def builtin_profiles(verdicts: Optional[Verdicts] = None) -> Mapping[str, Profile]:
    """The profiles shipped in ``schemas/profiles``."""
    # the shipped patterns are checked by the test suite, so a run compiles only those it uses
    folder = os.path.join(_schemas_path(), "profiles")
    names = [os.path.join(folder, n) for n in os.listdir(folder) if n.endswith(".json")]
    return load_profiles(names, check_patterns=False, verdicts=verdicts)


@functools.lru_cache(maxsize=1)
def process_managers() -> Mapping[str, ProcessManager]:
    """The process managers described in ``schemas/process-managers.json``."""
    path = os.path.join(_schemas_path(), "process-managers.json")
    try:
        with open(path, encoding="utf-8") as handle:
            return parse_managers(json.load(handle))
    except (OSError, ValueError) as exc:
        raise ProfileError(f"{path}: cannot read: {exc}") from None


def builtin_catalog(verdicts: Optional[Verdicts] = None) -> Catalog:
    """The shipped profiles, process managers and ``x-supervisor`` schema."""
    return Catalog(builtin_profiles(verdicts), process_managers(), load_schema("x-supervisor.schema.json"))


# --- the pipeline ---------------------------------------------------------------------------


def evaluate_sources(
    project: Project, *, root: Optional[str] = None, verdicts: Optional[Verdicts] = None
) -> "Evaluation":
    """The policy's evaluation of a loaded project, with its build contexts and the shipped catalog.

    ``root`` is the folder locations are shown relative to (default: the current folder).
    Raises :class:`~supervisor.policy.errors.PolicyError` for a malformed ``x-supervisor`` block
    or an unreadable build context file.
    """
    from supervisor.policy.engine import evaluate_project

    return evaluate_project(
        project,
        catalog=builtin_catalog(verdicts),
        contexts=read_build_contexts(project),
        root=root or os.getcwd(),
        verdicts=verdicts,
    )
