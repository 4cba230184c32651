"""Findings as text lines or a JSON document."""

from __future__ import annotations

import json
from typing import Any, Optional, Sequence

from supervisor.policy.findings import Finding, exit_code
from supervisor.policy.provenance import relative_location
from supervisor.secrets import mask_text

__all__ = ["summary", "render_text", "render_json", "finding_json"]


def summary(findings: Sequence[Finding]) -> dict[str, int]:
    """Counts of active findings per severity, and of suppressed ones."""
    active = [f for f in findings if f.suppressed is None]
    return {
        "error": sum(f.severity == "error" for f in active),
        "warning": sum(f.severity == "warning" for f in active),
        "info": sum(f.severity == "info" for f in active),
        "suppressed": len(findings) - len(active),
    }


def _where(finding: Finding, root: Optional[str]) -> str:
    return f"{relative_location(finding.location, root)}: " if finding.location else ""


def render_text(findings: Sequence[Finding], root: Optional[str] = None) -> str:
    """``file:line:col: severity CODE name: message`` lines, related locations indented, then a summary."""
    lines = []
    for f in findings:
        tag = f" [suppressed: {f.suppressed}]" if f.suppressed is not None else ""
        lines.append(f"{_where(f, root)}{f.severity} {f.code} {f.name}: {mask_text(f.message)}{tag}")
        for loc, note in f.related:
            lines.append(f"  {relative_location(loc, root)}: {mask_text(note)}")
    counts = summary(findings)
    if not findings:
        lines.append("ok: no findings")
    else:
        lines.append(
            f"{counts['error']} error(s), {counts['warning']} warning(s), {counts['info']} info, "
            f"{counts['suppressed']} suppressed"
        )
    return "\n".join(lines)


def finding_json(f: Finding, root: Optional[str]) -> dict[str, Any]:
    out = f.to_json()
    out["message"] = mask_text(f.message)
    if f.location is not None:
        out["location"] = relative_location(f.location, root).to_json()
    out["related"] = [{**relative_location(loc, root).to_json(), "message": mask_text(msg)} for loc, msg in f.related]
    return out


def render_json(findings: Sequence[Finding], root: Optional[str] = None, *, strict: bool = False) -> str:
    """``{"findings": [...], "summary": {...}, "exit_code": n}``."""
    document = {
        "findings": [finding_json(f, root) for f in findings],
        "summary": summary(findings),
        "exit_code": exit_code(list(findings), strict=strict),
    }
    return json.dumps(document, indent=2, ensure_ascii=False)
