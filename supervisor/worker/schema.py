"""Versioned, idempotent database migrations.

Each migration runs once, in order, inside one transaction with its row in
``worker_schema_migrations``.  A session-level advisory lock makes concurrent starts of several
workers safe: the first migrates, the others wait and then find nothing to do.

``firehose_cursor`` keeps the exact shape other programs read (``id serial primary key,
service varchar(255) not null unique, cursor text, last_event_time timestamp,
updated_at timestamp not null default now()``); ``CREATE TABLE IF NOT EXISTS`` leaves an existing
table (made by another program) as it is.
"""

from __future__ import annotations

from typing import Any

from supervisor.worker.errors import MigrationError

__all__ = ["MIGRATIONS", "MIGRATION_LOCK_KEY", "WRITE_LOCK_KEY", "TYPED_COLLECTIONS", "migrate", "schema_version"]

#: Advisory lock keys (arbitrary constants; 0x6170707669 = "appvi").
MIGRATION_LOCK_KEY = 0x6170707669_01
WRITE_LOCK_KEY = 0x6170707669_02

#: The collections with a typed table, and that table.
TYPED_COLLECTIONS: dict[str, str] = {
    "app.bsky.feed.post": "post",
    "app.bsky.feed.like": "like",
    "app.bsky.feed.repost": "repost",
    "app.bsky.graph.follow": "follow",
    "app.bsky.graph.block": "block",
    "app.bsky.actor.profile": "users",
}

_V1 = """
CREATE TABLE IF NOT EXISTS firehose_cursor (
    id serial PRIMARY KEY,
    service varchar(255) NOT NULL UNIQUE,
    cursor text,
    last_event_time timestamp,
    updated_at timestamp NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS record (
    uri text PRIMARY KEY,
    cid text NOT NULL,
    did text NOT NULL,
    collection text NOT NULL,
    rkey text NOT NULL,
    json jsonb NOT NULL,
    rev text COLLATE "C" NOT NULL,
    created_at timestamptz,
    indexed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS record_did_collection_idx ON record (did, collection);

-- A delete leaves a tombstone so that a replay of an older create (backfill) cannot bring the
-- record back.  Tombstones older than the relay's replay window are pruned.
CREATE TABLE IF NOT EXISTS record_tombstone (
    uri text PRIMARY KEY,
    did text NOT NULL,
    rev text COLLATE "C" NOT NULL,
    deleted_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS record_tombstone_deleted_at_idx ON record_tombstone (deleted_at);

CREATE TABLE IF NOT EXISTS post (
    uri text PRIMARY KEY,
    cid text NOT NULL,
    did text NOT NULL,
    rkey text NOT NULL,
    text text,
    langs text[],
    reply_parent text,
    reply_root text,
    embed jsonb,
    created_at timestamptz,
    indexed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS post_did_created_idx ON post (did, created_at);
CREATE INDEX IF NOT EXISTS post_reply_root_idx ON post (reply_root) WHERE reply_root IS NOT NULL;

CREATE TABLE IF NOT EXISTS "like" (
    uri text PRIMARY KEY,
    cid text NOT NULL,
    did text NOT NULL,
    rkey text NOT NULL,
    subject_uri text,
    subject_cid text,
    created_at timestamptz,
    indexed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS like_subject_idx ON "like" (subject_uri);

CREATE TABLE IF NOT EXISTS repost (
    uri text PRIMARY KEY,
    cid text NOT NULL,
    did text NOT NULL,
    rkey text NOT NULL,
    subject_uri text,
    subject_cid text,
    created_at timestamptz,
    indexed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS repost_subject_idx ON repost (subject_uri);

CREATE TABLE IF NOT EXISTS follow (
    uri text PRIMARY KEY,
    cid text NOT NULL,
    did text NOT NULL,
    rkey text NOT NULL,
    subject_did text,
    created_at timestamptz,
    indexed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS follow_subject_idx ON follow (subject_did);
CREATE INDEX IF NOT EXISTS follow_did_idx ON follow (did);

CREATE TABLE IF NOT EXISTS block (
    uri text PRIMARY KEY,
    cid text NOT NULL,
    did text NOT NULL,
    rkey text NOT NULL,
    subject_did text,
    created_at timestamptz,
    indexed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS block_subject_idx ON block (subject_did);

-- One row per account: identity and account events, and the profile record (rkey "self").
CREATE TABLE IF NOT EXISTS users (
    did text PRIMARY KEY,
    handle text,
    active boolean,
    status text,
    display_name text,
    description text,
    avatar_cid text,
    banner_cid text,
    profile_cid text,
    profile_created_at timestamptz,
    identity_time timestamptz,
    account_time timestamptz,
    indexed_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS users_handle_idx ON users (handle);

-- The backfill's own bookkeeping (the cursor itself stays in firehose_cursor as a plain seq).
CREATE TABLE IF NOT EXISTS backfill_state (
    service varchar(255) PRIMARY KEY,
    days integer NOT NULL,
    end_seq bigint,
    start_seq bigint,
    cutoff timestamptz,
    started_at timestamptz NOT NULL DEFAULT now(),
    completed_at timestamptz,
    events bigint NOT NULL DEFAULT 0,
    records bigint NOT NULL DEFAULT 0,
    note text
);
"""

