"""Run the real command line in a subprocess, as a user would."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional

CLI = [sys.executable, "-m", "supervisor"]
# No Docker Engine answers here: runtime commands must say so, never hang or crash.
NO_ENGINE = {"DOCKER_HOST": "unix:///nonexistent/docker.sock"}


def run(
    *args: str, cwd: Path, env: Optional[dict[str, str]] = None, timeout: float = 60, stdin: Optional[bytes] = None
) -> subprocess.CompletedProcess:
    """Run ``supervisor ARGS`` in ``cwd``; text output, never raises on a non-zero exit."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("COMPOSE_", "SUPERVISOR_DEBUG"))}
    environ.update(env or {})
    return subprocess.run(
        [*CLI, *args], cwd=cwd, env=environ, capture_output=True, timeout=timeout, input=stdin, text=stdin is None
    )


def interrupt_once_reading(path: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    """Start ``supervisor ARGS``, send SIGINT (Ctrl-C) once it has ``path`` open, collect the result.

    Waiting for the open file (not a fixed delay) means the signal reaches the command's own loop,
    however slowly the interpreter starts on a busy machine.
    """
    proc = subprocess.Popen(
        [*CLI, *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    target = os.path.realpath(path)
    deadline = time.monotonic() + 60
    while proc.poll() is None and not _has_open(proc.pid, target):
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"supervisor {' '.join(args)} did not open {path} within 60 s")
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def _has_open(pid: int, target: str) -> bool:
    fd_dir = f"/proc/{pid}/fd"
    try:
        names = os.listdir(fd_dir)
    except OSError:
        return False
    for name in names:
        try:
            if os.readlink(os.path.join(fd_dir, name)) == target:
                return True
        except OSError:
            continue
    return False
