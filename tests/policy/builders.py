"""Build resolved projects directly (no loader) for the policy tests."""

from __future__ import annotations

from typing import Any, Optional, Union

from supervisor.compose.model import EnvValue, Location, Origin, Project, Service, Substitution
from supervisor.policy import engine
from supervisor.policy.sources import builtin_catalog

FILE = "/proj/docker-compose.yml"

EnvSpec = Union[None, str, EnvValue]


def literal(name: str, value: Optional[str], line: int = 10, column: int = 7, file: str = FILE) -> EnvValue:
    """``- NAME=value`` written in a compose file."""
    return EnvValue(name, value, Origin("environment", Location(file, line, column)), raw=value)


def from_shell(
    name: str,
    value: Optional[str],
    default: str = "0",
    line: int = 12,
    column: int = 9,
    kind: str = "shell",
    dotenv_line: int = 3,
) -> EnvValue:
    """``- NAME=${NAME:-default}`` with the variable from the shell (or .env), or the default when None."""
    raw = f"${{{name}:-{default}}}"
    if value is None:
        sub = Substitution(name, None, Origin("unset"), used_default=True)
        final = default
    else:
        origin = Origin("shell") if kind == "shell" else Origin("dotenv", Location("/proj/.env", dotenv_line))
        sub = Substitution(name, value, origin)
        final = value
    return EnvValue(name, final, Origin("environment", Location(FILE, line, column)), raw=raw, substitutions=[sub])


def service(
    name: str,
    env: dict[str, EnvSpec],
    *,
    implementation: Optional[str] = None,
    command: Any = None,
    image: Optional[str] = None,
    replicas: Optional[int] = None,
    line: int = 5,
    extension: Optional[dict[str, Any]] = None,
) -> Service:
    records: dict[str, EnvValue] = {}
    for i, (key, spec) in enumerate(env.items()):
        records[key] = spec if isinstance(spec, EnvValue) else literal(key, spec, line=line + 2 + i)
    config: dict[str, Any] = {"environment": {k: v.value for k, v in records.items()}}
    if command is not None:
        config["command"] = command
    if image is not None:
        config["image"] = image
    if replicas is not None:
        config["deploy"] = {"replicas": replicas}
    ext: dict[str, Any] = {}
    block = dict(extension or {})
    if implementation is not None:
        block["implementation"] = implementation
    if block:
        ext["x-supervisor"] = block
    return Service(name, config, records, Location(FILE, line, 3), ext)


def project(
    *services: Service,
    environment: Optional[dict[str, tuple[str, Origin]]] = None,
    extensions: Optional[dict[str, Any]] = None,
) -> Project:
    svcs = {s.name: s for s in services}
    locations = {("services", s.name): s.location for s in services if s.location}
    return Project(
        "proj",
        "/proj",
        [FILE],
        {"services": {s.name: s.config for s in services}},
        svcs,
        environment or {},
        extensions or {},
        locations=locations,
    )


def codes(findings, *, active_only: bool = True) -> list[str]:
    return sorted(f.code for f in findings if not active_only or f.suppressed is None)


def evaluate_project(project: Project, **kwargs: Any) -> engine.Evaluation:
    """The engine with the shipped catalog (profiles, process managers, x-supervisor schema)."""
    return engine.evaluate_project(project, catalog=builtin_catalog(), **kwargs)
