"""The plain peer of the worker benchmark: the ``atproto`` SDK feeding psycopg ``COPY``.

What an operator would write first: read the relay's frames with ``websockets``, parse each with
the SDK (``Frame.from_bytes``, ``parse_subscribe_repos_message``), decode the commit's CAR
(``CAR.from_bytes``), and copy one row per op into PostgreSQL, committing the rows with the
cursor every 2,000 rows.  No ordering guards, typed tables or accounts: it is the floor that the
worker's speed is compared against, on the same stream.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import psycopg

__all__ = ["run_peer"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS peer_record (uri text, cid text, did text, collection text, rkey text, action text,
                                        json jsonb);
CREATE TABLE IF NOT EXISTS peer_cursor (service text PRIMARY KEY, cursor bigint);
"""
_COMMIT_EVERY = 2000


def _json_default(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return {"$bytes": bytes(value).hex()}
    return str(value)


def _rows(message: Any, car_type: Any, commit_type: Any) -> list[tuple]:
    if not isinstance(message, commit_type):
        return []
    car = car_type.from_bytes(message.blocks) if message.blocks else None
    rows = []
    for op in message.ops:
        collection, _, rkey = op.path.partition("/")
        uri = f"at://{message.repo}/{op.path}"
        record = None
        if op.action != "delete" and car is not None and op.cid is not None:
            record = car.blocks.get(op.cid)
        rows.append(
            (
                uri,
                str(op.cid) if op.cid else None,
                message.repo,
                collection,
                rkey,
                op.action,
                json.dumps(record, default=_json_default) if record is not None else None,
            )
        )
    return rows


async def _consume(url: str, dsn: str, count: int) -> dict[str, float]:
    from atproto import CAR, models, parse_subscribe_repos_message
    from atproto_subscription.frames import Frame
    from websockets.asyncio.client import connect

    commit_type = models.ComAtprotoSyncSubscribeRepos.Commit
    conn = psycopg.connect(dsn, autocommit=True)
    conn.execute(_SCHEMA)
    conn.autocommit = False
    pending: list[tuple] = []
    seen = 0
    last_seq = 0
    started = time.perf_counter()

    def flush() -> None:
        with conn.cursor() as cur:
            with cur.copy("COPY peer_record (uri, cid, did, collection, rkey, action, json) FROM STDIN") as copy:
                for row in pending:
                    copy.write_row(row)
            cur.execute(
                "INSERT INTO peer_cursor VALUES ('peer', %s) ON CONFLICT (service) DO UPDATE "
                "SET cursor = EXCLUDED.cursor",
                (last_seq,),
            )
        conn.commit()
        pending.clear()

    async with connect(url + "/xrpc/com.atproto.sync.subscribeRepos?cursor=0", max_size=None, compression=None) as ws:
        while seen < count:
            data = await ws.recv()
            message = parse_subscribe_repos_message(Frame.from_bytes(data))
            seen += 1
            last_seq = getattr(message, "seq", last_seq)
            pending.extend(_rows(message, CAR, commit_type))
            if len(pending) >= _COMMIT_EVERY:
                flush()
    flush()
    elapsed = time.perf_counter() - started
    conn.close()
    return {"events": seen, "seconds": elapsed, "events_per_s": seen / elapsed}


def run_peer(url: str, dsn: str, count: int) -> dict[str, float]:
    """Read ``count`` events from cursor 0 of the relay at ``url`` into ``dsn``; the timing."""
    return asyncio.run(_consume(url, dsn, count))
