"""PostgreSQL storage: a small connection pool, the cursor rows and the batch transaction.

One batch is one transaction: the records, the users, the cursor row and (for the backfill) its
progress are committed together, so a crash at any moment loses nothing and duplicates nothing.
Rows are sent with ``COPY`` into temporary staging tables and applied with a handful of set-based
statements, not a round trip per record.

Ordering: every record remembers the repository revision (``rev``) of the commit that last wrote
it, and a delete leaves a tombstone with its revision.  An op applies only when its revision is at
least the stored one, so a replay (a reconnect, a second worker, the backfill replaying older
history) can never bring back an older version or a deleted record.  Writers take one
transaction-level advisory lock, which makes that read-check-write safe between writers.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import queue
import re
import threading
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator, Optional

import psycopg

from supervisor.cursors import CursorRow
from supervisor.secrets import mask_text
from supervisor.worker.batch import Batch, RecordWrite
from supervisor.worker.errors import MigrationError, StoreError
from supervisor.worker.schema import TYPED_COLLECTIONS, WRITE_LOCK_KEY, migrate

__all__ = [
    "Database",
    "CursorRow",
    "BackfillState",
    "ApplyResult",
    "is_transient",
    "read_cursor",
    "apply_batch",
    "read_backfill_state",
    "begin_backfill_state",
    "prune_tombstones",
    "split_batch",
]

log = logging.getLogger("supervisor.worker.store")

_STAGING = """
CREATE TEMP TABLE IF NOT EXISTS stage_record (
    uri text, did text, collection text, rkey text, action text, cid text,
    rev text COLLATE "C", json jsonb, created_at timestamptz
) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS stage_applied (
    uri text, did text, collection text, rkey text, action text, cid text,
    rev text COLLATE "C", json jsonb, created_at timestamptz, existed boolean
) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS stage_user (
    did text, kind text, handle text, active boolean, status text, time timestamptz
) ON COMMIT DELETE ROWS;
"""

_COPY_RECORDS = "COPY stage_record (uri, did, collection, rkey, action, cid, rev, json, created_at) FROM STDIN"
_COPY_USERS = "COPY stage_user (did, kind, handle, active, status, time) FROM STDIN"

# Ops whose revision is not older than what is stored (record or tombstone).  The LATERAL ... LIMIT 1
# lookups keep the plan a per-row index probe: a hash join would scan the whole table every batch.
_SELECT_APPLIED = """
INSERT INTO stage_applied
SELECT s.*, r.rev IS NOT NULL FROM stage_record s
LEFT JOIN LATERAL (SELECT r.rev FROM record r WHERE r.uri = s.uri LIMIT 1) r ON true
LEFT JOIN LATERAL (SELECT t.rev FROM record_tombstone t WHERE t.uri = s.uri LIMIT 1) t ON true
WHERE (r.rev IS NULL OR s.rev >= r.rev) AND (t.rev IS NULL OR s.rev >= t.rev)
"""

# Under the write lock nobody else inserts: rows that did not exist take a plain INSERT (much cheaper
# than ON CONFLICT), rows that existed are replaced.
_STATEMENTS_ALWAYS = (
    "DELETE FROM record r USING stage_applied a WHERE r.uri = a.uri AND a.existed AND a.action = 'delete'",
    """INSERT INTO record (uri, cid, did, collection, rkey, json, rev, created_at)
       SELECT uri, cid, did, collection, rkey, json, rev, created_at FROM stage_applied
       WHERE action <> 'delete' AND NOT existed""",
    """UPDATE record r SET cid = a.cid, json = a.json, rev = a.rev, created_at = a.created_at, indexed_at = now()
       FROM stage_applied a WHERE r.uri = a.uri AND a.existed AND a.action <> 'delete'""",
    "DELETE FROM record_tombstone t USING stage_applied a WHERE t.uri = a.uri AND a.action <> 'delete'",
    """INSERT INTO record_tombstone (uri, did, rev)
       SELECT uri, did, rev FROM stage_applied WHERE action = 'delete'
       ON CONFLICT (uri) DO UPDATE SET rev = EXCLUDED.rev, deleted_at = now()
       WHERE record_tombstone.rev <= EXCLUDED.rev""",
)

_SUBJECT_REF = "json->'subject'->>'uri', json->'subject'->>'cid'"
_SUBJECT_DID = "CASE WHEN jsonb_typeof(json->'subject') = 'string' THEN json->>'subject' END"

_TYPED_INSERT = {
    "post": """INSERT INTO post (uri, cid, did, rkey, text, langs, reply_parent, reply_root, embed, created_at)
       SELECT uri, cid, did, rkey,
              CASE WHEN jsonb_typeof(json->'text') = 'string' THEN json->>'text' END,
              CASE WHEN jsonb_typeof(json->'langs') = 'array'
                   THEN ARRAY(SELECT jsonb_array_elements_text(json->'langs')) END,
              json->'reply'->'parent'->>'uri', json->'reply'->'root'->>'uri', json->'embed', created_at
       FROM stage_applied WHERE collection = 'app.bsky.feed.post' AND action <> 'delete'""",
    "like": f"""INSERT INTO "like" (uri, cid, did, rkey, subject_uri, subject_cid, created_at)
       SELECT uri, cid, did, rkey, {_SUBJECT_REF}, created_at
       FROM stage_applied WHERE collection = 'app.bsky.feed.like' AND action <> 'delete'""",
    "repost": f"""INSERT INTO repost (uri, cid, did, rkey, subject_uri, subject_cid, created_at)
       SELECT uri, cid, did, rkey, {_SUBJECT_REF}, created_at
       FROM stage_applied WHERE collection = 'app.bsky.feed.repost' AND action <> 'delete'""",
    "follow": f"""INSERT INTO follow (uri, cid, did, rkey, subject_did, created_at)
       SELECT uri, cid, did, rkey, {_SUBJECT_DID}, created_at
       FROM stage_applied WHERE collection = 'app.bsky.graph.follow' AND action <> 'delete'""",
    "block": f"""INSERT INTO block (uri, cid, did, rkey, subject_did, created_at)
       SELECT uri, cid, did, rkey, {_SUBJECT_DID}, created_at
       FROM stage_applied WHERE collection = 'app.bsky.graph.block' AND action <> 'delete'""",
    "users": """INSERT INTO users (did, display_name, description, avatar_cid, banner_cid, profile_cid,
                                  profile_created_at)
       SELECT did,
              CASE WHEN jsonb_typeof(json->'displayName') = 'string' THEN json->>'displayName' END,
              CASE WHEN jsonb_typeof(json->'description') = 'string' THEN json->>'description' END,
              json->'avatar'->'ref'->>'$link', json->'banner'->'ref'->>'$link', cid, created_at
       FROM stage_applied
       WHERE collection = 'app.bsky.actor.profile' AND rkey = 'self' AND action <> 'delete' ORDER BY did
       ON CONFLICT (did) DO UPDATE SET display_name = EXCLUDED.display_name,
           description = EXCLUDED.description, avatar_cid = EXCLUDED.avatar_cid,
           banner_cid = EXCLUDED.banner_cid, profile_cid = EXCLUDED.profile_cid,
           profile_created_at = EXCLUDED.profile_created_at, updated_at = now()""",
}

_TYPED_DELETE = {
    table: f'DELETE FROM "{table}" x USING stage_applied a WHERE x.uri = a.uri AND a.existed'
    for table in ("post", "like", "repost", "follow", "block")
}
_TYPED_DELETE["users"] = """UPDATE users u SET display_name = NULL, description = NULL, avatar_cid = NULL,
       banner_cid = NULL, profile_cid = NULL, profile_created_at = NULL, updated_at = now()
       FROM stage_applied a
       WHERE u.did = a.did AND a.collection = 'app.bsky.actor.profile' AND a.rkey = 'self'
         AND a.action = 'delete'"""

_IDENTITY = """INSERT INTO users (did, handle, identity_time)
   SELECT did, handle, time FROM stage_user WHERE kind = 'identity' ORDER BY did
   ON CONFLICT (did) DO UPDATE SET handle = COALESCE(EXCLUDED.handle, users.handle),
       identity_time = EXCLUDED.identity_time, updated_at = now()
   WHERE users.identity_time IS NULL OR users.identity_time <= EXCLUDED.identity_time"""

_ACCOUNT = """INSERT INTO users (did, active, status, account_time)
   SELECT did, active, status, time FROM stage_user WHERE kind = 'account' ORDER BY did
   ON CONFLICT (did) DO UPDATE SET active = EXCLUDED.active, status = EXCLUDED.status,
       account_time = EXCLUDED.account_time, updated_at = now()
   WHERE users.account_time IS NULL OR users.account_time <= EXCLUDED.account_time"""

_CURSOR = """INSERT INTO firehose_cursor (service, cursor, last_event_time, updated_at)
   VALUES (%s, %s, %s, now())
   ON CONFLICT (service) DO UPDATE SET cursor = EXCLUDED.cursor,
       last_event_time = COALESCE(EXCLUDED.last_event_time, firehose_cursor.last_event_time),
       updated_at = now()"""

_BACKFILL_PROGRESS = """UPDATE backfill_state SET events = events + %s, records = records + %s,
   missed_events = missed_events + %s, missed_from = LEAST(missed_from, %s), missed_to = GREATEST(missed_to, %s),
   completed_at = CASE WHEN %s THEN now() ELSE completed_at END,
   note = CASE WHEN %s THEN %s ELSE note END
   WHERE service = %s"""


def is_transient(exc: BaseException) -> bool:
    """True for errors a retry can fix: a lost connection, a deadlock, a serialization failure."""
    if isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError)):
        return True
    return isinstance(
        exc,
        (
            psycopg.errors.DeadlockDetected,
            psycopg.errors.SerializationFailure,
            psycopg.errors.LockNotAvailable,
            psycopg.errors.AdminShutdown,
            psycopg.errors.CannotConnectNow,
            psycopg.errors.QueryCanceled,
        ),
    )


def _naive_utc(value: Optional[datetime]) -> Optional[datetime]:
    # firehose_cursor.last_event_time is "timestamp" (no zone): store UTC.  A valid time late in
    # year 9999 with a negative offset has no UTC form in Python: store nothing rather than fail
    # the batch (the row keeps its previous time).
    if value is None:
        return None
    try:
        return value.astimezone(timezone.utc).replace(tzinfo=None)
    except OverflowError:
        return None


@dataclasses.dataclass(frozen=True)
class BackfillState:
    """A ``backfill_state`` row."""

    service: str
    days: int
    end_seq: Optional[int]
    start_seq: Optional[int]
    cutoff: Optional[datetime]
    started_at: datetime
    completed_at: Optional[datetime]
    events: int
    records: int
    note: Optional[str]
    missed_events: int = 0
    missed_from: Optional[int] = None
    missed_to: Optional[int] = None

    @property
    def finished(self) -> bool:
        """True once the backfill reached the point where live ingest began."""
        return self.completed_at is not None

    @property
    def complete(self) -> bool:
        """Finished with nothing missed (a finished backfill that missed events is incomplete)."""
        return self.finished and not self.missed_events


@dataclasses.dataclass(frozen=True)
class ApplyResult:
    """What one batch transaction changed."""

    records: int
    users: int


class Database:
    """A small thread-safe pool of at most ``size`` connections to one database."""

    def __init__(
        self, url: str, size: int = 4, *, connect_timeout: float = 10.0, application_name: str = "supervisor-worker"
    ) -> None:
        self.url = url
        self.size = size
        self.connect_timeout = connect_timeout
        self.application_name = application_name
        self._idle: queue.LifoQueue[psycopg.Connection] = queue.LifoQueue()
        self._slots = threading.BoundedSemaphore(size)
        self._prepared: set[int] = set()
        self._closed = False
        self._lock = threading.Lock()
        self._server_started: Optional[datetime] = None
        #: Moves whenever a connection broke or the server restarted: a commit acknowledged before
        #: that may be gone (asynchronous commit), so writers compare their stored cursor with
        #: what they last committed before going on (see :meth:`Stream._write`).
        self.epoch = 0

    def connect(self) -> psycopg.Connection:
        """A new autocommit connection outside the pool (transactions are explicit)."""
        return psycopg.connect(
            self.url,
            autocommit=True,
            connect_timeout=max(1, int(self.connect_timeout)),
            application_name=self.application_name,
        )

    def migrate(self) -> list[int]:
        """Bring the schema up to date (safe to run from several workers at once)."""
        try:
            conn = self.connect()
        except psycopg.Error as exc:
            raise MigrationError(f"cannot connect to the database: {describe_error(exc)}") from exc
        with conn:
            return migrate(conn)

    @contextlib.contextmanager
    def connection(self, timeout: Optional[float] = None) -> Iterator[psycopg.Connection]:
        """Borrow a connection (with staging tables ready); a broken one is dropped, not returned."""
        if not self._slots.acquire(timeout=timeout if timeout is not None else -1):
            raise psycopg.OperationalError("no database connection free in the pool")
        conn: Optional[psycopg.Connection] = None
        try:
            try:
                conn = self._idle.get_nowait()
            except queue.Empty:
                conn = self.connect()
            if id(conn) not in self._prepared:
                # Safe for exactly-once: data and cursor share each transaction, so a server crash
                # loses the last batches together with their cursor; every writer re-reads its
                # stored cursor after a lost connection and replays from it.
                conn.execute("SET synchronous_commit = off")
                conn.execute(_STAGING)
                row = conn.execute("SELECT pg_postmaster_start_time()").fetchone()
                assert row is not None  # a SELECT without FROM gives one row
                started = row[0]
                conn.commit()
                self._note_server(started)
                self._prepared.add(id(conn))
            yield conn
        except BaseException:
            if conn is not None:
                self._discard_or_reset(conn)
                conn = None
            raise
        finally:
            if conn is not None:
                if conn.closed or conn.broken or self._closed:
                    self._discard(conn)
                else:
                    self._idle.put(conn)
            self._slots.release()

    def _note_server(self, started: datetime) -> None:
        with self._lock:
            if self._server_started is not None and started != self._server_started:
                self.epoch += 1
            self._server_started = started

    def _lost(self) -> None:
        with self._lock:
            self.epoch += 1

    def _discard_or_reset(self, conn: psycopg.Connection) -> None:
        try:
            if not conn.closed and not conn.broken:
                conn.rollback()
                if not self._closed:
                    self._idle.put(conn)
                    return
        except psycopg.Error:
            pass
        self._discard(conn)

    def _discard(self, conn: psycopg.Connection) -> None:
        if (conn.closed or conn.broken) and not self._closed:
            self._lost()
        self._prepared.discard(id(conn))
        with contextlib.suppress(Exception):
            conn.close()

    def ping(self, timeout: float = 5.0) -> bool:
        """True when the database answers ``SELECT 1``."""
        try:
            with self.connection(timeout=timeout) as conn:
                conn.execute("SELECT 1").fetchone()
                conn.rollback()
            return True
        except psycopg.Error:
            return False

    def close(self) -> None:
        """Close every idle connection (borrowed ones close when returned)."""
        self._closed = True
        while True:
            try:
                self._discard(self._idle.get_nowait())
            except queue.Empty:
                break


def read_cursor(conn: psycopg.Connection, service: str) -> Optional[CursorRow]:
    """The ``firehose_cursor`` row of ``service``, or None."""
    row = conn.execute(
        "SELECT service, cursor, last_event_time, updated_at FROM firehose_cursor WHERE service = %s", (service,)
    ).fetchone()
    conn.commit()
    return CursorRow(*row) if row else None


def read_backfill_state(conn: psycopg.Connection, service: str) -> Optional[BackfillState]:
    """The ``backfill_state`` row of ``service``, or None."""
    row = conn.execute(
        "SELECT service, days, end_seq, start_seq, cutoff, started_at, completed_at, events, records, note, "
        "missed_events, missed_from, missed_to FROM backfill_state WHERE service = %s",
        (service,),
    ).fetchone()
    conn.commit()
    return BackfillState(*row) if row else None


def begin_backfill_state(
    conn: psycopg.Connection, service: str, *, days: int, end_seq: int, cutoff: Optional[datetime], live_service: str
) -> BackfillState:
    """Record a new backfill (its end point and window); an existing row is kept as it is.

    Live ingest's cursor row is stored at the end point in the same transaction unless it exists:
    after a crash before live ingest committed anything, the next start resumes live ingest right
    after the end point instead of at a newer tip (which would leave the events between unindexed).
    """
    with conn.transaction():
        conn.execute(
            "INSERT INTO backfill_state (service, days, end_seq, cutoff) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (service) DO NOTHING",
            (service, days, end_seq, cutoff),
        )
        conn.execute(
            "INSERT INTO firehose_cursor (service, cursor, updated_at) VALUES (%s, %s, now()) "
            "ON CONFLICT (service) DO NOTHING",
            (live_service, str(end_seq)),
        )
    state = read_backfill_state(conn, service)
    assert state is not None
    return state


def complete_backfill_state(conn: psycopg.Connection, service: str, note: str) -> None:
    """Mark a backfill complete without a batch (nothing left to replay)."""
    with conn.transaction():
        conn.execute(
            "UPDATE backfill_state SET completed_at = now(), note = %s WHERE service = %s AND completed_at IS NULL",
            (note, service),
        )


def prune_tombstones(conn: psycopg.Connection, older_than: timedelta) -> int:
    """Drop tombstones older than ``older_than`` (past the relay window no replay can need them)."""
    with conn.transaction():
        cur = conn.execute("DELETE FROM record_tombstone WHERE deleted_at < now() - %s", (older_than,))
        return cur.rowcount


# COPY text format: columns split by tabs, \N for NULL, and backslash, tab, newline and carriage
# return escaped.  Rows are formatted here in one pass and sent as one buffer, which costs far
# less per row than formatting value by value through copy.write_row.
_COPY_SPECIAL = re.compile(r"[\\\t\n\r]")
_COPY_SPECIAL_BUT_TAB = re.compile(r"[\\\n\r]")


def _copy_field(value: Any) -> str:
    if value is None:
        return "\\N"
    if type(value) is not str:
        if isinstance(value, datetime):
            value = value.isoformat()
        elif isinstance(value, bool):
            return "t" if value else "f"
        elif isinstance(value, (bytes, bytearray, memoryview)):
            value = bytes(value).decode("utf-8")
        else:
            value = str(value)
    if _COPY_SPECIAL.search(value) is None:
        return value
    return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _copy_text(rows: list[tuple[Any, ...]]) -> str:
    """Rows in COPY text format."""
    return "".join(["\t".join([_copy_field(value) for value in row]) + "\n" for row in rows])


def _record_lines(writes: list[RecordWrite]) -> str:
    field = _copy_field
    special = _COPY_SPECIAL_BUT_TAB.search
    lines = []
    for w in writes:
        # Identifiers, action and revision are checked syntax (no tab, newline or backslash) when
        # they come from the batch builder; one look over them together confirms it.
        head = f"{w.uri}\t{w.did}\t{w.collection}\t{w.rkey}\t{w.action}\t{w.cid}\t{w.rev}"
        if w.cid is None or special(head) is not None or head.count("\t") != 6:
            head = "\t".join(
                [
                    field(w.uri),
                    field(w.did),
                    field(w.collection),
                    field(w.rkey),
                    field(w.action),
                    field(w.cid),
                    field(w.rev),
                ]
            )
        lines.append(f"{head}\t{field(w.json)}\t{field(w.created_at)}\n")
    return "".join(lines)


def _write_records(cur: psycopg.Cursor, writes: list[RecordWrite]) -> None:
    with cur.copy(_COPY_RECORDS) as copy:
        copy.write(_record_lines(writes))


def _write_users(cur: psycopg.Cursor, batch: Batch) -> None:
    rows: list[tuple[Any, ...]] = [
        (ident.did, "identity", ident.handle, None, None, ident.time) for ident in batch.identities.values()
    ]
    rows.extend((acct.did, "account", None, acct.active, acct.status, acct.time) for acct in batch.accounts.values())
    with cur.copy(_COPY_USERS) as copy:
        copy.write(_copy_text(rows))


def _batch_script(
    conn: psycopg.Connection,
    batch: Batch,
    *,
    service: str,
    move_cursor: bool,
    backfill_service: Optional[str],
    note: Optional[str],
) -> tuple[str, list[str]]:
    """The statements of one batch as one script (one round trip), and what each result counts."""
    from psycopg import sql

    statements: list[tuple[str, str]] = [
        # Every statement probes a primary key per staged row; without statistics on the staging
        # tables the planner could otherwise pick a hash join that scans a whole table each batch.
        ("SET LOCAL enable_hashjoin = off", ""),
        ("SET LOCAL enable_mergejoin = off", ""),
        (f"SELECT pg_advisory_xact_lock({WRITE_LOCK_KEY})", ""),
    ]
    writes = batch.writes
    if writes:
        statements.append((_SELECT_APPLIED, "records"))
        statements.extend((statement, "") for statement in _STATEMENTS_ALWAYS)
        present = {w.collection for w in writes.values()}
        actions = {w.action for w in writes.values()}
        for collection, table in TYPED_COLLECTIONS.items():
            if collection not in present:
                continue
            if table != "users":
                # Replaced and deleted rows go first; then every live version is a plain insert.
                statements.append((_TYPED_DELETE[table], ""))
            if actions != {"delete"}:
                statements.append((_TYPED_INSERT[table], ""))
            if table == "users" and "delete" in actions:
                statements.append((_TYPED_DELETE[table], ""))
    if batch.identities:
        statements.append((_IDENTITY, "users"))
    if batch.accounts:
        statements.append((_ACCOUNT, "users"))
    if batch.heads:
        statements.append((heads_statement(batch.heads).as_string(conn), ""))
    if move_cursor and batch.last_seq is not None:
        statements.append(
            (
                sql.SQL(_CURSOR.replace("%s", "{}"))
                .format(
                    sql.Literal(service),
                    sql.Literal(str(batch.last_seq)),
                    sql.Literal(_naive_utc(batch.last_time)),
                )
                .as_string(conn),
                "",
            )
        )
    if backfill_service is not None:
        final = bool(batch.final) and move_cursor
        applied = "(SELECT count(*) FROM stage_applied)" if writes else "0"
        statements.append(
            (
                sql.SQL(_BACKFILL_PROGRESS.replace("%s", "{}"))
                .format(
                    sql.Literal(batch.events if move_cursor else 0),
                    sql.SQL(applied),
                    sql.Literal(batch.missed if move_cursor else 0),
                    sql.Literal(batch.missed_from if move_cursor else None),
                    sql.Literal(batch.missed_to if move_cursor else None),
                    sql.Literal(final),
                    sql.Literal(note is not None and final),
                    sql.Literal(note),
                    sql.Literal(backfill_service),
                )
                .as_string(conn),
                "",
            )
        )
    statements.append(("COMMIT", ""))
    return ";\n".join(text for text, _ in statements), [label for _, label in statements]


def apply_batch(
    conn: psycopg.Connection,
    batch: Batch,
    *,
    service: str,
    move_cursor: bool = True,
    backfill_service: Optional[str] = None,
    note: Optional[str] = None,
) -> ApplyResult:
    """Write one batch and its cursor in one transaction (see the module docstring).

    ``conn`` is an autocommit connection; the transaction takes three round trips: ``BEGIN``,
    the ``COPY`` of the staged rows, and one script that applies them, moves the cursor and commits.
    """
    script, labels = _batch_script(
        conn, batch, service=service, move_cursor=move_cursor, backfill_service=backfill_service, note=note
    )
    counts = {"records": 0, "users": 0}
    cur = conn.cursor()
    try:
        cur.execute("BEGIN")
        writes = list(batch.writes.values())
        if writes:
            _write_records(cur, writes)
        if batch.identities or batch.accounts:
            _write_users(cur, batch)
        cur.execute(script)
        for label in labels:
            if label:
                counts[label] += max(cur.rowcount, 0)
            if not cur.nextset():
                break
    except BaseException:
        if not conn.closed and not conn.broken:
            try:
                conn.execute("ROLLBACK")
            except psycopg.Error:
                pass
        raise
    return ApplyResult(records=counts["records"], users=counts["users"])


def split_batch(batch: Batch) -> tuple[Batch, Batch]:
    """Two halves of a batch's changes; only the second carries the position and counts."""
    writes = list(batch.writes.items())
    users = [("identity", k, v) for k, v in batch.identities.items()] + [
        ("account", k, v) for k, v in batch.accounts.items()
    ]
    items: list[tuple[str, Any, Any]] = [("write", k, v) for k, v in writes] + users
    middle = len(items) // 2
    halves = []
    for part in (items[:middle], items[middle:]):
        half = Batch()
        for kind, key, value in part:
            targets: dict[str, dict[str, Any]] = {
                "write": half.writes,
                "identity": half.identities,
                "account": half.accounts,
            }
            targets[kind][key] = value
        halves.append(half)
    first, second = halves
    second.events, second.ops = batch.events, batch.ops
    second.first_seq, second.last_seq, second.last_time = batch.first_seq, batch.last_seq, batch.last_time
    second.skipped, second.kinds, second.final = batch.skipped, batch.kinds, batch.final
    second.missed, second.missed_from, second.missed_to = batch.missed, batch.missed_from, batch.missed_to
    second.heads = batch.heads
    return first, second


