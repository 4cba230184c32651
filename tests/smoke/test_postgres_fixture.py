"""The PostgreSQL fixture gives a real, isolated database."""

import psycopg


def test_fresh_database_is_empty_and_writable(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        tables = conn.execute(
            "select count(*) from information_schema.tables where table_schema = 'public'"
        ).fetchone()[0]
        assert tables == 0
        conn.execute("create table t (x int)")
        conn.execute("insert into t values (41)")
        assert conn.execute("select x + 1 from t").fetchone()[0] == 42
