"""Real processes for the worker tests: a devrelay subprocess, worker subprocesses, and database reads."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable, Optional

import psycopg

REPO = Path(__file__).resolve().parents[2]
WORKER_ARGV = [sys.executable, "-c", "import supervisor.cli.worker; from supervisor.cli import main; main()", "worker"]


def wait_until(predicate: Callable[[], Any], timeout: float, interval: float = 0.2, what: str = "condition") -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


class Relay:
    """A ``supervisor devrelay`` subprocess; ``final_seq`` is the seq of its last event (history + live)."""

    def __init__(self, workdir: Path, *args: str) -> None:
        self.truth = workdir / "truth.jsonl"
        self.truth_accounts = workdir / "accounts.jsonl"
        self.stderr_path = workdir / "relay.err"
        argv = [
            sys.executable,
            "-m",
            "supervisor",
            "devrelay",
            "--port",
            "0",
            "--truth",
            str(self.truth),
            "--truth-accounts",
            str(self.truth_accounts),
            *args,
        ]
        self._stderr = open(self.stderr_path, "w")
        self.proc = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.PIPE, stderr=self._stderr, text=True)
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        match = re.search(r"listening on (ws://\S+)", line)
        if not match:
            self.stop()
            raise RuntimeError(f"devrelay did not start: {line!r} {self.stderr_path.read_text()}")
        self.url = match.group(1)
        summary = self.stderr_path.read_text()
        found = re.search(r"(\d+) events sequenced \(latest seq (\d+)\).*?(\d+) live to come", summary)
        assert found, summary
        self.history = int(found.group(2))
        self.live = int(found.group(3))
        self.final_seq = self.history + self.live

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text()

    @property
    def port(self) -> int:
        return int(re.search(r":(\d+)", self.url.split("//", 1)[1]).group(1))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._stderr.close()


class WorkerProcess:
    """A ``supervisor worker`` subprocess with its log in a file."""

    def __init__(self, env: dict[str, str], log_path: Path, *args: str) -> None:
        self.log_path = log_path
        full = {k: v for k, v in os.environ.items() if not k.startswith(("BACKFILL_", "FIREHOSE_", "WORKER_"))}
        # The replay backfill unless a test asks for the crawl (BACKFILL_MODE=auto crawls past 72 h).
        full.update(
            {"HEALTH_PORT": "0", "HEALTH_HOST": "127.0.0.1", "PYTHONUNBUFFERED": "1", "BACKFILL_MODE": "replay"}
        )
        full.update(env)
        self._log = open(log_path, "a")
        self.proc = subprocess.Popen(
            [*WORKER_ARGV, *args], cwd=REPO, env=full, stdout=self._log, stderr=subprocess.STDOUT
        )

    @property
    def log(self) -> str:
        return self.log_path.read_text()

    def health_url(self, timeout: float = 20) -> str:
        found = wait_until(
            lambda: re.findall(r"listening on (http://\S+/health)", self.log), timeout, what="the health server"
        )
        return found[-1]

    def wait_ready(self, timeout: float = 30) -> None:
        """Wait until the worker has installed its SIGTERM/SIGINT handlers (or has exited).

        The health server's "listening" line is logged after the handlers are in place; a stop
        request sent before it would kill the interpreter instead of asking the worker to stop.
        """
        wait_until(
            lambda: self.proc.poll() is not None or "health: listening on" in self.log,
            timeout,
            interval=0.05,
            what="the worker to install its signal handlers",
        )

    def signal(self, signum: int) -> None:
        """Send ``signum``; a graceful stop (SIGTERM, SIGINT) waits until the worker can handle it."""
        if signum in (signal.SIGTERM, signal.SIGINT):
            self.wait_ready()
        if self.proc.poll() is None:
            self.proc.send_signal(signum)

    def wait(self, timeout: float = 30) -> int:
        try:
            return self.proc.wait(timeout)
        finally:
            if self.proc.poll() is not None:
                self._log.close()

    def stop(self) -> Optional[int]:
        if self.proc.poll() is None:
            with contextlib.suppress(AssertionError):
                self.wait_ready()
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.proc.returncode


class PausableProxy:
    """A TCP proxy on loopback whose relay-to-worker direction can be paused.

    While paused it reads nothing from the relay.  Its upstream socket has a small fixed receive
    buffer (set before connecting, which turns the kernel's autotuning off), so together with a
    relay started with ``--send-buffer`` only a few kilobytes can be in flight: the relay's own
    backlog then grows whatever the machine's TCP buffer settings are.
    """

    def __init__(self, upstream_port: int, buffer_bytes: int = 8192) -> None:
        self._upstream_port = upstream_port
        self._buffer = buffer_bytes
        self._loop = asyncio.new_event_loop()
        self._flowing: Optional[asyncio.Event] = None
        self._server: Optional[asyncio.base_events.Server] = None
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(ready,), daemon=True)
        self._thread.start()
        ready.wait(10)
        assert self._server is not None, "the proxy did not start"
        self.port = self._server.sockets[0].getsockname()[1]

    def _run(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self._loop)

        async def start() -> None:
            self._flowing = asyncio.Event()
            self._flowing.set()
            self._server = await asyncio.start_server(self._client, "127.0.0.1", 0, limit=self._buffer)
            ready.set()

        self._loop.run_until_complete(start())
        self._loop.run_forever()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self._buffer)
        sock.setblocking(False)
        try:
            await self._loop.sock_connect(sock, ("127.0.0.1", self._upstream_port))
            up_reader, up_writer = await asyncio.open_connection(sock=sock, limit=self._buffer)
        except OSError:
            sock.close()
            writer.close()
            return
        await asyncio.gather(
            self._pipe(reader, up_writer, paused=False),
            self._pipe(up_reader, writer, paused=True),
            return_exceptions=True,
        )

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, paused: bool) -> None:
        assert self._flowing is not None
        try:
            while True:
                if paused:
                    await self._flowing.wait()
                data = await reader.read(self._buffer)
                if not data:
                    break
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        finally:
            writer.close()

    def url_for(self, relay_url: str) -> str:
        """``relay_url`` with its port replaced by the proxy's."""
        return re.sub(r":\d+(?=/|$)", f":{self.port}", relay_url, count=1)

    def pause(self) -> None:
        assert self._flowing is not None
        self._loop.call_soon_threadsafe(self._flowing.clear)

    def resume(self) -> None:
        assert self._flowing is not None
        self._loop.call_soon_threadsafe(self._flowing.set)

    def close(self) -> None:
        def shutdown() -> None:
            if self._server is not None:
                self._server.close()
            self._loop.stop()

        self._loop.call_soon_threadsafe(shutdown)
        self._thread.join(10)


def read_truth(path: Path) -> dict[str, tuple[str, Any]]:
    """uri -> (cid, record JSON) from a devrelay truth file."""
    out = {}
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            out[row["uri"]] = (row["cid"], row["record"])
    return out


def read_records(dsn: str) -> dict[str, tuple[str, Any]]:
    """uri -> (cid, json) from the worker's ``record`` table."""
    with psycopg.connect(dsn) as conn:
        return {uri: (cid, doc) for uri, cid, doc in conn.execute("SELECT uri, cid, json FROM record")}


def cursor_of(dsn: str, service: str) -> Optional[str]:
    """The ``firehose_cursor.cursor`` of ``service`` (None when absent or the table is missing)."""
    try:
        with psycopg.connect(dsn) as conn:
            row = conn.execute("SELECT cursor FROM firehose_cursor WHERE service = %s", (service,)).fetchone()
    except psycopg.errors.UndefinedTable:
        return None
    return row[0] if row else None


def query(dsn: str, sql: str, params: tuple = ()) -> list[tuple]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(sql, params).fetchall()


def seed_cursor(dsn: str, service: str, cursor: str) -> None:
    """Create ``firehose_cursor`` (the shape other programs use) with one row, before the worker runs."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS firehose_cursor (id serial PRIMARY KEY, service varchar(255) NOT NULL "
            "UNIQUE, cursor text, last_event_time timestamp, updated_at timestamp NOT NULL DEFAULT now())"
        )
        conn.execute("INSERT INTO firehose_cursor (service, cursor) VALUES (%s, %s)", (service, cursor))


def diff_records(want: dict, got: dict) -> str:
    """A short description of how two record sets differ ('' when equal)."""
    missing = sorted(set(want) - set(got))
    extra = sorted(set(got) - set(want))
    changed = sorted(uri for uri in set(want) & set(got) if want[uri] != got[uri])
    if not (missing or extra or changed):
        return ""
    return (
        f"{len(missing)} missing (e.g. {missing[:2]}), {len(extra)} extra (e.g. {extra[:2]}), "
        f"{len(changed)} different (e.g. {changed[:2]})"
    )


def new_workdir() -> Path:
    return Path(tempfile.mkdtemp(prefix="worker-test-"))