def describe_error(exc: BaseException) -> str:
    """A one-line, password-free description of a database error."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return mask_text(f"{type(exc).__name__}: {text}")


def raise_store_error(exc: BaseException) -> None:
    """Re-raise ``exc`` as a :class:`StoreError` with a masked message."""
    raise StoreError(describe_error(exc)) from exc


# -- repositories fetched again (worker/verifier.py) ------------------------------------------------


def heads_statement(heads: dict[str, tuple[str, str]]) -> Any:
    """The upsert of ``repo_head`` rows (``did -> (rev, data CID text)``)."""
    from psycopg import sql

    values = sql.SQL(", ").join(
        sql.SQL("({}, {}, {})").format(sql.Literal(did), sql.Literal(rev), sql.Literal(data))
        for did, (rev, data) in heads.items()
    )
    return sql.SQL(
        "INSERT INTO repo_head (did, rev, data) VALUES {} ON CONFLICT (did) DO UPDATE"
        " SET rev = EXCLUDED.rev, data = EXCLUDED.data, updated_at = now()"
    ).format(values)


def write_heads(conn: psycopg.Connection, heads: dict[str, tuple[str, str]]) -> None:
    """Store repositories' verified states outside a batch (a repository fetched again)."""
    if heads:
        conn.execute(heads_statement(heads))


