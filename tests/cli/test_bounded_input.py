"""Hostile inputs end in bounded time and memory, with exit 2 and a located message (or success).

Each case runs the real command line.  The time limit is a guard against a hang or a
quadratic blow-up (each case takes well under a second when linear), not a speed figure; the
memory figure is the child's own peak resident set, read from ``wait4``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

LIMIT_SECONDS = 10
LIMIT_RSS_MB = 300
CLI = [sys.executable, "-m", "supervisor"]


def _env_yaml(value: str) -> str:
    return f"services:\n  s:\n    image: x\n    environment:\n      A: '{value}'\n"


CASES = {
    # 20 KB of "${": each invalid template was once formatted in full (quadratic)
    "template-openers": ({"compose.yaml": _env_yaml("${" * 10_000)}, ["config", "-q"], 2, "invalid interpolation"),
    # an unterminated default of 100 KB: the URL-password mask once scanned every letter to the end
    "unterminated-default": (
        {"compose.yaml": _env_yaml("${A:-" + "x" * 100_000)},
        ["config", "-q"],
        2,
        "invalid interpolation",
    ),
    "long-value-config": ({"compose.yaml": _env_yaml("x" * 100_000)}, ["config"], 0, ""),
    "long-value-audit": ({"compose.yaml": _env_yaml("x" * 100_000)}, ["audit", "--all-vars"], None, ""),
    "url-like-words": ({"compose.yaml": _env_yaml("a://" * 30_000)}, ["config"], 0, ""),
    # a port range is checked before it is expanded
    "port-range": (
        {"compose.yaml": "services:\n  s:\n    image: x\n    ports: ['1-1000000']\n"},
        ["config", "-q"],
        2,
        "compose.yaml:4:13: invalid containerPort: 1-1000000",
    ),
    # thousands of digits where a program parses a number: modelled, never an internal error
    "huge-number": (
        {
            "compose.yaml": "services:\n  app:\n    build: .\n    command: pm2-runtime start dist/index.js -i 4\n"
            "    x-supervisor: {implementation: publicappview-typescript}\n    environment:\n"
            "      BACKFILL_DAYS: '" + "9" * 5000 + "'\n"
        },
        ["validate"],
        None,
        "",
    ),
    # values that repeat other values grow geometrically: refused, not expanded
    "env-value-bomb": (
        {
            ".env": "A=" + "x" * 100_000 + "\nB=" + "${A}" * 20 + "\nC=" + "${B}" * 20 + "\nD=" + "${C}" * 20 + "\n",
            "compose.yaml": "services:\n  s:\n    image: x\n    environment:\n      D: ${D}\n",
        },
        ["config", "-q"],
        2,
        ".env:3:3: interpolation produces more than 16 MiB",
    ),
}


# A small parent for the command: the child's peak RSS (ru_maxrss) counts the pages of the process
# it was forked from, so measuring from the large test process would count the test process.
_MEASURE = (
    "import resource, subprocess, sys\n"
    "code = subprocess.call(sys.argv[2:])\n"
    "open(sys.argv[1], 'w').write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))\n"
    "sys.exit(code if code >= 0 else 128 - code)\n"
)


def _run(args: list[str], cwd: Path) -> tuple[int, str, float]:
    """Run the command; its exit code, stderr and its own peak RSS in MB."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMPOSE_")}
    rss_file = cwd / "rss.txt"
    with open(cwd / "out.txt", "wb") as out, open(cwd / "err.txt", "wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-c", _MEASURE, str(rss_file), *CLI, *args],
            cwd=cwd,
            stdout=out,
            stderr=err,
            env=env,
            start_new_session=True,
        )
    try:
        code = proc.wait(LIMIT_SECONDS)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise AssertionError(f"supervisor {' '.join(args)} did not finish within {LIMIT_SECONDS} s") from None
    return code, (cwd / "err.txt").read_text(errors="replace"), int(rss_file.read_text()) / 1024


@pytest.mark.parametrize("name", sorted(CASES))
def test_hostile_input_is_bounded(name: str, tmp_path: Path) -> None:
    files, args, code, message = CASES[name]
    for rel, text in files.items():
        (tmp_path / rel).write_text(text)
    rc, err, peak_mb = _run(args, tmp_path)
    if code is not None:
        assert rc == code, err[-2000:]
    else:
        assert rc in (0, 1), err[-2000:]
    assert "Traceback" not in err and "unexpected" not in err, err[-2000:]
    assert message in err, err[-2000:]
    assert peak_mb < LIMIT_RSS_MB, f"peak resident set {peak_mb:.0f} MB"
