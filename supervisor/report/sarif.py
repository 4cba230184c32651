"""SARIF 2.1.0 for GitHub code scanning: rule metadata, file/line/column locations, suppressions."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Optional, Sequence
from urllib.parse import quote

from supervisor import __version__
from supervisor.compose.model import Location
from supervisor.policy.findings import RULES, Finding
from supervisor.policy.provenance import relative_location
from supervisor.secrets import mask_text

__all__ = ["SARIF_SCHEMA", "to_sarif", "render_sarif"]

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVEL = {"error": "error", "warning": "warning", "info": "note"}


def _artifact(location: Location, root: Optional[str]) -> dict[str, Any]:
    rel = relative_location(location, root)
    if os.path.isabs(rel.file):
        return {"uri": Path(rel.file).as_uri()}
    return {"uri": quote(rel.file.replace(os.sep, "/")), "uriBaseId": "%SRCROOT%"}


def _physical(location: Location, root: Optional[str]) -> dict[str, Any]:
    out: dict[str, Any] = {"artifactLocation": _artifact(location, root)}
    if location.line > 0:
        region: dict[str, Any] = {"startLine": location.line}
        if location.column > 0:
            region["startColumn"] = location.column
        out["region"] = region
    return out


def _rules() -> list[dict[str, Any]]:
    return [
        {
            "id": r.code,
            "name": "".join(part.capitalize() for part in r.name.split("-")),
            "shortDescription": {"text": r.summary},
            "fullDescription": {"text": f"{r.name}: {r.summary}"},
            "help": {"text": r.help},
            "defaultConfiguration": {"level": _LEVEL[r.severity]},
            "properties": {"tags": ["appview", "backfill", r.name]},
        }
        for r in RULES.values()
    ]


def to_sarif(
    findings: Sequence[Finding], root: Optional[str] = None, *, fallback: Optional[Location] = None
) -> dict[str, Any]:
    """A SARIF 2.1.0 log; findings without a location point at ``fallback`` (the first compose file)."""
    codes = list(RULES)
    results = []
    for f in findings:
        location = f.location or fallback
        message = mask_text(f.message)
        result: dict[str, Any] = {
            "ruleId": f.code,
            "ruleIndex": codes.index(f.code),
            "level": _LEVEL[f.severity],
            "message": {"text": message},
            "partialFingerprints": {
                "supervisorFinding/v1": hashlib.sha256(
                    f"{f.code}|{','.join(f.services)}|{location.file if location else ''}".encode()
                ).hexdigest()[:32],
            },
        }
        if location is not None:
            result["locations"] = [{"physicalLocation": _physical(location, root)}]
        if f.related:
            result["relatedLocations"] = [
                {"id": i + 1, "physicalLocation": _physical(loc, root), "message": {"text": mask_text(note)}}
                for i, (loc, note) in enumerate(f.related)
            ]
        if f.suppressed is not None:
            result["suppressions"] = [{"kind": "inSource", "justification": f.suppressed}]
        results.append(result)
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": "appview-supervisor",
                "version": __version__,
                "semanticVersion": __version__,
                "informationUri": "https://atproto.com/specs/event-stream",
                "rules": _rules(),
            }
        },
        "results": results,
        "columnKind": "unicodeCodePoints",
    }
    if root:
        run["originalUriBaseIds"] = {"%SRCROOT%": {"uri": Path(root).as_uri().rstrip("/") + "/"}}
    return {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}


def render_sarif(
    findings: Sequence[Finding], root: Optional[str] = None, *, fallback: Optional[Location] = None
) -> str:
    return json.dumps(to_sarif(findings, root, fallback=fallback), indent=2, ensure_ascii=False)