def read_heads(conn: psycopg.Connection, dids: list[str]) -> dict[str, tuple[str, str]]:
    """The stored ``(rev, data CID text)`` of those of ``dids`` that have one."""
    rows = conn.execute("SELECT did, rev, data FROM repo_head WHERE did = ANY(%s)", (dids,)).fetchall()
    return {str(did): (str(rev), str(data)) for did, rev, data in rows}


def mark_desynchronized(conn: psycopg.Connection, did: str, reason: str) -> None:
    """Record that ``did`` is out of sync and will be fetched again (survives a restart)."""
    conn.execute(
        "INSERT INTO repo_sync (did, state, reason, desynchronized_at, updated_at)"
        " VALUES (%s, 'desynchronized', %s, now(), now())"
        " ON CONFLICT (did) DO UPDATE SET state = 'desynchronized', reason = EXCLUDED.reason,"
        " desynchronized_at = now(), updated_at = now()",
        (did, reason),
    )


def read_desynchronized(conn: psycopg.Connection) -> list[tuple[str, Optional[str]]]:
    """``(did, reason)`` of every repository still to be fetched again."""
    rows = conn.execute("SELECT did, reason FROM repo_sync WHERE state = 'desynchronized' ORDER BY did").fetchall()
    return [(str(did), reason) for did, reason in rows]


