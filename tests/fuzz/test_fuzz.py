"""The fuzz suites, each run in a child process whose peak memory is measured.

``suite_compose.py`` (generated projects), ``suite_decoders.py`` (mutated frames and CARs) and
``suite_corpus.py`` (hand-picked hostile inputs) run every case through the real command line in
one child process, with a hang guard per command (``harness.HANG_SECONDS``).  This test fails when
a suite fails, or when the child's peak resident set reaches :data:`LIMIT_RSS_MB`: the largest case
bounds it.  The suites are derandomised under ``CI=true`` (see ``settings.py``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

LIMIT_RSS_MB = 300
# the whole suite, not one case: a hang inside one case is stopped by the suite's own guard first
SUITE_TIMEOUT = 1200
ROOT = Path(__file__).resolve().parents[2]

# A small parent for the suite: the child's peak RSS (ru_maxrss) counts the pages of the process it
# was forked from, so measuring from the large test process would count the test process.
_MEASURE = (
    "import resource, subprocess, sys\n"
    "code = subprocess.call(sys.argv[2:])\n"
    "open(sys.argv[1], 'w').write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))\n"
    "sys.exit(code if code >= 0 else 128 - code)\n"
)


@pytest.mark.parametrize("suite", ["suite_compose.py", "suite_decoders.py", "suite_corpus.py"])
def test_suite(suite: str, tmp_path: Path) -> None:
    rss_file = tmp_path / "rss.txt"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COMPOSE_", "PYTEST_"))}
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            _MEASURE,
            str(rss_file),
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-x",
            "-p",
            "no:cacheprovider",
            "--basetemp",
            str(tmp_path / "base"),
            f"tests/fuzz/{suite}",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=SUITE_TIMEOUT,
    )
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    peak_mb = int(rss_file.read_text()) / 1024
    assert peak_mb < LIMIT_RSS_MB, f"{suite}: peak resident set {peak_mb:.0f} MB"
