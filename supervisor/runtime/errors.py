"""One exception hierarchy for launching a project; catch :class:`RuntimeFailure` for all of them."""

from __future__ import annotations

from supervisor.errors import RuntimeFailure

__all__ = [
    "RuntimeFailure",
    "InvalidSpec",
    "DependencyCycle",
    "EngineUnavailable",
    "EngineFailure",
    "BuildFailed",
    "ImageMissing",
    "StartFailed",
    "HealthFailed",
    "LockBusy",
]


class InvalidSpec(RuntimeFailure):
    """A service setting cannot become a container (a bad duration, port or volume): exit 2."""

    exit_code = 2


class DependencyCycle(InvalidSpec):
    """``depends_on`` forms a cycle, so no start order exists."""


class EngineUnavailable(RuntimeFailure):
    """No Docker Engine answers on the configured socket: exit 2."""

    exit_code = 2


class EngineFailure(RuntimeFailure):
    """The Engine refused an operation (create, start, remove...)."""


class BuildFailed(RuntimeFailure):
    """An image build failed; the message ends with the build's last output line."""


class ImageMissing(RuntimeFailure):
    """A service's image is not present and cannot be built or pulled."""


class StartFailed(RuntimeFailure):
    """A container exited, or a dependency condition can never be met."""


class HealthFailed(RuntimeFailure):
    """A health check failed or did not pass in time; ``report`` holds what to show the user."""

    def __init__(self, message: str, report: str = ""):
        super().__init__(message)
        self.report = report


class LockBusy(RuntimeFailure):
    """Another ``up``/``down`` holds the project's lock (and we were told not to wait)."""
