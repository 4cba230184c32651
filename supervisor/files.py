"""Reading input files with bounds: never a device, never past a stated size, never a hang.

Every file the tool reads on a user's word (compose files, ``.env`` and ``env_file`` files,
Dockerfiles and scripts of a build context, CAR files, captures) goes through :func:`open_input`
or :func:`read_input`:

- a character or block device (``/dev/zero``, ``/dev/urandom``), a socket or a directory is
  refused at once, before anything is read;
- a FIFO or pipe (``-f <(generate)``) is read, but it is never waited on forever: when no
  program writes to it within :data:`FIFO_WAIT_SECONDS` it is refused;
- :func:`read_input` reads at most ``limit`` bytes and refuses a larger file without reading the
  rest (a regular file by its size, a pipe after ``limit + 1`` bytes).

Refusals are :class:`InputRefused`, an :class:`OSError` whose ``strerror`` is the reason, so a
caller that reports ``exc.strerror`` for unreadable files reports these too.
"""

from __future__ import annotations

import errno
import os
import select
import stat
from typing import BinaryIO, Optional

__all__ = [
    "FIFO_WAIT_SECONDS",
    "InputRefused",
    "InputTooLarge",
    "open_input",
    "read_input",
    "describe_size",
    "stat_failure",
]

#: How long a FIFO may stay without data (or without any writer) before it is refused.
FIFO_WAIT_SECONDS = 10.0


class InputRefused(OSError):
    """A path that is not a file we read (a device, a socket, a directory)."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(errno.EINVAL, reason, path)


class InputTooLarge(InputRefused):
    """A file larger than the limit of what it is read for."""

    def __init__(self, path: str, limit: int) -> None:
        super().__init__(path, f"file is larger than {describe_size(limit)}; refusing to read it")
        self.limit = limit


def stat_failure(path: str) -> Optional[str]:
    """Why ``path`` cannot be reached, or None when it exists.

    A folder without search permission hides what it holds: that is said as such, not as "no such
    file or directory" (which ``os.path.exists`` would suggest).
    """
    try:
        os.stat(path)
    except FileNotFoundError:
        return "no such file or directory"
    except PermissionError:
        return (
            "permission denied (a folder on the path cannot be searched by this user: "
            "give it the x permission, or run as a user who can read it)"
        )
    except OSError as exc:
        return (exc.strerror or str(exc)).lower()
    return None


def file_failure(path: str) -> Optional[str]:
    """Why ``path`` cannot be read as a file (as :func:`stat_failure`, and a folder is no file), or None."""
    failure = stat_failure(path)
    if failure is None and os.path.isdir(path):
        return "is a directory, not a file"
    return failure


def describe_size(size: int) -> str:
    """``10 MiB``, ``512 KiB``, ``100 bytes``."""
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= scale and size % scale == 0:
            return f"{size // scale} {unit}"
    return f"{size} bytes"


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "is a directory, not a file"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "is a device, not a file"
    if stat.S_ISSOCK(mode):
        return "is a socket, not a file"
    return "is not a regular file"


_DEV_NULL = os.makedev(1, 3)


def open_input(path: str) -> BinaryIO:
    """Open ``path`` for reading in binary mode, refusing what is not a file or a pipe."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        info = os.fstat(fd)
        mode = info.st_mode
        if stat.S_ISCHR(mode) and info.st_rdev == _DEV_NULL:
            return os.fdopen(fd, "rb")  # reads as an empty file, as compose reads it
        if not (stat.S_ISREG(mode) or stat.S_ISFIFO(mode)):
            raise InputRefused(path, _kind(mode))
        if stat.S_ISFIFO(mode) and not _fifo_ready(fd):
            raise InputRefused(path, f"is a FIFO that no program wrote to within {FIFO_WAIT_SECONDS:g} s")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _fifo_ready(fd: int) -> bool:
    """Whether a FIFO has data or a writer that closed it (opened without blocking, it may have neither)."""
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(int(FIFO_WAIT_SECONDS * 1000)))


def read_input(path: str, limit: int) -> bytes:
    """The bytes of ``path``, at most ``limit`` of them (:class:`InputTooLarge` beyond)."""
    with open_input(path) as handle:
        if os.fstat(handle.fileno()).st_size > limit:
            raise InputTooLarge(path, limit)
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise InputTooLarge(path, limit)
    return data
