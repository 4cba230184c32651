"""Database liveness for /health: ``SELECT 1`` from a thread of its own, on its own connection.

A query that does not answer within the timeout counts as the database being down, so a hung
server shows in /health and ``worker_database_up`` within seconds, whatever the batch writers are
waiting on.  At most one probe is outstanding: a hung one is not piled upon.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Callable, Optional

import psycopg

__all__ = ["DatabaseProbe"]


class DatabaseProbe:
    """Calls ``on_result(ok)`` after every probe, every ``interval`` seconds, until :meth:`stop`."""

    def __init__(
        self,
        connect: Callable[[], psycopg.Connection],
        on_result: Callable[[bool], None],
        *,
        interval: float = 5.0,
        timeout: float = 5.0,
    ) -> None:
        self._connect = connect
        self._on_result = on_result
        self.interval = interval
        self.timeout = timeout
        self._stop = threading.Event()
        self._conn: Optional[psycopg.Connection] = None
        self._thread: Optional[threading.Thread] = None

    def start(self) -> None:
        """Probe now, then every ``interval`` seconds."""
        self._thread = threading.Thread(target=self._run, name="database-probe", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop probing (a probe still waiting for the server is left to finish on its own)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.timeout + 1)

    def _run(self) -> None:
        pending: Optional[threading.Thread] = None
        while not self._stop.is_set():
            if pending is None or not pending.is_alive():
                answer: list[bool] = []
                pending = threading.Thread(target=self._probe, args=(answer,), name="database-probe-query", daemon=True)
                pending.start()
                pending.join(self.timeout)
                ok = bool(answer and answer[0])
            else:
                ok = False  # the last probe still waits for an answer
            if self._stop.is_set():
                break
            self._on_result(ok)
            self._stop.wait(self.interval)
        conn = self._conn
        if conn is not None and (pending is None or not pending.is_alive()):
            with contextlib.suppress(Exception):
                conn.close()

    def _probe(self, answer: list[bool]) -> None:
        try:
            if self._conn is None or self._conn.closed or self._conn.broken:
                self._conn = self._connect()
            self._conn.execute("SELECT 1").fetchone()
            answer.append(True)
        except psycopg.Error:
            answer.append(False)
            conn, self._conn = self._conn, None
            if conn is not None:
                with contextlib.suppress(Exception):
                    conn.close()
