"""Which files, which folder, which environment: the inputs compose settles before reading YAML.

The order mirrors ``docker compose``: the shell; the ``.env`` of the project
folder (or the ``--env-file`` files), which may itself set ``COMPOSE_FILE``;
``COMPOSE_FILE``; the default file names searched in the working folder and its
parents; then the ``.env`` of the folder finally chosen; ``COMPOSE_PROFILES``;
``-p`` or ``COMPOSE_PROJECT_NAME``.  Values already set always win, so the shell
beats every ``.env`` file.
"""

from __future__ import annotations

import dataclasses
import os
import re
import stat
from typing import Mapping, Optional

from supervisor.compose.model import ComposeError, LoadOptions, Location, Origin

__all__ = [
    "DEFAULT_FILE_NAMES",
    "DEFAULT_OVERRIDE_FILE_NAMES",
    "Discovery",
    "discover",
    "normalize_project_name",
    "check_project_name",
    "go_parse_bool",
]

DEFAULT_FILE_NAMES = ("compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml")
DEFAULT_OVERRIDE_FILE_NAMES = (
    "compose.override.yml",
    "compose.override.yaml",
    "docker-compose.override.yml",
    "docker-compose.override.yaml",
)

Environment = dict[str, tuple[str, Origin]]


@dataclasses.dataclass
class Discovery:
    """The settled inputs of one load."""

    cwd: str
    files: list[str]  # absolute paths, in merge order
    working_dir: str  # absolute project folder
    environment: Environment  # the shell over the dotenv files
    env_files: list[str]  # the dotenv files read
    profiles: list[str]
    project_name: Optional[str]  # set by -p or COMPOSE_PROJECT_NAME (validated), else None
    warnings: list[str] = dataclasses.field(default_factory=list)


_NAME_CHARS = re.compile(r"[a-z0-9_-]")


def normalize_project_name(name: str) -> str:
    """Lowercase, keep ``[a-z0-9_-]``, drop leading ``_`` and ``-``: compose's rule."""
    return "".join(_NAME_CHARS.findall(name.lower())).lstrip("_-")


def check_project_name(name: str) -> str:
    """Return ``name`` or raise the error compose gives for a name that is not already normal."""
    if normalize_project_name(name) != name:
        raise ComposeError(
            f'invalid project name "{name}": must consist only of lowercase alphanumeric characters, '
            "hyphens, and underscores as well as start with a letter or number"
        )
    return name


def go_parse_bool(text: str) -> Optional[bool]:
    """``strconv.ParseBool``: None when the text is not a boolean."""
    if text in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if text in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    return None


def _abs(path: str, base: str) -> str:
    return os.path.normpath(os.path.join(base, os.path.expanduser(path)))


def _working_dir(project_directory: Optional[str], files: list[str], cwd: str) -> str:
    if project_directory:
        return project_directory
    for name in files:
        if name != "-":
            return os.path.dirname(name)
    return cwd


def _dotenv_candidates(explicit: list[str], env: Environment, working_dir: str, cwd: str) -> list[str]:
    if explicit:
        return [_abs(p, cwd) for p in explicit]
    if "COMPOSE_ENV_FILES" in env:
        return [_abs(p, cwd) for p in env["COMPOSE_ENV_FILES"][0].split(",")]
    default = os.path.join(working_dir, ".env")
    # as compose: a .env that is absent or a folder is ignored; any other .env is read (a FIFO, a
    # device are then refused by the reader); one that cannot be looked at is an error
    try:
        info = os.stat(default)
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise ComposeError(
            f"cannot use the project's .env: {(exc.strerror or str(exc)).lower()}", Location(default)
        ) from None
    return [] if stat.S_ISDIR(info.st_mode) else [default]


#: How many times compose reads the project's dotenv files, each time logging their warnings.
DOTENV_READS = 4


