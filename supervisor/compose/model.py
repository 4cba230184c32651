"""The resolved project: plain data records shared by every layer.

A :class:`Project` is what the loader returns.  Its ``config`` mapping has the
shape of ``docker compose config --format json``; the records beside it keep
where every service environment value came from.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Iterable, Optional

from supervisor.errors import ComposeError, LocatedError, Location
from supervisor.verdicts import Verdicts

__all__ = [
    "at_reference",
    "Location",
    "Origin",
    "Substitution",
    "EnvValue",
    "Service",
    "Project",
    "LocatedError",
    "ComposeError",
    "LoadOptions",
]


@dataclasses.dataclass(frozen=True)
class Origin:
    """Where a value came from.

    ``kind`` is one of:

    - ``"environment"``: a service's ``environment:`` entry (``location`` set);
    - ``"env_file"``: a service's ``env_file:`` entry (``location`` = path:line);
    - ``"shell"``: the process environment of the command;
    - ``"dotenv"``: the project ``.env`` / ``--env-file`` (``location`` = path:line);
    - ``"default"``: a template default such as ``${V:-d}`` (``location`` of the template);
    - ``"unset"``: nothing provided a value.
    """

    kind: str
    location: Optional[Location] = None
    detail: str = ""

    def __str__(self) -> str:
        where = f" at {self.location}" if self.location else ""
        extra = f" ({self.detail})" if self.detail else ""
        return f"{self.kind}{where}{extra}"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind}
        if self.location is not None:
            out.update(self.location.to_json())
        if self.detail:
            out["detail"] = self.detail
        return out


@dataclasses.dataclass(frozen=True)
class Substitution:
    """One ``$VAR`` reference met while interpolating a value."""

    variable: str
    value: Optional[str]  # the variable's value, None when unset
    origin: Origin  # shell, dotenv or unset
    used_default: bool = False  # the template's default/alternative was used instead

    def to_json(self) -> dict[str, Any]:
        return {
            "variable": self.variable,
            "value": self.value,
            "origin": self.origin.to_json(),
            "used_default": self.used_default,
        }


@dataclasses.dataclass
class EnvValue:
    """The resolved value of one service environment variable, with its provenance."""

    name: str
    value: Optional[str]  # None: declared but unset in the container (bare ``- VAR``)
    origin: Origin  # the layer that won
    raw: Optional[str] = None  # text before interpolation, when it came from a template
    substitutions: list[Substitution] = dataclasses.field(default_factory=list)
    overridden: list["EnvValue"] = dataclasses.field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": self.value,
            "origin": self.origin.to_json(),
            "raw": self.raw,
            "substitutions": [s.to_json() for s in self.substitutions],
            "overridden": [o.to_json() for o in self.overridden],
        }


@dataclasses.dataclass
class Service:
    """One resolved service."""

    name: str
    config: dict[str, Any]  # the service as ``docker compose config --format json`` prints it
    environment: dict[str, EnvValue]  # same keys as config["environment"]
    location: Optional[Location] = None  # where the service is declared (last file that did)
    extensions: dict[str, Any] = dataclasses.field(default_factory=dict)  # ``x-*`` keys
    # ``env_file`` entries in long form ({"path": absolute, "required": bool}), before they are read
    env_files: list[dict[str, Any]] = dataclasses.field(default_factory=list)

    @property
    def replicas(self) -> int:
        deploy = self.config.get("deploy") or {}
        if deploy.get("replicas") is not None:
            return int(deploy["replicas"])
        if self.config.get("scale") is not None:
            return int(self.config["scale"])
        return 1


@dataclasses.dataclass
class Project:
    """A resolved compose project."""

    name: str
    working_dir: str
    files: list[str]
    config: dict[str, Any]  # the whole model as ``docker compose config --format json``
    services: dict[str, Service]  # active services only (profiles applied)
    environment: dict[str, tuple[str, Origin]]  # the project environment (shell over .env)
    extensions: dict[str, Any] = dataclasses.field(default_factory=dict)  # top-level ``x-*``
    warnings: list[str] = dataclasses.field(default_factory=list)  # as compose prints them
    disabled_services: dict[str, Service] = dataclasses.field(default_factory=dict)
    # where top-level ``x-*`` keys and each service's keys were declared, for findings
    locations: dict[tuple[str, ...], Location] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class LoadOptions:
    """The inputs of ``docker compose`` that shape the project."""

    files: list[str] = dataclasses.field(default_factory=list)  # -f, repeatable
    project_name: Optional[str] = None  # -p
    project_directory: Optional[str] = None  # --project-directory
    env_files: list[str] = dataclasses.field(default_factory=list)  # --env-file, repeatable
    profiles: list[str] = dataclasses.field(default_factory=list)  # --profile, repeatable
    environ: Optional[dict[str, str]] = None  # the shell; None means os.environ
    cwd: Optional[str] = None  # None means os.getcwd()
    # False: env_file entries are listed, not read (compose's `config --hash` resolves no env files)
    read_env_files: bool = True
    # where schema verdicts are remembered (see supervisor.verdicts); None: every document is checked
    verdicts: Optional[Verdicts] = None
    # False: compose's normalization is skipped (`config --no-normalize`): no implicit default
    # network, resource names, build defaults, implicit depends_on, cleaned mount targets
    normalize: bool = True
    # False: templates are left as written and nothing is cast (`config --no-interpolate`)
    interpolate: bool = True


def at_reference(exc: ComposeError, files: Iterable[str], where: Optional[Location]) -> ComposeError:
    """``exc`` placed at ``where`` (the key that names one of ``files``) when it points at no line of its own.

    A file that cannot be read (a FIFO, a device, a folder) has no line to show; the line that
    named it does.
    """
    loc = exc.location
    if where is None or not where.line or (loc is not None and loc.line) or (loc is not None and loc.file not in files):
        return exc
    message = exc.message if loc is None or exc.message.startswith(loc.file) else f"{loc.file}: {exc.message}"
    return ComposeError(message, where)
