"""The audit as a table, JSON, CSV or Markdown; and the text form of ``explain``."""

from __future__ import annotations

import csv
import io
import json
from typing import Optional, Sequence

from supervisor.policy.audit import AuditRow
from supervisor.policy.explain import Explanation
from supervisor.secrets import mask_text

__all__ = ["AUDIT_COLUMNS", "audit_cells", "render_audit", "render_explanation"]

AUDIT_COLUMNS = [
    "SERVICE",
    "GROUP",
    "PROGRAM",
    "PROCS",
    "IMPLEMENTATION",
    "VARIANT",
    "BACKFILL_DAYS",
    "MEANING",
    "PRIMARY",
    "BACKFILL",
    "CURSOR",
    "LIVE",
    "LIVE CURSOR",
    "FIREHOSE_ENABLED",
    "ORIGIN",
]


def _yes(value: Optional[bool]) -> str:
    return "-" if value is None else ("yes" if value else "no")


def _group(row: AuditRow) -> str:
    parts = []
    if row.group:
        parts.append(row.group)
    if row.replicas != 1:
        parts.append(f"x{row.replicas} replicas")
    return " ".join(parts)


def audit_cells(row: AuditRow) -> list[str]:
    """The table cells of one row, in :data:`AUDIT_COLUMNS` order."""
    return [
        row.service,
        _group(row),
        row.program or "(not followed)",
        str(row.process_count),
        (row.implementation or "(unknown)") + (" (guess)" if row.guessed and row.implementation else ""),
        row.variant or "-",
        "(unset)" if row.backfill_days is None else row.backfill_days,
        row.meaning,
        _yes(row.primary),
        _yes(row.backfill_enabled),
        row.cursor_service or "-",
        _yes(row.live_consumer),
        row.live_cursor or ("?" if row.live_consumer else "-"),
        "(unset)" if row.firehose_enabled is None else row.firehose_enabled,
        mask_text(row.backfill_days_origin),
    ]


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(widths[i]) for i, h in enumerate(header)).rstrip()]
    for r in rows:
        lines.append("  ".join(c.ljust(widths[i]) for i, c in enumerate(r)).rstrip())
    return "\n".join(lines)


def _md(cell: str) -> str:
    return cell.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def render_audit(rows: Sequence[AuditRow], fmt: str = "table") -> str:
    """Render audit rows as ``table``, ``json``, ``csv`` or ``markdown``."""
    if fmt == "json":
        return json.dumps({"services": [r.to_json() for r in rows]}, indent=2, ensure_ascii=False)
    header = list(AUDIT_COLUMNS)
    cells = [audit_cells(r) for r in rows]
    var_names: list[str] = []
    if any(r.variables is not None for r in rows):
        var_names = sorted({k for r in rows for k in (r.variables or {})})
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(header + var_names)
        for r, c in zip(rows, cells):
            writer.writerow(
                c + [("" if (r.variables or {}).get(k) is None else (r.variables or {})[k]) for k in var_names]
            )
        return out.getvalue().rstrip("\n")
    if fmt == "markdown":
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(_md(c) for c in row) + " |" for row in cells]
        text = "\n".join(lines)
    else:
        text = _table(header, cells)
    notes = [f"{r.service}{' ' + r.group if r.group else ''}: {n}" for r in rows for n in r.notes]
    extra = []
    if var_names:
        for r in rows:
            if r.variables is None:
                continue
            extra.append(f"{r.service}{' ' + r.group if r.group else ''}:")
            extra += [f"  {k}={'(unset)' if v is None else v}" for k, v in r.variables.items()]
    if notes:
        text += "\n\n" + "\n".join(("- " if fmt == "markdown" else "note: ") + mask_text(n) for n in notes)
    if extra:
        text += "\n\n" + "\n".join(extra)
    return text


def render_explanation(ex: Explanation) -> str:
    """The text form of ``supervisor explain``."""
    lines = [f"{ex.service}: {ex.variable}", f"implementation: {ex.implementation or '(unknown)'} ({ex.detected_by})"]
    if ex.chain:
        lines.append("start-up chain (compose file -> program):")
        for step in ex.chain:
            where = f"{step['location']}: " if step["location"] else ""
            lines.append(f"  {step['kind']:<10} {where}{mask_text(step['text'])}")
    if ex.program:
        origin = f" ({ex.process_count_origin})" if ex.process_count_origin else ""
        lines.append(
            f"program: {ex.program}, {ex.process_count} process{'es' if ex.process_count != 1 else ''}{origin}"
        )
    if ex.not_started:
        lines.append(f"does not start: {ex.not_started}")
    if ex.variant:
        lines.append(f"variant: {ex.variant} ({ex.variant_title}); chosen by {ex.variant_chosen_by}")
        lines += [f"  {m}" for m in ex.markers]
    lines.append("layers (lowest precedence first):")
    if not ex.layers:
        lines.append("  (none: no layer sets it)")
    for layer in ex.layers:
        where = str(layer.location) if layer.location else ""
        value = "(unset)" if layer.value is None else layer.value
        raw = f"  [{layer.raw}]" if layer.raw is not None and layer.raw != layer.value else ""
        lines.append(f"  {layer.kind:<16} {where:<34} {ex.variable}={value}{raw}  -> {layer.status}")
    lines.append(f"winner: {mask_text(ex.winner)}")
    for item in ex.overrode:
        lines.append(f"  overrode: {mask_text(item)}")
    lines.append("decision:")
    if not ex.decisions:
        lines.append("  (no implementation profile: not modelled)")
    for d in ex.decisions:
        many = f" x{d['replicas']} replicas" if d["replicas"] != 1 else ""
        inst = f" ({d['instances']} processes)" if d["instances"] != 1 else ""
        value = "(unset)" if d["value"] is None else d["value"]
        note = f" ({d['value_note']})" if d["value_note"] else ""
        lines.append(f"  {d['group']}{many}{inst}: {ex.variable}={value}{note}")
        for step in d["trace"]:
            lines.append(f"    {mask_text(step)}")
        for failure in d["failures"]:
            lines.append(f"    does not start: {mask_text(failure)}")
        if not d["writers"]:
            lines.append("    writes no firehose_cursor row: the program has no backfill and no cursor row")
        for w in d["writers"]:
            state = (
                f'writes "{w["cursor"]}"'
                if w["enabled"] and w["cursor"]
                else ("runs (cursor not documented)" if w["enabled"] else "off")
            )
            lines.append(f"    {w['role']}: {state}")
    if ex.findings:
        lines.append("findings:")
        lines += [f"  {mask_text(f)}" for f in ex.findings]
    return "\n".join(lines)