def _read_dotenv_files(paths: list[str], env: Environment, warnings: Optional[list[str]] = None) -> Environment:
    """``GetEnvFromFile``: later files win; templates see the shell first, then one map of every
    assignment read so far, earlier files and earlier lines of the same file alike (a file's own
    ``A=1`` then ``B=$A`` sees its 1, not an earlier file's A).

    An unset variable used by a template adds compose's warning to ``warnings``.
    """
    from supervisor.compose.dotenv import read_dotenv
    from supervisor.compose.template import unset_warning

    found: Environment = {}
    values: dict[str, str] = {}  # compose's envMap, written by the parser line by line

    def lookup(name: str) -> Optional[str]:
        if name in env:
            return env[name][0]
        return values.get(name)

    for path in paths:
        if not path:
            continue
        if not os.path.exists(path):
            raise ComposeError(f"couldn't find env file: {path}", Location(path))
        if os.path.isdir(path):
            raise ComposeError("is a directory: --env-file takes a file", Location(path))
        for entry in read_dotenv(path, lookup=lookup, out=values):
            found[entry.name] = (entry.value, Origin("dotenv", Location(path, entry.line)))
            if warnings is not None:
                warnings.extend(unset_warning(ref.name) for ref in entry.references if ref.defaulted_to_blank)
    return found


def _apply_dotenv(paths: list[str], env: Environment, warnings: Optional[list[str]] = None) -> None:
    disabled = env.get("COMPOSE_DISABLE_ENV_FILE")
    if disabled is not None and go_parse_bool(disabled[0]):
        return
    for name, value in _read_dotenv_files(paths, env, warnings).items():
        env.setdefault(name, value)


def _find_default_files(start: str, warnings: list[str]) -> list[str]:
    folder = start
    while True:
        candidates = [os.path.join(folder, n) for n in DEFAULT_FILE_NAMES if os.path.isfile(os.path.join(folder, n))]
        if candidates:
            if len(candidates) > 1:
                warnings.append(
                    f"Found multiple config files with supported names: {', '.join(candidates)}\nUsing {candidates[0]}"
                )
            found = [candidates[0]]
            overrides = [
                os.path.join(folder, n) for n in DEFAULT_OVERRIDE_FILE_NAMES if os.path.isfile(os.path.join(folder, n))
            ]
            if overrides:
                if len(overrides) > 1:
                    warnings.append(
                        f"Found multiple override files with supported names: {', '.join(overrides)}\n"
                        f"Using {overrides[0]}"
                    )
                found.append(overrides[0])
            return found
        parent = os.path.dirname(folder)
        if parent == folder:
            raise ComposeError("no configuration file provided: not found")
        folder = parent


def discover(options: LoadOptions) -> Discovery:
    """Settle files, folder, environment, profiles and an imposed project name from ``options``."""
    cwd = os.path.abspath(options.cwd or os.getcwd())
    shell: Mapping[str, str] = os.environ if options.environ is None else options.environ
    env: Environment = {name: (value, Origin("shell")) for name, value in shell.items()}
    warnings: list[str] = []

    files = [f if f == "-" else _abs(f, cwd) for f in options.files]
    if "-" in files:
        raise ComposeError("reading the compose file from standard input is not supported")
    project_directory = _abs(options.project_directory, cwd) if options.project_directory else None

    env_files = _dotenv_candidates(list(options.env_files), env, _working_dir(project_directory, files, cwd), cwd)
    dotenv_warnings: list[str] = []
    _apply_dotenv(env_files, env, dotenv_warnings)

    if not files and "COMPOSE_FILE" in env:
        separator = env.get("COMPOSE_PATH_SEPARATOR", ("", None))[0] or os.pathsep
        files = [_abs(p, cwd) for p in env["COMPOSE_FILE"][0].split(separator)]
    if not files:
        files = _find_default_files(project_directory or cwd, warnings)

    working_dir = _working_dir(project_directory, files, cwd)
    second = _dotenv_candidates(list(options.env_files), env, working_dir, cwd)
    if second != env_files:
        _apply_dotenv(second, env, dotenv_warnings)
        env_files = env_files + [p for p in second if p not in env_files]
    warnings[:0] = dotenv_warnings * DOTENV_READS

    if options.profiles:
        profiles = list(options.profiles)
    elif "COMPOSE_PROFILES" in env:
        profiles = env["COMPOSE_PROFILES"][0].split(",")
    else:
        profiles = []

    name: Optional[str] = None
    if options.project_name:
        name = check_project_name(options.project_name)
    elif env.get("COMPOSE_PROJECT_NAME", ("",))[0]:
        name = check_project_name(env["COMPOSE_PROJECT_NAME"][0])

    return Discovery(
        cwd=cwd,
        files=files,
        working_dir=working_dir,
        environment=env,
        env_files=env_files,
        profiles=profiles,
        project_name=name,
        warnings=warnings,
    )
