"""Truth files: the records and accounts a consumer of the network must end with.

A record line is ``{"uri", "cid", "record", "time", "seq"}``:

- ``time``: the record's time as a backfill reads it: the time of its record key when that is a
  TID, else its ``createdAt``, else ``null``; ISO 8601 in UTC with microseconds
  (``2025-01-01T00:00:00.000000Z``).
- ``seq``: the relay sequence number of the event that last wrote the record, or ``null`` when
  that event is not replayed: it was older than the replay window when the relay started
  listening, or the record was never written by an event (the large repository). A record whose
  ``seq`` is ``null`` is only in its repository (``getRepo``): only a crawl finds it.

:func:`expected_records` gives the database a consumer must hold after a backfill with cutoff
``C`` (a crawl of every repository, indexing records whose ``time`` is at least ``C``) plus
ingest of the stream from cursor 0 at the start (every replayed and live event applied).
"""

from __future__ import annotations

import datetime
import json
import os
from typing import Any, Iterable, Iterator, Optional, Union

from supervisor.atproto import jsonfmt, syntax
from supervisor.devrelay.events import parse_time
from supervisor.devrelay.network import NetworkState

__all__ = [
    "record_time_us",
    "format_truth_time",
    "truth_records",
    "write_truth",
    "write_truth_accounts",
    "read_truth",
    "expected_records",
]

_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def record_time_us(rkey: str, record: Any) -> Optional[int]:
    """Epoch microseconds of a record: its TID key's time, else its ``createdAt``, else None."""
    if syntax.is_valid("tid", rkey):
        return syntax.tid_time(rkey)
    made = record.get("createdAt") if isinstance(record, dict) else None
    if isinstance(made, str):
        try:
            return parse_time(made)
        except ValueError:
            return None
    return None


def format_truth_time(time_us: int) -> str:
    """``2025-01-01T00:00:00.000000Z`` for epoch microseconds."""
    moment = _EPOCH + datetime.timedelta(microseconds=time_us)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse_truth_time(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


def truth_records(state: NetworkState, replay_floor: int = 0) -> Iterator[dict[str, Any]]:
    """Every record of ``state`` as a truth line, sorted by URI; ``seq`` is null at or below
    ``replay_floor`` (the highest sequence number the relay no longer replays)."""
    rows = []
    for did, acct in state.accounts.items():
        for path, (cid, record) in acct.records.items():
            rows.append((f"at://{did}/{path}", cid, record, acct.written.get(path, 0)))
    rows.sort(key=lambda row: row[0])
    for uri, cid, record, seq in rows:
        time_us = record_time_us(uri.rsplit("/", 1)[1], record)
        yield {
            "uri": uri,
            "cid": str(cid),
            "record": jsonfmt.to_json(record),
            "time": None if time_us is None else format_truth_time(time_us),
            "seq": seq if seq > replay_floor else None,
        }


def write_truth(path: Union[str, "os.PathLike[str]"], state: NetworkState, replay_floor: int = 0) -> int:
    """Write every record of ``state`` as JSON lines sorted by URI; returns the count."""
    count = 0
    with open(path, "w", encoding="utf-8") as out:
        for row in truth_records(state, replay_floor):
            out.write(json.dumps(row, ensure_ascii=False, separators=(",", ":")))
            out.write("\n")
            count += 1
    return count


def write_truth_accounts(path: Union[str, "os.PathLike[str]"], state: NetworkState) -> int:
    """Write every account (``did``, ``handle``, ``active``, ``status``) as JSON lines."""
    count = 0
    with open(path, "w", encoding="utf-8") as out:
        for row in state.truth_accounts():
            out.write(json.dumps(row, ensure_ascii=False, separators=(",", ":")))
            out.write("\n")
            count += 1
    return count


def read_truth(path: Union[str, "os.PathLike[str]"]) -> list[dict[str, Any]]:
    """The lines of a truth file (records or accounts)."""
    with open(path, encoding="utf-8") as fileobj:
        return [json.loads(line) for line in fileobj if line.strip()]


def expected_records(
    truth: Union[str, "os.PathLike[str]", Iterable[dict[str, Any]]],
    cutoff: Optional[datetime.datetime],
    accounts: Union[str, "os.PathLike[str]", Iterable[dict[str, Any]], None] = None,
) -> list[dict[str, Any]]:
    """The truth records a consumer holds after a crawl with ``cutoff`` plus the stream from the start.

    A record is expected when its ``seq`` is not null (the stream delivers it, whatever its
    time), or when the crawl finds it: its ``time`` is at or after ``cutoff`` (``None``: all
    history; a record without a time is then expected too) and, when ``accounts`` (the
    ``--truth-accounts`` lines) are given, its account is active at the end (``getRepo`` refuses
    the repositories of taken-down, deactivated and deleted accounts). ``cutoff`` must carry a
    timezone. ``truth`` and ``accounts`` are file paths or already-read lines.
    """
    rows = read_truth(truth) if isinstance(truth, (str, os.PathLike)) else list(truth)
    inactive: set[str] = set()
    if accounts is not None:
        lines = read_truth(accounts) if isinstance(accounts, (str, os.PathLike)) else accounts
        inactive = {line["did"] for line in lines if not line.get("active", True)}
    if cutoff is not None and cutoff.tzinfo is None:
        raise ValueError("cutoff must carry a timezone (datetime.timezone.utc, say)")
    out = []
    for row in rows:
        if row.get("seq") is not None:
            out.append(row)
            continue
        did = row["uri"][len("at://") :].split("/", 1)[0]
        if did in inactive:
            continue
        if cutoff is None:
            out.append(row)
        elif row.get("time") is not None and _parse_truth_time(row["time"]) >= cutoff:
            out.append(row)
    return out
