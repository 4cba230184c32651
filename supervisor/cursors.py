"""A ``firehose_cursor`` row: the one type for the table, as the worker and ``status`` read it.

The worker reads rows through psycopg (datetimes); ``status`` reads them from ``psql`` text inside
the database container (:func:`parse_cursor_line`). Both end as :class:`CursorRow`.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any, Optional

__all__ = ["CursorRow", "parse_cursor_line", "moment"]


def moment(value: Optional[datetime]) -> str:
    """A time as ``status`` shows it (``2024-01-02T00:00:00``, to the second); ``""`` for none."""
    return value.isoformat(timespec="seconds") if value is not None else ""


@dataclasses.dataclass(frozen=True)
class CursorRow:
    """A ``firehose_cursor`` row: ``seq`` is the cursor as a number when it is one."""

    service: str
    cursor: Optional[str]
    last_event_time: Optional[datetime]
    updated_at: Optional[datetime]

    @property
    def seq(self) -> Optional[int]:
        """The cursor as a sequence number (None when empty or not a plain number)."""
        text = (self.cursor or "").strip()
        return int(text) if text.isdigit() else None

    def to_json(self) -> dict[str, Any]:
        """The row with its times as text (``""`` for a NULL, as the cursor)."""
        return {
            "service": self.service,
            "cursor": self.cursor or "",
            "last_event_time": moment(self.last_event_time),
            "updated_at": moment(self.updated_at),
        }


def parse_cursor_line(fields: list[str]) -> Optional[CursorRow]:
    """A row from the four text fields ``service, cursor, last_event_time, updated_at`` (empty: NULL).

    None when the fields are not such a row.
    """
    if len(fields) != 4:
        return None
    service, cursor, last_event, updated = fields
    try:
        return CursorRow(
            service,
            cursor or None,
            datetime.fromisoformat(last_event) if last_event else None,
            datetime.fromisoformat(updated) if updated else None,
        )
    except ValueError:
        return None
