"""Implementation profiles: each implementation described as data, checked against our schema.

The profiles live in ``schemas/profiles/*.json`` and must match ``schemas/profile.schema.json``.
A new implementation is a new profile file; the engine has no branch per implementation.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import re
from pathlib import PurePath
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Optional, TypeVar

from supervisor.policy.errors import ProfileError
from supervisor.policy.expressions import referenced_variables
from supervisor.verdicts import known_valid, remember_valid, verdict_key

__all__ = [
    "DetectClue",
    "Marker",
    "ProgramMatch",
    "Variant",
    "WriterSpec",
    "MisleadingSpec",
    "Profile",
    "schemas_dir",
    "load_schema",
    "parse_profile",
    "load_profiles",
    "builtin_profiles",
]


if TYPE_CHECKING:
    from pathlib import Path


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


@dataclasses.dataclass(frozen=True)
class DetectClue:
    """One way to recognise the implementation: a regular expression on one field of a service."""

    field: str  # command | dockerfile | image | build | environment | service
    source: str  # the regular expression, searched case-insensitively, ^/$ at line ends
    clue: str
    priority: int = 0  # among clues matching the same field, the highest wins

    @property
    def pattern(self) -> re.Pattern[str]:
        # compiled on first use: a service that declares its implementation needs none
        return _compile_clue(self.source)


@functools.lru_cache(maxsize=None)
def _compile_clue(source: str) -> re.Pattern[str]:
    return re.compile(source, re.IGNORECASE | re.MULTILINE)


@dataclasses.dataclass(frozen=True)
class WriterSpec:
    """A program part that writes a ``firehose_cursor`` row when ``enabled`` is true."""

    role: str  # backfill | live
    title: str
    enabled: str  # name of a boolean value
    cursor: Optional[str]  # name of the value holding the cursor name; None: not documented
    cursor_note: str = ""
    source: str = "unknown"  # relay-replay | unknown
    disable: tuple[tuple[str, str], ...] = ()
    rename: Optional[str] = None


@dataclasses.dataclass(frozen=True)
class MisleadingSpec:
    """A variable people set believing it does something it does not."""

    variable: str
    when: Any
    while_writer: str
    message: str


@dataclasses.dataclass(frozen=True)
class Marker:
    """A pattern in one source file of the build context that identifies a version of a program."""

    file: str  # relative to the build context
    pattern: str  # a regular expression searched line by line
    present: bool = True  # False: the version is the one where no line matches
    about: str = ""

    def describe(self) -> str:
        return f"{self.file} {'has' if self.present else 'lacks'} /{self.pattern}/" + (f" ({self.about})" if self.about else "")


@dataclasses.dataclass(frozen=True)
class ProgramMatch:
    """How to recognise the program at the end of a service's start-up chain."""

    source: str  # regular expression on the entry's source file, relative to the build context
    markers: tuple[Marker, ...] = ()  # all must hold too


@dataclasses.dataclass(frozen=True)
class Variant:
    """How one version of the program decided: named values that replace the profile's."""

    name: str
    title: str
    markers: tuple[Marker, ...]
    values: Mapping[str, tuple[str, Any]]  # value name -> (source text, expression)
    commits: str = ""


@dataclasses.dataclass(frozen=True)
class Profile:
    """One implementation, as the engine interprets it."""

    name: str
    title: str
    description: str
    detect: tuple[DetectClue, ...]
    process_manager: str
    start_failure: Mapping[str, str]
    values: tuple[tuple[str, str, Any], ...]  # (name, source text, expression)
    primary: Optional[str]
    unique_primary: Optional[str]
    days_variable: str
    days_value: Optional[str]
    all_history: tuple[int, ...]
    writers: tuple[WriterSpec, ...]
    misleading: tuple[MisleadingSpec, ...] = ()
    notes: tuple[str, ...] = ()
    path: str = ""
    program: tuple[ProgramMatch, ...] = ()
    variants: tuple[Variant, ...] = ()  # newest first
    variant: Optional[Variant] = None  # the variant these values are of
    #: (batch size value, its variable, batch delay value, its variable) of a throttled backfill
    backfill_throttle: Optional[tuple[str, str, str, str]] = None

    def with_variant(self, variant: Variant) -> "Profile":
        """This profile with ``variant``'s values in place of the base ones."""
        values = tuple((name, *variant.values.get(name, (source, expr))) for name, source, expr in self.values)
        return dataclasses.replace(self, values=values, variant=variant)

    @property
    def variables(self) -> list[str]:
        """Every environment variable the implementation reads, in the order it reads them."""
        names: list[str] = []
        for _, _, expr in self.values:
            names.extend(referenced_variables(expr))
        names.extend(m.variable for m in self.misleading)
        names.extend(w.rename for w in self.writers if w.rename)
        return list(dict.fromkeys(names))

    def value_source(self, name: str) -> str:
        for value_name, source, _ in self.values:
            if value_name == name:
                return source
        return name

    def writer(self, role: str) -> Optional[WriterSpec]:
        return next((w for w in self.writers if w.role == role), None)


def _validate(document: Any, where: str) -> None:
    schema = load_schema("profile.schema.json")
    key = verdict_key(schema, "profile", document)
    if known_valid(key):
        return
    import jsonschema  # imported lazily: it is slow to import and only needed here

    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    if not errors:
        remember_valid(key)
    if errors:
        first = errors[0]
        path = "/".join(str(p) for p in first.absolute_path) or "(root)"
        raise ProfileError(f"{where}: {path}: {first.message}")


