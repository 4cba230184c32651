"""Which program a start-up chain reaches, and which version of it: markers in the build context's sources (pure)."""

from __future__ import annotations

import dataclasses
import functools
import re
from typing import Mapping, Optional

from supervisor.policy.launch import Launch
from supervisor.policy.profiles import Marker, Profile, Variant

__all__ = ["MarkerResult", "VariantChoice", "check_marker", "match_program", "choose_variant"]


@dataclasses.dataclass(frozen=True)
class MarkerResult:
    marker: Marker
    holds: bool
    where: str  # file:line of the matching line, or the file

    def render(self) -> str:
        m = self.marker
        about = f" ({m.about})" if m.about else ""
        return f"{self.where}: {'has' if m.present else 'lacks'} /{m.pattern}/{about}: {'yes' if self.holds else 'no'}"


@dataclasses.dataclass(frozen=True)
class VariantChoice:
    variant: Optional[Variant]
    how: str  # "markers" | "x-supervisor.variant" | "newest: no variant's markers hold"
    markers: tuple[MarkerResult, ...] = ()  # those of the chosen variant
    missing: tuple[str, ...] = ()  # when no variant matched: what each variant lacked
    unknown_name: Optional[str] = None


@functools.lru_cache(maxsize=None)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _text(files: Mapping[str, str], path: str) -> Optional[str]:
    try:
        value = files.get(path)
    except (KeyError, OSError):
        return None
    return value if isinstance(value, str) else None


def check_marker(marker: Marker, files: Mapping[str, str], label: str = "") -> MarkerResult:
    """Does ``marker`` hold in ``files``? A missing file matches no line."""
    text = _text(files, marker.file)
    line_number = 0
    if text is not None:
        pattern = _compiled(marker.pattern)
        for number, line in enumerate(text.splitlines(), 1):
            if pattern.search(line):
                line_number = number
                break
    found = line_number > 0
    where = (
        f"{label}{marker.file}:{line_number}"
        if found
        else f"{label}{marker.file}" + ("" if text is not None else " (absent)")
    )
    return MarkerResult(marker, found == marker.present, where)


def match_program(
    launch: Launch, profiles: Mapping[str, Profile], files: Mapping[str, str], label: str = ""
) -> Optional[tuple[Profile, str]]:
    """The profile whose program the chain reaches, and the clue; None when no profile claims it."""
    candidates = [p for p in (launch.source, launch.entry, " ".join(launch.argv)) if p] + list(launch.built_from)
    for profile in profiles.values():
        for match in profile.program:
            pattern = _compiled(match.source)
            hit = next((c for c in candidates if pattern.search(c)), None)
            if hit is None:
                continue
            if all(check_marker(m, files, label).holds for m in match.markers):
                return profile, f"start-up chain reaches {label}{hit}"
    return None


def choose_variant(
    profile: Profile, files: Mapping[str, str], *, declared: Optional[str] = None, label: str = ""
) -> VariantChoice:
    """``x-supervisor.variant`` when given, else the first (newest) variant whose markers all hold."""
    if not profile.variants:
        return VariantChoice(None, "")
    if declared is not None:
        for variant in profile.variants:
            if variant.name == declared:
                return VariantChoice(variant, "x-supervisor.variant")
        return VariantChoice(
            profile.variants[0], "x-supervisor.variant names no variant; the newest is used", unknown_name=declared
        )
    missing: list[str] = []
    for variant in profile.variants:
        results = tuple(check_marker(m, files, label) for m in variant.markers)
        if all(r.holds for r in results):
            return VariantChoice(variant, "markers", results)
        failed = [r.marker.describe() for r in results if not r.holds]
        missing.append(f"{variant.name}: not {'; not '.join(failed)}")
    newest = profile.variants[0]
    return VariantChoice(
        newest,
        "newest: no variant's markers hold",
        tuple(check_marker(m, files, label) for m in newest.markers),
        tuple(missing),
    )