def mark_repaired(
    conn: psycopg.Connection, did: str, state: str, rev: Optional[str], attempts: int, error: Optional[str]
) -> None:
    """Record the end of a repair: ``synchronized`` at ``rev``, or what the host said of the account."""
    conn.execute(
        "UPDATE repo_sync SET state = %s, rev = %s, attempts = attempts + %s, last_error = %s,"
        " repaired_at = now(), updated_at = now() WHERE did = %s",
        (state, rev, attempts, None if error is None else mask_text(error)[:2000], did),
    )


def _frames_batch(events: list[Any]) -> Batch:
    from supervisor.worker.batch import BatchBuilder

    builder = BatchBuilder()
    for event in events:
        builder.add(event)
    return builder.take()


def _snapshot_time() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _snapshot_lines(
    did: str, rev: str, records: list[tuple[str, Any, Any]], cutoff: Optional[datetime]
) -> tuple[str, set[str]]:
    """COPY text (``stage_record``'s columns) of a snapshot chunk's records, and their collections.

    The checks of the batch builder, without its per-op objects: a path that is not
    ``collection/rkey``, a record that is not a map or cannot be stored, and (with ``cutoff``) a
    record made before the cutoff are left out."""
    from supervisor.atproto import syntax, validate
    from supervisor.atproto.cid import CID
    from supervisor.worker.batch import cid_text, parse_time, record_json_text, record_time

    field = _copy_field
    special = _COPY_SPECIAL.search
    head = f"\t{did}\t"
    tail = "\tcreate\t"
    null = "\\N"
    lines: list[str] = []
    collections: set[str] = set()
    for path, cid, record in records:
        if type(record) is not dict or cid is None:
            continue
        parts = validate.record_path(path)
        if parts is None:
            continue
        collection, rkey = parts
        if cutoff is not None:
            made = record_time(rkey, record, syntax)
            if made is not None and made < cutoff:
                continue
        text = record_json_text(record)
        if text is None:
            continue
        if special(text) is not None:
            text = field(text)
        created = parse_time(record.get("createdAt"))
        cid_str = cid_text(cid) if type(cid) is CID else field(str(cid))
        # DID, collection, record key and revision are checked syntax: no tab, newline or backslash.
        lines.append(
            f"at://{did}/{path}{head}{collection}\t{rkey}{tail}{cid_str}\t{rev}\t{text}\t"
            f"{null if created is None else created.isoformat()}\n"
        )
        collections.add(collection)
    return "".join(lines), collections


