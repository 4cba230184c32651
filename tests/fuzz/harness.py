"""Run the command line in this process, many times, with a hang guard per run.

The fuzz suites (``suite_*.py``) run inside a child process started by ``test_fuzz.py``, which
reads that child's peak resident set: running every case in one process keeps a few hundred cases
within minutes, and the peak covers the largest case.  Each run of a command is stopped by
``SIGALRM`` after :data:`HANG_SECONDS` (a guard against a hang or a quadratic blow-up, not a speed
figure: a linear run takes milliseconds).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import signal
from pathlib import Path
from typing import Iterator, Mapping, Optional, Sequence

from click.testing import CliRunner

from supervisor.cli import main
from supervisor.files import FIFO_WAIT_SECONDS

#: Seconds one command may run.  A FIFO without a writer is refused after FIFO_WAIT_SECONDS by
#: design, so the guard leaves room for that wait.
HANG_SECONDS = FIFO_WAIT_SECONDS + 5

#: The value every generated secret takes: it must never appear in any output.
SECRET = "Zq7sekritVal"

#: Exit codes each command documents (1: findings, or malformed frames for ``firehose decode``).
ALLOWED_CODES = {
    "config": {0, 2},
    "validate": {0, 1, 2},
    "audit": {0, 2},
    "explain": {0, 2},
    "firehose": {0, 1, 2},
    "repo": {0, 2},
}

#: Every output format of the commands that read a project.
PROJECT_COMMANDS: tuple[tuple[str, ...], ...] = (
    ("config",),
    ("config", "--format", "json"),
    ("config", "-q"),
    ("config", "--services"),
    ("config", "--provenance"),
    ("validate",),
    ("validate", "--format", "json"),
    ("validate", "--format", "sarif"),
    ("validate", "--format", "github"),
    ("audit",),
    ("audit", "--all-vars"),
    ("audit", "--format", "json"),
    ("audit", "--format", "csv"),
    ("audit", "--format", "markdown"),
)


# what the command line's last line of defence prints for an exception it did not expect
_INTERNAL = re.compile(r"unexpected [A-Za-z.]*(Error|Exception|Interrupt|Exit)\b")


class Hang(Exception):
    """A command ran past the hang guard."""


@dataclasses.dataclass
class Outcome:
    args: tuple[str, ...]
    code: int
    stdout: str
    stderr: str

    @property
    def text(self) -> str:
        return self.stdout + self.stderr


def _alarm(signum: int, frame: object) -> None:
    raise Hang()


@contextlib.contextmanager
def _guard(seconds: float) -> Iterator[None]:
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


_RUNNER = CliRunner()
_BASE_ENV = {
    "SUPERVISOR_NO_CACHE": "1",
    "SUPERVISOR_DEBUG": None,
    "COMPOSE_FILE": None,
    "COMPOSE_PROJECT_NAME": None,
    "COMPOSE_PROFILES": None,
    "COMPOSE_ENV_FILES": None,
}


def run_cli(args: Sequence[str], cwd: Path, env: Optional[Mapping[str, str]] = None) -> Outcome:
    """``supervisor ARGS`` in ``cwd``; fails on a hang, an internal error or an undocumented code."""
    environ: dict[str, Optional[str]] = dict(_BASE_ENV)
    environ.update(env or {})
    old = os.getcwd()
    os.chdir(cwd)
    try:
        with _guard(HANG_SECONDS):
            result = _RUNNER.invoke(main, list(args), env=environ, catch_exceptions=True)
    except Hang:
        raise AssertionError(f"supervisor {' '.join(args)} did not finish within {HANG_SECONDS} s") from None
    finally:
        os.chdir(old)
    if isinstance(result.exception, Hang):
        raise AssertionError(f"supervisor {' '.join(args)} did not finish within {HANG_SECONDS} s")
    outcome = Outcome(tuple(args), result.exit_code, result.stdout, result.stderr)
    where = f"supervisor {' '.join(args)} exited {outcome.code}:\n{outcome.text[-3000:]}"
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"internal error {result.exception!r}; {where}") from result.exception
    assert "Traceback" not in outcome.text and not _INTERNAL.search(outcome.text), where
    command = next(arg for arg in args if arg in ALLOWED_CODES)
    assert outcome.code in ALLOWED_CODES[command], where
    return outcome


#: how every exit-2 message of a project command starts: the file, line and column it is about
LOCATED = re.compile(r"^(error: )?(\S[^:\n]*):(\d+):(\d+): ")


def assert_located(outcome: Outcome) -> None:
    if outcome.code == 2:
        assert LOCATED.match(outcome.stderr), f"no file:line:col in: {outcome.stderr[:2000]}"


def assert_no_secret(outcomes: Sequence[Outcome], secret: str = SECRET) -> None:
    for outcome in outcomes:
        assert secret not in outcome.text, (
            f"supervisor {' '.join(outcome.args)} printed the secret:\n{outcome.text[-3000:]}"
        )


def run_project(cwd: Path, explain: Sequence[str] = ()) -> list[Outcome]:
    """Every project command in every format, plus ``explain SERVICE [VARIABLE]`` for each given service."""
    outcomes = [run_cli(args, cwd) for args in PROJECT_COMMANDS]
    for service in explain:
        outcomes.append(run_cli(("explain", service), cwd))
        outcomes.append(run_cli(("explain", service, "--format", "json"), cwd))
        outcomes.append(run_cli(("explain", service, "OTHER"), cwd))
    return outcomes
