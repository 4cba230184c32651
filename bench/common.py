"""Small shared helpers for the benchmarks: whole-process timings, peak memory, a table, and the
start-up of a devrelay and a worker against a seeded cursor row.

Each run is a fresh child process; its wall time is measured around spawn-to-exit and its
peak memory (max RSS) is read from the kernel's resource usage of that very child
(``os.wait4``), so no ``/usr/bin/time`` is needed.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Optional, Sequence

if TYPE_CHECKING:
    import psycopg

__all__ = [
    "Run",
    "Measurement",
    "run_once",
    "measure",
    "format_table",
    "print_table",
    "ROOT",
    "WORKER",
    "start_devrelay",
    "seed_live_cursor",
    "start_worker",
    "wait_for_cursor",
    "start_profiler",
]

ROOT = Path(__file__).resolve().parents[1]
#: The worker's command line (the CLI entry point, as the image runs it).
WORKER = [sys.executable, "-c", "import supervisor.cli.worker; from supervisor.cli import main; main()", "worker"]


@dataclasses.dataclass(frozen=True)
class Run:
    """One child process: wall time in seconds, peak RSS in KiB, exit code, stderr text."""

    seconds: float
    max_rss_kib: int
    returncode: int
    stderr: str


@dataclasses.dataclass
class Measurement:
    """Repeated runs of one command."""

    label: str
    argv: list[str]
    runs: list[Run]

    @property
    def median_seconds(self) -> float:
        return statistics.median(r.seconds for r in self.runs)

    @property
    def min_seconds(self) -> float:
        return min(r.seconds for r in self.runs)

    @property
    def max_rss_mib(self) -> float:
        return max(r.max_rss_kib for r in self.runs) / 1024

    @property
    def returncode(self) -> int:
        """The first non-zero exit code of any run, else 0."""
        return next((r.returncode for r in self.runs if r.returncode), 0)

    @property
    def error(self) -> str:
        return next((r.stderr.strip() for r in self.runs if r.returncode), "")


def run_once(argv: Sequence[str], *, cwd: Optional[str] = None, env: Optional[Mapping[str, str]] = None) -> Run:
    """Run ``argv`` to completion; stdout is discarded, stderr kept for error reports."""
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=None if env is None else dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
        # wait4 rather than proc.wait(): it also returns this child's own resource usage.
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        stderr = err.read().decode("utf-8", "replace")
    # Linux reports ru_maxrss in KiB.
    return Run(elapsed, int(usage.ru_maxrss), proc.returncode, stderr)


def measure(
    label: str,
    argv: Sequence[str],
    *,
    runs: int = 10,
    warmup: int = 1,
    cwd: Optional[str] = None,
    env: Optional[Mapping[str, str]] = None,
) -> Measurement:
    """``warmup`` discarded runs, then ``runs`` measured ones."""
    for _ in range(warmup):
        run_once(argv, cwd=cwd, env=env)
    return Measurement(label, list(argv), [run_once(argv, cwd=cwd, env=env) for _ in range(runs)])


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain-text table; columns after the first two are right-aligned (numbers)."""
    widths = [max(len(str(row[i])) for row in [headers, *rows]) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        cells = [str(c).ljust(w) if i < 2 else str(c).rjust(w) for i, (c, w) in enumerate(zip(row, widths))]
        return "  ".join(cells).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), rule, *(line(r) for r in rows)])


def print_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Print :func:`format_table`."""
    print(format_table(headers, rows))


def start_devrelay(accounts: int, events: int, *, unsigned: bool = False) -> tuple[subprocess.Popen[str], str]:
    """A devrelay serving a synthetic history (seed 1, two days) on a free port, and its ws:// URL."""
    relay = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "supervisor",
            "devrelay",
            "--port",
            "0",
            "--seed",
            "1",
            "--accounts",
            str(accounts),
            "--events",
            str(events),
            "--days",
            "2",
            *(["--unsigned"] if unsigned else []),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert relay.stdout is not None
    match = re.search(r"listening on (ws://\S+)", relay.stdout.readline())
    if match is None:
        relay.terminate()
        raise RuntimeError("the devrelay did not start")
    return relay, match.group(1)


def seed_live_cursor(dsn: str) -> None:
    """A ``firehose_cursor`` row at 0, so that the worker reads the relay's whole history live."""
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE firehose_cursor (id serial PRIMARY KEY, service varchar(255) NOT NULL UNIQUE, "
            "cursor text, last_event_time timestamp, updated_at timestamp NOT NULL DEFAULT now())"
        )
        conn.execute("INSERT INTO firehose_cursor (service, cursor) VALUES ('firehose', '0')")


def start_worker(dsn: str, relay_url: str, log_path: Path, env: Mapping[str, str]) -> subprocess.Popen[bytes]:
    """The worker (no backfill, health on a free port, ``env`` on top), logging to ``log_path``;
    returned once it has connected to the relay."""
    full = {
        **os.environ,
        "DATABASE_URL": dsn,
        "RELAY_URL": relay_url,
        "HEALTH_PORT": "0",
        "HEALTH_HOST": "127.0.0.1",
        "BACKFILL_DAYS": "0",
        **env,
    }
    with open(log_path, "w") as log:
        worker = subprocess.Popen(WORKER, cwd=ROOT, env=full, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while "connected to" not in log_path.read_text():
        if time.monotonic() > deadline or worker.poll() is not None:
            worker.terminate()
            raise RuntimeError("worker did not connect:\n" + log_path.read_text())
        time.sleep(0.01)
    return worker


def wait_for_cursor(conn: "psycopg.Connection", events: int, started: float, limit: float) -> None:
    """Wait (on the open connection ``conn``) until the live cursor row reaches ``events``; at most
    ``limit`` seconds after ``started`` (a ``time.perf_counter()`` value)."""
    while True:
        row = conn.execute("SELECT cursor FROM firehose_cursor WHERE service = 'firehose'").fetchone()
        cursor = None if row is None else row[0]
        if cursor == str(events):
            return
        if time.perf_counter() - started > limit:
            raise RuntimeError(f"worker stuck at cursor {cursor}")
        time.sleep(0.02)


def start_profiler(pid: int, output: str) -> subprocess.Popen:
    """py-spy sampling the worker into ``output`` (collapsed stacks: one line per stack, with a count)."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    return subprocess.Popen(
        [spy, "record", "--pid", str(pid), "--rate", "250", "--format", "raw", "--nonblocking", "--output", output],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