def parse_profile(document: Any, *, where: str = "<profile>", check_patterns: bool = True) -> Profile:
    """Check one profile document against the schema and build a :class:`Profile`."""
    _validate(document, where)
    names = [v["name"] for v in document["values"]]
    if len(set(names)) != len(names):
        raise ProfileError(f"{where}: values: duplicate value names")
    known = set(names)

    def need(name: Optional[str], what: str) -> None:
        if name is not None and name not in known:
            raise ProfileError(f"{where}: {what} names an unknown value {name!r}")

    days = document.get("backfill_days") or {"variable": "BACKFILL_DAYS", "value": None}
    need(document.get("primary"), "primary")
    need(days["value"], "backfill_days.value")
    writers = []
    for spec in document["writers"]:
        need(spec["enabled"], f"writer {spec['role']}.enabled")
        need(spec["cursor"], f"writer {spec['role']}.cursor")
        writers.append(WriterSpec(
            role=spec["role"], title=spec["title"], enabled=spec["enabled"], cursor=spec["cursor"],
            cursor_note=spec.get("cursor_note", ""), source=spec.get("source", "unknown"),
            disable=tuple((d["variable"], d["value"]) for d in spec.get("disable", [])),
            rename=spec.get("rename"),
        ))
    clues = []
    for clue in document["detect"]:
        if check_patterns:
            try:
                _compile_clue(clue["pattern"])
            except re.error as exc:
                raise ProfileError(f"{where}: detect pattern {clue['pattern']!r}: {exc}") from None
        clues.append(DetectClue(clue["field"], clue["pattern"], clue["clue"], int(clue.get("priority", 0))))
    return Profile(
        name=document["name"],
        title=document["title"],
        description=document.get("description", ""),
        detect=tuple(clues),
        process_manager=document["process_manager"],
        start_failure=dict(document.get("start_failure", {})),
        values=tuple((v["name"], v["source"], v["expr"]) for v in document["values"]),
        primary=document.get("primary"),
        unique_primary=(document.get("unique_primary") or {}).get("variable"),
        days_variable=days["variable"],
        days_value=days["value"],
        all_history=tuple(days.get("all_history", [])),
        backfill_throttle=_throttle(document.get("backfill_throttle")),
        writers=tuple(writers),
        misleading=tuple(MisleadingSpec(m["variable"], m["when"], m["while_writer"], m["message"])
                         for m in document.get("misleading", [])),
        notes=tuple(document.get("notes", [])),
        path=where,
        program=tuple(ProgramMatch(m["source"], _markers(m.get("markers", []), where, check_patterns))
                      for m in document.get("program", [])),
        variants=tuple(_variant(v, known, where, check_patterns) for v in document.get("variants", [])),
    )


def _markers(items: list[Mapping[str, Any]], where: str, check: bool) -> tuple[Marker, ...]:
    out = []
    for item in items:
        if check:
            try:
                re.compile(item["pattern"])
            except re.error as exc:
                raise ProfileError(f"{where}: marker pattern {item['pattern']!r}: {exc}") from None
        out.append(Marker(item["file"], item["pattern"], bool(item.get("present", True)), item.get("about", "")))
    return tuple(out)


def _variant(document: Mapping[str, Any], known: set[str], where: str, check: bool) -> Variant:
    values = {}
    for name, spec in document.get("values", {}).items():
        if name not in known:
            raise ProfileError(f"{where}: variant {document['name']!r} replaces an unknown value {name!r}")
        values[name] = (spec["source"], spec["expr"])
    return Variant(document["name"], document["title"], _markers(document.get("markers", []), where, check),
                   values, document.get("commits", ""))


_PathT = TypeVar("_PathT", str, PurePath)


def load_profiles(paths: Iterable[_PathT], *, check_patterns: bool = True) -> dict[str, Profile]:
    """Read profile files (all ``str`` or all paths: they are sorted); names must be unique."""
    profiles: dict[str, Profile] = {}
    for path in sorted(paths):
        try:
            with open(path, encoding="utf-8") as handle:
                document = json.load(handle)
        except OSError as exc:
            raise ProfileError(f"{path}: cannot read: {exc.strerror or exc}") from None
        except ValueError as exc:
            raise ProfileError(f"{path}: not JSON: {exc}") from None
        profile = parse_profile(document, where=str(path), check_patterns=check_patterns)
        if profile.name in profiles:
            raise ProfileError(f"{path}: profile {profile.name!r} is also defined in {profiles[profile.name].path}")
        profiles[profile.name] = profile
    return profiles


@functools.lru_cache(maxsize=1)
def builtin_profiles() -> Mapping[str, Profile]:
    """The profiles shipped in ``schemas/profiles``."""
    # the shipped patterns are checked by the test suite, so a run compiles only those it uses
    folder = os.path.join(_schemas_path(), "profiles")
    names = [os.path.join(folder, n) for n in os.listdir(folder) if n.endswith(".json")]
    return load_profiles(names, check_patterns=False)


def _throttle(block: Optional[Mapping[str, Any]]) -> Optional[tuple[str, str, str, str]]:
    if not block:
        return None
    size, delay = block["batch_size"], block["batch_delay_ms"]
    return size["value"], size["variable"], delay["value"], delay["variable"]
