"""A service's container environment, with the provenance of every value.

Compose builds it in this order: each ``env_file:`` in turn (later files win;
their templates see the variables of the earlier files, then the project
environment), then ``environment:`` over them.  A bare ``- VAR`` (or ``VAR:``
with no value) takes the project environment's value, and stays *unset* when
the project has none, even if an ``env_file`` set it; ``VAR=`` is the empty
string.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Optional, cast

from supervisor.compose.goconv import format_value
from supervisor.compose.merge import EnvStr
from supervisor.compose.model import ComposeError, EnvValue, Location, Origin, Substitution
from supervisor.compose.yamlsource import LList, key_location
from supervisor.files import stat_failure

__all__ = ["environment_entries", "resolve_bare_variables", "resolve_service_environment"]

ProjectEnv = dict[str, tuple[str, Origin]]


def environment_entries(value: Any, where: str, declared: Optional[Location] = None) -> Any:
    """A service's ``environment:`` (list or mapping) as ``K=V`` entries that keep their origin.

    A string is returned as it is, for the merge or the schema to deal with.
    """
    out = LList(loc=getattr(value, "loc", None))
    if isinstance(value, dict):
        raws = getattr(value, "raws", {})
        keylocs = getattr(value, "keylocs", {})
        items = []
        for key, item in value.items():
            if isinstance(item, (dict, list)):
                raise ComposeError(
                    f"{where}.environment.{key} must be a string, number, boolean or null", keylocs.get(key)
                )
            raw, refs = raws.get(key, (None, []))
            text = key if item is None else f"{key}={format_value(item)}"
            items.append(EnvStr(text, raw, refs, keylocs.get(key)))
        items.sort()
        for entry in items:
            out.append(entry)
            out.locs.append(entry.loc)
        return out
    if isinstance(value, list):
        raws = getattr(value, "raws", {})
        locs = getattr(value, "locs", [])
        for index, item in enumerate(value):
            loc = locs[index] if index < len(locs) else None
            if isinstance(item, (dict, list)) or item is None:
                raise ComposeError(f"{where}.environment.{index} must be a string", loc)
            if isinstance(item, (bool, int, float)):
                kind = "bool" if isinstance(item, bool) else "int" if isinstance(item, int) else "float64"
                raise ComposeError(f"{where}.environment.[{index}]: unexpected type {kind}", loc)
            raw, refs = raws.get(index, (None, []))
            if raw is not None and "=" in raw:
                raw = raw.partition("=")[2]
            out.append(EnvStr(format_value(item), raw, refs, loc))
            out.locs.append(loc)
        return out
    if value is None:
        return value  # compose's schema refuses it ("must be a mapping")
    if isinstance(value, str):
        # compose merges a string over the environment of an ``extends`` base or an earlier
        # file (as one ``K=V`` entry); left alone, the schema refuses it.
        return value
    raise ComposeError(f"{where}.environment must be a mapping", getattr(value, "loc", None) or declared)


def resolve_bare_variables(entries: list[Any], project_env: ProjectEnv) -> LList:
    """``ResolveEnvironment``: a bare ``K`` takes the project environment's value when it has one."""
    out = LList(loc=getattr(entries, "loc", None))
    locs = getattr(entries, "locs", [None] * len(entries))
    for entry, loc in zip(entries, locs):
        if "=" not in entry and entry in project_env:
            value, origin = project_env[entry]
            resolved = EnvStr(f"{entry}={value}", None, [_ProjectRef(entry, value)], getattr(entry, "loc", None))
            resolved.beaten = getattr(entry, "beaten", [])
            entry = resolved
        out.append(entry)
        out.locs.append(loc)
    return out


class _ProjectRef:
    """A reference to a project variable made by a bare ``- VAR`` entry."""

    __slots__ = ("name", "value", "used_default")

    def __init__(self, name: str, value: Optional[str]):
        self.name = name
        self.value = value
        self.used_default = False


