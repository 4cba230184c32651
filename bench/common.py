"""Small shared helpers for the benchmarks: whole-process timings, peak memory, a table.

Each run is a fresh child process; its wall time is measured around spawn-to-exit and its
peak memory (max RSS) is read from the kernel's resource usage of that very child
(``os.wait4``), so no ``/usr/bin/time`` is needed.
"""

from __future__ import annotations

import dataclasses
import os
import statistics
import subprocess
import tempfile
import time
from typing import Mapping, Optional, Sequence

__all__ = ["Run", "Measurement", "run_once", "measure", "format_table", "print_table"]


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
