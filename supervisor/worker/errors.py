"""One exception hierarchy for the worker.

Catch :class:`WorkerError` to handle any failure of this package, or a subclass to be more
specific.  Configuration problems raise :class:`ConfigError`, whose message is one line that names
the variable, its (masked) value and what to do.
"""

from __future__ import annotations

from supervisor.errors import SupervisorError

__all__ = ["WorkerError", "ConfigError", "StoreError", "MigrationError", "RelayError"]


class WorkerError(SupervisorError):
    """Base class of every error raised by :mod:`supervisor.worker`."""


class ConfigError(WorkerError, ValueError):
    """A configuration value that cannot be used.

    ``variable`` is the environment variable (or option) name, ``shown`` the printable (masked)
    value, ``hint`` what to do instead.
    """

    def __init__(self, variable: str, shown: str | None, problem: str, hint: str) -> None:
        self.variable = variable
        self.shown = shown
        self.problem = problem
        self.hint = hint
        if shown is None:
            text = f"{variable} {problem}; {hint}"
        else:
            text = f"{variable} is {shown!r}: {problem}; {hint}"
        super().__init__(text)


class StoreError(WorkerError):
    """The database refused an operation in a way a retry will not fix."""


class MigrationError(StoreError):
    """The schema could not be brought to the version this worker needs."""


class RelayError(WorkerError):
    """The relay answered in a way the worker cannot continue from (bad URL, refused handshake)."""