# What a backfill could not replay: events the relay no longer kept when it asked (OutdatedCursor).
_V2 = """
ALTER TABLE backfill_state ADD COLUMN IF NOT EXISTS missed_events bigint NOT NULL DEFAULT 0;
ALTER TABLE backfill_state ADD COLUMN IF NOT EXISTS missed_from bigint;
ALTER TABLE backfill_state ADD COLUMN IF NOT EXISTS missed_to bigint;
"""

# Repositories whose chain broke: fetched again with getRepo, then caught up (see worker/verifier.py).
_V3 = """
CREATE TABLE IF NOT EXISTS repo_sync (
    did text PRIMARY KEY,
    state text NOT NULL,
    reason text,
    rev text COLLATE "C",
    attempts integer NOT NULL DEFAULT 0,
    last_error text,
    desynchronized_at timestamptz,
    repaired_at timestamptz,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS repo_sync_state_idx ON repo_sync (state);
"""

# The crawl backfill (worker/crawl.py): one row per crawl (its window and enumeration cursor), one
# per repository (what became of it). A repository is done for a crawl when its cutoff is not
# later than the crawl's.
_V4 = """
CREATE TABLE IF NOT EXISTS backfill_crawl (
    service varchar(255) PRIMARY KEY,
    days integer NOT NULL,
    cutoff timestamptz,
    until timestamptz,
    source text NOT NULL,
    list_cursor text,
    listed boolean NOT NULL DEFAULT false,
    repos bigint NOT NULL DEFAULT 0,
    records bigint NOT NULL DEFAULT 0,
    started_at timestamptz NOT NULL DEFAULT now(),
    completed_at timestamptz,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS backfill_repo (
    did text PRIMARY KEY,
    pds text,
    state text NOT NULL,
    rev text COLLATE "C",
    records bigint NOT NULL DEFAULT 0,
    attempts integer NOT NULL DEFAULT 0,
    last_error text,
    cutoff timestamptz,
    started_at timestamptz,
    finished_at timestamptz,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS backfill_repo_state_idx ON backfill_repo (state);
"""

# The last verified state of each repository (worker/verifier.py): its revision and MST root, written
# in the transaction of the batch that applied the commit, so that a restart checks the next commit's
# ``since`` and ``prevData`` against it.
_V5 = """
CREATE TABLE IF NOT EXISTS repo_head (
    did text PRIMARY KEY,
    rev text COLLATE "C" NOT NULL,
    data text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
"""

#: (version, description, SQL).  Append only: never edit a released migration.
MIGRATIONS: tuple[tuple[int, str, str], ...] = (
    (1, "cursor, record, tombstone, typed tables, users, backfill state", _V1),
    (2, "backfill state: events missed (OutdatedCursor)", _V2),
    (3, "repo_sync: repositories being fetched again after a broken chain", _V3),
    (4, "backfill_crawl, backfill_repo: the crawl backfill's progress per repository", _V4),
    (5, "repo_head: each repository's last verified revision and MST root", _V5),
)


def _ensure_table(conn: Any) -> None:
    conn.execute(
        "CREATE TABLE IF NOT EXISTS worker_schema_migrations ("
        " version integer PRIMARY KEY, description text NOT NULL,"
        " applied_at timestamptz NOT NULL DEFAULT now())"
    )


def schema_version(conn: Any) -> int:
    """The highest applied migration (0 when none)."""
    row = conn.execute("SELECT coalesce(max(version), 0) FROM worker_schema_migrations").fetchone()
    return int(row[0])


def migrate(conn: Any) -> list[int]:
    """Apply the missing migrations on an autocommit psycopg connection; return their versions."""
    import psycopg

    applied: list[int] = []
    try:
        conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_KEY,))
        try:
            with conn.transaction():
                _ensure_table(conn)
            current = schema_version(conn)
            for version, description, sql in MIGRATIONS:
                if version <= current:
                    continue
                with conn.transaction():
                    conn.execute(sql)
                    conn.execute(
                        "INSERT INTO worker_schema_migrations (version, description) VALUES (%s, %s)",
                        (version, description),
                    )
                applied.append(version)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_KEY,))
    except psycopg.Error as exc:
        raise MigrationError(f"database migration failed: {str(exc).strip().splitlines()[0]}") from exc
    return applied