def _substitutions(references: Any, lookup_origin: Any) -> list[Substitution]:
    out = []
    for ref in references or ():
        out.append(Substitution(ref.name, ref.value, lookup_origin(ref.name), bool(ref.used_default)))
    return out


EnvFileCache = dict[str, list[tuple[list[Any], list[Any]]]]


def _env_file_values(
    env_files: list[Any],
    project_env: ProjectEnv,
    where: str,
    warnings: Optional[list[str]] = None,
    own: Optional[dict[str, EnvValue]] = None,
    cache: Optional[EnvFileCache] = None,
    declared: Optional[Location] = None,
) -> dict[str, list[EnvValue]]:
    """Every value the ``env_file:`` entries give, per variable, in order.

    ``declared`` is where the service's ``env_file:`` is written: a file that cannot be reached is
    reported there.

    ``own`` is the service's ``environment:`` (resolved): env file templates see it.
    """
    from supervisor.compose.dotenv import read_raw_env

    chains: dict[str, list[EnvValue]] = {}
    current: dict[str, EnvValue] = {}
    own = own or {}

    # Templates in an env file see the project environment first, then the service's own
    # ``environment:`` values, then the entries above them in the same file and the earlier files.
    def high(name: str) -> Optional[str]:
        entry = project_env.get(name)
        if entry is not None:
            return entry[0]
        found = own.get(name)
        return found.value if found is not None else None

    def low(name: str) -> Optional[str]:
        found = current.get(name)
        return found.value if found is not None else None

    def lookup(name: str) -> Optional[str]:
        value = high(name)
        return value if value is not None else low(name)

    def origin_of(name: str) -> Origin:
        entry = project_env.get(name)
        if entry is not None:
            return entry[1]
        for values in (own, current):
            found = values.get(name)
            if found is not None and found.value is not None:
                return found.origin
        return Origin("unset")

    for item in env_files:
        # The schema requires ``path`` in the long form.
        path = cast(str, item.get("path")) if isinstance(item, dict) else str(item)
        required = item.get("required", True) if isinstance(item, dict) else True
        failure = stat_failure(path)
        if failure is not None:
            if required is False and failure == "no such file or directory":
                continue
            raise ComposeError(f"env file {path} not found: stat {path}: {failure}", declared or Location(path))
        try:
            if isinstance(item, dict) and item.get("format") == "raw":
                entries = read_raw_env(path, lookup=lookup)
            else:
                entries = _cached_env_file(path, high, low, cache)
        except ComposeError as exc:
            if declared is None or (exc.location is not None and exc.location.line):
                raise
            # the file as a whole (a device, a folder, too large): reported where env_file names it
            raise ComposeError(f"{path}: {exc.message}", declared) from None
        if warnings is not None and not (isinstance(item, dict) and item.get("format") == "raw"):
            from supervisor.compose.template import unset_warning

            for entry in entries:
                warnings.extend(unset_warning(ref.name) for ref in entry.references if ref.defaulted_to_blank)
        for entry in entries:
            record = EnvValue(
                name=entry.name,
                value=entry.value,
                origin=Origin("env_file", Location(path, entry.line)),
                raw=entry.raw if entry.raw != entry.value else None,
                substitutions=_substitutions(entry.references, origin_of),
            )
            current[entry.name] = record
            chains.setdefault(entry.name, []).append(record)
    return chains


class _Recorder:
    """Answers a parse's lookups and keeps them: the same answers mean the same entries."""

    def __init__(self, layers: tuple[Any, Any]):
        self.layers = layers
        self.trace: list[tuple[int, str, Optional[str]]] = []

    def ask(self, layer: int, name: str) -> Optional[str]:
        answer: Optional[str] = self.layers[layer](name)
        self.trace.append((layer, name, answer))
        return answer