def _snapshot_script(collections: set[str]) -> str:
    """The statements applying a staged snapshot chunk (creates only), as one script with COMMIT."""
    statements = [
        "SET LOCAL enable_hashjoin = off",
        "SET LOCAL enable_mergejoin = off",
        f"SELECT pg_advisory_xact_lock({WRITE_LOCK_KEY})",
        _SELECT_APPLIED,
        # _STATEMENTS_ALWAYS without the two that only act on deletes.
        *_STATEMENTS_ALWAYS[1:4],
    ]
    for collection, table in TYPED_COLLECTIONS.items():
        if collection in collections:
            if table != "users":
                statements.append(_TYPED_DELETE[table])
            statements.append(_TYPED_INSERT[table])
    statements.append("COMMIT")
    return ";\n".join(statements)


def apply_repo_records(
    conn: psycopg.Connection,
    did: str,
    rev: str,
    records: list[tuple[str, Any, Any]],
    service: str,
    *,
    cutoff: Optional[datetime] = None,
) -> ApplyResult:
    """Write one chunk of a fetched repository's records (``(path, cid, record)``) at ``rev``.

    Records made before ``cutoff`` (TID record key, else ``createdAt``) are left out. The same
    ordering guards as :func:`apply_batch` (a record or tombstone with a newer revision is kept), in
    one transaction under the write lock; the cursor does not move. A snapshot is one DID at one
    revision, all creates: its rows go straight to COPY text, without the live batch's objects."""
    from supervisor.atproto import validate

    if not validate.did_ok(did) or not validate.tid_ok(rev):
        return ApplyResult(records=0, users=0)
    text, collections = _snapshot_lines(did, rev, records, cutoff)
    if not text:
        return ApplyResult(records=0, users=0)
    cur = conn.cursor()
    try:
        cur.execute("BEGIN")
        with cur.copy(_COPY_RECORDS) as copy:
            copy.write(text)
        cur.execute(_snapshot_script(collections))
        for _ in range(3):  # the SET LOCALs and the lock, then the count of applied rows
            cur.nextset()
        written = max(cur.rowcount, 0)
        while cur.nextset():
            pass
    except BaseException:
        if not conn.closed and not conn.broken:
            try:
                conn.execute("ROLLBACK")
            except psycopg.Error:
                pass
        raise
    return ApplyResult(records=written, users=0)


