"""Where a value came from, in words: ``BACKFILL_DAYS=7 from shell via ${BACKFILL_DAYS:-0} at docker-compose.yml:12:9``."""

from __future__ import annotations

import os
from typing import Optional

from supervisor.compose.model import EnvValue, Location, Origin

__all__ = ["relative_location", "show_location", "describe_origin", "describe_value", "value_location"]


def relative_location(location: Location, root: Optional[str]) -> Location:
    """``location`` with its file relative to ``root`` when it lies inside it."""
    if not root or not os.path.isabs(location.file):
        return location
    try:
        rel = os.path.relpath(location.file, root)
    except ValueError:
        return location
    if rel.startswith(".." + os.sep) or rel == "..":
        return location
    return Location(rel, location.line, location.column)


def show_location(location: Optional[Location], root: Optional[str]) -> str:
    """A location as ``file:line:column`` (relative to ``root``), or ``""``."""
    if location is None:
        return ""
    return str(relative_location(location, root))


def describe_origin(origin: Origin, root: Optional[str]) -> str:
    """``shell``, ``.env:3``, ``env_file worker.env:2``, ``default``..."""
    where = show_location(origin.location, root)
    if origin.kind == "shell":
        return "shell"
    if origin.kind == "dotenv":
        return where or ".env"
    if origin.kind == "env_file":
        return f"env_file {where}".strip()
    if origin.kind == "unset":
        return "nowhere (unset)"
    return f"{origin.kind} {where}".strip()


def describe_value(
    name: str,
    record: Optional[EnvValue],
    root: Optional[str],
    *,
    value: Optional[str] = None,
    synthetic: str = "",
    shown: Optional[str] = None,
) -> str:
    """One line saying what a variable is in a container and where that came from.

    ``synthetic`` describes a value set by the process manager (``assigned by PM2 to instance 0``);
    ``shown`` replaces the printed value (masking).
    """
    if synthetic:
        return f"{name}={shown if shown is not None else value} ({synthetic})"
    if record is None:
        return f"{name} unset (not in the service's environment: the program's default applies)"
    text = shown if shown is not None else record.value
    where = show_location(record.origin.location, root)
    if record.value is None:
        at = f" at {where}" if where else ""
        return f"{name} unset (declared without a value{at}, and not set in the shell or .env)"
    head = f"{name}={text}"
    subs = [s for s in record.substitutions if s.variable]
    if subs and record.raw is not None:
        parts = []
        for sub in subs:
            if sub.used_default:
                parts.append(
                    f"the default of {record.raw}"
                    if sub.value is None
                    else f"the alternative of {record.raw} ({sub.variable} from {describe_origin(sub.origin, root)})"
                )
            else:
                parts.append(
                    f"{describe_origin(sub.origin, root)}" + ("" if sub.variable == name else f" ({sub.variable})")
                )
        source = ", ".join(dict.fromkeys(parts))
        via = "" if any(s.used_default for s in subs) else f" via {record.raw}"
        at = f" at {where}" if where else ""
        if any(s.used_default for s in subs):
            return f"{head} from {source}{at}"
        return f"{head} from {source}{via}{at}"
    if record.origin.kind == "environment":
        return f"{head} at {where}" if where else head
    return f"{head} from {describe_origin(record.origin, root)}"


def value_location(record: Optional[EnvValue]) -> Optional[Location]:
    """The place that decided a value (the environment entry, env_file line...)."""
    if record is None:
        return None
    if record.origin.location is not None:
        return record.origin.location
    for sub in record.substitutions:
        if sub.origin.location is not None:
            return sub.origin.location
    return None