def _cached_env_file(path: str, high: Any, low: Any, cache: Optional[EnvFileCache]) -> list[Any]:
    """:func:`_read_env_file`, reusing an earlier parse of ``path`` whose lookups get the same answers now.

    Services share env files: one load parses each once, as long as its templates resolve alike.
    """
    layers = (high, low)
    for trace, entries in (cache or {}).get(path, ()):
        if all(layers[layer](name) == answer for layer, name, answer in trace):
            return entries
    recorder = _Recorder(layers)
    entries = _read_env_file(path, recorder)
    if cache is not None:
        variants = cache.setdefault(path, [])
        if len(variants) < 8:  # a few variants cover services that differ in what the file reads
            variants.append((recorder.trace, entries))
    return entries


def _read_env_file(path: str, recorder: _Recorder) -> list[Any]:
    """Read one ``env_file``, entry by entry, so each template sees the entries above it first."""
    from supervisor.compose.dotenv import DotenvError, parse_dotenv, read_env_text

    seen: dict[str, str] = {}  # this file's entries so far

    def lookup(name: str) -> Optional[str]:
        value = recorder.ask(0, name)
        if value is not None:
            return value
        if name in seen:
            return seen[name]
        return recorder.ask(1, name)

    # A name alone on its line takes the project environment's value (lookup).
    text = read_env_text(path)  # read once: a pipe cannot be read twice
    entries = parse_dotenv(text, path=path, interpolate=False, lookup=lookup)
    text = text.removeprefix("\ufeff")
    if "$" not in text:
        return entries
    lines = text.split("\n")
    starts = [entry.line for entry in entries] + [len(lines) + 1]
    out = []
    for index, entry in enumerate(entries):
        chunk = "\n".join(lines[starts[index] - 1 : starts[index + 1] - 1])
        if index + 1 < len(entries):
            chunk += "\n"  # the line break before the next entry ends this one
        offset = starts[index] - 1
        try:
            parsed = parse_dotenv(chunk, path=path, lookup=lookup)
        except DotenvError as exc:
            loc = exc.location
            if loc is not None and loc.line:
                loc = Location(loc.file, loc.line + offset, loc.column)
            raise ComposeError(exc.message, loc) from None
        for item in parsed:
            item = dataclasses.replace(item, line=item.line + offset)
            out.append(item)
            seen[item.name] = item.value
    return out


def _environment_record(entry: Any, project_env: ProjectEnv) -> EnvValue:
    name, sep, value = str(entry).partition("=")
    refs = getattr(entry, "references", [])

    def origin_of(var: str) -> Origin:
        found = project_env.get(var)
        return found[1] if found is not None else Origin("unset")

    return EnvValue(
        name=name,
        value=value if sep else None,
        origin=Origin("environment", getattr(entry, "loc", None)),
        raw=getattr(entry, "raw", None),
        substitutions=_substitutions(refs, origin_of),
    )


def resolve_service_environment(
    service: dict[Any, Any],
    project_env: ProjectEnv,
    where: str,
    warnings: Optional[list[str]] = None,
    cache: Optional[EnvFileCache] = None,
) -> dict[str, EnvValue]:
    """The container environment of one service: ``env_file:`` then ``environment:``, with provenance.

    Templates of the env files that use an unset variable add compose's warning to ``warnings``.
    ``cache`` (a dict kept for one load) lets services that share an env file parse it once.
    """
    own: dict[str, list[EnvValue]] = {}
    for entry in service.get("environment") or []:
        history = [_environment_record(old, project_env) for old in getattr(entry, "beaten", [])]
        record = _environment_record(entry, project_env)
        own.setdefault(record.name, []).extend(history + [record])
    chains = _env_file_values(
        service.get("env_file") or [],
        project_env,
        where,
        warnings,
        {name: chain[-1] for name, chain in own.items()},
        cache,
        key_location(service, "env_file"),
    )
    for name, chain in own.items():
        chains.setdefault(name, []).extend(chain)
    out: dict[str, EnvValue] = {}
    for name in sorted(chains):
        chain = chains[name]
        winner = chain[-1]
        winner.overridden = chain[:-1]
        out[name] = winner
    return out