def delete_absent_records(conn: psycopg.Connection, did: str, rev: str, present: set[str], service: str) -> int:
    """Delete at ``rev`` the stored records of ``did`` whose path (``collection/rkey``) is not in
    ``present`` (what a fetched repository holds); returns how many were deleted."""
    from supervisor.atproto.frames import Commit, CommitOp

    stored = conn.execute("SELECT collection, rkey FROM record WHERE did = %s", (did,)).fetchall()
    ops = [
        CommitOp("delete", f"{collection}/{rkey}", None)
        for collection, rkey in stored
        if f"{collection}/{rkey}" not in present
    ]
    if not ops:
        return 0
    frame = Commit(seq=1, did=did, rev=rev, time=_snapshot_time(), since=None, ops=ops)
    apply_batch(conn, _frames_batch([frame]), service=service, move_cursor=False)
    return len(ops)


def apply_repo_snapshot(
    conn: psycopg.Connection, did: str, rev: str, records: list[tuple[str, Any, Any]], service: str
) -> ApplyResult:
    """Make the database hold exactly ``records`` (``(path, cid, record)`` of a fetched repository at
    ``rev``) for ``did``: each is written at ``rev``, and stored records it no longer holds are deleted
    at ``rev``. Per-record revisions keep anything newer. The cursor does not move."""
    result = apply_repo_records(conn, did, rev, records, service)
    delete_absent_records(conn, did, rev, {path for path, _cid, _record in records}, service)
    return result


def apply_frames(conn: psycopg.Connection, events: list[Any], service: str) -> ApplyResult:
    """Write decoded events (in seq order) without moving the cursor (events held during a repair)."""
    return apply_batch(conn, _frames_batch(events), service=service, move_cursor=False)
