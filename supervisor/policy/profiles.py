"""Implementation profiles: each implementation described as data, checked against our schema.

The profiles live in ``schemas/profiles/*.json`` and must match ``schemas/profile.schema.json``.
A new implementation is a new profile file; the engine has no branch per implementation.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from typing import Any, Iterable, Literal, Mapping, Optional

from supervisor.policy.errors import ProfileError
from supervisor.policy.expressions import referenced_variables
from supervisor.policy.managers import ProcessManager
from supervisor.verdicts import Verdicts, schema_violation

__all__ = [
    "DetectClue",
    "Marker",
    "ProgramMatch",
    "Variant",
    "WriterSpec",
    "MisleadingSpec",
    "Profile",
    "Role",
    "Catalog",
    "parse_profile",
    "collect_profiles",
]


#: What a writer of a ``firehose_cursor`` row is (``profile.schema.json``'s ``role``).
Role = Literal["backfill", "live"]


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

    role: Role
    title: str
    enabled: str  # name of a boolean value
    cursor: Optional[str]  # name of the value holding the cursor name; None: not documented
    cursor_note: str = ""
    source: str = "unknown"  # relay-replay | unknown
    disable: tuple[tuple[str, str], ...] = ()
    rename: Optional[str] = None
    #: (boolean value name, mode variable, window variable) of a backfill that crawls the repositories
    crawl: Optional[tuple[str, str, str]] = None


@dataclasses.dataclass(frozen=True)
class MisleadingSpec:
    """A variable people set believing it does something it does not."""

    variable: str
    when: Any
    while_writer: Role
    message: str


@dataclasses.dataclass(frozen=True)
class Marker:
    """A pattern in one source file of the build context that identifies a version of a program."""

    file: str  # relative to the build context
    pattern: str  # a regular expression searched line by line
    present: bool = True  # False: the version is the one where no line matches
    about: str = ""

    def describe(self) -> str:
        return f"{self.file} {'has' if self.present else 'lacks'} /{self.pattern}/" + (
            f" ({self.about})" if self.about else ""
        )


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

    def writer(self, role: Role) -> Optional[WriterSpec]:
        return next((w for w in self.writers if w.role == role), None)


def _validate(document: Any, where: str, schema: Mapping[str, Any], verdicts: Optional[Verdicts]) -> None:
    def validator() -> Any:
        import jsonschema  # imported lazily: it is slow to import and only needed here

        return jsonschema.Draft202012Validator(schema)

    error = schema_violation(validator, document, schema=schema, definition="profile", verdicts=verdicts)
    if error is not None:
        path = "/".join(str(p) for p in error.absolute_path) or "(root)"
        raise ProfileError(f"{where}: {path}: {error.message}")


def parse_profile(
    document: Any,
    schema: Mapping[str, Any],
    *,
    where: str = "<profile>",
    check_patterns: bool = True,
    verdicts: Optional[Verdicts] = None,
) -> Profile:
    """Check one profile document against ``schema`` (``profile.schema.json``) and build a :class:`Profile`."""
    _validate(document, where, schema, verdicts)
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
        crawl = spec.get("crawl")
        if crawl is not None:
            need(crawl["when"], f"writer {spec['role']}.crawl.when")
        writers.append(
            WriterSpec(
                role=spec["role"],
                title=spec["title"],
                enabled=spec["enabled"],
                cursor=spec["cursor"],
                cursor_note=spec.get("cursor_note", ""),
                source=spec.get("source", "unknown"),
                disable=tuple((d["variable"], d["value"]) for d in spec.get("disable", [])),
                rename=spec.get("rename"),
                crawl=(crawl["when"], crawl["mode_variable"], crawl["window_variable"]) if crawl else None,
            )
        )
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
        misleading=tuple(
            MisleadingSpec(m["variable"], m["when"], m["while_writer"], m["message"])
            for m in document.get("misleading", [])
        ),
        notes=tuple(document.get("notes", [])),
        path=where,
        program=tuple(
            ProgramMatch(m["source"], _markers(m.get("markers", []), where, check_patterns))
            for m in document.get("program", [])
        ),
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
    return Variant(
        document["name"],
        document["title"],
        _markers(document.get("markers", []), where, check),
        values,
        document.get("commits", ""),
    )


def collect_profiles(profiles: Iterable[Profile]) -> dict[str, Profile]:
    """Name -> profile; names must be unique."""
    out: dict[str, Profile] = {}
    for profile in profiles:
        if profile.name in out:
            raise ProfileError(f"{profile.path}: profile {profile.name!r} is also defined in {out[profile.name].path}")
        out[profile.name] = profile
    return out


@dataclasses.dataclass(frozen=True)
class Catalog:
    """What the engine knows besides the project: the profiles, the process managers, the x-supervisor schema.

    Read from ``schemas/`` by :func:`supervisor.policy.sources.builtin_catalog`.
    """

    profiles: Mapping[str, Profile]
    managers: Mapping[str, ProcessManager]
    extension_schema: Mapping[str, Any]


def _throttle(block: Optional[Mapping[str, Any]]) -> Optional[tuple[str, str, str, str]]:
    if not block:
        return None
    size, delay = block["batch_size"], block["batch_delay_ms"]
    return size["value"], size["variable"], delay["value"], delay["variable"]
