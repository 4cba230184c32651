"""GitHub Actions workflow commands (``::error file=...,line=...,col=...,title=...::message``)."""

from __future__ import annotations

from typing import Optional, Sequence

from supervisor.compose.model import Location
from supervisor.policy.findings import Finding
from supervisor.policy.provenance import relative_location
from supervisor.secrets import mask_text

__all__ = ["escape_data", "escape_property", "workflow_command", "render_github"]

_LEVEL = {"error": "error", "warning": "warning", "info": "notice"}


def escape_data(text: str) -> str:
    """Escape a command's message: ``%``, CR and LF."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """Escape a property value: as data, plus ``:`` and ``,``."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def workflow_command(level: str, message: str, *, location: Optional[Location] = None, title: str = "") -> str:
    props = []
    if location is not None:
        props.append(f"file={escape_property(location.file)}")
        if location.line:
            props.append(f"line={location.line}")
        if location.column:
            props.append(f"col={location.column}")
    if title:
        props.append(f"title={escape_property(title)}")
    head = f"::{level}" + (" " + ",".join(props) if props else "")
    return f"{head}::{escape_data(message)}"


def render_github(findings: Sequence[Finding], root: Optional[str] = None) -> str:
    """One workflow command per finding; suppressed ones become notices that say so."""
    lines = []
    for f in findings:
        loc = relative_location(f.location, root) if f.location else None
        message = mask_text(f.message)
        if f.suppressed is not None:
            lines.append(
                workflow_command(
                    "notice",
                    f"{message} [suppressed: {f.suppressed}]",
                    location=loc,
                    title=f"{f.code} {f.name} (suppressed)",
                )
            )
        else:
            lines.append(workflow_command(_LEVEL[f.severity], message, location=loc, title=f"{f.code} {f.name}"))
    return "\n".join(lines)
