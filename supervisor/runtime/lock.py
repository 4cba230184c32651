"""A per-project lock, so two ``up``/``down`` runs on one project cannot interleave."""

from __future__ import annotations

import fcntl
import os
import re
import time
from pathlib import Path
from types import TracebackType
from typing import Callable, Optional

from supervisor.runtime.errors import LockBusy

__all__ = ["ProjectLock", "lock_dir"]


def lock_dir() -> Path:
    """``$XDG_RUNTIME_DIR/appview-supervisor``, else ``~/.cache/appview-supervisor/locks``."""
    override = os.environ.get("SUPERVISOR_LOCK_DIR")
    if override:
        return Path(override)
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isdir(runtime):
        return Path(runtime) / "appview-supervisor"
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "appview-supervisor" / "locks"


class ProjectLock:
    """An exclusive ``flock`` on ``<lock dir>/<project>.lock``, released on exit or process death.

    ``timeout`` None waits for ever, 0 fails at once with :class:`LockBusy`; ``on_wait`` is called
    once when the lock is busy, so the caller can say why it is waiting.
    """

    def __init__(
        self,
        project: str,
        *,
        timeout: Optional[float] = None,
        on_wait: Optional[Callable[[str], None]] = None,
        directory: Optional[Path] = None,
    ):
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", project) or "_"
        self.project = project
        self.path = (directory or lock_dir()) / f"{safe}.lock"
        self.timeout = timeout
        self.on_wait = on_wait
        self._fd: Optional[int] = None

    def acquire(self) -> None:
        """Take the lock, waiting as configured."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        told = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                holder = self._holder(fd)
                if deadline is not None and time.monotonic() >= deadline:
                    os.close(fd)
                    raise LockBusy(
                        f"project {self.project} is locked by another supervisor run{holder} ({self.path})"
                    ) from None
                if not told and self.on_wait is not None:
                    self.on_wait(f"waiting for another supervisor run on project {self.project}{holder}")
                    told = True
                time.sleep(0.1)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    @staticmethod
    def _holder(fd: int) -> str:
        try:
            text = os.pread(fd, 32, 0).decode().strip()
        except OSError:
            return ""
        return f" (pid {text})" if text.isdigit() else ""

    def release(self) -> None:
        """Give the lock back (the file stays, so no other run races on creating it)."""
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> "ProjectLock":
        self.acquire()
        return self

    def __exit__(self, exc_type: Optional[type], exc: Optional[BaseException], tb: Optional[TracebackType]) -> None:
        self.release()
